"""The sources migsafe reads migrations from: one package per framework, one line here each.

A source is a `Source`: its name (the `source` of its findings, its key under `start-after`),
how its migrations are loaded from what discover found, what its cache key reads, the language and
module its fixes are written in, and the few ways its files differ from plain SQL. The engine,
the config, the judge and the fix renderers ask the registry; none of them names a framework.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# One line per source: the module whose SOURCE it is. Order: how their migrations are loaded.
PACKAGES = (
    "migsafe.sources.sql",
    "migsafe.sources.alembic",
    "migsafe.sources.django",
)


@dataclass(frozen=True)
class Source:
    name: str
    # (found, settings, cwd, cache, default dialect) -> [(dialect, migrations with their files)]:
    # each part an iterable of (Migration, Path), judged per dialect in this order. A list is read
    # whole; any other iterable (a generator) is judged while it still renders.
    load: Callable[..., list[tuple[str, Iterable]]]
    # (found, cache) -> what the run's cache key reads of this source's migrations (cache.result_key).
    key_parts: Callable[..., list]
    language: str  # what its fixes are written in (a fix step's `language`)
    fixes: str  # the module that writes a plan as its code: phase_code, rollback_code[, names_at]
    way_back: str  # irreversible-migration's fix: how a rollback is written in it
    # start-after's value for it: "name" (one migration's name or id) or "per-app" (a table of
    # app label -> migration name).
    start_after: str = "name"
    # Its file is the SQL itself: a statement's lines are the file's (a parse error's line inside
    # a statement, suppression comments up to the statement's end) rather than a call's.
    sql_text: bool = False
    # A migration that cannot be undone is a finding even when it changes no schema (its code
    # that runs on the way up is the change: Django's RunPython).
    irreversible_alone: bool = False
    # The libraries its renderings depend on: a new version of one invalidates the cache (cache.salt).
    libraries: tuple[str, ...] = ()
    # (PATHs, exclude globs, cwd) -> its migration files below or at the PATHs, for a source that
    # discover does not walk for itself (sql, alembic and django it does, in one walk): the
    # result is `found.by_source[name]`.
    find: Callable[..., list] | None = None


_extra: list[Source] = []  # registered at run time (tests' toy sources)


def sources() -> list[Source]:
    """Every source, in loading order."""
    return [importlib.import_module(p).SOURCE for p in PACKAGES] + _extra


def source(name: str) -> Source:
    """The source named `name`; SQL for a name no source has (a finding made without one)."""
    for s in sources():
        if s.name == name:
            return s
    return sources()[0]


def register(extra: Source) -> Callable[[], None]:
    """Add a source outside the package (a test's); returns what takes it out again."""
    _extra.append(extra)
    return lambda: _extra.remove(extra)


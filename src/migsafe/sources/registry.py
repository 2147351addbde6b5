"""The sources migsafe reads migrations from: one package per framework, one line here each.

A source is a `Source`: its name (the `source` of its findings, its key under `start-after`),
how its migrations are loaded from what discover found, what its cache key reads, the language and
module its fixes are written in, and the few ways its files differ from plain SQL. The engine,
the config, the judge and the fix renderers ask the registry; none of them names a framework.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

# One line per source: the module whose SOURCE it is. Order: how their migrations are loaded, and
# which one a file PATH is given to when several own it.
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
    # Finding its migrations (discover.py walks each folder PATH once, for every source):
    # `wants(name, is_folder)`: the entries of that walk it is handed (cheap: asked of each entry);
    # `owns(path)`: a file PATH it takes as one of its migrations, named alone (pre-commit; also
    # asked by launch.py); `find(given, walk) -> Found`: what the PATHs hold for it, `given` being
    # every folder PATH and the file PATHs it owns (a list of Given) and `walk(folder)` a walk of
    # another folder (beside a file PATH) handing it the same entries; `looks_for`: what it looks
    # for, in the message for a folder PATH that holds no migration.
    wants: Callable[[str, bool], bool] = lambda name, is_folder: False
    owns: Callable[[Path], bool] = lambda path: False
    find: Callable[..., Found] | None = None
    looks_for: str = ""
    renders_in_worker: bool = False  # its package has an in_worker.py (core/worker.py: the worker's side)


@dataclass(frozen=True)
class Given:
    """One PATH as discover hands it to a source's find."""

    path: Path  # absolute and normalised ("a/../b" -> "b"), symbolic links kept
    below: list[Path] | None  # a folder: the entries below it the source wants, in walk order; None: a file


@dataclass
class Found:
    """What one source's find found at the PATHs."""

    migrations: list  # what its load reads, as `Discovered.of(name)`: files, projects, packages
    reported: set[Path] = field(default_factory=set)  # real paths of the migration files the PATHs name
    # Some of `migrations` are only replayed (the history before a file PATH, a project found above a
    # folder PATH): then only what every source reported is reported.
    partial: bool = False
    # Besides `reported`: what shows that a folder PATH holds its migrations (what a walk met as
    # found, a package, a project's alembic.ini): a folder PATH holding nothing of any source is an error.
    holds: list[Path] = field(default_factory=list)


_extra: list[Source] = []  # registered at run time (tests' toy sources)


@functools.cache
def _packaged() -> tuple[Source, ...]:
    return tuple(importlib.import_module(p).SOURCE for p in PACKAGES)  # (asked per finding: imported once)


def sources() -> list[Source]:
    """Every source, in loading order."""
    return [*_packaged(), *_extra]


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


"""The pipeline: discover -> read -> translate -> replay + judge (judge.py) -> findings.

Migrations at or before `start-after` are replayed but not reported. A run whose result the
cache holds imports neither the sources' machinery nor the rules (a warm re-check is mostly
start-up).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

from migsafe.cache import Cache
from migsafe.config import Settings
from migsafe.discover import discover
from migsafe.errors import ConfigError
from migsafe.model import Migration, Result
from migsafe.sources.sql import load_sql_migrations, real_path


def check(paths: list[Path], settings: Settings, cwd: Path, only: set[Path] | None = None,
          cache: Cache | None = None) -> Result:
    """`only`: resolved paths that may be reported (--diff); None: no such limit. Everything
    found is still replayed for the schema. `cache`: where to reuse earlier work (cache.py)."""
    cache = cache or Cache(None)
    found = discover(paths, list(settings.exclude), cwd)
    if settings.dialect is None:  # not set: the project's own database, as alembic.ini names it
        named = next((p.dialect for p in found.alembic if p.dialect), None)
        settings = dataclasses.replace(settings, dialect=named or "postgresql")
    key = cache.result_key(found, settings, cwd, only)
    cached = cache.get(key, Result)
    if cached is not None:
        return cached
    migrations = load_sql_migrations(found.sql_files, cwd, settings.dialect,
                                     settings.sql_transaction == "per-file")
    mark_history(migrations, settings.start_after.sql)
    located: list[Iterable[tuple[Migration, Path]]] = [zip(migrations, found.sql_files)]
    if found.alembic:
        from migsafe.sources.alembic import load_alembic_migrations
    for project in found.alembic:
        located.append(load_alembic_migrations(project.version_dirs, project.root, cwd, settings.dialect,
                                               settings.start_after.alembic, execute=not settings.no_exec,
                                               timeout=settings.render_timeout, cache=cache))
    if found.django_roots:
        from migsafe.sources.django import load_django_migrations

        # Yields each migration as the worker starts on the next: judged meanwhile.
        located.append(load_django_migrations(found.django_roots, cwd, settings.dialect, settings.start_after.django,
                                              execute=not settings.no_exec, timeout=settings.render_timeout,
                                              target_version=settings.target_version))
    report_only = found.report_only
    if only is not None:
        report_only = only if report_only is None else report_only & only

    def reported(items: Iterable[tuple[Migration, Path]]) -> Iterator[Migration]:
        for m, path in items:
            if report_only is not None:
                m.report = m.report and real_path(path) in report_only
            yield m

    from migsafe.judge import analyze

    known = [m for part in located if isinstance(part, list) for m, _ in part] + migrations  # (not Django's: still rendering)
    result = analyze(reported(itertools.chain.from_iterable(located)), settings, cache=cache,
                     prefetch=[s.sql for m in known for s in m.statements if s.facts is None])
    cache.put(key, result)
    return result


def mark_history(migrations: list[Migration], start_after: str | None) -> None:
    """Migrations at or before `start-after` (the named one included) are history only."""
    if not start_after:
        return
    names = [m.name for m in migrations]
    if start_after not in names:
        raise ConfigError(f'start-after: no SQL migration named "{start_after}" was found under the given paths')
    for m in migrations[: names.index(start_after) + 1]:
        m.report = False

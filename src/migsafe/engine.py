"""The pipeline: discover -> read -> translate -> replay + judge (judge.py) -> findings.

Migrations at or before `start-after` are replayed but not reported. A run whose result the
cache holds imports neither the sources' machinery nor the rules (a warm re-check is mostly
start-up).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from migsafe.cache import Cache
from migsafe.config import Settings
from migsafe.discover import discover
from migsafe.errors import ConfigError
from migsafe.model import Finding, Migration, Result
from migsafe.sources.runner import django_sets_lock_timeout
from migsafe.sources.sql import load_sql_migrations, real_path


def check(paths: list[Path], settings: Settings, cwd: Path, only: set[Path] | None = None,
          cache: Cache | None = None) -> Result:
    """`only`: resolved paths that may be reported (--diff); None: no such limit. Everything
    found is still replayed for the schema. `cache`: where to reuse earlier work (cache.py)."""
    cache = cache or Cache(None)
    found = discover(paths, list(settings.exclude), cwd)
    if settings.database:  # run on a scratch database and judge what was executed (migsafe.database)
        from migsafe.database.run import check_on_database

        return check_on_database(found, settings, cwd, only, cache=cache)
    key = cache.result_key(found, settings, cwd, only)
    cached = cache.get(key, Result)
    if cached is not None:
        return cached
    # The dialect the user set (--dialect, config) applies to everything; where none is set, each
    # Alembic project runs on the database its alembic.ini names, never lent to what is beside it.
    default = settings.dialect or "postgresql"
    migrations = load_sql_migrations(found.sql_files, cwd, default, settings.sql_transaction == "per-file")
    mark_history(migrations, settings.start_after.sql)
    located: dict[str, list[Iterable[tuple[Migration, Path]]]] = {default: [zip(migrations, found.sql_files)]}
    if found.alembic:
        from migsafe.sources.alembic import load_alembic_migrations
    for project in found.alembic:
        dialect = settings.dialect or project.dialect or default
        located.setdefault(dialect, []).append(load_alembic_migrations(
            project.version_dirs, project.root, cwd, dialect, settings.start_after.alembic,
            execute=not settings.no_exec, timeout=settings.render_timeout, cache=cache, sourceless=project.sourceless))
    if found.django_roots:
        from migsafe.sources.django import load_django_migrations

        # Yields each migration as the worker starts on the next: judged meanwhile.
        located[default].append(load_django_migrations(found.django_roots, cwd, default, settings.start_after.django,
                                                       execute=not settings.no_exec, timeout=settings.render_timeout,
                                                       target_version=settings.target_version,
                                                       settings_module=settings.django_settings))
    report_only = found.report_only
    if only is not None:
        report_only = only if report_only is None else report_only & only
    django_timeout = bool(found.django_roots) and django_sets_lock_timeout(
        settings.django_settings or os.environ.get("DJANGO_SETTINGS_MODULE"), found.django_roots)

    def reported(items: Iterable[tuple[Migration, Path]]) -> Iterator[Migration]:
        for m, path in items:
            if report_only is not None:
                m.report = m.report and real_path(path) in report_only
            m.runner_lock_timeout = m.runner_lock_timeout or (django_timeout and m.source == "django")
            yield m

    from migsafe.judge import analyze

    results = []
    for dialect, parts in located.items():  # each database its own schema and rules
        known = [m for part in parts if isinstance(part, list) for m, _ in part]  # (not Django's: still rendering)
        known += migrations if dialect == default else []
        results.append(analyze(reported(itertools.chain.from_iterable(parts)),
                               dataclasses.replace(settings, dialect=dialect), cache=cache,
                               prefetch=[s.sql for m in known for s in m.statements if s.facts is None]))
    result = merged(results)
    cache.put(key, result)
    return result


def merged(results: list[Result]) -> Result:
    """One Result of the runs judged per dialect; it names the dialects that judged migrations."""
    if len(results) == 1:
        return results[0]
    used = [r for r in results if r.migrations] or results[:1]
    checked = None if any(r.checked is None for r in results) else [c for r in results for c in r.checked]
    return Result(sorted((f for r in results for f in r.findings), key=Finding.sort_key),
                  sum(r.files for r in results), sum(r.migrations for r in results),
                  sum(r.statements for r in results), ", ".join(dict.fromkeys(r.dialect for r in used)),
                  ", ".join(dict.fromkeys(r.target_version for r in used)), checked,
                  sum(r.suppressed for r in results))


def mark_history(migrations: list[Migration], start_after: str | None) -> None:
    """Migrations at or before `start-after` (the named one included) are history only."""
    if not start_after:
        return
    names = [m.name for m in migrations]
    if start_after not in names:
        raise ConfigError(f'start-after: no SQL migration named "{start_after}" was found under the given paths')
    for m in migrations[: names.index(start_after) + 1]:
        m.report = False

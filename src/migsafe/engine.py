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
from migsafe.model import Migration, Result
from migsafe.sources.files import real_path
from migsafe.sources.registry import sources


def check(paths: list[Path], settings: Settings, cwd: Path, only: set[Path] | None = None,
          cache: Cache | None = None) -> Result:
    """`only`: resolved paths that may be reported (--diff); None: no such limit. Everything
    found is still replayed for the schema. `cache`: where to reuse earlier work (cache.py)."""
    cache = cache or Cache(None)
    found = discover(paths, list(settings.exclude), cwd)
    if settings.database:  # run on a scratch database and judge what was executed (migsafe.database)
        from migsafe.database.run import check_on_database  # (imports a driver: only when asked)

        return check_on_database(found, settings, cwd, only, cache=cache)
    key = cache.result_key(found, settings, cwd, only, [p for s in sources() for p in s.key_parts(found, cache)])
    cached = cache.get(key, Result)
    if cached is not None:
        return cached
    default = settings.dialect or "postgresql"  # where a source's own files name none
    located: dict[str, list[Iterable[tuple[Migration, Path]]]] = {}
    for source in sources():
        for dialect, part in source.load(found, settings, cwd, cache, default):
            located.setdefault(dialect, []).append(part)
    report_only = found.report_only
    if only is not None:
        report_only = only if report_only is None else report_only & only

    def reported(items: Iterable[tuple[Migration, Path]]) -> Iterator[Migration]:
        for m, path in items:
            if report_only is not None:
                m.report = m.report and real_path(path) in report_only
            yield m

    from migsafe.judge import analyze, merged  # the rules: not imported for a cached run

    results = []
    for dialect, parts in located.items():  # each database its own schema and rules
        known = [m for part in parts if isinstance(part, list) for m, _ in part]  # (not those still rendering)
        results.append(analyze(reported(itertools.chain.from_iterable(parts)),
                               dataclasses.replace(settings, dialect=dialect), cache=cache,
                               prefetch=[s.sql for m in known for s in m.statements if s.facts is None]))
    result = merged(results)
    cache.put(key, result)
    return result

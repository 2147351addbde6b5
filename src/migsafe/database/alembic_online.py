"""Alembic revisions applied for real on the scratch database, each statement sent caught with
what the server showed for it.

As `alembic upgrade heads` does, without the project's env.py (which may point anywhere, log,
or need the application's configuration): Alembic's own ScriptDirectory loads the revisions,
EnvironmentContext configures a MigrationContext on a connection to the scratch database
(target_metadata None; transaction_per_migration as env.py sets it, when it says so literally,
else Alembic's default), and run_migrations applies them in Alembic's order through Operations,
with the version table as usual. The imports env.py makes (the application's models) are made
first, as offline rendering does.

Every statement the driver is sent is caught (SQLAlchemy's before/after_cursor_execute) while a
revision's upgrade() runs, with the Probe's evidence, and attributed like offline rendering: the
innermost frame of the revision file on the stack (sources/alembic.py's Tracer), a batch_op call's
own line while its batch is flushed. Alembic's own bookkeeping (the version table) runs outside
upgrade() and is not the migration's. Queries that only read are left out unless they went
through `op` (offline, `op.execute("SELECT ...")` is rendered and a bind's query is not).

A revision the database refuses stops the run, as it stops `alembic upgrade`: it carries the
server's message at its line, and each later revision says it was not run. Everything runs in
a child process (capture.run_child): the project's code never runs in migsafe's own.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import os
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from migsafe.database.capture import (FullOrder, autocommit, in_full_order, inline_all, reads_only, run_child,
                                      server_message, statements)
from migsafe.model import Migration, Span, Statement
from migsafe.sources.core.worker import DEFAULT_TIMEOUT


@dataclass(frozen=True)
class AlembicJob:
    url: str  # the scratch database, password included (only the child connects)
    dialect: str
    script_location: str
    version_locations: tuple[str, ...]
    sourceless: bool
    recursive: bool
    roots: tuple[str, ...]  # sys.path entries the project's imports start from
    transaction_per_migration: bool
    timeout: float  # seconds per revision
    rows: int = 0  # trace --rows N: each table filled with N rows before each revision


@dataclass
class Applied:
    """One revision as the child ran it (or began to)."""

    revision: str
    statements: list[Statement]
    error: str | None = None
    error_line: int = 1
    notes: list[str] = field(default_factory=list)  # rows.fill_tables': tables it left empty, why


@dataclass
class Unloadable:
    """The upgrade could not start: why, and the revision file (and line) Alembic could not load,
    where that was it."""

    message: str
    path: str | None = None
    line: int = 1


def run_alembic(version_dirs: list[Path], root: Path, cwd: Path, dialect: str, start_after: str | None,
                url: str, *, sourceless: bool = False, timeout: float = DEFAULT_TIMEOUT,
                rows: int = 0) -> list[tuple[Migration, Path]]:
    """Every revision of one Alembic project applied to the (empty) scratch database at `url`, in
    Alembic's order, as Migration objects like load_alembic_migrations' (same names, paths,
    texts, history marks and irreversible verdicts) holding the statements executed, each with its
    evidence. Revisions not run (an earlier one failed) carry an error saying so. `rows` > 0:
    every table gets that many generated rows before each revision (rows.py), which needs each
    revision in a transaction of its own (transaction_per_migration), whatever env.py says."""
    from migsafe.sources.alembic.graph import import_roots, load_revisions
    from migsafe.sources.files import relative_path

    graph = load_revisions(version_dirs, sourceless=sourceless)
    history = graph.ancestors(start_after) if start_after else set()
    by_id = {rev.id: rev for rev in graph.revisions}
    script_location = version_dirs[0].parent
    first = graph.revisions[0].path if graph.revisions else version_dirs[0] / "x.py"
    job = AlembicJob(
        url=url, dialect=dialect, script_location=str(script_location),
        version_locations=tuple(str(d) for d in version_dirs), sourceless=sourceless,
        recursive=any(rev.path.parent not in version_dirs for rev in graph.revisions),
        roots=tuple(str(r) for r in import_roots(first, root)),
        transaction_per_migration=rows > 0 or transaction_per_migration(script_location / "env.py"),
        timeout=timeout, rows=rows)
    items, stopped = run_child("migsafe.database.alembic_online:_apply", job,
                               timeout * (len(graph.revisions) + 2) + 60, cwd)

    def migration(rev) -> Migration:
        mig = Migration(source="alembic", name=rev.id or rev.path.stem, path=relative_path(rev.path, cwd),
                        report=rev.id not in history, irreversible=rev.irreversible, how="executed")
        mig.text = rev.path.read_text(encoding="utf-8-sig", errors="replace") if rev.error is None else ""
        if rev.error is not None:
            mig.error, mig.error_line = rev.error, rev.error_line
        return mig

    out = [(migration(rev), rev.path) for rev in graph.broken_files]
    order = next((item for item in items if isinstance(item, FullOrder)), None)
    done: dict[str, Migration] = {}
    failed = None  # the revision that stopped the run
    unloadable = None  # Alembic could not load the revisions at all
    for item in items:
        if isinstance(item, Unloadable):  # ScriptDirectory refused a file: every revision is unrun
            unloadable = item
            continue
        if isinstance(item, FullOrder):
            continue
        rev = by_id.get(item.revision)
        if rev is None:
            continue
        mig = done.get(rev.id) or migration(rev)
        mig.statements, mig.notes = item.statements, item.notes
        if item.error is not None:
            mig.error, mig.error_line = item.error, item.error_line
            failed = rev.id
        if rev.id not in done:
            done[rev.id] = mig
            out.append((mig, rev.path))
    if stopped and items and isinstance(items[-1], Applied) and items[-1].error is None and items[-1].revision in done:
        last = done[items[-1].revision]  # the revision it was on (its start is emitted first)
        last.error, failed = stopped, last.name
    for rev in graph.revisions:
        if rev.id in done:
            continue
        mig = migration(rev)
        if unloadable and unloadable.path and os.path.realpath(unloadable.path) == os.path.realpath(rev.path):
            mig.error, mig.error_line = f"Alembic could not load this revision: {unloadable.message}", unloadable.line
        elif mig.error is None:
            mig.error = _not_run(unloadable, failed, stopped)
        out.append((mig, rev.path))
    return in_full_order(out, order, len(graph.broken_files))


def _not_run(unloadable: Unloadable | None, failed: str | None, stopped: str | None) -> str:
    """Why a revision was not applied."""
    if unloadable and unloadable.path:
        return f"not run: Alembic could not load revision file {Path(unloadable.path).name} ({unloadable.message})"
    if unloadable:
        return f"not run: {unloadable.message}"
    if failed:
        return f"not run: {failed} failed on the database"
    return f"not run: {stopped}" if stopped else "not run: Alembic's upgrade did not reach it"


def transaction_per_migration(env_py: Path) -> bool:
    """`transaction_per_migration=True` given to env.py's configure() (read, never run): as a
    keyword, or in a dict spread into it (`configure(**kwargs)`) that the same function made or
    updated with it before the call, unconditionally. A dict given it only under an `if` (superset
    does so for SQLite and MySQL) is not known to hold it: Alembic's default then, one transaction
    for the whole upgrade."""
    try:
        tree = ast.parse(env_py.read_text(encoding="utf-8-sig", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return False
    scopes = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]
    for scope in scopes:
        spread: dict[str, bool] = {}  # dict name -> whether it holds transaction_per_migration=True now
        for statement in scope.body:
            for call in _configure_calls(statement):
                for keyword in call.keywords:
                    if keyword.arg == "transaction_per_migration" and _is_true(keyword.value):
                        return True
                    if keyword.arg is None and isinstance(keyword.value, ast.Name) and spread.get(keyword.value.id):
                        return True
            _track_dict(statement, spread)
    return False


def _configure_calls(statement: ast.stmt) -> list[ast.Call]:
    return [n for n in ast.walk(statement) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == "configure"]


def _is_true(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _track_dict(statement: ast.stmt, spread: dict[str, bool]) -> None:
    """`name = {...}` / `dict(...)`, `name["transaction_per_migration"] = ...`, `name.update(...)`."""
    def given(node: ast.AST) -> bool | None:  # what a dict display or dict(...)/update(...) call says
        if isinstance(node, ast.Dict):
            return any(isinstance(k, ast.Constant) and k.value == "transaction_per_migration" and _is_true(v)
                       for k, v in zip(node.keys, node.values))
        if isinstance(node, ast.Call):
            return any(k.arg == "transaction_per_migration" and _is_true(k.value) for k in node.keywords) \
                or any(given(a) for a in node.args)
        return None

    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target, value = statement.targets[0], statement.value
        if isinstance(target, ast.Name) and (isinstance(value, ast.Dict) or (
                isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict")):
            spread[target.id] = bool(given(value))
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) \
                and isinstance(target.slice, ast.Constant) and target.slice.value == "transaction_per_migration":
            spread[target.value.id] = _is_true(value)
    elif isinstance(statement, ast.Expr) and isinstance(call := statement.value, ast.Call) \
            and isinstance(call.func, ast.Attribute) and call.func.attr == "update" \
            and isinstance(call.func.value, ast.Name) and given(call):
        spread[call.func.value.id] = True


# --- in the child --------------------------------------------------------------------------------

class _TimeUp(BaseException):
    """A revision's time is up (a BaseException: the revision's `except Exception` lets it by)."""


class _Run:
    """The revision being applied and the statements caught for it."""

    def __init__(self, job: AlembicJob, emit) -> None:
        self.job, self.emit = job, emit
        self.current: Applied | None = None
        self.tracer = None
        self.through_op = 0  # inside Alembic's impl._exec: an op.* call's own SQL
        self.transactional_ddl = True
        self.probes: dict[int, object] = {}
        self.last: Applied | None = None  # the last revision finished (an error at COMMIT is its own)
        self.sent: dict[int, Statement] = {}  # cursor id -> the statement it is executing
        self.files: dict[str, str] = {}  # revision -> its file, as Python names it in tracebacks

    def upgrade(self, revision: str, original):
        from migsafe.sources.core.tracing import Tracer

        code = original.__code__
        self.files[revision] = code.co_filename
        text = Path(code.co_filename).read_text(encoding="utf-8-sig", errors="replace")

        @functools.wraps(original)
        def wrapped(*args, **kwargs):
            self.emit(Applied(revision, []))  # begun: if the child dies now, this is the one
            notes = self.fill() if self.job.rows > 0 else []
            self.current, self.tracer = Applied(revision, [], notes=notes), Tracer(Path(code.co_filename), text)
            signal.signal(signal.SIGALRM, _time_up)
            signal.setitimer(signal.ITIMER_REAL, self.job.timeout)
            try:
                return original(*args, **kwargs)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                self.last, self.current = self.current, None
                self.emit(self.last)

        return wrapped

    def fill(self) -> list[str]:
        """Each table filled with job.rows rows, on a connection of its own (the revision's own
        transaction has not sent anything yet: it holds no lock the filling would wait for)."""
        import sqlalchemy as sa
        from sqlalchemy.pool import NullPool

        from migsafe.database.rows import fill_tables

        engine = sa.create_engine(self.job.url, poolclass=NullPool, future=True)  # (rows.py: 2.0 API)
        try:
            with engine.connect() as connection:
                return fill_tables(connection, self.job.dialect, self.job.rows)
        finally:
            engine.dispose()

    def probe(self, dbapi_connection):
        from migsafe.database.probe import Probe

        key = id(dbapi_connection)
        if key not in self.probes:
            self.probes[key] = Probe(dbapi_connection, self.job.dialect)
        return self.probes[key]

    def before(self, conn, cursor, statement, parameters, context, executemany):
        if self.current is not None and (self.through_op or not reads_only(statement)):
            if conn.dialect.driver == "psycopg":
                # A string value as psycopg2 sends it: a literal the server reads as the column's
                # type. SQLAlchemy's psycopg 3 dialect casts it, which refuses
                # `UPDATE dag SET int_column = %(v)s::VARCHAR` (airflow's revisions).
                statement = _STRING_CAST.sub(r"\1", statement)
            self.record(conn, cursor, statement, parameters, executemany)
        if context is not None and context.compiled is None and not parameters \
                and conn.dialect.paramstyle in ("pyformat", "format") \
                and not context.execution_options.get("no_parameters"):
            # exec_driver_sql("... format('%I', x) ...") with no values: drivers without
            # placeholders of their own (asyncpg, as prefect runs) send it as it is; psycopg would
            # read `%I` as a placeholder and refuse it, so its percent signs are escaped.
            statement = statement.replace("%", "%%")
        return statement, parameters

    def record(self, conn, cursor, statement, parameters, executemany: bool) -> None:
        dbapi = conn.connection.dbapi_connection
        span = self.tracer.caller_span() or Span(1, 1, 1, 1)
        sent = statements(inline_all(statement, parameters, self.job.dialect, executemany), span, self.job.dialect,
                          self.transactional_ddl and not autocommit(dbapi))
        if not sent:
            return
        self.current.statements += sent
        self.sent[id(cursor)] = sent[0]
        self.probe(dbapi).before()

    def after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        stmt = self.sent.pop(id(cursor), None)
        if stmt is not None:
            where = f"revision {self.current.revision} line {stmt.span.line}" if self.current else ""
            stmt.evidence = self.probe(conn.connection.dbapi_connection).after(where)


def _client_side_binding(url: str) -> dict:
    """psycopg 3 binds values client-side, as psycopg2 (what most projects run their revisions
    on) does: a value whose type the server must infer (`coalesce(%(a)s, ...)`) is then a literal
    it can read, not a parameter it cannot type."""
    import sqlalchemy as sa

    if sa.engine.make_url(url).get_driver_name() != "psycopg":
        return {}
    import psycopg

    return {"cursor_factory": psycopg.ClientCursor}


_STRING_CAST = re.compile(r"(%\(\w+\)s)::VARCHAR\b")


def _time_up(signum, frame):
    raise _TimeUp()


def _apply(job: AlembicJob, emit) -> None:
    """Child: apply every revision, emitting an Applied when each begins and when it ends (or an
    Unloadable when Alembic cannot load the revisions)."""
    import sqlalchemy as sa
    from alembic.config import Config
    from alembic.operations.batch import BatchOperationsImpl
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.pool import NullPool

    from migsafe.sources.alembic.render import LinedBatch, import_what_env_imports
    from migsafe.sources.alembic.static_values import message as static_message
    from migsafe.sources.core.tracing import describe, error_line

    sys.path[:0] = list(job.roots)
    script = ScriptDirectory(job.script_location, version_locations=list(job.version_locations),
                             sourceless=job.sourceless, recursive_version_locations=job.recursive)
    try:
        revisions = list(script.walk_revisions())  # (loads every revision file)
    except Exception as err:  # noqa: BLE001 - a file Alembic refuses: `alembic upgrade` fails the same
        path, line = _where_loading_failed(err, job.version_locations)
        emit(Unloadable(describe(err, static_message) if path else f"Alembic could not load the revisions ({describe(err, static_message)})",
                        path, line))
        return
    with contextlib.suppress(Exception):  # (a graph Alembic cannot order fails below, at the upgrade)
        full = reversed(list(script.iterate_revisions("heads", (), implicit_base=True)))
        emit(FullOrder(tuple(s.revision for s in full)))
    if revisions:
        import_what_env_imports(Path(revisions[0].path))
    run = _Run(job, emit)
    for rev in revisions:
        if callable(getattr(rev.module, "upgrade", None)):
            rev.module.upgrade = run.upgrade(rev.revision, rev.module.upgrade)

    original_batch_init = BatchOperationsImpl.__init__

    def batch_init(self, *args, **kwargs):  # each batch_op call's line, pinned while the batch flushes
        original_batch_init(self, *args, **kwargs)
        if run.tracer is not None:
            self.batch = LinedBatch(run.tracer)

    BatchOperationsImpl.__init__ = batch_init
    engine = sa.create_engine(job.url, poolclass=NullPool, connect_args=_client_side_binding(job.url))
    sa.event.listen(engine, "before_cursor_execute", run.before, retval=True)
    sa.event.listen(engine, "after_cursor_execute", run.after)
    config = Config()
    config.set_main_option("script_location", job.script_location)

    def upgrade(rev, context):
        return script._upgrade_revs("heads", rev)

    try:
        with engine.connect() as connection, \
                EnvironmentContext(config, script, fn=upgrade, destination_rev="heads") as env:
            env.configure(connection=connection, target_metadata=None,
                          transaction_per_migration=job.transaction_per_migration)
            impl = env.get_context().impl
            run.transactional_ddl = bool(impl.transactional_ddl)
            impl._exec = _counting(impl._exec, run)
            with env.begin_transaction():
                env.run_migrations()
    except BaseException as err:  # noqa: BLE001 - the revision's failure, or the server's refusal
        if isinstance(err, KeyboardInterrupt):
            raise
        failed = run.current or run.last  # (at COMMIT, after upgrade() returned: the last one's)
        if failed is None:
            message = server_message(err, job.url) or describe(err, static_message)
            emit(Unloadable(f"Alembic's upgrade failed before its first revision ({message})"))
            return
        message = server_message(err, job.url)
        failed.error = message if message else (
            f"upgrade() took longer than {job.timeout:.0f} s" if isinstance(err, _TimeUp)
            else f"upgrade() raised {describe(err, static_message)}")
        failed.error_line = error_line(err, run.files.get(failed.revision, ""))
        emit(failed)
    finally:
        engine.dispose()


def _where_loading_failed(err: BaseException, folders) -> tuple[str | None, int]:
    """The revision file (and its line) that was being loaded when `err` was raised."""
    import traceback

    roots = [os.path.realpath(f) + os.sep for f in folders]
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if any(os.path.realpath(f.filename).startswith(r) for r in roots)]
    if isinstance(err, SyntaxError) and err.filename:
        return err.filename, err.lineno or 1
    return (frames[-1].filename, frames[-1].lineno or 1) if frames else (None, 1)


def _counting(exec_, run: _Run):
    @functools.wraps(exec_)
    def counted(*args, **kwargs):
        run.through_op += 1
        try:
            return exec_(*args, **kwargs)
        finally:
            run.through_op -= 1

    return counted

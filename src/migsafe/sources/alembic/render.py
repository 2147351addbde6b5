"""Alembic revisions -> Migration objects: `upgrade()` rendered offline, each statement pointing
at the `op.*` call in the revision file that issued it.

Rendering runs Alembic's offline (`as_sql`) mode for the dialect with no database and without
the project's env.py. Every SQL string Alembic writes is caught where it is written, and the
innermost frame of the revision file on the stack at that moment is the call that caused it
(also inside helpers and loops). Batch operations are written when their `with` block ends, so
each `batch_op.*` call's place is remembered when it is made and handed back while the batch is
flushed. When rendering fails (the revision imports the application, reflects the database...),
`static.py` reads the revision without running it.

`render_revision` runs in whatever process calls it; `load.py` has a worker process call it
(core/worker.py, through in_worker.py), under a time limit per revision, so that a revision that
hangs, exits, crashes, prints or monkeypatches cannot reach migsafe's own process or its report.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import io
import sys
import traceback
from pathlib import Path

from alembic.config import Config
from alembic.operations import Operations
from alembic.operations.batch import BatchOperationsImpl
from alembic.runtime.environment import EnvironmentContext
from alembic.util import sqla_compat
from sqlalchemy import Column, MetaData, Table
from sqlalchemy.schema import CreateColumn

from migsafe.model import Span, Statement
from migsafe.sources.alembic.graph import import_roots, script_env_py
from migsafe.sources.alembic.offline import (ALEMBIC_DIALECT, EmptyResult, OfflineBind, SERVER_VERSION,
                                             SchemaInspector, offline_sqlalchemy, register_offline_inspection)
from migsafe.sources.alembic.static import Raised, StaticReader, Unreadable
from migsafe.sources.alembic.static_values import Placeholder, creating_table, message
from migsafe.sources.core.tracing import Rendered, Tracer, describe, error_line, statements_in
from migsafe.sources.core.worker import RenderTimeout
from migsafe.sql import facts as F
from migsafe.sql.facts import TableRewrite
from migsafe.sql.translate import translate


class LinedBatch(list):
    """The list a batch_alter_table block collects its operations in, remembering where each
    `batch_op.*` call was made, and pinning that place while the flush replays it."""

    def __init__(self, tracer: Tracer):
        super().__init__()
        self.tracer = tracer
        self.spans: list[Span | None] = []

    def append(self, item) -> None:
        # A type only the project knows (static_values.unknown_column_type) is refused by the
        # batch_op call itself, not when the block ends, so the rest of the block is still read.
        _, args, kwargs = item
        for value in [*args, *kwargs.values()]:
            if reason := getattr(getattr(value, "type", value), "unknown_reason", None):

                raise Unreadable(reason)
        self.spans.append(self.tracer.caller_span())
        super().append(item)

    def __iter__(self):
        for item, span in zip(list.__iter__(self), self.spans):
            self.tracer.pinned = span
            try:
                yield item
            finally:
                self.tracer.pinned = None


@contextlib.contextmanager
def _batches_traced(tracer: Tracer, statements: list[Statement]):
    """Remember where each batch_op call was made; a batch that makes Alembic recreate the table
    (SQLite, or recreate="always") becomes one table-rebuild statement: offline, Alembic could
    only render it by reflecting the table from a database."""


    original_init, original_flush = BatchOperationsImpl.__init__, BatchOperationsImpl.flush

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.batch = LinedBatch(tracer)

    def flush(self):
        span = tracer.caller_span() or Span(1, 1, 1, 1)  # the `with` line: before the batch's replay unpins it
        if not self._should_recreate():
            return original_flush(self)
        table = f"{self.schema}.{self.table_name}" if self.schema else self.table_name
        ops = ", ".join(dict.fromkeys(name for name, _, _ in list.__iter__(self.batch)))
        what = f"batch_alter_table recreate ({ops})"
        sql = (f"-- batch_alter_table(\"{table}\") rebuilds the table for {ops}: CREATE TABLE _alembic_tmp_{self.table_name},"
               f" INSERT ... SELECT, DROP TABLE {table}, ALTER TABLE _alembic_tmp_{self.table_name} RENAME TO {self.table_name}")
        statements.append(Statement(sql, span, facts=[TableRewrite(table.lower(), what)]))

    BatchOperationsImpl.__init__, BatchOperationsImpl.flush = init, flush
    try:
        yield
    finally:
        BatchOperationsImpl.__init__, BatchOperationsImpl.flush = original_init, original_flush


def _stating_existing(alter_column, sa_dialect, dialect: str, statements: list[Statement]):
    """`op.alter_column(..., existing_type=...)` (also `existing_nullable=`, `existing_server_default=`)
    states what the column is before the change. The history may not know it (made before the
    first revision, or by a step that could not be read), so the first statement the call writes
    carries the column as stated (a KnownColumn fact, which replay takes only where history knows
    nothing better) before its own facts: a type change is judged from the old type named."""

    def alter(table_name, column_name, *, schema=None, existing_type=None, existing_nullable=None,
              existing_server_default=None, **kw):
        before = len(statements)
        alter_column(table_name, column_name, schema=schema, existing_type=existing_type,
                     existing_nullable=existing_nullable, existing_server_default=existing_server_default, **kw)
        if existing_type is None or len(statements) == before or isinstance(table_name, Placeholder) \
                or isinstance(column_name, Placeholder):
            return
        known = _known_column(sa_dialect, dialect, table_name, column_name, schema, existing_type,
                              existing_nullable, existing_server_default)
        if known is not None:
            first = statements[before]
            first.facts = [known, *(first.facts if first.facts is not None else translate(first.sql, dialect))]

    return alter


def _known_column(sa_dialect, dialect: str, table_name: str, column_name: str, schema, existing_type,
                  existing_nullable, existing_server_default):
    """The stated column as facts, through the same translation as the SQL it is compared with:
    its definition rendered by SQLAlchemy for the dialect; None if that cannot be had."""


    try:
        column = Column(column_name, existing_type, nullable=existing_nullable is not False,
                        server_default=existing_server_default or None)  # Alembic: False is "not given"
        table = Table(table_name, MetaData(), column, schema=schema)
        sql = (f"CREATE TABLE {sa_dialect.identifier_preparer.format_table(table)}"
               f" ({CreateColumn(column).compile(dialect=sa_dialect)})")
    except Exception:  # noqa: BLE001 - a type or default this dialect cannot write: nothing stated
        return None
    facts = translate(sql, dialect)
    if len(facts) != 1 or not isinstance(facts[0], F.CreateTable) or len(facts[0].columns) != 1 \
            or facts[0].columns[0].type is None:
        return None
    return F.KnownColumn("existing column", facts[0].table, facts[0].columns[0])


def _creating(create_table):
    """A new table's DDL may hold a column type only the project knows (static_values.unknown_column_type)."""

    def create(*args, **kwargs):
        with creating_table():
            return create_table(*args, **kwargs)

    return create


@contextlib.contextmanager
def _isolated(roots: list[Path]):
    """The revision's own prints, exits and sys.path changes stay inside the render."""
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    sys.path[:0] = [str(r) for r in roots]
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            if name.startswith("migsafe_revision_"):
                del sys.modules[name]


def render_revision(path: Path, text: str, dialect: str, project_root: Path, execute: bool = True) -> Rendered:
    """`upgrade()` as SQL: rendered offline, or else read statically; never raises.
    execute=False (--no-exec): never run the revision's code, only read it statically."""
    if not execute:
        return _render(path, text, dialect, project_root, static=True)
    rendered = _render(path, text, dialect, project_root, static=False)
    if rendered.error is None or rendered.how == "raised":
        return rendered
    fallback = _render(path, text, dialect, project_root, static=True)
    if fallback.error == rendered.error:  # (no upgrade() either way: said once)
        return rendered
    if fallback.error is not None:
        # Neither way could read it: report why rendering failed (the more telling reason).
        return Rendered([], f"{rendered.error}; reading it without running it failed too: {fallback.error}",
                        rendered.error_line)
    return fallback


def _environment(dialect: str):
    """Alembic's EnvironmentContext as env.py would have it (`from alembic import context`:
    get_context(), config, is_offline_mode()), configured for offline (`as_sql`) rendering.

    `is_offline_mode()` answers False: what is judged is what the revision does to the live
    database it was written for. Revisions that branch on it skip their data steps offline (or
    print a warning instead), and those steps are part of what a reviewer must see."""

    env = EnvironmentContext(Config(), None, as_sql=True)
    env.is_offline_mode = lambda: False
    # (paramstyle "named", as Alembic's offline env.py sets it: a "%" is then not written "%%")
    env.configure(dialect_name=ALEMBIC_DIALECT.get(dialect, dialect), output_buffer=io.StringIO(), literal_binds=True,
                  dialect_opts={"paramstyle": "named"})
    sa_dialect = env.get_context().dialect
    if sa_dialect.server_version_info is None:  # `if bind.dialect.server_version_info >= (12,)`
        sa_dialect.server_version_info = SERVER_VERSION.get(dialect)
    return env


@contextlib.contextmanager
def _session(env, tracer: Tracer, statements: list[Statement], roots: list[Path]):
    """Everything a revision runs inside, rendered or read: yields the live `op`."""

    with _isolated(roots), _batches_traced(tracer, statements), offline_sqlalchemy(), _index_column_named_twice(), \
            env, Operations.context(env.get_context()) as op:
        seen = _AsOnline(env.get_context())
        op.get_context = env.get_context = lambda: seen
        yield op


@contextlib.contextmanager
def _index_column_named_twice():
    """`op.create_index("ix", "t", ["a", "a"])`: SQLAlchemy before 2.0 built it (one column, named
    twice: `ON t (a, a)`, which PostgreSQL and SQLite take); SQLAlchemy 2 refuses the second
    column Alembic adds to its stand-in table. Rendered as the project's own SQLAlchemy did."""

    original = sqla_compat._textual_index_column

    def index_column(table, text_):
        if isinstance(text_, str) and text_ in table.c:
            return table.c[text_]
        return original(table, text_)

    sqla_compat._textual_index_column = index_column
    try:
        yield
    finally:
        sqla_compat._textual_index_column = original


class _AsOnline:
    """The MigrationContext as the revision sees it: `as_sql` False, as is_offline_mode() answers
    False (see _environment), so that what a revision does on a live database is what is judged
    (`if ctx.as_sql: raise RuntimeError("needs an online migration")`). Alembic's own code keeps
    the real context, which renders offline."""

    as_sql = False

    def __init__(self, context):
        self._context = context

    def __getattr__(self, name: str):
        return getattr(self._context, name)


_ENV_IMPORTS_DONE: set[Path] = set()  # env.py files whose imports this (worker) process has made


def import_what_env_imports(path: Path) -> None:
    """The modules the project's env.py imports (its models, which register tables and mapped
    classes revisions rely on), imported once per process as `alembic upgrade` would before any
    revision: env.py is read with ast, never run. A module that fails to import is passed over
    (the revision then fails or not on its own, and is read statically if need be)."""

    env_py = script_env_py(path)
    if env_py is None or env_py in _ENV_IMPORTS_DONE:
        return
    _ENV_IMPORTS_DONE.add(env_py)
    try:
        tree = ast.parse(env_py.read_text(encoding="utf-8-sig", errors="replace"))
    except (SyntaxError, ValueError, OSError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from app import models` may name a submodule
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"]
        else:
            continue
        for name in names:
            try:
                importlib.import_module(name)
            except BaseException as err:  # noqa: BLE001 - the project's import may raise anything
                if isinstance(err, (KeyboardInterrupt, RenderTimeout)):
                    raise


def _render(path: Path, text: str, dialect: str, project_root: Path, static: bool) -> Rendered:
    """Statements in order, BEGIN/COMMIT included as Alembic emits them."""
    tracer = Tracer(path, text)
    statements: list[Statement] = []
    env = _environment(dialect)
    ctx = env.get_context()

    def static_output(sql: str) -> None:
        span = tracer.caller_span() or Span(1, 1, 1, 1)
        statements.extend(statements_in(sql, span, dialect))

    ctx.impl.static_output = static_output
    ctx.impl.alter_column = _stating_existing(ctx.impl.alter_column, ctx.dialect, dialect, statements)
    ctx.impl.create_table = _creating(ctx.impl.create_table)
    register_offline_inspection()
    ctx.impl.connection = OfflineBind(ctx, dialect, statements)  # what op.get_bind() returns
    ctx.impl.connection.tracer = tracer
    # Named by a digest, not hash(): a name may show in a message, which must not vary by run.
    module_name = f"migsafe_revision_{hashlib.sha1(str(path).encode()).hexdigest()[:16]}"
    if static:
        ctx.impl.connection.reading_statically = True
        return _read_statically(path, text, env, tracer, statements, project_root)
    try:
        with _session(env, tracer, statements, import_roots(path, project_root)):
            import_what_env_imports(path)
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            upgrade = getattr(module, "upgrade", None)
            if upgrade is None:
                return Rendered([], "the revision has no upgrade() function", 1)
            with ctx.begin_transaction():  # one transaction per migration where the dialect has transactional DDL
                upgrade()
    except BaseException as err:  # noqa: BLE001 - a revision may raise anything, even SystemExit
        if isinstance(err, (KeyboardInterrupt, RenderTimeout)):
            raise
        bind = ctx.impl.connection
        if _raised_by_revision(err, str(path), bind.rows_read or bind.reflected_in_part):
            # `alembic upgrade` stops here too: what ran before is judged, the rest is not there to judge.
            return Rendered(statements, f"upgrade() raised {describe(err, message)}", error_line(err, str(path)), how="raised")
        return Rendered(statements, describe(err, message), error_line(err, str(path)))
    return Rendered(statements, unreadable=_ddl_per_row(text, ctx.impl.connection.rows_taken,
                                                        {s.span.line for s in statements}))


# Alembic operations that send no DDL of their own.
_NOT_DDL = frozenset({"execute", "bulk_insert", "inline_literal", "get_bind", "get_context", "f", "implementation_for",
                      "invoke", "run_async"})
_DDL_WORDS = ("alter", "create", "drop", "truncate", "rename", "comment", "grant", "revoke")


def _ddl_per_row(text: str, lines: set[int], rendered: set[int]) -> list[tuple[int, str]]:
    """The `for` loops and `if`s of the revision that iterate or test rows a query read back
    (offline there are none) and hold DDL: it never ran, so it was not judged; say so at the
    loop. Rows read into a name first (`rows = conn.execute(q).fetchall()`, then `for r in
    rows:`) count too."""

    if not lines:
        return []
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    names = {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
             and any(node.lineno <= line <= node.end_lineno for line in lines)  # (a query written over lines)
             for target in node.targets if isinstance(target, ast.Name)}
    out = []
    for node in ast.walk(tree):
        head = node.iter if isinstance(node, ast.For) else node.test if isinstance(node, (ast.If, ast.While)) else None
        if head is None:
            continue
        on_rows = head.lineno in lines or any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(head))
        if on_rows and any(_is_ddl_call(n) for stmt in node.body for n in ast.walk(stmt)):
            out.append((node.lineno, "the DDL in this block runs once per row (or only if there are rows) that a"
                                     " query reads back from the database; offline a query returns no rows, so it"
                                     " never ran and was not judged"))
        if on_rows and isinstance(node, ast.If) and any(isinstance(s, ast.Return) for s in node.body):
            out.extend(_after_return(tree, node, rendered))
    return sorted(out)


def _after_return(tree: ast.Module, gate: ast.If, rendered: set[int]) -> list[tuple[int, str]]:
    """`if not rows: return`, then DDL: where the return was taken offline (no rows; none of that
    DDL rendered), it ran only where a query reads back rows; each op is said at its line. (Writes
    of rows after it are data the empty database offline does not have, as everywhere: not said.)"""
    for block in (getattr(n, field, None) for n in ast.walk(tree) for field in ("body", "orelse", "finalbody")):
        if isinstance(block, list) and gate in block:
            ddl = [n.lineno for stmt in block[block.index(gate) + 1:] for n in ast.walk(stmt) if _is_ddl_call(n)]
            if rendered.intersection(ddl):  # (`if count[0] > 0: return`: a count of 0 went on)
                return []
            return [(line, f"this runs only where a query reads back rows (else the `if` at line {gate.lineno}"
                           " returns, as it did offline, where a query returns no rows): it never ran and was"
                           " not judged") for line in ddl]
    return []


def _is_ddl_call(node) -> bool:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    if isinstance(node.func.value, ast.Name) and node.func.value.id == "op" and node.func.attr not in _NOT_DDL:
        return True
    first = node.args[0] if node.args else None
    if isinstance(first, ast.Call) and first.args:  # execute(sa.text("ALTER ..."))
        first = first.args[0]
    return (node.func.attr in ("execute", "exec_driver_sql") and isinstance(first, ast.Constant)
            and isinstance(first.value, str) and first.value.lstrip().lower().startswith(_DDL_WORDS))


def _raised_by_revision(err: BaseException, filename: str, read_back: bool) -> bool:
    """Whether the revision's own code failed (a `raise`, a failing `assert`, `1 / 0`, a name it
    misspelled), as it would against a real database, rather than something offline rendering
    could not give it: a module of the project that is not installed, an answer only the
    database has (Unreadable), an attribute of migsafe's offline stand-ins, or rows (a query
    answered with none, then `row[0]`, or `if row is None: raise`; a table reflected with only
    what the history knows of it, then "constraint not found"). Only the latter are worth
    reading again statically (which stops at a `raise` only where its condition is known)."""

    if isinstance(err, (ImportError, Unreadable)):
        return False
    frames = traceback.extract_tb(err.__traceback__)
    if not frames or frames[-1].filename != filename:
        return False  # raised inside the project's code or a library: static reading may still see the ops
    if read_back:  # whether it raises may depend on what a live database has (static reading reads both ways)
        return False

    # An attribute migsafe's stand-ins lack, or op.<operation> of a plugin not installed here
    # (alembic-autogenerate-enums' op.sync_enum_values).
    obj = getattr(err, "obj", None)
    stand_in = isinstance(obj, (OfflineBind, EmptyResult, SchemaInspector, Operations)) \
        or obj is sys.modules.get("alembic.op")
    return not (isinstance(err, AttributeError) and stand_in)


def _read_statically(path: Path, text: str, env, tracer: Tracer, statements: list[Statement],
                     project_root: Path) -> Rendered:


    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as err:
        return Rendered([], f"SyntaxError: {err.msg}", err.lineno or 1)
    reader = StaticReader(path, tree, import_roots(path, project_root), tracer=tracer, statements=statements)

    def unread() -> list[tuple[int, str]]:
        # Read statically, rows read back are none too: DDL per row never ran here either.
        return sorted(reader.unreadable + _ddl_per_row(text, env.get_context().impl.connection.rows_taken,
                                                       {s.span.line for s in statements}))
    try:
        with _session(env, tracer, statements, import_roots(path, project_root)) as op:
            reader.load_module_level(op)
            with env.get_context().begin_transaction():
                reader.run("upgrade")
    except Raised as err:
        return Rendered(statements, str(err), err.line, how="static", unreadable=unread())
    except Unreadable as err:
        return Rendered([], str(err), 1)
    except BaseException as err:  # noqa: BLE001 - library code refused what we gave it
        if isinstance(err, (KeyboardInterrupt, RenderTimeout)):
            raise
        return Rendered([], describe(err, message), error_line(err, str(path)))
    return Rendered(statements, how="static", unreadable=unread())



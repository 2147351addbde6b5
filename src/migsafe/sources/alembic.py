"""Alembic revisions -> Migration objects: `upgrade()` rendered offline, each statement pointing
at the `op.*` call in the revision file that issued it.

Rendering runs Alembic's offline (`as_sql`) mode for the dialect with no database and without
the project's env.py. Every SQL string Alembic writes is caught where it is written, and the
innermost frame of the revision file on the stack at that moment is the call that caused it
(also inside helpers and loops). Batch operations are written when their `with` block ends, so
each `batch_op.*` call's place is remembered when it is made and handed back while the batch is
flushed. When rendering fails (the revision imports the application, reflects the database...),
`alembic_static.py` reads the revision without running it.

`render_revision` runs in whatever process calls it; `load_alembic_migrations` has `worker.py`
call it in a worker process, under a time limit per revision, so that a revision that hangs,
exits, crashes, prints or monkeypatches cannot reach migsafe's own process or its report.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from migsafe.cache import Cache, digest
from migsafe.model import Migration, Span, Statement
from migsafe.sources.alembic_graph import import_roots
from migsafe.sources.worker import DEFAULT_TIMEOUT, RenderTimeout

ALEMBIC_DIALECT = {"postgresql": "postgresql", "mysql": "mysql", "sqlite": "sqlite"}
# What an offline dialect reports as the server's version: the oldest still supported upstream
# (the default --target-version; the revision is rendered before the engine knows the setting).
SERVER_VERSION = {"postgresql": (15, 0), "mysql": (8, 4, 0), "sqlite": (3, 45, 0)}


@dataclass
class Rendered:
    statements: list[Statement]
    error: str | None = None
    error_line: int = 1
    how: str = "rendered"  # "rendered" | "static" (read without running, see alembic_static.py) | "raised" (its own error)
    unreadable: list[tuple[int, str]] = field(default_factory=list)  # op calls static reading could not evaluate


class Tracer:
    """Finds, for each SQL string Alembic writes, the revision-file call that caused it."""

    def __init__(self, path: Path, text: str):
        self.filename = str(path)
        self.lines = text.splitlines()
        self.pinned: Span | None = None  # set while a batch replays its recorded operations
        self._positions: dict[object, list] = {}  # code object -> its instructions' source positions

    def caller_span(self) -> Span | None:
        if self.pinned is not None:
            return self.pinned
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == self.filename:
                return self._span(frame)
            frame = frame.f_back
        return None

    def node_span(self, node) -> Span:
        """The span of an ast node of the revision file (for code read, not run)."""
        line, end = node.lineno, getattr(node, "end_lineno", None) or node.lineno
        return Span(line, self._chars(line, node.col_offset) + 1, end,
                    self._chars(end, getattr(node, "end_col_offset", None) or node.col_offset) + 1)

    def _span(self, frame: FrameType) -> Span:
        line = frame.f_lineno
        code = frame.f_code
        if hasattr(code, "co_positions"):  # Python 3.11+: the call's exact extent
            if code not in self._positions:  # (a Django migration makes all its operations in one code object)
                self._positions[code] = list(code.co_positions())
            try:
                start, end, col, end_col = self._positions[code][frame.f_lasti // 2]
            except (IndexError, ValueError):
                start = None
            if start and end and col is not None and end_col is not None:
                return Span(start, self._chars(start, col) + 1, end, self._chars(end, end_col) + 1)
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return Span(line, len(text) - len(text.lstrip()) + 1, line, len(text) + 1)

    def _chars(self, line: int, byte_col: int) -> int:
        """Python reports columns in UTF-8 bytes; reports count characters."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


class _LinedBatch(list):
    """The list a batch_alter_table block collects its operations in, remembering where each
    `batch_op.*` call was made, and pinning that place while the flush replays it."""

    def __init__(self, tracer: Tracer):
        super().__init__()
        self.tracer = tracer
        self.spans: list[Span | None] = []

    def append(self, item) -> None:
        # A type only the project knows (alembic_static.unknown_column_type) is refused by the
        # batch_op call itself, not when the block ends, so the rest of the block is still read.
        _, args, kwargs = item
        for value in [*args, *kwargs.values()]:
            if reason := getattr(getattr(value, "type", value), "unknown_reason", None):
                from migsafe.sources.alembic_static import Unreadable

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


class _EmptyResult:
    """What a query returns offline: no rows. Enough of SQLAlchemy's Result for migrations.
    Reading it tells the bind (OfflineBind.rows_taken), to find the DDL that depends on rows."""

    rowcount = 0

    def __init__(self, bind: OfflineBind | None = None, rows: tuple = ()):
        self._bind, self._rows = bind, list(rows)

    def _taken(self, value, one: bool = False):
        if self._bind is not None:
            self._bind.took_rows(one)
        return value

    def __iter__(self):
        return self._taken(iter(self._rows))

    def fetchall(self):
        return self._taken(list(self._rows))

    all = fetchmany = fetchall

    def fetchone(self):
        return self._taken(self._rows[0] if self._rows else None, one=True)

    first = one_or_none = fetchone

    def scalar(self):
        row = self.fetchone()
        return row[0] if row else None

    scalar_one_or_none = scalar

    def scalars(self, *args):
        return self

    mappings = columns = unique = scalars

    def close(self):
        pass


def _aggregate_rows(compiled: str) -> tuple:
    """What an empty database answers: no rows, except to an aggregate without GROUP BY
    (`SELECT count(*) FROM t`, ORM `query(T).count()`), which always gives one row: 0 for a
    count, NULL for the others."""
    import sqlglot
    from sqlglot import expressions as exp

    try:  # (bound parameters, which sqlglot does not read, stand as NULL)
        select = sqlglot.parse_one(re.sub(r"%\(\w+\)s|%s|\?|(?<![:\w]):\w+", "NULL", compiled))
    except Exception:  # noqa: BLE001 - not SQL sqlglot reads: no rows
        return ()
    if not isinstance(select, exp.Select) or select.args.get("group") or not select.expressions:
        return ()
    values = []
    for column in select.expressions:
        func = column.unalias()
        if not isinstance(func, exp.AggFunc):
            return ()
        values.append(0 if isinstance(func, exp.Count) else None)
    return (tuple(values),)


class _Maybe:
    """What reflection says offline about a name the replayed history does not know (it starts
    from tables made outside it, or a revision before could not be read): unknown. A revision
    that branches on it (`if not has_table(...): return`) stops rendering, and static reading then
    reads both sides of the branch instead of guessing one."""

    def __bool__(self):
        from migsafe.sources.alembic_static import Unreadable

        raise Unreadable("the migration branches on what the database holds, which the history before it"
                         " does not fully tell")


class ReplayedSchema:
    """In the worker: the schema the revisions before this one left, replayed from the statements
    migsafe sends with each job (worker.Job.history), translated only when a revision reflects.

    `complete` is whether that schema is what a database that ran the history holds: every
    revision before was read whole, and every table the history touched was created in it (a
    history that starts from tables made elsewhere knows only what it mentioned of them)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        from migsafe.schema import Schema

        self.schema, self.pending, self.count, self.read_whole = Schema(), [], 0, True

    def extend(self, start: int, statements: tuple, read_whole: bool) -> None:
        if start != self.count:  # a fresh worker, or another project: the parent sends it all from 0
            self.reset()
        self.pending.extend(statements)
        self.count = start + len(statements)
        self.read_whole = read_whole

    def now(self, dialect: str, current: list[Statement]):
        """The schema as of the statement the revision is at (its own earlier statements applied)."""
        import copy

        self._apply(self.schema, self.pending, dialect)
        self.pending = []
        if not current:
            return self.schema
        view = copy.deepcopy(self.schema)
        self._apply(view, current, dialect)
        return view

    @property
    def complete(self) -> bool:
        # (no table at all: a first revision that reflects works on tables made before Alembic)
        tables = self.schema.tables.values()
        return self.read_whole and bool(tables) and all(t.created_in is not None for t in tables)

    @staticmethod
    def _apply(schema, statements, dialect: str) -> None:
        from migsafe.sql.translate import translate

        for stmt in statements:
            for fact in stmt.facts if stmt.facts is not None else translate(stmt.sql, dialect):
                schema.apply(fact, 0)


REPLAYED = ReplayedSchema()  # the worker's; worker.render_contained extends it before each revision


class _SchemaInspector:
    """`sa.inspect(op.get_bind())` offline: the database the history before this revision (and
    the revision's own statements so far) left, as SQLAlchemy's Inspector reports it. Names the
    history does not know are unknown (see ReplayedSchema.complete): asking about them stops
    rendering, and static reading reads the revision instead."""

    def __init__(self, bind):
        self.bind = self.engine = bind
        self.dialect = bind.dialect
        self.default_schema_name = "public" if bind.dialect.name == "postgresql" else None
        self._replayed = bind.schema_now()  # (a revision makes one per question; the view is cached)

    # -- what is known ----------------------------------------------------------------------

    def _unknown(self, what: str):
        from migsafe.sources.alembic_static import Unreadable

        raise Unreadable(f"the migration reflects {what}, which the history before it does not fully tell")

    def _find(self, name: str, schema: str | None):
        tables = self._replayed.tables
        for key in (name, f"{schema}.{name}" if schema else name, name.lower()):
            if key in tables:
                return tables[key]
        return None

    def _table(self, name: str, schema: str | None = None):
        """The table, NoSuchTableError where a database that ran the history has none."""
        from sqlalchemy.exc import NoSuchTableError

        table = self._find(name, schema)
        if table is None and not self.bind.history_complete():
            self._unknown(f"table {name}")
        if table is None:
            raise NoSuchTableError(name)
        if table.created_in is None or not self.bind.history_complete():
            self._unknown(f"the columns of {name}")
        return table

    def has_table(self, table_name, schema=None, **kwargs):
        if self._find(table_name, schema) is not None:
            return True
        return False if self.bind.history_complete() else _Maybe()

    def has_index(self, table_name, index_name, schema=None, **kwargs):
        self._table(table_name, schema)
        return any(i.name == index_name for i in self._indexes(table_name))

    def has_sequence(self, *args, **kwargs):
        return _Maybe()  # sequences are not replayed

    has_schema = has_sequence

    def get_table_names(self, schema=None, **kwargs):
        if not self.bind.history_complete():
            self._unknown("the list of tables")
        return sorted(self._replayed.tables)

    def get_columns(self, table_name, schema=None, **kwargs):
        table = self._table(table_name, schema)
        pk = self._pk(table)
        return [{"name": c.name, "type": _sa_type(c.type, self.dialect), "nullable": c.nullable and c.name not in pk,
                 "default": c.default.text if c.default else None,
                 "autoincrement": bool(c.type and c.type.text.lower().endswith("serial")), "comment": None}
                for c in table.columns.values()]

    @staticmethod
    def _pk(table) -> list[str]:
        return next((list(c.columns) for c in table.constraints.values() if c.kind == "primary_key"), [])

    def get_pk_constraint(self, table_name, schema=None, **kwargs):
        table = self._table(table_name, schema)
        name = next((c.name for c in table.constraints.values() if c.kind == "primary_key"), None)
        return {"constrained_columns": self._pk(table), "name": name}

    def get_foreign_keys(self, table_name, schema=None, **kwargs):
        table = self._table(table_name, schema)
        out = []
        for c in table.constraints.values():
            if c.kind == "foreign_key":
                target = self._find(c.ref_table or "", None)
                out.append({"name": c.name, "constrained_columns": list(c.columns), "referred_schema": None,
                            "referred_table": c.ref_table, "referred_columns": self._pk(target) if target else [],
                            "options": {}})
        return out

    def get_unique_constraints(self, table_name, schema=None, **kwargs):
        table = self._table(table_name, schema)
        return [{"name": c.name, "column_names": list(c.columns)} for c in table.constraints.values()
                if c.kind == "unique"]

    def get_check_constraints(self, table_name, schema=None, **kwargs):
        table = self._table(table_name, schema)
        return [{"name": c.name, "sqltext": c.expression or ""} for c in table.constraints.values() if c.kind == "check"]

    def _indexes(self, table_name: str):
        return [i for i in self._replayed.indexes.values() if i.table in (table_name, table_name.lower())]

    def get_indexes(self, table_name, schema=None, **kwargs):
        self._table(table_name, schema)
        out = []
        for i in self._indexes(table_name):
            plain = [c if c.replace("_", "").isalnum() else None for c in i.columns]
            entry = {"name": i.name, "column_names": plain, "unique": i.unique, "dialect_options": {}}
            if None in plain:
                entry["expressions"] = [c for c in i.columns]
            out.append(entry)
        return out

    def get_pk_constraint_names(self, *args, **kwargs):
        return []

    def get_view_names(self, *args, **kwargs):
        return []  # views are not replayed; what a revision does per view is not seen (rare)

    get_materialized_view_names = get_sequence_names = get_temp_table_names = get_view_names

    def get_enums(self, *args, **kwargs):
        return []

    def get_schema_names(self, **kwargs):
        return [self.default_schema_name] if self.default_schema_name else []

    def get_table_comment(self, *args, **kwargs):
        return {"text": None}

    def get_table_options(self, *args, **kwargs):
        return {}

    @contextlib.contextmanager
    def _inspection_context(self):  # how Table(..., autoload_with=bind) and MetaData.reflect use it
        yield self

    def reflect_table(self, table, include_columns=None, exclude_columns=(), *args, **kwargs):
        """`Table(name, metadata, autoload_with=bind)`: the table's columns and primary key as
        replayed; columns declared in the Table() call itself are kept as declared. Of a table
        the history does not fully know, the columns it knows: using another one then fails
        inside SQLAlchemy, and static reading reads the revision instead."""
        from sqlalchemy import Column, text
        from sqlalchemy.exc import NoSuchTableError

        known = self._find(table.name, table.schema)
        if known is None and self.bind.history_complete():
            raise NoSuchTableError(table.name)
        pk = self._pk(known) if known else []
        for c in known.columns.values() if known else ():
            if (include_columns and c.name not in include_columns) or c.name in (exclude_columns or ()) \
                    or c.name in table.c:
                continue
            table.append_column(Column(c.name, _sa_type(c.type, self.dialect), nullable=c.nullable and c.name not in pk,
                                       primary_key=c.name in pk,
                                       server_default=text(c.default.text) if c.default else None))


def _sa_type(ref, sa_dialect):
    """A replayed column type as the SQLAlchemy type the dialect's reflection would give."""
    import re

    from sqlalchemy.sql import sqltypes

    if ref is None:
        return sqltypes.NullType()
    base = re.sub(r"\s+", " ", re.sub(r"\(.*", "", ref.text or ref.name)).strip().lower()
    base = {"serial": "integer", "serial4": "integer", "bigserial": "bigint", "serial8": "bigint",
            "smallserial": "smallint", "int": "integer", "int4": "integer", "int8": "bigint", "int2": "smallint",
            "bool": "boolean", "float8": "double precision", "float4": "real"}.get(base, base)
    names = getattr(sa_dialect, "ischema_names", {})
    kind = names.get(base) or names.get(base.split(" ")[0]) or getattr(sqltypes, ref.name.upper(), None)
    if not isinstance(kind, type) or not issubclass(kind, sqltypes.TypeEngine):
        return sqltypes.NullType()
    try:
        made = kind(*ref.params)
    except TypeError:
        made = kind()
    if ref.array and sa_dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return ARRAY(made)
    return made


class OfflineBind:
    """`op.get_bind()` offline: the real dialect (so dialect branches render), reflection answered
    from the replayed history (_SchemaInspector), queries return no rows, and DDL or DML sent
    through it is captured like `op.execute`. Also what SQLAlchemy code commonly touches on a
    Connection or Engine: `engine.url`, transactions, `connect()`, an ORM Session bound to it."""

    def __init__(self, ctx, dialect: str = "postgresql", statements: list[Statement] | None = None):
        from sqlalchemy.engine import make_url

        self._ctx = ctx
        self.dialect = ctx.dialect
        self.engine = self
        self.name = ctx.dialect.name  # Engine.name
        self.url = make_url(f"{ctx.dialect.name}://")
        self.info: dict = {}
        self.rows_read = False  # a query's rows were asked for (offline there are none)
        self.rows_taken: set[int] = set()  # lines of the revision where such rows were read
        self.reading_statically = False  # then rows are unknown, not none (alembic_static.RowsUnknown)
        self.tracer: Tracer | None = None
        self._dialect_name, self._statements = dialect, statements if statements is not None else []
        self._view: tuple[int, object] | None = None

    def schema_now(self):
        """The replayed schema as of the revision's last statement (cached until the next one)."""
        if self._view is None or self._view[0] != len(self._statements):
            self._view = len(self._statements), REPLAYED.now(self._dialect_name, self._statements)
        return self._view[1]

    def history_complete(self) -> bool:
        return REPLAYED.complete

    def took_rows(self, one: bool = False) -> None:
        """Rows were read at the revision's current line. Read statically, the one row a branch
        tests (`if row is None:`) is unknown; loops over rows run as over none, as rendered."""
        if self.reading_statically and one:
            from migsafe.sources.alembic_static import RowsUnknown

            raise RowsUnknown("rows a query reads back from the database")
        span = self.tracer.caller_span() if self.tracer is not None else None
        if span is not None:
            self.rows_taken.add(span.line)

    def execute(self, statement, *args, **kwargs):
        from sqlalchemy import text as sql_text

        if isinstance(statement, str):
            statement = sql_text(statement)
        compiled = str(statement.compile(dialect=self.dialect)).lstrip()
        if not compiled.upper().startswith(("SELECT", "WITH", "SHOW", "PRAGMA", "VALUES")):
            self._ctx.impl._exec(statement)
        else:
            self.rows_read = True
        return _EmptyResult(self, _aggregate_rows(compiled))

    def schema_for_object(self, obj):
        return obj.schema

    def _run_ddl_visitor(self, visitorcallable, element, **kwargs):
        # metadata.create_all(bind) / table.create(bind): render the DDL as SQLAlchemy's own
        # offline (mock) connection does, through execute() above.
        kwargs["checkfirst"] = False
        visitorcallable(self.dialect, self, **kwargs).traverse_single(element)

    def exec_driver_sql(self, sql, *args, **kwargs):
        return self.execute(sql)

    def scalar(self, statement, *args, **kwargs):
        self.execute(statement)
        return None

    def scalars(self, statement, *args, **kwargs):
        return self.execute(statement)

    def connect(self):
        return self

    begin = begin_nested = connect

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def close(self):
        pass

    commit = rollback = close

    def in_transaction(self):
        return True

    def get_transaction(self):
        return self  # begin() gives the same: commit() and rollback() do nothing offline

    get_nested_transaction = get_transaction
    is_active = True
    closed = invalidated = False

    def execution_options(self, **kwargs):
        return self

    def dispose(self, *args, **kwargs):
        pass


def _register_offline_inspection() -> None:
    from sqlalchemy import inspection

    if OfflineBind not in inspection._registrars:
        inspection._inspects(OfflineBind)(_SchemaInspector)
        inspection._inspects(_SchemaInspector)(lambda inspector: inspector)


@contextlib.contextmanager
def _offline_sqlalchemy():
    """Two things SQLAlchemy does with a database that offline rendering must do without one:

    - `metadata.reflect(bind, only=...)`: each table reflected from the replayed history, as
      `Table(name, metadata, autoload_with=bind)` does (see _SchemaInspector.reflect_table).
    - a value for an untyped column (`sa.table("t", sa.column("status"))`), which a live database
      takes as a bound parameter, written as a literal of the value's own Python type."""
    from sqlalchemy import MetaData, Table
    from sqlalchemy.exc import CompileError
    from sqlalchemy.sql import sqltypes

    original_reflect, original_literal = MetaData.reflect, sqltypes.NullType.literal_processor

    def reflect(self, bind=None, schema=None, views=False, only=None, extend_existing=False, **kwargs):
        if not isinstance(bind, OfflineBind):
            return original_reflect(self, bind, schema, views, only, extend_existing, **kwargs)
        if only is None or callable(only):
            names = _SchemaInspector(bind).get_table_names(schema)
            names = [n for n in names if only(n, self)] if callable(only) else names
        else:
            names = list(only)
        for name in names:
            if (f"{schema}.{name}" if schema else name) not in self.tables or extend_existing:
                Table(name, self, schema=schema, autoload_with=bind, extend_existing=extend_existing)

    def literal_processor(self, dialect):
        def process(value):
            resolved = sqltypes._resolve_value_to_type(value)
            inner = None if isinstance(resolved, sqltypes.NullType) else resolved.literal_processor(dialect)
            if inner is None:
                raise CompileError(f"no SQL literal for a {type(value).__name__} value")
            return inner(value)
        return process

    MetaData.reflect, sqltypes.NullType.literal_processor = reflect, literal_processor
    try:
        with _orm_sessions_offline():
            yield
    finally:
        MetaData.reflect, sqltypes.NullType.literal_processor = original_reflect, original_literal


@contextlib.contextmanager
def _orm_sessions_offline():
    """`Session(bind=op.get_bind())`: what it executes goes through the offline bind (UPDATE and
    DELETE captured, queries answered with no rows), as SQLAlchemy's ORM would need a database
    cursor for."""
    from sqlalchemy import orm  # (the worker imports it ahead: warm_up)
    from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData

    original = orm.Session.execute

    def execute(self, statement, params=None, *args, **kwargs):
        bind = self.bind
        if not isinstance(bind, OfflineBind):
            return original(self, statement, params, *args, **kwargs)
        if getattr(statement, "is_select", False) or isinstance(statement, str):
            bind.rows_read = True
            keys = [getattr(c, "key", None) or str(i) for i, c in enumerate(getattr(statement, "selected_columns", ()))]
            compiled = statement if isinstance(statement, str) else str(statement.compile(dialect=bind.dialect))
            return _NoRows(SimpleResultMetaData(keys), bind, _aggregate_rows(compiled))
        return bind.execute(statement)

    class _NoRows(IteratorResult):
        """The ORM's result of a query offline: no rows, and reading them tells the bind."""

        def __init__(self, metadata, bind: OfflineBind, rows: tuple = ()):
            super().__init__(metadata, iter(rows))
            self._offline_bind = bind

        def _fetchiter_impl(self):
            self._offline_bind.took_rows()
            return super()._fetchiter_impl()

        def _fetchall_impl(self):
            self._offline_bind.took_rows()
            return super()._fetchall_impl()

        def _fetchone_impl(self, *args, **kwargs):
            self._offline_bind.took_rows()
            return super()._fetchone_impl(*args, **kwargs)

    orm.Session.execute = execute
    try:
        yield
    finally:
        orm.Session.execute = original


@contextlib.contextmanager
def _batches_traced(tracer: Tracer, statements: list[Statement]):
    """Remember where each batch_op call was made; a batch that makes Alembic recreate the table
    (SQLite, or recreate="always") becomes one table-rebuild statement: offline, Alembic could
    only render it by reflecting the table from a database."""
    from alembic.operations.batch import BatchOperationsImpl

    from migsafe.sql.facts import TableRewrite

    original_init, original_flush = BatchOperationsImpl.__init__, BatchOperationsImpl.flush

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.batch = _LinedBatch(tracer)

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
    from migsafe.sources.alembic_static import _Placeholder
    from migsafe.sql.translate import translate

    def alter(table_name, column_name, *, schema=None, existing_type=None, existing_nullable=None,
              existing_server_default=None, **kw):
        before = len(statements)
        alter_column(table_name, column_name, schema=schema, existing_type=existing_type,
                     existing_nullable=existing_nullable, existing_server_default=existing_server_default, **kw)
        if existing_type is None or len(statements) == before or isinstance(table_name, _Placeholder) \
                or isinstance(column_name, _Placeholder):
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
    from sqlalchemy import Column, MetaData, Table
    from sqlalchemy.schema import CreateColumn

    from migsafe.sql import facts as F
    from migsafe.sql.translate import translate

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
    """A new table's DDL may hold a column type only the project knows (alembic_static.unknown_column_type)."""
    from migsafe.sources.alembic_static import creating_table

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
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext

    env = EnvironmentContext(Config(), None, as_sql=True)
    env.is_offline_mode = lambda: False
    env.configure(dialect_name=ALEMBIC_DIALECT.get(dialect, dialect), output_buffer=io.StringIO(), literal_binds=True)
    sa_dialect = env.get_context().dialect
    if sa_dialect.server_version_info is None:  # `if bind.dialect.server_version_info >= (12,)`
        sa_dialect.server_version_info = SERVER_VERSION.get(dialect)
    return env


@contextlib.contextmanager
def _session(env, tracer: Tracer, statements: list[Statement], roots: list[Path]):
    """Everything a revision runs inside, rendered or read: yields the live `op`."""
    from alembic.operations import Operations

    with _isolated(roots), _batches_traced(tracer, statements), _offline_sqlalchemy(), env, \
            Operations.context(env.get_context()) as op:
        seen = _AsOnline(env.get_context())
        op.get_context = env.get_context = lambda: seen
        yield op


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


def _import_what_env_imports(path: Path) -> None:
    """The modules the project's env.py imports (its models, which register tables and mapped
    classes revisions rely on), imported once per process as `alembic upgrade` would before any
    revision: env.py is read with ast, never run. A module that fails to import is passed over
    (the revision then fails or not on its own, and is read statically if need be)."""
    import ast

    env_py = path.parent.parent / "env.py"
    if env_py in _ENV_IMPORTS_DONE or not env_py.is_file():
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
        statements.extend(_statements(sql, span, dialect))

    ctx.impl.static_output = static_output
    ctx.impl.alter_column = _stating_existing(ctx.impl.alter_column, ctx.dialect, dialect, statements)
    ctx.impl.create_table = _creating(ctx.impl.create_table)
    _register_offline_inspection()
    ctx.impl.connection = OfflineBind(ctx, dialect, statements)  # what op.get_bind() returns
    ctx.impl.connection.tracer = tracer
    # Named by a digest, not hash(): a name may show in a message, which must not vary by run.
    module_name = f"migsafe_revision_{hashlib.sha1(str(path).encode()).hexdigest()[:16]}"
    if static:
        ctx.impl.connection.reading_statically = True
        return _read_statically(path, text, env, tracer, statements, project_root)
    try:
        with _session(env, tracer, statements, import_roots(path, project_root)):
            _import_what_env_imports(path)
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
        if _raised_by_revision(err, str(path), ctx.impl.connection.rows_read):
            # `alembic upgrade` stops here too: what ran before is judged, the rest is not there to judge.
            return Rendered(statements, f"upgrade() raised {_describe(err)}", _error_line(err, str(path)), how="raised")
        return Rendered(statements, _describe(err), _error_line(err, str(path)))
    return Rendered(statements, unreadable=_ddl_per_row(text, ctx.impl.connection.rows_taken))


# Alembic operations that send no DDL of their own.
_NOT_DDL = frozenset({"execute", "bulk_insert", "inline_literal", "get_bind", "get_context", "f", "implementation_for",
                      "invoke", "run_async"})
_DDL_WORDS = ("alter", "create", "drop", "truncate", "rename", "comment", "grant", "revoke")


def _ddl_per_row(text: str, lines: set[int]) -> list[tuple[int, str]]:
    """The `for` loops and `if`s of the revision that iterate or test rows a query read back
    (offline there are none) and hold DDL: it never ran, so it was not judged; say so at the
    loop. Rows read into a name first (`rows = conn.execute(q).fetchall()`, then `for r in
    rows:`) count too."""
    import ast

    if not lines:
        return []
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    names = {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and node.lineno in lines
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
    return sorted(out)


def _is_ddl_call(node) -> bool:
    import ast

    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    if isinstance(node.func.value, ast.Name) and node.func.value.id == "op" and node.func.attr not in _NOT_DDL:
        return True
    first = node.args[0] if node.args else None
    if isinstance(first, ast.Call) and first.args:  # execute(sa.text("ALTER ..."))
        first = first.args[0]
    return (node.func.attr in ("execute", "exec_driver_sql") and isinstance(first, ast.Constant)
            and isinstance(first.value, str) and first.value.lstrip().lower().startswith(_DDL_WORDS))


def _raised_by_revision(err: BaseException, filename: str, rows_read: bool) -> bool:
    """Whether the revision's own code failed (a `raise`, a failing `assert`, `1 / 0`, a name it
    misspelled), as it would against a real database, rather than something offline rendering
    could not give it: a module of the project that is not installed, an answer only the
    database has (Unreadable), an attribute of migsafe's offline stand-ins, or rows (a query
    answered with none, then `row[0]`, or `if row is None: raise`). Only the latter are worth
    reading again statically (which stops at a `raise` only where its condition is known)."""
    from migsafe.sources.alembic_static import Unreadable

    if isinstance(err, (ImportError, Unreadable)):
        return False
    frames = traceback.extract_tb(err.__traceback__)
    if not frames or frames[-1].filename != filename:
        return False  # raised inside the project's code or a library: static reading may still see the ops
    if rows_read:  # whether it raises may depend on rows a live database has (static reading reads both ways)
        return False
    from alembic.operations import Operations

    # An attribute migsafe's stand-ins lack, or op.<operation> of a plugin not installed here
    # (alembic-autogenerate-enums' op.sync_enum_values).
    obj = getattr(err, "obj", None)
    stand_in = isinstance(obj, (OfflineBind, _EmptyResult, _SchemaInspector, Operations)) \
        or obj is sys.modules.get("alembic.op")
    return not (isinstance(err, AttributeError) and stand_in)


def _read_statically(path: Path, text: str, env, tracer: Tracer, statements: list[Statement],
                     project_root: Path) -> Rendered:
    import ast

    from migsafe.sources.alembic_static import Raised, StaticReader, Unreadable

    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as err:
        return Rendered([], f"SyntaxError: {err.msg}", err.lineno or 1)
    reader = StaticReader(path, tree, import_roots(path, project_root), tracer=tracer, statements=statements)
    try:
        with _session(env, tracer, statements, import_roots(path, project_root)) as op:
            reader.load_module_level(op)
            with env.get_context().begin_transaction():
                reader.run("upgrade")
    except Raised as err:
        return Rendered(statements, str(err), err.line, how="static", unreadable=reader.unreadable)
    except Unreadable as err:
        return Rendered([], str(err), 1)
    except BaseException as err:  # noqa: BLE001 - library code refused what we gave it
        if isinstance(err, (KeyboardInterrupt, RenderTimeout)):
            raise
        return Rendered([], _describe(err), _error_line(err, str(path)))
    return Rendered(statements, how="static", unreadable=reader.unreadable)


def _statements(sql: str, span: Span, dialect: str) -> list[Statement]:
    """One Statement per SQL statement in what Alembic wrote (op.execute may hold several)."""
    from migsafe.sql.split import SplitError, split_sql  # sqlglot: in the worker only

    sql = sql.strip()
    try:
        parts = [raw.sql for raw in split_sql(sql, dialect)]
    except (SplitError, ValueError):
        parts = [sql.rstrip(";")]
    return [Statement(part, span) for part in parts if part.strip()]


def _describe(err: BaseException) -> str:
    from migsafe.sources.alembic_static import _message

    if isinstance(err, SystemExit):
        return f"upgrade() called sys.exit({err.code!r})"
    return _message(err)


def _error_line(err: BaseException, filename: str) -> int:
    lines = [fs.lineno for fs in traceback.extract_tb(err.__traceback__) if fs.filename == filename and fs.lineno]
    if isinstance(err, SyntaxError) and err.filename == filename and err.lineno:
        return err.lineno
    return lines[-1] if lines else 1


def load_alembic_migrations(version_dirs: list[Path], root: Path, cwd: Path, dialect: str,
                            start_after: str | None, execute: bool = True,
                            timeout: float = DEFAULT_TIMEOUT, cache: Cache | None = None,
                            sourceless: bool = False) -> list[tuple[Migration, Path]]:
    """Every revision of one graph, in run order, rendered (or read statically). Revisions at or
    before `start_after` (it and its ancestors) are history: replayed, not reported. A rendering
    the cache holds is taken from it (keyed by a chain over the revisions, see cache.py).

    Each revision is rendered in a worker process (worker.py) within `timeout` seconds
    (render-timeout). So is static reading (execute=False, --no-exec): it runs no project code,
    but a hostile file can still make it loop or allocate without end, and the worker costs no
    more than rendering in this process would (this process then never imports Alembic)."""
    from migsafe.sources.alembic_graph import load_revisions, read_revision
    from migsafe.sources.sql import relative_path
    from migsafe.sources.worker import Renderer

    from migsafe.sources.runner import alembic_sets_lock_timeout

    out = []
    cache = cache or Cache(None)
    runner_timeout = alembic_sets_lock_timeout(version_dirs)
    with Renderer(dialect, timeout) as renderer:  # the worker imports Alembic while the graph is read
        read = cache.revision_reader(version_dirs, root, read_revision)
        graph = load_revisions(version_dirs, read=read, sourceless=sourceless)  # (alembic.ini's sourceless)
        if read is not read_revision:
            read.save()
        history = graph.ancestors(start_after) if start_after else set()
        chain = cache.alembic_chain(version_dirs, root, [r.path for r in graph.revisions], cwd, dialect, execute)
        for rev in graph.broken_files + graph.revisions:
            mig = Migration(source="alembic", name=rev.id or rev.path.stem, path=relative_path(rev.path, cwd),
                            report=rev.id not in history, irreversible=rev.irreversible)
            if rev.error is not None:
                mig.error, mig.error_line = rev.error, rev.error_line
                renderer.remember([], whole=False)
            else:
                mig.text = rev.path.read_text(encoding="utf-8-sig", errors="replace")
                chain = digest(chain, rev.path, mig.text)
                rendered = cache.get(chain, Rendered)
                if rendered is None:
                    rendered = renderer.render(rev.path, mig.text, root, execute)
                    if rendered.error is None:  # a failure may be the machine's (time limit, memory)
                        cache.put(chain, rendered)
                mig.statements, mig.how, mig.unreadable = rendered.statements, rendered.how, rendered.unreadable
                renderer.remember(rendered.statements, whole=rendered.error is None and not rendered.unreadable)
                if rendered.error is not None:
                    mig.error, mig.error_line = rendered.error, rendered.error_line
            mig.runner_lock_timeout = runner_timeout
            out.append((mig, rev.path))
    return out

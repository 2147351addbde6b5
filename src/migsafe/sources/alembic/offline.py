"""Alembic's offline mode, as a revision running it needs it: no database, yet a bind that
answers what revisions ask of one. Reflection (`sa.inspect(bind)`, `Table(..., autoload_with=)`)
answers from the schema the revisions before this one built (ReplayedSchema, fed by the jobs'
history); queries read back no rows (aggregates their one row); ORM sessions run offline.
Imported inside the worker only (in_worker.py), after its warm-up."""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import re
import uuid

import sqlglot
from sqlalchemy import Column, ForeignKeyConstraint, MetaData, Table, bindparam, inspection, orm, text
from sqlalchemy.dialects.postgresql import ARRAY
try:
    from sqlalchemy.dialects.postgresql.named_types import NamedType, NamedTypeDropper, NamedTypeGenerator
except ImportError:  # SQLAlchemy 1.4: the ENUM's own visitors
    from sqlalchemy.dialects.postgresql.base import ENUM as NamedType

    NamedTypeGenerator, NamedTypeDropper = NamedType.EnumGenerator, NamedType.EnumDropper
from sqlalchemy.engine import make_url
from sqlalchemy.engine.reflection import Inspector
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.exc import ArgumentError, CompileError, NoSuchTableError
from sqlalchemy.sql import sqltypes, visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import ValuesBase
from sqlalchemy.sql.elements import BindParameter
from sqlglot import expressions as exp

from migsafe.model import Statement
from migsafe.schema import Schema
from migsafe.sources.alembic.static import RowsUnknown
from migsafe.sources.core.guard import Unreadable
from migsafe.sources.core.tracing import Tracer
from migsafe.sql.placeholders import fill
from migsafe.sql.tokens import SQLGLOT_DIALECT
from migsafe.sql.translate import translate

ALEMBIC_DIALECT = {"postgresql": "postgresql", "mysql": "mysql", "sqlite": "sqlite"}
# What an offline dialect reports as the server's version: the oldest still supported upstream
# (the default --target-version; the revision is rendered before the engine knows the setting).
SERVER_VERSION = {"postgresql": (15, 0), "mysql": (8, 4, 0), "sqlite": (3, 45, 0)}


class EmptyResult:
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


_PARAMETER = re.compile(r"%\(\w+\)s|%s|\?|(?<![:\w]):\w+")  # a bound parameter, in any paramstyle


def _aggregate_rows(compiled: str) -> tuple:
    """What an empty database answers: no rows, except to an aggregate without GROUP BY
    (`SELECT count(*) FROM t`, ORM `query(T).count()`), which always gives one row: 0 for a
    count, NULL for the others."""

    try:  # (bound parameters, which sqlglot does not read, stand as NULL)
        select = sqlglot.parse_one(_PARAMETER.sub("NULL", compiled))
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


_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge)


def _reads_only(compiled: str, dialect: str) -> bool:
    """A query (SELECT, SHOW, ...), not a write. A WITH writes where one of its statements does
    (`WITH moved AS (DELETE ... RETURNING *) INSERT ...`, `WITH x AS (...) UPDATE ...`); one
    sqlglot cannot read is taken as a write, rendered for translation to judge what it can."""
    head = compiled.upper()
    if not head.startswith(("SELECT", "WITH", "SHOW", "PRAGMA", "VALUES")):
        return False
    if not head.startswith("WITH"):
        return True
    try:
        tree = sqlglot.parse_one(_PARAMETER.sub("NULL", compiled), read=SQLGLOT_DIALECT.get(dialect, dialect))
    except Exception:  # noqa: BLE001 - not SQL sqlglot reads
        return False
    return tree is not None and tree.find(*_WRITES) is None


def _with_values(statement, values: dict, sa_dialect):
    """The statement with the values execute() was given: each bound parameter of that name
    takes its value (rendered as the literal the dialect would send, see offline_sqlalchemy),
    and for an INSERT or UPDATE the other names that are columns become their values. A value
    with no SQL literal (an object of the project's) stays unknown: rendered as NULL."""
    if not values:
        return statement
    keys = set()

    def bound(element):
        if not isinstance(element, BindParameter) or element.key not in values:
            return None
        keys.add(element.key)
        with_value = bindparam(element.key, values[element.key], type_=element.type)
        try:
            with_value.compile(dialect=sa_dialect, compile_kwargs={"literal_binds": True})
        except (CompileError, NotImplementedError):  # (1.4 raises the latter)
            return None  # no SQL literal for it: unknown
        return with_value

    with_values = visitors.replacement_traverse(statement, {}, bound)
    table_columns = statement.table.c if isinstance(statement, ValuesBase) else ()
    columns = {k: v for k, v in values.items() if k not in keys and k in table_columns}
    try:
        with_values = with_values.values(**columns) if columns else with_values
        with_values.compile(dialect=sa_dialect, compile_kwargs={"literal_binds": True})
    except (CompileError, ArgumentError, NotImplementedError):
        return statement
    return with_values


class _Maybe:
    """What reflection says offline about a name the replayed history does not know (it starts
    from tables made outside it, or a revision before could not be read): unknown. A revision
    that branches on it (`if not has_table(...): return`) stops rendering, and static reading then
    reads both sides of the branch instead of guessing one."""

    def __bool__(self):
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
        self.schema, self.pending, self.count, self.read_whole = Schema(), [], 0, True

    def extend(self, start: int, statements: tuple, read_whole: bool) -> None:
        if start != self.count:  # a fresh worker, or another project: the parent sends it all from 0
            self.reset()
        self.pending.extend(statements)
        self.count = start + len(statements)
        self.read_whole = read_whole

    def now(self, dialect: str, current: list[Statement]):
        """The schema as of the statement the revision is at (its own earlier statements applied)."""

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
        for stmt in statements:
            for fact in stmt.facts if stmt.facts is not None else translate(stmt.sql, dialect):
                schema.apply(fact, 0)


REPLAYED = ReplayedSchema()  # the worker's; worker.render_contained extends it before each revision


class SchemaInspector:
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
        raise Unreadable(f"the migration reflects {what}, which the history before it does not fully tell")

    def _find(self, name: str, schema: str | None):
        tables = self._replayed.tables
        for key in (name, f"{schema}.{name}" if schema else name, name.lower()):
            if key in tables:
                return tables[key]
        return None

    def _table(self, name: str, schema: str | None = None):
        """The table, NoSuchTableError where a database that ran the history has none."""

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
        return [_Reflected(name=c.name, type=_sa_type(c.type, self.dialect), nullable=c.nullable and c.name not in pk,
                           default=c.default.text if c.default else None,
                           autoincrement=bool(c.type and c.type.text.lower().endswith("serial")), comment=None,
                           unknown={"type": f"the type of {table_name}.{c.name}"} if c.type and c.type.unknown else {})
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

        known = self._find(table.name, table.schema)
        if known is None and self.bind.history_complete():
            raise NoSuchTableError(table.name)
        if known is None or known.created_in is None or not self.bind.history_complete():
            self.bind.reflected_in_part = True  # (what the revision does with it may not be what it would do live)
        pk = self._pk(known) if known else []
        for c in known.columns.values() if known else ():
            if (include_columns and c.name not in include_columns) or c.name in (exclude_columns or ()) \
                    or c.name in table.c:
                continue
            table.append_column(Column(c.name, _sa_type(c.type, self.dialect), nullable=c.nullable and c.name not in pk,
                                       primary_key=c.name in pk,
                                       server_default=text(c.default.text) if c.default else None))
        if known is not None:
            self._reflect_foreign_keys(table, known, kwargs.get("resolve_fks", True))

    def _reflect_foreign_keys(self, table, known, resolve_fks: bool) -> None:
        """The table's foreign keys, as SQLAlchemy's reflection gives them: each referring to the
        target's primary key, the target reflected too (resolve_fks), so that a revision looking
        for the constraint to drop by what it refers to finds it (mlflow 0584bdc529eb)."""
        for fk in (c for c in known.constraints.values() if c.kind == "foreign_key"):
            target = self._find(fk.ref_table or "", None)
            referred = self._pk(target) if target is not None else []
            if any(f.name == fk.name for f in table.foreign_key_constraints if fk.name):
                continue
            if len(referred) != len(fk.columns) or not all(c in table.c for c in fk.columns):
                self.bind.reflected_in_part = True  # (a target made outside the history: its key is not known)
                continue
            if resolve_fks and target is not None and target.name not in table.metadata.tables:
                Table(target.name, table.metadata, autoload_with=self.bind)
            table.append_constraint(ForeignKeyConstraint(list(fk.columns), [f"{target.name}.{c}" for c in referred],
                                                         name=fk.name))


class _Reflected(dict):
    """A column as reflected, where a key the history cannot tell (the type a project's own class
    made, the project not installed) is unknown when read: a revision that only looks at names
    still renders, one that decides on the type is read statically (both ways)."""

    def __init__(self, unknown: dict, **known):
        super().__init__(known)
        self.unknown = unknown

    def __getitem__(self, key):
        if key in self.unknown:
            raise Unreadable(f"the migration reflects {self.unknown[key]}, which the history before it does not tell")
        return super().__getitem__(key)

    def get(self, key, default=None):
        return self[key] if key in self else default


def _sa_type(ref, sa_dialect):
    """A replayed column type as the SQLAlchemy type the dialect's reflection would give."""


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

        return ARRAY(made)
    return made


class OfflineBind:
    """`op.get_bind()` offline: the real dialect (so dialect branches render), reflection answered
    from the replayed history (SchemaInspector), queries return no rows, and DDL or DML sent
    through it is captured like `op.execute`. Also what SQLAlchemy code commonly touches on a
    Connection or Engine: `engine.url`, transactions, `connect()`, an ORM Session bound to it."""

    def __init__(self, ctx, dialect: str = "postgresql", statements: list[Statement] | None = None):
        self._ctx = ctx
        self.dialect = ctx.dialect
        self.engine = self
        self.name = ctx.dialect.name  # Engine.name
        self.url = make_url(f"{ctx.dialect.name}://")
        self.info: dict = {}
        self.rows_read = False  # a query's rows were asked for (offline there are none)
        self.rows_taken: set[int] = set()  # lines of the revision where such rows were read
        self.reflected_in_part = False  # a table was reflected with what the history knows of it, maybe not all
        self.reading_statically = False  # then rows are unknown, not none (static.RowsUnknown)
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

            raise RowsUnknown("rows a query reads back from the database")
        span = self.tracer.caller_span() if self.tracer is not None else None
        if span is not None:
            self.rows_taken.add(span.line)

    def execute(self, statement, parameters=None, *args, **kwargs):
        """Writes are rendered, once per parameter set, with the values a live execute() sends
        (`conn.execute(text("UPDATE t SET a = :v"), {"v": 1})`); queries read back no rows."""
        if isinstance(statement, str):
            statement = text(statement)
        compiled = str(statement.compile(dialect=self.dialect)).lstrip()
        if _reads_only(compiled, self._dialect_name):
            self.rows_read = True
            return EmptyResult(self, _aggregate_rows(compiled))
        sets = [parameters] if isinstance(parameters, dict) else list(parameters or ()) or [{}]
        for values in sets:
            self._ctx.impl._exec(_with_values(statement, values, self.dialect))
        return EmptyResult(self)

    def schema_for_object(self, obj):
        return obj.schema

    def _run_ddl_visitor(self, visitorcallable, element, **kwargs):
        # metadata.create_all(bind) / table.create(bind): render the DDL as SQLAlchemy's own
        # offline (mock) connection does, through execute() above.
        if self._type_ddl_skipped(visitorcallable, element, kwargs.get("checkfirst", False)):
            return
        kwargs["checkfirst"] = False
        visitorcallable(self.dialect, self, **kwargs).traverse_single(element)

    def _type_ddl_skipped(self, visitorcallable, element, checkfirst) -> bool:
        """A named type's (a PostgreSQL Enum's) CREATE TYPE where the history already made it:
        online it is not sent (the checkfirst query, or Alembic's memo of the types it made in
        the run); its DROP TYPE with checkfirst where the complete history says it is gone.
        Where the history does not tell, rendered as before."""
        name = getattr(element, "name", None)
        if not isinstance(element, NamedType) or not name:
            return False
        schema = self.schema_now()
        made = schema.object("type", name.lower()) or schema.object("type", name)
        if issubclass(visitorcallable, NamedTypeGenerator):
            return made is not None
        return bool(checkfirst) and issubclass(visitorcallable, NamedTypeDropper) and made is None \
            and self.history_complete() and "type" not in schema.gaps

    def exec_driver_sql(self, sql, parameters=None, *args, **kwargs):
        """Driver SQL, once per parameter set, with the values the driver would put in."""
        sets = [parameters] if isinstance(parameters, (dict, tuple)) else list(parameters or ()) or [None]
        for values in sets:
            rendered = fill(sql, values, self._literal)
            self.execute(text(rendered.replace(":", "\\:")))  # driver SQL: no SQLAlchemy :names in it
        return EmptyResult(self)

    def _literal(self, value) -> str:
        """A value as SQLAlchemy writes its literal (as for text()); NULL where it has none."""
        try:
            return str(bindparam("v", value).compile(dialect=self.dialect, compile_kwargs={"literal_binds": True}))
        except (CompileError, NotImplementedError):
            return "NULL"

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


def register_offline_inspection() -> None:
    if OfflineBind not in inspection._registrars:
        inspection._inspects(OfflineBind)(SchemaInspector)
        inspection._inspects(SchemaInspector)(lambda inspector: inspector)


@contextlib.contextmanager
def offline_sqlalchemy():
    """Two things SQLAlchemy does with a database that offline rendering must do without one:

    - `metadata.reflect(bind, only=...)`: each table reflected from the replayed history, as
      `Table(name, metadata, autoload_with=bind)` does (see SchemaInspector.reflect_table).
    - a value for an untyped column (`sa.table("t", sa.column("status"))`), which a live database
      takes as a bound parameter, written as a literal of the value's own Python type; dates,
      times and UUIDs as SQLAlchemy 2.0 writes them, also on 1.4 (which has no literal of them)."""

    original_reflect, original_literal = MetaData.reflect, sqltypes.NullType.literal_processor

    def reflect(self, bind=None, schema=None, views=False, only=None, extend_existing=False, **kwargs):
        if not isinstance(bind, OfflineBind):
            return original_reflect(self, bind, schema, views, only, extend_existing, **kwargs)
        if only is None or callable(only):
            names = SchemaInspector(bind).get_table_names(schema)
            names = [n for n in names if only(n, self)] if callable(only) else names
        else:
            names = list(only)
        for name in names:
            if (f"{schema}.{name}" if schema else name) not in self.tables or extend_existing:
                Table(name, self, schema=schema, autoload_with=bind, extend_existing=extend_existing)

    def literal_processor(self, dialect):
        def process(value):
            if isinstance(value, uuid.UUID):  # (SQLAlchemy 1.4 has no UUID type: its text, as 2.0 writes)
                value = str(value)
            resolved = sqltypes._resolve_value_to_type(value)
            inner = None if isinstance(resolved, sqltypes.NullType) else resolved.literal_processor(dialect)
            if inner is None:
                raise CompileError(f"no SQL literal for a {type(value).__name__} value")
            return inner(value)
        return process

    # `Inspector.from_engine(conn)` (the spelling before `sa.inspect`) asks no registry: answered the same.
    original_from_engine = Inspector.__dict__["from_engine"]

    def from_engine(cls, bind):
        return SchemaInspector(bind) if isinstance(bind, OfflineBind) else original_from_engine.__get__(None, cls)(bind)

    Inspector.from_engine = classmethod(from_engine)
    # SQLAlchemy 1.4 has no literal for dates and times (2.0 has): 2.0's, the ISO text quoted.
    without_literal = [t for t in (sqltypes.Date, sqltypes.DateTime, sqltypes.Time)
                       if t.literal_processor is sqltypes.TypeEngine.literal_processor]
    MetaData.reflect, sqltypes.NullType.literal_processor = reflect, literal_processor
    for t in without_literal:
        t.literal_processor = _iso_literal_processor
    try:
        with _orm_sessions_offline(), _literals_as_sent():
            yield
    finally:
        MetaData.reflect, sqltypes.NullType.literal_processor = original_reflect, original_literal
        Inspector.from_engine = original_from_engine
        for t in without_literal:
            del t.literal_processor


def _sent(value, type_, dialect):
    """What the driver sends for a value of the type: a JSON value as its text (drivers that
    serialize JSON themselves, as psycopg does, use json.dumps too), else the type's bind processor."""
    if isinstance(type_, sqltypes.JSON):
        return (dialect._json_serializer or json.dumps)(value)
    send = type_.bind_processor(dialect)
    return send(value) if send is not None else value


@contextlib.contextmanager
def _literals_as_sent():
    """A value of a type that has no SQL literal (JSON: `update().values(meta={})`, a JSON value
    in op.bulk_insert rows), which a live database takes as a bound parameter: written as the
    literal of what the type's bind processor sends the driver (the JSON text), not refused."""

    original = SQLCompiler.render_literal_value

    def render_literal_value(self, value, type_):
        if value is not None and type_._cached_literal_processor(self.dialect) is None:
            try:
                sent = _sent(value, type_, self.dialect)
            except (TypeError, ValueError):  # (a value the driver would refuse too)
                sent = value
            if sent is not value and isinstance(sent, (str, int, float)):
                return original(self, sent, sqltypes._resolve_value_to_type(sent))
        return original(self, value, type_)

    SQLCompiler.render_literal_value = render_literal_value
    try:
        yield
    finally:
        SQLCompiler.render_literal_value = original


def _iso_literal_processor(self, dialect):
    quote = sqltypes.String().literal_processor(dialect)

    def process(value):
        if isinstance(value, datetime.datetime):
            return quote(value.isoformat(" "))
        return quote(value.isoformat() if isinstance(value, (datetime.date, datetime.time)) else str(value))
    return process


@contextlib.contextmanager
def _orm_sessions_offline():
    """`Session(bind=op.get_bind())`: what it executes goes through the offline bind (UPDATE and
    DELETE captured, queries answered with no rows), as SQLAlchemy's ORM would need a database
    cursor for."""

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
        return bind.execute(statement, params)

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

"""A Django database connection that never connects, and the schema editor that collects what it
would run: values quoted as the driver would send them, queries answered with no rows, and the
constraint names Django would read from the database served from the replayed state.

Django is imported inside the functions (only ever called in the worker, once it is set up).
"""

from __future__ import annotations

import datetime
import decimal
import functools
import ipaddress
import json
import math
import re
import sys
import types
import uuid

from migsafe.dialects.mysql import MySQL
from migsafe.model import Span
from migsafe.sources.django.stand_ins import stand_in_name, unknown_type_change

ENGINES = {"postgresql": "django.db.backends.postgresql", "mysql": "django.db.backends.mysql",
           "sqlite": "django.db.backends.sqlite3"}


_EDITORS: dict[type, type] = {}
# The ENGINE the project's settings name for a vendor (contrib.gis's PostGIS: geometry columns and
# their indexes come from its operations and schema editor): _rendering_backend.
BACKENDS: dict[str, str] = {}


def _rendering_backend(dialect: str) -> str:
    """The backend rendering the dialect's SQL: the settings' own where it extends Django's backend
    of that vendor and loads (once the apps are, as PostGIS's defines models), else Django's (a
    backend that cannot load here, PostGIS without GDAL: the same SQL for all but its own fields)."""
    from django.db.utils import load_backend

    engine = BACKENDS.get(dialect)
    if engine:
        try:
            if issubclass(load_backend(engine).DatabaseWrapper, load_backend(ENGINES[dialect]).DatabaseWrapper):
                return engine
        except Exception:  # noqa: BLE001 - the project's backend (its C libraries, its imports)
            pass
        del BACKENDS[dialect]  # (tried once)
    return ENGINES[dialect]


def editor_class(base: type) -> type:
    """The backend's schema editor, collecting each statement with the operation that made it."""
    if base in _EDITORS:
        return _EDITORS[base]
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor

    class Offline(base):
        def __init__(self, *args, **kwargs):
            # spans: id(deferred statement) -> (it, the span of the operation that queued it)
            self.spans, self.emitted, self.current, self.in_transaction = {}, [], Span(1, 1, 1, 1), False
            self.before = None  # the project state before the current operation: what the database holds
            self.unknown_type = None  # (column, what): alter_field changing a type migsafe does not know
            super().__init__(*args, **kwargs)
            self.connection.introspection.editor = self  # (table_names: the tables of `before`)

        @property
        def before(self):
            return self._before

        @before.setter
        def before(self, state):
            # renamed: the tables the operation has renamed so far, {new name: the name in `before`}
            self._before, self.renamed = state, {}

        @property
        def deferred_sql(self):
            return self._deferred

        @deferred_sql.setter
        def deferred_sql(self, value):
            self._deferred = _Queued(self, value)

        def execute(self, sql, params=()):
            if params:
                sql = str(sql) % tuple(self.quote_value(p) for p in params)
            # The line of the operation that queued it (deferred SQL runs when the migration ends).
            span = self.spans.get(id(sql), (None, self.current))[1]
            self.emitted.append((str(sql), span, self.in_transaction, self.unknown_type))

        def alter_db_table(self, model, old_db_table, new_db_table, *args, **kwargs):
            # (SQLite's editor on Django < 5 takes disable_constraints=: passed on as given)
            super().alter_db_table(model, old_db_table, new_db_table, *args, **kwargs)
            if old_db_table != new_db_table:  # (the served introspection looks the table up in `before`)
                self.renamed[new_db_table] = self.renamed.pop(old_db_table, old_db_table)

        def alter_field(self, model, old_field, new_field, strict=False):
            what = unknown_type_change(old_field, new_field, self.connection)
            self.unknown_type = (new_field.column, what) if what else None
            try:
                super().alter_field(model, old_field, new_field, strict)
            finally:
                self.unknown_type = None

        def effective_default(self, field):
            missing = stand_in_name(field.default)
            if missing:  # (calling a stand-in makes a stand-in field, not a value)
                return f"migsafe: a default computed by {missing}, which is not installed"
            try:
                value = self._effective_default(field)
                if not field.has_default() or callable(field.default):
                    # uuid4, timezone.now, auto_now: a new value each run would make the report
                    # differ run to run; which value it is does not change a verdict.
                    value = _stable(value)
                return field.get_db_prep_save(value, self.connection)
            except Exception:  # noqa: BLE001 - a default callable that queries the database
                # Which value it is does not change the verdict: that the column gets one does.
                return "migsafe: a default only the database can compute"

        def quote_value(self, value):
            if self.connection.vendor == "sqlite":
                quoted = base.quote_value(self, value)
            else:
                quoted = quote(value, self.connection.vendor)
            # An object's default repr (a project's default that is no value the database knows)
            # has its address in it: a new one each run, and so a report that differs run to run.
            return _OBJECT_ADDRESS.sub(r"\1>", quoted)

        def _constraint_names(self, model, *args, **kwargs):
            self.connection.introspection.served = (self, model)
            return BaseDatabaseSchemaEditor._constraint_names(self, model, *args, **kwargs)

    _EDITORS[base] = Offline
    return Offline


_OBJECT_ADDRESS = re.compile(r"(<[\w.]+ object) at 0x[0-9a-fA-F]+>")


def _stable(value):
    """A callable default's value with its per-call part fixed: uuid4() -> the nil UUID, now() ->
    2000-01-01 (in the value's own time zone)."""
    if isinstance(value, uuid.UUID):
        return uuid.UUID(int=0)
    if isinstance(value, datetime.datetime):
        return datetime.datetime(2000, 1, 1, tzinfo=value.tzinfo)
    if isinstance(value, datetime.date):
        return datetime.date(2000, 1, 1)
    if isinstance(value, datetime.time):
        return datetime.time(0, tzinfo=value.tzinfo)
    return value


class _Queued(list):
    """deferred_sql: remembers which operation queued each statement."""

    def __init__(self, editor, items=()):
        super().__init__()
        self.editor = editor
        self.extend(items)

    def append(self, item):
        self.editor.spans.setdefault(id(item), (item, self.editor.current))
        super().append(item)

    def extend(self, items):
        for item in items:
            self.append(item)


def quote(value, vendor: str) -> str:
    """A literal as the driver would send it (psycopg for PostgreSQL, mysqlclient for MySQL),
    the same text every run: the adapters Django wraps values in for psycopg (Jsonb, ranges,
    Inet) as the SQL they stand for, never as an object's repr."""
    if value is None:
        return "NULL"
    if vendor == "postgresql" and (adapted := _postgres_literal(value)) is not None:
        return adapted
    if isinstance(value, bool):
        return ("true" if value else "false") if vendor == "postgresql" else ("1" if value else "0")
    if isinstance(value, (float, decimal.Decimal)) and not math.isfinite(value):
        special = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
        cast = ("::float8" if isinstance(value, float) else "::numeric") if vendor == "postgresql" else ""
        return f"'{special}'{cast}"
    if isinstance(value, (int, float, decimal.Decimal)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value).hex()
        return f"'\\x{data}'::bytea" if vendor == "postgresql" else f"X'{data}'"
    # dates, UUIDs, ...: their text; a dict (a JSON value where no adapter wrapped it): JSON
    text = (json.dumps(value) if isinstance(value, dict) else str(value)).replace("'", "''")
    if vendor == "mysql":
        text = text.replace("\\", "\\\\")
    return f"'{text}'"


def _postgres_literal(value) -> str | None:
    """What psycopg sends for the values Django adapts for PostgreSQL (JSONField's Jsonb, range
    fields' ranges, GenericIPAddressField's Inet, BinaryField's Binary, HStoreField's dict,
    ArrayField's list, DurationField's timedelta); None for the others. Jsonb and ranges as psycopg 3 writes them,
    whichever driver (or psycopg2's stand-in) Django wrapped them with."""
    from django.db.backends.postgresql import psycopg_any as driver
    from django.db.backends.postgresql.base import Database

    def text(string: str) -> str:
        return "'" + string.replace("'", "''") + "'"

    if isinstance(value, Database.Binary):  # BinaryField's; psycopg 3: .obj, psycopg2: .adapted
        value = bytes(value.obj if hasattr(value, "obj") else value.adapted)
        return f"'\\x{value.hex()}'::bytea"
    if isinstance(value, (driver.Jsonb, getattr(driver, "Json", driver.Jsonb))):
        # psycopg 3: .obj and .dumps (None: json.dumps); psycopg2: .adapted and a dumps() method
        data = (value.dumps or json.dumps)(value.obj) if hasattr(value, "obj") else value.dumps(value.adapted)
        return text(data) + ("::jsonb" if isinstance(value, driver.Jsonb) else "::json")
    if isinstance(value, driver.RANGE_TYPES):
        if value.isempty:
            return "'empty'"
        bounds = [_range_bound(b) for b in (value.lower, value.upper)]
        return text(f"{value._bounds[0]}{bounds[0]},{bounds[1]}{value._bounds[1]}")
    if isinstance(driver.Inet, type) and isinstance(value, driver.Inet):  # psycopg2's; psycopg 3's is ip_address
        return text(str(value.addr)) + "::inet"
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Interface,
                          ipaddress.IPv6Interface)):
        return text(str(value)) + "::inet"
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return text(str(value)) + "::cidr"
    if isinstance(value, datetime.timedelta):
        seconds = value.seconds + value.microseconds / 1_000_000
        return text(f"{value.days} days {seconds:.6f} seconds") + "::interval"
    if isinstance(value, dict):  # hstore
        pairs = (f"{_hstore_item(k)}=>{'NULL' if v is None else _hstore_item(v)}" for k, v in value.items())
        return text(", ".join(pairs))
    if isinstance(value, (list, tuple)):
        return "ARRAY[" + ", ".join(quote(v, "postgresql") for v in value) + "]" if value else "'{}'"
    return None


def _range_bound(bound) -> str:
    """A bound inside a range literal: a number as it is, anything else double-quoted."""
    if bound is None:
        return ""
    if isinstance(bound, (int, float, decimal.Decimal)) and not isinstance(bound, bool):
        return str(bound)
    return '"' + str(bound).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _hstore_item(item) -> str:
    return '"' + str(item).replace("\\", "\\\\").replace('"', '\\"') + '"'


@functools.lru_cache(maxsize=None)
def _offline_wrapper(engine: str) -> type:
    """The DatabaseWrapper class of the backend `engine` that can render SQL but never connects."""
    from django.db.utils import load_backend

    backend = load_backend(engine)
    base = backend.DatabaseWrapper
    introspection = type("OfflineIntrospection", (base.introspection_class,), {
        "served": None, "editor": None, "get_constraints": _served_constraints, "get_sequences": _served_sequences,
        "get_table_list": _served_table_list})

    def no_connection(self, *args, **kwargs):
        raise RuntimeError("the operation needs a database connection, which migsafe never opens")

    return type("OfflineWrapper", (base,), {
        "introspection_class": introspection, "connect": no_connection, "ensure_connection": no_connection,
        "get_new_connection": no_connection,
        "cursor": lambda self: _NullCursor(self), "_cursor": lambda self, name=None: _NullCursor(self),
        # SQLite's editor turns foreign key checks off and on around a migration: nothing to do offline
        "disable_constraint_checking": lambda self: True, "enable_constraint_checking": lambda self: None,
        "check_constraints": lambda self, table_names=None: None})


def offline_engine(vendor: str) -> str:
    """An ENGINE for DATABASES: the vendor's backend that never connects (_offline_wrapper), as
    a module of its own, which is all Django's load_backend asks of an ENGINE."""
    name = f"migsafe_offline_{vendor}"
    if f"{name}.base" not in sys.modules:
        package, base = types.ModuleType(name), types.ModuleType(f"{name}.base")
        package.__path__, package.base, base.DatabaseWrapper = [], base, _offline_wrapper(ENGINES[vendor])
        sys.modules[name], sys.modules[base.__name__] = package, base
    return name


def offline_connection(dialect: str, target_version: str | None):
    """A DatabaseWrapper of the dialect's backend that can render SQL but never connects."""
    engine = _rendering_backend(dialect)
    connection = _offline_wrapper(engine)({"ENGINE": engine, "NAME": "migsafe", "USER": "", "PASSWORD": "", "HOST": "",
                          "PORT": "", "OPTIONS": {}, "TIME_ZONE": None, "CONN_MAX_AGE": 0,
                          "CONN_HEALTH_CHECKS": False, "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False, "TEST": {}})
    if dialect == "postgresql":
        major = int(float(target_version)) if target_version else None
        connection.__dict__["pg_version"] = (major or 15) * 10000
    elif dialect == "mysql":
        server = MySQL(target_version)  # "mariadb-11.4": Django tells MariaDB by "-MariaDB" in the version
        version = ".".join(map(str, (*server.version, 0, 0, 0)[:3])) + ("-MariaDB" if server.mariadb else "")
        connection.__dict__["mysql_server_data"] = {
            "version": version, "sql_mode": "STRICT_TRANS_TABLES", "default_storage_engine": "InnoDB",
            "sql_auto_is_null": False, "lower_case_table_names": False, "has_zoneinfo_database": True}
    return connection


class _NullCursor:
    """Queries a migration's operations make offline (does an extension exist? the ORM's
    .first(), a table's description): no rows, no columns."""

    rowcount = 0
    description = ()

    def __init__(self, connection=None):
        # (what the ORM takes for the end of the rows: [] or, MySQL's, ())
        self.no_rows = connection.features.empty_fetchmany_value if connection is not None else []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, *args, **kwargs):
        return None

    executemany = execute

    def fetchone(self):
        return None

    def fetchall(self):
        return []

    def fetchmany(self, size=None):
        return self.no_rows

    def __iter__(self):  # (contrib.postgres reads the hstore and citext type ids this way)
        return iter(())

    def close(self):
        pass


def _tables(editor):
    """(table, model key, the M2M field whose auto-created table it is or None) of each table the
    project state before the operation has: what a database that ran the migrations so far holds.
    Named as Django names them, without rendering the models (the rendered model confirms a name)."""
    from django.conf import settings
    from django.db.backends.utils import truncate_name

    before = editor.before
    longest = editor.connection.ops.max_name_length()
    for key, state in before.models.items() if before is not None else ():
        options = state.options
        swapped_for = getattr(settings, options.get("swappable") or "", None)
        if options.get("proxy") or not options.get("managed", True) or \
                (swapped_for and swapped_for.lower() != f"{key[0]}.{key[1]}"):
            continue  # no table of its own (as Options.can_migrate)
        table = options.get("db_table") or truncate_name(f"{key[0]}_{key[1]}", longest)
        yield table, key, None
        for name, field in state.fields.items():
            if getattr(field, "many_to_many", False) and field.remote_field.through is None:
                yield field.db_table or truncate_name(f"{table}_{name}", longest), key, name


def _served_table_list(introspection, cursor) -> list:
    """The tables the database would list: those the migrations so far created."""
    from django.db.backends.base.introspection import TableInfo

    editor = introspection.editor
    if editor is None:
        return []
    return [TableInfo(table, "t") for table in sorted({table for table, _, _ in _tables(editor)})]


def _served_model(introspection, table_name: str):
    """(editor, the model of `table_name` as the database has it: before the operation) or None.
    A table the operation renamed is looked up by its name before; an auto-created M2M table is
    its field's `through` model."""
    if introspection.served is None:
        return None
    editor, model = introspection.served
    then = editor.renamed.get(table_name, table_name)
    for table, key, m2m in _tables(editor):
        if table != then:
            continue
        candidate = editor.before.apps.get_model(*key)
        if m2m is not None:
            candidate = candidate._meta.get_field(m2m).remote_field.through
        if candidate._meta.db_table == then:
            return editor, candidate
    return (editor, model) if model._meta.db_table == table_name else None


def _served_constraints(introspection, cursor, table_name) -> dict:
    """What the database would list for a table, named as Django names what it creates."""
    served = _served_model(introspection, table_name)
    if served is None:
        return {}
    editor, model = served
    vendor = editor.connection.vendor
    meta = model._meta
    table = meta.db_table
    out: dict[str, dict] = {}

    def add(name, columns, **kinds):
        info = {"columns": list(columns), "primary_key": False, "unique": False, "foreign_key": None,
                "check": False, "index": False, "type": None, "orders": []}
        info.update(kinds)
        out[str(name)] = info

    for field in meta.local_concrete_fields:
        column = field.column
        if field.primary_key:
            add("PRIMARY" if vendor == "mysql" else f"{table}_pkey", [column], primary_key=True, unique=True,
                index=vendor == "mysql")
        elif field.unique:
            add(column if vendor == "mysql" else f"{table}_{column}_key", [column], unique=True, index=vendor == "mysql")
        if field.remote_field is not None and getattr(field, "db_constraint", False):
            to = field.target_field
            to_table = to.model._meta.db_table  # as BaseDatabaseSchemaEditor._fk_constraint_name
            add(editor._create_index_name(table, [column], suffix=f"_fk_{to_table}_{to.column}"),
                [column], foreign_key=(to_table, to.column))
        if field.db_index and not field.unique and not field.primary_key:
            add(editor._create_index_name(table, [column]), [column], index=True, type="idx")
            if vendor == "postgresql" and field.db_type(editor.connection) and \
                    field.db_type(editor.connection).startswith(("varchar", "text")):
                add(editor._create_index_name(table, [column], suffix="_like"), [column], index=True, type="idx")
        check = field.db_check(editor.connection)
        if check:
            add(f"{table}_{column}_check", [column], check=True)
    for fields in meta.unique_together:
        columns = [meta.get_field(f).column for f in fields]
        add(editor._create_index_name(table, columns, suffix="_uniq"), columns, unique=True, index=vendor == "mysql")
    # Django 5.1+ models no longer carry index_together, but the migration state still does
    state = editor.before.models.get((meta.app_label, meta.model_name)) if editor.before is not None else None
    for fields in getattr(meta, "index_together", None) or (state.options.get("index_together", ()) if state else ()):
        columns = [meta.get_field(f).column for f in fields]
        add(editor._create_index_name(table, columns, suffix="_idx"), columns, index=True, type="idx")
    for index in meta.indexes:
        columns = [meta.get_field(f.lstrip("-")).column for f in index.fields]
        add(index.name, columns, index=True, type=index.suffix)
    for constraint in meta.constraints:
        columns = [meta.get_field(f).column for f in getattr(constraint, "fields", ())]
        unique = type(constraint).__name__ == "UniqueConstraint"
        add(constraint.name, columns, unique=unique, check=not unique, index=unique and vendor == "mysql")
    return out


def _served_sequences(introspection, cursor, table_name, table_fields=()) -> list:
    served = _served_model(introspection, table_name)
    if served is None:
        return []
    pk = served[1]._meta.pk
    return [{"name": f"{table_name}_{pk.column}_seq", "table": table_name, "column": pk.column}]

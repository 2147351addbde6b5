"""Django migrations -> Migration objects: the SQL Django itself would run, with no database.

migsafe's process reads the migration graph statically (django_graph.py) and never imports
Django or project code. Each migration is rendered in the worker process (worker.py, the same
machinery and time limit as Alembic revisions) by Django's own code:

- Django is configured ad hoc (INSTALLED_APPS: the project's apps and the contrib apps the
  graph uses; the user's settings only when DJANGO_SETTINGS_MODULE is set and importable).
- The project state is built once and carried forward from one migration to the next inside
  the worker (rebuilding it per migration, as `sqlmigrate` does, is what makes it slow); a fresh
  worker (after a crash or a time-out) replays the earlier migrations' state changes only.
- SQL is collected with the backend's schema editor in collect_sql mode through a connection
  object that never connects: values are quoted here (stock PostgreSQL and MySQL quote through a
  live driver connection), stand-in driver modules let the backends import without psycopg or
  MySQLdb, and the constraint names Django would read from the database are served from the
  replayed state (Django names them deterministically).
- Every statement points at the operation that produced it: the call's place is recorded when
  the operation object is created, so nested `SeparateDatabaseAndState` operations keep their
  own line; deferred SQL (foreign keys, indexes) keeps the line of the operation that queued it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from migsafe.model import Migration, Span, Statement
from migsafe.sources.alembic import Rendered, Tracer, _describe, _error_line, _statements
from migsafe.sources.worker import DEFAULT_TIMEOUT, RenderTimeout

NOT_INSTALLED = ("Django is not installed where migsafe runs: install it (pip install 'django>=4.2') in "
                 "migsafe's environment to check Django migrations")
NO_EXEC = ("not read: --no-exec (reading Django migrations without running them is not built yet; "
           "run without --no-exec to check them)")
ENGINES = {"postgresql": "django.db.backends.postgresql", "mysql": "django.db.backends.mysql",
           "sqlite": "django.db.backends.sqlite3"}
_ROLLBACK = "there is no way back if the deploy must be rolled back."


@dataclass(frozen=True)
class DjangoStep:
    """What the worker needs besides the file: where the migration sits in the project."""

    app: str  # app label
    name: str
    module: str  # dotted module name of the migration
    history: tuple[tuple[str, str, str], ...]  # (app, name, module) rendered before it, in order
    apps: tuple[str, ...]  # app modules, for INSTALLED_APPS
    roots: tuple[str, ...]  # folders the app modules import from
    target_version: str | None


@dataclass
class DjangoRendered(Rendered):
    irreversible: tuple[int, str] | None = None


# --- migsafe's side ------------------------------------------------------------------------------

def load_django_migrations(migration_dirs: list[Path], cwd: Path, dialect: str, start_after: tuple,
                           execute: bool = True, timeout: float = DEFAULT_TIMEOUT,
                           target_version: str | None = None) -> list[tuple[Migration, Path]]:
    """Every migration of the apps below `migration_dirs` (and of the installed apps they depend
    on, as history), in the order migrate applies them. A broken graph raises UsageError."""
    from migsafe.errors import ConfigError
    from migsafe.sources.django_graph import load_plan
    from migsafe.sources.sql import relative_path
    from migsafe.sources.worker import Renderer

    plan = load_plan(migration_dirs)
    known = {n.key for n in plan.nodes} | {n.key for n in plan.squashed}
    for key in start_after:
        if key not in known:
            raise ConfigError(f'start-after: no Django migration "{key[1]}" in app "{key[0]}" was found under'
                              " the given paths")
    history = _history(plan, start_after)
    apps = tuple(dict.fromkeys(n.app.module for n in plan.nodes))
    roots = tuple(dict.fromkeys(str(n.app.import_root) for n in plan.nodes))
    out: list[tuple[Migration, Path]] = []
    done: list[tuple[str, str, str]] = []  # rendered without error: the worker's state holds them
    failed: list[str] = []
    with Renderer(dialect, timeout, kind="django") as renderer:
        for node in plan.nodes:
            mig = Migration(source="django", name=f"{node.app.label}.{node.name}", path=relative_path(node.path, cwd),
                            report=not node.app.external and node.key not in history)
            mig.text = node.path.read_text(encoding="utf-8-sig", errors="replace") if node.error is None else ""
            module = f"{node.app.module}.{node.app.migrations_dir.name}.{node.name}"
            if node.error is not None:
                mig.error, mig.error_line = node.error, node.error_line
            elif node.key in plan.missing:
                mig.error = plan.missing[node.key]
            elif not execute:
                mig.error = NO_EXEC
            else:
                step = DjangoStep(node.app.label, node.name, module, tuple(done), apps, roots, target_version)
                rendered = renderer.render(node.path, mig.text, node.app.import_root, True, django=step)
                mig.statements, mig.how = rendered.statements, rendered.how
                mig.irreversible = getattr(rendered, "irreversible", None)
                if rendered.error is None:
                    done.append((node.app.label, node.name, module))
                else:
                    note = f" (earlier migrations that could not be analysed: {', '.join(failed[-3:])})" if failed else ""
                    mig.error, mig.error_line = rendered.error + note, rendered.error_line
                    failed.append(mig.name)
            out.append((mig, node.path))
        for node in plan.squashed:  # replaced by the migrations it squashes, which were judged
            out.append((Migration(source="django", name=f"{node.app.label}.{node.name}", report=False,
                                  path=relative_path(node.path, cwd), how="replaced"), node.path))
    return out


def _history(plan, start_after: tuple) -> set[tuple[str, str]]:
    """start-after per app: the named migration and every migration it depends on, transitively."""
    by_key = {n.key: n for n in plan.nodes}
    todo = [k for k in start_after if k in by_key]
    seen: set[tuple[str, str]] = set()
    while todo:
        key = todo.pop()
        if key not in seen and key in by_key:
            seen.add(key)
            todo += by_key[key].dependencies + [k for k in by_key[key].replaces]
    return seen


# --- inside the worker ---------------------------------------------------------------------------

def warm_up_django(dialect: str) -> None:
    """What every Django rendering imports (worker.warm_up); settings stay unconfigured."""
    from migsafe.sql.split import split_sql

    split_sql("SELECT 1", dialect)
    with contextlib.suppress(ImportError):  # reported per migration by render_step
        import django.db.migrations.state  # noqa: F401


class _Project:
    """What the worker keeps from one migration to the next: Django's setup and the state."""

    configured = False
    setup_error: str | None = None
    state = None
    applied: list[tuple[str, str, str]] | None = None


_project = _Project()


def render_step(path: Path, text: str, dialect: str, step: DjangoStep) -> DjangoRendered:
    """One migration as SQL, carrying the project state forward; never raises (but RenderTimeout)."""
    try:
        import django  # noqa: F401
    except ImportError:
        return DjangoRendered([], NOT_INSTALLED)
    sys.path[:0] = [r for r in step.roots if r not in sys.path]
    try:
        _configure(step)
        if _project.applied != list(step.history):
            _rebuild(step.history)
        module = _import_migration(step.module, path, text)
        migration = module.Migration(step.name, step.app)
        rendered = _render(migration, path, text, dialect, step.target_version)
    except BaseException as err:  # noqa: BLE001 - project code may raise anything, even SystemExit
        if isinstance(err, (KeyboardInterrupt, RenderTimeout)):
            _project.applied = None  # the state may be half-way through this migration
            raise
        _project.applied = None
        message = f"the migration called sys.exit({err.code!r})" if isinstance(err, SystemExit) else _describe(err)
        if isinstance(err, ImportError) and getattr(err, "name", None):
            message = f"it imports {err.name}, which is not installed where migsafe runs ({message})"
        if _project.setup_error:
            message += f"; the project's apps could not be loaded either: {_project.setup_error}"
        return DjangoRendered([], message, _error_line(err, str(path)))
    _project.applied = [*step.history, (step.app, step.name, step.module)]
    return rendered


def _configure(step: DjangoStep) -> None:
    if _project.configured:
        return
    import django
    from django.conf import settings

    _project.configured = True
    _install_stand_in_drivers()
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        try:
            django.setup()  # the user's own settings
            return
        except Exception:  # noqa: BLE001 - not importable here: ad hoc settings instead
            from django.utils.functional import empty

            settings._wrapped = empty
            _reset_registry()
    contrib = {"django.contrib.contenttypes", "django.contrib.auth"}
    contrib.update(a for a in step.apps if a.startswith("django.contrib.") and a != "django.contrib.postgres")
    installed = sorted(contrib - {"django.contrib.admin"})
    if "django.contrib.admin" in step.apps:
        installed.append("django.contrib.admin.apps.SimpleAdminConfig")  # no autodiscover of admin.py
    project = [a for a in step.apps if not a.startswith("django.")]
    settings.configure(INSTALLED_APPS=installed + project, DATABASES={}, USE_TZ=True,
                       DEFAULT_AUTO_FIELD="django.db.models.AutoField", SECRET_KEY="migsafe")
    try:
        django.setup()
    except Exception as err:  # noqa: BLE001 - a project app that cannot load: the contrib apps only
        _project.setup_error = _describe(err)
        _reset_registry()
        settings.INSTALLED_APPS = installed
        django.setup()


def _reset_registry() -> None:
    from collections import defaultdict

    from django.apps import apps

    apps.app_configs = {}
    apps.all_models = defaultdict(dict)
    apps.apps_ready = apps.models_ready = apps.ready = apps.loading = False
    apps.clear_cache()


def _install_stand_in_drivers() -> None:
    """Django's PostgreSQL and MySQL backends import their driver at import time; rendering never
    uses it. Where the driver is missing, a stand-in module lets the backend import."""
    for name, version, extra in (("psycopg2", "2.9.9", ("extensions", "extras", "errors", "sql")),
                                 ("MySQLdb", "2.2.4", ("constants", "converters"))):
        try:
            importlib.import_module(name)
            continue
        except ImportError:
            pass
        top = _StandIn(name)
        top.__version__, top.version_info = version, tuple(int(p) for p in version.split("."))
        sys.modules[name] = top
        for sub in extra:
            module = _StandIn(f"{name}.{sub}")
            setattr(top, sub, module)
            sys.modules[module.__name__] = module
        if name == "psycopg2":  # psycopg2's values: Django builds an IntEnum of them
            for level, value in (("READ_UNCOMMITTED", 4), ("READ_COMMITTED", 1), ("REPEATABLE_READ", 2),
                                 ("SERIALIZABLE", 3)):
                setattr(top.extensions, f"ISOLATION_LEVEL_{level}", value)
        if name == "MySQLdb":
            top.converters.conversions = {}
            for sub in ("CLIENT", "FIELD_TYPE"):
                module = _StandIn(f"MySQLdb.constants.{sub}")
                setattr(top.constants, sub, module)
                sys.modules[module.__name__] = module
    # psycopg (3) is tried first: make sure a broken install of it does not shadow the stand-in
    if "psycopg" not in sys.modules:
        with contextlib.suppress(ImportError):
            importlib.import_module("psycopg")


class _StandIn(types.ModuleType):
    """A driver module whose every attribute is a do-nothing class (never used to connect)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        value = type(name, (_StandInValue,), {})
        setattr(self, name, value)
        return value


class _StandInValue:
    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        return _StandInValue()

    def __call__(self, *args, **kwargs):
        return _StandInValue()


def _import_migration(module_name: str, path: Path, text: str):
    """Import the migration afresh, remembering where each operation object is created."""
    from django.db.migrations.operations.base import Operation

    tracer = Tracer(path, text)
    original = Operation.__dict__["__new__"]
    create = original.__func__ if isinstance(original, staticmethod) else original

    def new(cls, *args, **kwargs):
        self = create(cls, *args, **kwargs)
        self._migsafe_span = tracer.caller_span()
        return self

    sys.modules.pop(module_name, None)
    Operation.__new__ = staticmethod(new)
    try:
        return importlib.import_module(module_name)
    finally:
        Operation.__new__ = original


def _rebuild(history: tuple[tuple[str, str, str], ...]) -> None:
    """The state after `history`, from state changes only (a fresh worker, or after a failure)."""
    from django.db.migrations.state import ProjectState

    state = ProjectState()
    for app, name, module_name in history:
        with contextlib.suppress(Exception):
            migration = importlib.import_module(module_name).Migration(name, app)
            for operation in migration.operations:
                operation.state_forwards(app, state)
    _project.state, _project.applied = state, list(history)


def _render(migration, path: Path, text: str, dialect: str, target_version: str | None) -> DjangoRendered:
    from django.db.migrations.state import ProjectState

    state = _project.state if _project.state is not None else ProjectState()
    connection = _offline_connection(dialect, target_version)
    atomic = bool(migration.atomic and connection.features.can_rollback_ddl)
    editor = _editor_class(connection.SchemaEditorClass)(connection, collect_sql=True, atomic=False)
    editor.in_transaction = atomic
    whole = Span(1, 1, 1, 1)
    irreversible = None
    _follow(migration.operations, editor)
    with editor:
        for operation in migration.operations:
            editor.current = getattr(operation, "_migsafe_span", None) or whole
            editor.in_transaction = atomic or bool(getattr(operation, "atomic", False))
            if not operation.reversible and irreversible is None:
                irreversible = (editor.current.line, f"{type(operation).__name__} has no reverse"
                                f" ({'reverse_sql' if hasattr(operation, 'reverse_sql') else 'reverse_code'});"
                                f" {_ROLLBACK}")
            if not operation.reduces_to_sql:  # RunPython: no SQL, and no guessing at what it does
                operation.state_forwards(migration.app_label, state)
                continue
            before = editor.before = state.clone()
            operation.state_forwards(migration.app_label, state)
            operation.database_forwards(migration.app_label, editor, before, state)
        editor.in_transaction = atomic  # deferred SQL runs when the migration ends
    _project.state = state
    statements = []
    for sql, span, in_tx in editor.emitted:
        for stmt in _statements(sql, span, dialect):
            stmt.in_transaction = in_tx
            statements.append(stmt)
    _net_defaults(statements, dialect)
    return DjangoRendered(statements, irreversible=irreversible)


def _net_defaults(statements: list[Statement], dialect: str) -> None:
    """AddField of a NOT NULL field with a Python `default`: Django adds the column with that
    default as a DB default and drops it again in the same operation. What the running app
    version meets is a NOT NULL column without default, so the ADD COLUMN's facts say that."""
    import dataclasses

    from migsafe.sql import facts as F
    from migsafe.sql.translate import translate

    for i, stmt in enumerate(statements):
        if "DROP DEFAULT" not in stmt.sql.upper():
            continue
        for drop in (f for f in translate(stmt.sql, dialect) if isinstance(f, F.DropDefault)):
            for earlier in statements[:i]:
                if earlier.span != stmt.span or "ADD" not in earlier.sql.upper():
                    continue
                facts = earlier.facts if earlier.facts is not None else translate(earlier.sql, dialect)
                earlier.facts = [g for f in facts for g in _without_default(f, drop)]


def _without_default(fact, drop) -> list:
    """The AddColumn `drop` takes the default from, as its net effect: no default, and its inline
    foreign key as a constraint of its own (the default filled existing rows: it is validated)."""
    import dataclasses

    from migsafe.sql import facts as F

    if not (isinstance(fact, F.AddColumn) and fact.table == drop.table and fact.column.name == drop.column):
        return [fact]
    foreign = [c for c in fact.column.constraints if c.kind == "foreign_key"]
    column = dataclasses.replace(fact.column, default=None,
                                 constraints=[c for c in fact.column.constraints if c not in foreign])
    return [dataclasses.replace(fact, column=column)] + [F.AddConstraint(table=fact.table, constraint=c) for c in foreign]


def _follow(operations: list, editor) -> None:
    """SQL of an operation nested in SeparateDatabaseAndState points at that operation."""
    for operation in operations:
        inner = getattr(operation, "database_operations", None) or []
        for sub in inner:
            span = getattr(sub, "_migsafe_span", None)
            if span is not None:
                def forwards(*args, _original=sub.database_forwards, _span=span, **kwargs):
                    outer, editor.current = editor.current, _span
                    try:
                        return _original(*args, **kwargs)
                    finally:
                        editor.current = outer

                sub.database_forwards = forwards
        _follow(inner, editor)


_EDITORS: dict[type, type] = {}


def _editor_class(base: type) -> type:
    """The backend's schema editor, collecting each statement with the operation that made it."""
    if base in _EDITORS:
        return _EDITORS[base]
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor

    class Offline(base):
        def __init__(self, *args, **kwargs):
            # spans: id(deferred statement) -> (it, the span of the operation that queued it)
            self.spans, self.emitted, self.current, self.in_transaction = {}, [], Span(1, 1, 1, 1), False
            self.before = None  # the project state before the current operation: what the database holds
            super().__init__(*args, **kwargs)

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
            self.emitted.append((str(sql), span, self.in_transaction))

        def quote_value(self, value):
            if self.connection.vendor == "sqlite":
                return base.quote_value(self, value)
            return quote(value, self.connection.vendor)

        def _constraint_names(self, model, *args, **kwargs):
            self.connection.introspection.served = (self, model)
            return BaseDatabaseSchemaEditor._constraint_names(self, model, *args, **kwargs)

    _EDITORS[base] = Offline
    return Offline


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
    """A literal as the driver would quote it (psycopg for PostgreSQL, mysqlclient for MySQL)."""
    import datetime
    import decimal
    import uuid

    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return ("true" if value else "false") if vendor == "postgresql" else ("1" if value else "0")
    if isinstance(value, (int, float, decimal.Decimal)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value).hex()
        return f"'\\x{data}'::bytea" if vendor == "postgresql" else f"X'{data}'"
    if isinstance(value, (list, tuple)) and vendor == "postgresql":
        return "ARRAY[" + ", ".join(quote(v, vendor) for v in value) + "]"
    if isinstance(value, dict):
        value = json.dumps(value)
    elif isinstance(value, (datetime.date, datetime.time, datetime.datetime, uuid.UUID, datetime.timedelta)):
        value = str(value)
    text = str(value).replace("'", "''")
    if vendor == "mysql":
        text = text.replace("\\", "\\\\")
    return f"'{text}'"


def _offline_connection(dialect: str, target_version: str | None):
    """A DatabaseWrapper of the dialect's backend that can render SQL but never connects."""
    from django.db.utils import load_backend

    backend = load_backend(ENGINES[dialect])
    base = backend.DatabaseWrapper
    introspection = type("OfflineIntrospection", (base.introspection_class,), {
        "served": None, "get_constraints": _served_constraints, "get_sequences": _served_sequences})

    def no_connection(self, *args, **kwargs):
        raise RuntimeError("the operation needs a database connection, which migsafe never opens")

    wrapper = type("OfflineWrapper", (base,), {
        "introspection_class": introspection, "connect": no_connection, "ensure_connection": no_connection,
        "cursor": lambda self: _NullCursor(), "_cursor": lambda self, name=None: _NullCursor(),
        # SQLite's editor turns foreign key checks off and on around a migration: nothing to do offline
        "disable_constraint_checking": lambda self: True, "enable_constraint_checking": lambda self: None,
        "check_constraints": lambda self, table_names=None: None})
    connection = wrapper({"ENGINE": ENGINES[dialect], "NAME": "migsafe", "USER": "", "PASSWORD": "", "HOST": "",
                          "PORT": "", "OPTIONS": {}, "TIME_ZONE": None, "CONN_MAX_AGE": 0,
                          "CONN_HEALTH_CHECKS": False, "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False, "TEST": {}})
    major = int(float(target_version)) if target_version else None
    if dialect == "postgresql":
        connection.__dict__["pg_version"] = (major or 15) * 10000
    elif dialect == "mysql":
        version = target_version or "8.4"
        connection.__dict__["mysql_server_data"] = {
            "version": f"{version}.0", "sql_mode": "STRICT_TRANS_TABLES", "default_storage_engine": "InnoDB",
            "sql_auto_is_null": False, "lower_case_table_names": False, "has_zoneinfo_database": True}
    return connection


class _NullCursor:
    """Queries a migration's operations make offline (does an extension exist?): no rows."""

    rowcount = 0

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

    def close(self):
        pass


def _served_model(introspection, table_name: str):
    """(editor, the model of `table_name` as the database has it: before the operation) or None."""
    if introspection.served is None:
        return None
    editor, model = introspection.served
    before = getattr(editor, "before", None)
    for candidate in before.apps.get_models() if before is not None else ():
        if candidate._meta.db_table == table_name:
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
    for fields in getattr(meta, "index_together", ()):
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

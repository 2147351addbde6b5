"""What static reading (static.py) evaluates revisions over: messages, the libraries and their
stand-ins where not installed, stubs for the project's modules, functions and classes, and the
unknown values that stand for what only the running project knows."""

from __future__ import annotations

import ast
import builtins
import contextlib
import contextvars
import importlib
import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy.orm
from alembic.operations import Operations
from sqlalchemy import Column, MetaData, Table, types
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import UserDefinedType

from migsafe.sources.core.guard import Unreadable
from migsafe.sql import facts as F
from migsafe.sources.core.tracing import error_message


def message(err: BaseException, unknown: str | None = None) -> str:
    """An exception as one line (tracing.error_message), an op.* a plugin adds said as such. A
    library that refused a value standing for what only the running project knows names its
    class: said in words instead, with the expression it came from (`unknown`) where known."""
    if isinstance(err, AttributeError) and type(getattr(err, "obj", None)).__name__ == "Operations":
        return (f"op.{err.name} is no Alembic operation where migsafe runs (an operation a plugin of the"
                " project registers, and the plugin is not installed; installed beside migsafe, what it does"
                " is judged)")
    said = f"{unknown}, whose value is only known when the project runs" if unknown else \
        "a value only known when the project runs"
    return error_message(err).replace(f"'{Unknown}'", said).replace(str(Unknown), said)


def unknown_part(node: ast.expr, scope: dict) -> str | None:
    """The first name or attribute in `node` (as written) whose value is UNKNOWN, if any: what a
    library refused. Only names and attributes are looked up (an expression the guard let through)."""
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Name, ast.Attribute)):
            try:
                if eval(compile(ast.Expression(sub), "<migsafe>", "eval"), scope) is UNKNOWN:  # noqa: S307
                    return ast.unparse(sub)
            except Exception:  # noqa: BLE001, S112 - not known either way: look further
                continue
    return None


def library(name: str):
    """A library module, or the stand-in for one that is not installed, or None."""
    try:
        return importlib.import_module(name)
    except ImportError:
        pass
    top, *rest = name.split(".")
    module = STAND_INS[top]() if top in STAND_INS else None
    for part in rest:
        module = getattr(module, part, None)
    return module


def sqlmodel():
    """sqlmodel's column type, for revisions its autogenerate wrote when sqlmodel is not installed
    (`sqlmodel.sql.sqltypes.AutoString()`): a VARCHAR, 255 long on MySQL, as in sqlmodel itself.
    The rest of sqlmodel (Session, models) is the application's data code: unknown."""


    class AutoString(types.TypeDecorator):
        impl = types.String
        cache_ok = True
        mysql_default_length = 255

        def load_dialect_impl(self, dialect):
            if dialect.name == "mysql":
                return dialect.type_descriptor(types.String(self.mysql_default_length))
            return super().load_dialect_impl(dialect)

    class GUID(types.TypeDecorator):  # sqlmodel < 0.0.16: UUID on PostgreSQL, else CHAR(32)
        impl = types.CHAR(32)
        cache_ok = True

        def load_dialect_impl(self, dialect):
            if dialect.name == "postgresql":
                return dialect.type_descriptor(postgresql.UUID())
            return dialect.type_descriptor(self.impl)

    # sqltypes imports SQLAlchemy's `types`, so revisions also write `sqlmodel.sql.sqltypes.types.Uuid()`.
    sqltypes = SimpleNamespace(AutoString=AutoString, GUID=GUID, types=types)
    return SimpleNamespace(AutoString=AutoString, sql=SimpleNamespace(sqltypes=sqltypes))


def sqlalchemy_utils():
    """sqlalchemy_utils' column types revisions name, when it is not installed, mapped to the
    database types as sqlalchemy_utils maps them."""


    class UUIDType(types.TypeDecorator):
        impl = types.BINARY(16)
        cache_ok = True

        def __init__(self, binary=True, native=True):
            super().__init__()
            self.binary, self.native = binary, native

        def load_dialect_impl(self, dialect):
            if self.native and dialect.name == "postgresql":
                return dialect.type_descriptor(postgresql.UUID())
            return dialect.type_descriptor(self.impl if self.binary else types.CHAR(32))

    class StringEncryptedType(types.TypeDecorator):
        impl = types.String
        cache_ok = True

        def __init__(self, type_in=None, key=None, engine=None, padding=None, **kwargs):
            super().__init__(**kwargs)

    class EncryptedType(StringEncryptedType):
        impl = types.LargeBinary

    class ArrowType(types.TypeDecorator):
        impl = types.DateTime
        cache_ok = True

    names = {"UUIDType": UUIDType, "StringEncryptedType": StringEncryptedType, "EncryptedType": EncryptedType,
             "ArrowType": ArrowType}
    uuid, arrow = SimpleNamespace(UUIDType=UUIDType), SimpleNamespace(ArrowType=ArrowType)
    return SimpleNamespace(**names, types=SimpleNamespace(**names, uuid=uuid, arrow=arrow))


def oslo_db():
    """oslo.db's column types (`oslo_db.sqlalchemy.types`), which OpenStack projects' revisions
    name, when it is not installed: as oslo.db defines them (JSON kept as TEXT, LONGTEXT or
    MEDIUMTEXT on MySQL when asked; a soft-delete flag as an INTEGER; its String as SQLAlchemy's)."""

    from sqlalchemy.dialects import mysql

    class JsonEncodedType(types.TypeDecorator):
        impl = types.Text
        cache_ok = True

        def __init__(self, mysql_as_long=False, mysql_as_medium=False):
            super().__init__()
            if mysql_as_long and mysql_as_medium:
                raise TypeError("mysql_as_long and mysql_as_medium are mutually exclusive")
            if mysql_as_long:
                self.impl = types.Text().with_variant(mysql.LONGTEXT(), "mysql")
            elif mysql_as_medium:
                self.impl = types.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")

    class SoftDeleteInteger(types.TypeDecorator):
        impl = types.Integer
        cache_ok = True

    class String(types.String):
        def __init__(self, length, mysql_ndb_length=None, mysql_ndb_type=None, **kw):
            super().__init__(length, **kw)

    oslo_types = SimpleNamespace(JsonEncodedType=JsonEncodedType, SoftDeleteInteger=SoftDeleteInteger, String=String,
                                 JsonEncodedDict=type("JsonEncodedDict", (JsonEncodedType,), {"cache_ok": True}),
                                 JsonEncodedList=type("JsonEncodedList", (JsonEncodedType,), {"cache_ok": True}))
    return SimpleNamespace(sqlalchemy=SimpleNamespace(types=oslo_types))


# Library name -> its stand-in, used when it is not installed (never when it is).
STAND_INS = {"sqlmodel": sqlmodel, "sqlalchemy_utils": sqlalchemy_utils, "oslo_db": oslo_db}

PARSED: dict[tuple[str, int, int], ast.Module | None] = {}


def parsed(path: Path) -> ast.Module | None:
    """A project module's syntax tree, parsed once per run however many revisions import it."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in PARSED:
        try:
            PARSED[key] = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError, RecursionError):
            PARSED[key] = None
    return PARSED[key]


FELL_THROUGH = object()  # a function body read to its end without a `return`


class ProjectFunction:
    """A function read from source. Followed statement by statement when called on its own line;
    inside an expression only a function of assignments, `if`s and `return`s can be evaluated."""

    def __init__(self, node: ast.FunctionDef, module: dict, path: Path, reader):  # reader: a static.StaticReader
        self.node, self.module, self.path, self.reader = node, module, path, reader

    def bind(self, args: list, kwargs: dict) -> dict:
        a = self.node.args
        local = dict(self.module)
        params = [p.arg for p in a.posonlyargs + a.args]
        defaults = dict(zip(params[len(params) - len(a.defaults):], a.defaults))
        defaults.update({p.arg: d for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None})
        kwargs = dict(kwargs)
        for i, name in enumerate(params + [p.arg for p in a.kwonlyargs]):
            if i < len(params) and i < len(args):
                local[name] = args[i]
            elif name in kwargs:
                local[name] = kwargs.pop(name)
            elif name in defaults:
                try:
                    local[name] = self.reader._eval(defaults[name], self.module)
                except Unreadable:
                    local[name] = UNKNOWN
            else:
                local[name] = UNKNOWN
        if a.vararg:
            local[a.vararg.arg] = tuple(args[len(params):])
        if a.kwarg:
            local[a.kwarg.arg] = kwargs
        return local

    def __call__(self, *args, **kwargs):
        result = self._result(self.node.body, self.bind(list(args), kwargs))
        return None if result is FELL_THROUGH else result

    def _result(self, body: list[ast.stmt], scope: dict):
        """What a function made of assignments, known `if`s and `return`s returns, or Unreadable."""
        for stmt in body:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # docstring
            if isinstance(stmt, ast.Return):
                return None if stmt.value is None else self.reader._eval(stmt.value, scope)
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None and all(
                    isinstance(t, ast.Name) for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])):
                value = self.reader._eval(stmt.value, scope)
                for target in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                    scope[target.id] = value
            elif isinstance(stmt, ast.If):
                result = self._result(stmt.body if self.reader._eval(stmt.test, scope) else stmt.orelse, scope)
                if result is not FELL_THROUGH:
                    return result
            else:
                raise Unreadable(f"{self.node.name}() is only known when the project runs")
        return FELL_THROUGH


class ModuleStub:
    """A project module read from source, used as `module.name`."""

    def __init__(self, namespace: dict, name: str = ""):
        self._namespace, self._name = namespace, name

    def __getattr__(self, name: str):
        # (a name the module binds to what could not be read is no value to hand a library:
        # SQLAlchemy would refuse it in its own words, naming a stand-in of migsafe's)
        if name in self._namespace and self._namespace[name] is not UNKNOWN:
            return self._namespace[name]
        raise Unreadable(f"{self._name}.{name} is only known when the project runs" if self._name
                         else f"{name} is only known when the project runs")


def name_parameters(callee) -> tuple[list[str], set[str]]:
    """An Alembic operation's positional parameters in order, and those that take a name."""


    try:
        params = list(inspect.signature(callee).parameters.values())
    except (TypeError, ValueError):
        params = []
    if not any(p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params):
        # `alembic.op.drop_column` is a (*args, **kw) proxy of the Operations method
        method = getattr(Operations, getattr(callee, "__name__", ""), None)
        params = list(inspect.signature(method).parameters.values())[1:] if callable(method) else []
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = {p.name for p in params
             if p.name.endswith(("_name", "schema")) or p.name in ("name", "source_table", "referent_table")}
    return positional, names



def root_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def is_column_type(node: ast.ClassDef) -> bool:
    """A project's own column type (a TypeDecorator and the like)."""
    bases = " ".join(ast.unparse(b) for b in node.bases)
    return any(word in bases for word in ("TypeDecorator", "UserDefinedType", "TypeEngine", "types.")) or any(
        isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "impl" for t in s.targets)
        for s in node.body)


def custom_type(name: str) -> type:
    """Stands for a project column type (used as `T` or `T(...)`): DDL shows the type by the
    project's own name; what it really maps to is only known when the project runs."""

    def __init__(self, *args, **kwargs):
        pass

    def get_col_spec(self, **kw):
        return name

    def literal_processor(self, dialect):
        # A value written through it (op.bulk_insert rows): the project's type converts it, so
        # the SQL literal is unknown. It stands as one fixed string (never the value, which may be
        # the time of the run).
        return lambda value: f"'<{name} value>'"

    made = type(name, (UserDefinedType,), {"cache_ok": True, "__init__": __init__, "get_col_spec": get_col_spec,
                                           "literal_processor": literal_processor})

    @compiles(made)
    def spelled(type_, compiler, **kw):
        # A name the database reserves (`Array`, `User`) is quoted, or the server would refuse it.
        preparer = compiler.dialect.identifier_preparer
        return preparer.quote_identifier(name) if name.lower() in preparer.reserved_words else name

    return made


CREATING_TABLE = contextvars.ContextVar("creating_table", default=False)


@contextlib.contextmanager
def creating_table():
    """While a new table's DDL is written: an UnknownColumnType may be written in it."""
    token = CREATING_TABLE.set(True)
    try:
        yield
    finally:
        CREATING_TABLE.reset(token)


def unknown_column_type(expression: str, reason: str):
    """A column type only the running project knows. In a table being created it changes
    nothing the statement locks or rewrites, so it is written as `unknown_<name>_<digest of the
    expression>`, a type rules take as unknown (change_column_type.py, as Django's stand-in
    fields); two different expressions never read as the same type. Anywhere else (add_column,
    alter_column) the type decides what the statement does: it stays unreadable there."""

    word = re.sub(r"\W+", "_", re.sub(r"\(.*", "", expression, flags=re.S).rpartition(".")[2]).strip("_").lower()
    spelled = F.unknown_type(word or "type", expression)

    def get_col_spec(self, **kw):
        if not CREATING_TABLE.get():
            raise Unreadable(reason)
        return spelled

    return type("UnknownColumnType", (UserDefinedType,), {"cache_ok": True, "get_col_spec": get_col_spec,
                                                          "unknown_reason": reason})()


UNKNOWN_DEFAULTS_WRITTEN: contextvars.ContextVar[list | None] = contextvars.ContextVar("unknown_defaults", default=None)


class UnknownServerDefault(TextClause):
    """A server default only the running project knows (unknown_server_default)."""

    inherit_cache = True

    def __init__(self, expression: str, reason: str):
        super().__init__("")
        self.expression, self.reason = expression, reason
        self.said = (f"the server default `{expression}` is only known when the project runs; the rest of the"
                     " operation is judged taking it for a constant (were it an expression computed for each row,"
                     " what the statement rewrites or locks could differ)")


@compiles(UnknownServerDefault)
def _unknown_default_written(element: UnknownServerDefault, compiler, **kw) -> str:
    """In a new table: nothing to judge it by, no rows get it. Elsewhere, told to the reader
    listening (StaticReader, see unknown_defaults_written), or else unreadable."""
    if not CREATING_TABLE.get():
        written = UNKNOWN_DEFAULTS_WRITTEN.get()
        if written is None:
            raise Unreadable(element.reason)
        written.append(element)
    return "'<{}>'".format(element.expression.replace("'", "''"))


@contextlib.contextmanager
def unknown_defaults_written():
    """The unknown server defaults written into an existing table's DDL while inside."""
    token = UNKNOWN_DEFAULTS_WRITTEN.set([])
    try:
        yield UNKNOWN_DEFAULTS_WRITTEN.get()
    finally:
        UNKNOWN_DEFAULTS_WRITTEN.reset(token)


def unknown_server_default(expression: str, reason: str) -> UnknownServerDefault:
    """A server default only the running project knows (a constant of a library not installed).
    Written as the string literal `'<expression>'`. In a table being created it changes nothing a
    rule judges; added to an existing table (add_column, alter_column) it may decide what the
    statement does, so the op is judged taking it for a constant and said not analyzed for it."""
    return UnknownServerDefault(expression[:60], reason)


class PackageStub:
    """`import app.types` then `app.types.UUID()`: modules resolved when used."""

    def __init__(self, name: str, reader):  # reader: a static.StaticReader
        self._name, self._reader = name, reader

    def __getattr__(self, attr: str):
        module = self._reader._project_module(self._name)
        if module is not None and attr in module:
            return module[attr]
        if self._reader._project_module(f"{self._name}.{attr}") is not None:
            return PackageStub(f"{self._name}.{attr}", self._reader)
        raise Unreadable(f"{self._name}.{attr} is only known when the project runs")


def declare_table(attrs: dict) -> None:
    """A model's columns as declarative mapping makes them: named after their attributes and
    in a table named `__tablename__`, so `sa.ForeignKey(Model.id)` knows what it refers to."""

    mapped_column_type = getattr(sqlalchemy.orm, "MappedColumn", ())  # none in SQLAlchemy 1.4
    columns = {}
    for name, value in attrs.items():
        column = value.column if isinstance(value, mapped_column_type) else value
        if isinstance(column, Column) and column.table is None:
            if column.name is None:
                column.name = column.key = name
            columns[name] = column
    try:
        Table(attrs["__tablename__"], MetaData(), *columns.values())
    except Exception:  # noqa: BLE001 - columns SQLAlchemy refuses together stay unattached
        return
    attrs.update(columns)


PROJECT_CONSTRUCT = "_migsafe_project_construct"  # marks a SQL construct class made by StaticReader._class


class ClassStub:
    """A project class read from its source: its class attributes are known. A dataclass can
    be made (its fields are what it was given), and its one-line properties read."""

    def __init__(self, name: str, attrs: dict, fields: list[str] | None = None, properties: dict | None = None):
        self._name, self._attrs, self._fields, self._properties = name, attrs, fields, properties or {}

    def __call__(self, *args, **kwargs):
        if self._fields is None or len(args) > len(self._fields) or set(kwargs) - set(self._fields):
            raise Unreadable(f"{self._name}() is only known when the project runs")
        return ClassStub(self._name, {**self._attrs, **dict(zip(self._fields, args)), **kwargs},
                          properties=self._properties)

    def __getattr__(self, attr: str):
        if attr.startswith("_") and attr not in ("__tablename__", "__table_args__"):
            raise AttributeError(attr)
        if attr in self._attrs:
            return self._attrs[attr]
        if attr in self._properties:
            return self._properties[attr](self)
        raise Unreadable(f"{self._name}.{attr} is only known when the project runs")

    def __repr__(self) -> str:  # what a library that refuses it shows
        return (f"the project's class {self._name} (read from its source without running it: only its class"
                " attributes are known)")


class Return(Exception):
    pass


class Placeholder(str):
    """Stands for a string value only the running project knows."""


class Unknown:
    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = Unknown()


class Candidates:
    """What a comprehension filtered by a value only the running project knows may hold: a loop
    over it is read once per item it may hold (what each turn would change); its truth, length
    and any other use are unknown."""

    def __init__(self, items: list) -> None:
        self.items = items

    def __bool__(self):
        raise Unreadable("which items a filter keeps is only known when the project runs")

    def __iter__(self):
        raise Unreadable("which items a filter keeps is only known when the project runs")


def bind_target(target: ast.expr, value, scope: dict) -> None:
    """`for name, (table, columns) in ...:` binds as Python does, nested and starred targets
    included; a part that cannot be unpacked so (or an attribute, a subscript) is unknown."""
    if isinstance(target, ast.Name):
        scope[target.id] = value
        return
    if isinstance(target, ast.Starred):  # (given its part of the tuple below)
        bind_target(target.value, value, scope)
        return
    if not isinstance(target, (ast.Tuple, ast.List)):
        return
    elts = target.elts
    try:
        values = list(value)
        star = next((i for i, e in enumerate(elts) if isinstance(e, ast.Starred)), None)
        if star is None and len(values) != len(elts) or star is not None and len(values) < len(elts) - 1:
            raise ValueError
        if star is not None:
            tail = len(elts) - star - 1
            values = values[:star] + [values[star:len(values) - tail]] + values[len(values) - tail:]
    except (TypeError, ValueError, Unreadable):
        values = [UNKNOWN] * len(elts)
    for elt, part in zip(elts, values):
        bind_target(elt, part, scope)


def absolute_import(node: ast.ImportFrom, package: str | None) -> ast.ImportFrom | None:
    """A relative import of a project module as the absolute one it names (None in the revision
    file itself, which is no package's module)."""
    parts = package.split(".") if package else []
    if node.level > 1:
        parts = parts[:len(parts) - (node.level - 1)]
    if not parts:
        return None
    return ast.ImportFrom(".".join(parts + ([node.module] if node.module else [])), node.names, 0)


def holds_unknown(value) -> bool:
    """Unknown, or a helper's `*args`/`**kwargs` with an unknown argument among them."""
    if isinstance(value, dict):
        value = tuple(value.values())
    return value is UNKNOWN or (isinstance(value, tuple) and any(v is UNKNOWN for v in value))


def mentions_op(node: ast.AST, scope: dict) -> bool:
    """Does this code call Alembic (op.*, or a batch_op bound in scope)? `op.get_bind()` and
    `op.get_context()` alone do not: what is done with them is data code, as with a `conn`."""
    op = scope.get("op")
    todo = [node]
    while todo:
        sub = todo.pop()
        if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in NOT_OPS
                and isinstance(sub.func.value, ast.Name) and sub.func.value.id == "op"):
            todo.extend(sub.args + [k.value for k in sub.keywords])
            continue
        if isinstance(sub, ast.Name) and (sub.id == "op" or (sub.id in scope and is_batch(scope[sub.id], op))):
            return True
        todo.extend(ast.iter_child_nodes(sub))
    return False


NOT_OPS = ("get_bind", "get_context")


def may_issue_sql(func: ProjectFunction, call: ast.Call, scope: dict) -> bool:
    """Could this call, or what it calls, write SQL? Not if Alembic's op is neither passed to it
    nor named in its source, and that source (with the functions of its module it calls) calls
    nothing that sends SQL or an Alembic operation: a recursive walk over JSON (a dashboard
    layout) is data code however deep it goes."""

    sending = {name for name in dir(Operations) if not name.startswith("_")} | {
        "execute", "exec_driver_sql", "executescript", "connection", "create_all", "drop_all", "create", "drop"}
    if mentions_op(call, scope):
        return True
    todo, seen = [func], set()
    while todo:
        f = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        for sub in ast.walk(f.node):
            if isinstance(sub, ast.Name) and sub.id == "op" or isinstance(sub, ast.Attribute) and sub.attr in sending:
                return True
            if isinstance(sub, ast.Name) and isinstance(f.module.get(sub.id), ProjectFunction):
                todo.append(f.module[sub.id])
    return False


def is_batch(value, op) -> bool:
    return type(value).__name__ == "BatchOperations" or (op is not None and value is op)


# What a call statement of a revision is, told from its code.
def writes_rows(statement) -> bool:
    """An INSERT, UPDATE or DELETE (Core, or SQL text): a value in it changes no schema."""
    if isinstance(statement, TextClause):
        statement = statement.text
    if isinstance(statement, str):
        return statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE") if statement.strip() else False
    return isinstance(statement, UpdateBase)


def is_the_bind(value) -> bool:
    return type(value).__name__ == "OfflineBind"  # (offline.py imports this module)


def given_the_bind(call: ast.Call, evaluate) -> bool:
    """Is the offline bind (`bind`, `op.get_bind()`) among the call's arguments? (Only such
    arguments are evaluated, with `evaluate`: one that sends SQL itself would send it twice.)"""
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        if not (isinstance(arg, (ast.Name, ast.Attribute)) or isinstance(arg, ast.Call) and isinstance(
                arg.func, ast.Attribute) and arg.func.attr in ("get_bind", "connect")):
            continue
        try:
            if is_the_bind(evaluate(arg)):
                return True
        except Unreadable:
            continue
    return False


def sent_through_bind(callee) -> bool:
    """A method of the offline bind (`conn.execute`, `conn.exec_driver_sql`): SQL it sends is rendered."""
    return is_the_bind(getattr(callee, "__self__", None))


LOGGING_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log"})


def is_logging(call: ast.Call, scope: dict) -> bool:
    """`logger.info(...)` of a logger the project defines (`from app.log import logger`, not
    installed): it writes a line, never SQL, when what it is given calls nothing but builtins
    (`logger.info("%s", conn.execute(...))` would run that SQL: not this)."""
    if not (isinstance(call.func, ast.Attribute) and call.func.attr in LOGGING_METHODS) or mentions_op(call, scope):
        return False
    calls = [node for arg in [*call.args, *call.keywords] for node in ast.walk(arg) if isinstance(node, ast.Call)]
    return all(isinstance(c.func, ast.Name) and c.func.id in builtins.__dict__ and c.func.id not in scope for c in calls)

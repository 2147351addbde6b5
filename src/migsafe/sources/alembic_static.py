"""Read an Alembic revision without running its code: the fallback when rendering fails.

Real revisions import the application, or compute things offline mode cannot. Here the
revision file is parsed with `ast`, and only what can be evaluated without project code is
evaluated: literals, names bound to such values, and calls into SQLAlchemy and Alembic (never a
name the project defines elsewhere). `op.*` calls so evaluated run through the same offline
Alembic context as a normal render, so they produce exactly the SQL Alembic would write.
Branches whose condition cannot be known are read on both sides; loops over a known sequence
are unrolled; helpers defined in the revision file are followed. An `op.*` call that cannot be
evaluated is reported (never silently skipped).
"""

from __future__ import annotations

import ast
import builtins
import importlib
from dataclasses import dataclass, field
from pathlib import Path

LIBRARIES = ("sqlalchemy", "alembic", "sqlmodel")  # importable without project code
# Standard modules revisions use for values (timestamps, ids, enums), with nothing in them that
# touches files, processes or the network: safe to evaluate even under --no-exec.
PURE_STDLIB = ("datetime", "time", "uuid", "json", "enum", "decimal", "math", "string", "re", "textwrap",
               "functools", "itertools", "collections", "typing", "dataclasses", "logging")
SAFE_BUILTINS = {name: getattr(builtins, name) for name in (
    "True", "False", "None", "len", "range", "list", "dict", "tuple", "set", "frozenset", "str", "int",
    "float", "bool", "sorted", "enumerate", "zip", "min", "max", "reversed", "isinstance", "any", "all")}
MAX_DEPTH = 8


class Unreadable(Exception):
    """This expression needs something only the running project has."""


@dataclass
class StaticReader:
    path: Path
    tree: ast.Module
    search_roots: list[Path] = field(default_factory=list)  # where the project's own modules live
    namespace: dict = field(default_factory=dict)  # the revision module's globals
    unreadable: list[tuple[int, str]] = field(default_factory=list)
    _modules: dict = field(default_factory=dict)  # project module name -> namespace (None: not found)
    tracer: object | None = None  # alembic.Tracer: pinned to the revision's call while in project code
    _site: list = field(default_factory=list)  # the revision-file call we are inside of, if any

    def load_module_level(self, op) -> None:
        self._load(self.tree, self.namespace, self.path)
        self.namespace["op"] = op  # `from alembic import op` must be the live proxy

    def run(self, name: str) -> None:
        func = self.namespace.get(name)
        if not isinstance(func, _ProjectFunction):
            raise Unreadable(f"the revision has no {name}() function")
        try:
            self._block(func.node.body, dict(self.namespace), 0)
        except _Return:
            pass

    def _load(self, tree: ast.Module, namespace: dict, path: Path, depth: int = 0) -> None:
        """A module's globals, read not run: library imports, the project's own modules (read
        the same way, one level deep: a revision's helpers, not the whole application),
        classes (literal attributes), functions, and constants."""
        namespace.setdefault("__builtins__", SAFE_BUILTINS)
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self._import(node, namespace, follow_project=depth == 0)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                namespace[node.name] = _ProjectFunction(node, namespace, path, self)
            elif isinstance(node, ast.ClassDef):
                namespace[node.name] = (_custom_type(node.name) if _is_column_type(node)
                                        else _ClassStub(node.name, _literals(node.body)))
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                self._assign(node, namespace, strict=False)

    # --- statements -----------------------------------------------------------------------

    def _block(self, body: list[ast.stmt], scope: dict, depth: int) -> None:
        for node in body:
            self._statement(node, scope, depth)

    def _statement(self, node: ast.stmt, scope: dict, depth: int) -> None:
        strict = scope.get("__file__") is None  # the revision's own code, not a project helper
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            self._call_statement(node.value, scope, depth, strict)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            self._assign(node, scope, strict)
        elif isinstance(node, ast.With):
            self._with(node, scope, depth)
        elif isinstance(node, ast.For):
            self._for(node, scope, depth)
        elif isinstance(node, ast.If):
            try:
                branch = node.body if self._eval(node.test, scope) else node.orelse
            except Unreadable:  # unknown condition: what either side would change
                for side in (node.body, node.orelse):
                    try:
                        self._block(side, scope, depth)
                    except _Return:  # a `return` on one side ends only that side
                        pass
                return
            self._block(branch, scope, depth)
        elif isinstance(node, ast.Try):
            self._block(node.body, scope, depth)
            self._block(node.finalbody, scope, depth)
        elif isinstance(node, ast.Return):
            raise _Return()
        elif strict and _mentions_op(node, scope):
            self._unreadable(node, f"{type(node).__name__.lower()} statement using op")

    def _call_statement(self, call: ast.Call, scope: dict, depth: int, strict: bool) -> None:
        root = _root_name(call.func)
        if root is not None and root not in scope and root not in builtins.__dict__:
            if strict:  # a function of the project (or of a library we do not load)
                self._unreadable(call, f"calls {ast.unparse(call.func)}(), which is defined outside what"
                                       " migsafe can read and may change the schema")
            return
        try:
            callee = self._eval(call.func, scope)
        except Unreadable:
            callee = None
        if isinstance(callee, _ProjectFunction):
            self._helper(callee, call, scope, depth)
            return
        if not _mentions_op(call, scope):
            return  # data code (conn.execute of app models, prints, ...): no schema change to read
        try:
            self._eval(call, scope)
        except Unreadable as err:
            try:
                self._eval_with_placeholders(call, scope)
            except Unreadable:
                self._unreadable(call, str(err))

    def _eval_with_placeholders(self, call: ast.Call, scope: dict):
        """An argument only the database knows (a constraint name found by reflection) does not
        change what the statement locks or rewrites: render the op with `<the expression>` in
        its place. Arguments Alembic cannot take as a string (a Column) stay unreadable."""
        extra: dict = {}

        def stand_in(arg: ast.expr) -> ast.expr:
            try:
                self._eval(arg, scope)
                return arg
            except Unreadable:
                name = f"migsafe_placeholder_{len(extra)}"
                extra[name] = _Placeholder(f"<{ast.unparse(arg)[:60]}>")
                return ast.copy_location(ast.Name(name, ast.Load()), arg)

        args = [a if isinstance(a, ast.Starred) else stand_in(a) for a in call.args]
        keywords = [ast.keyword(k.arg, stand_in(k.value)) if k.arg else k for k in call.keywords]
        if not extra:
            raise Unreadable("no argument to stand in for")
        new = ast.fix_missing_locations(ast.copy_location(ast.Call(call.func, args, keywords), call))
        return self._eval(new, {**scope, **extra})

    def _helper(self, func: _ProjectFunction, call: ast.Call, scope: dict, depth: int) -> None:
        """Follow a call into a function of the revision file or of the project's own modules."""
        if depth >= MAX_DEPTH:
            self._unreadable(call, f"{func.node.name}() nests too deep")
            return
        args: list = []
        for a in call.args:
            try:
                value = self._eval(a.value if isinstance(a, ast.Starred) else a, scope)
                args.extend(value if isinstance(a, ast.Starred) else [value])
            except (Unreadable, TypeError):
                args.append(_UNKNOWN)
        kwargs = {}
        for k in call.keywords:
            try:
                value = self._eval(k.value, scope)
            except Unreadable:
                value = _UNKNOWN
            if k.arg:
                kwargs[k.arg] = value
            elif isinstance(value, dict):
                kwargs.update(value)
        foreign = func.path != self.path and not self._site  # entering project code from the revision
        if foreign:
            self._site.append(call)
            if self.tracer is not None:
                self.tracer.pinned = self.tracer.node_span(call)
        try:
            self._block(func.node.body, func.bind(args, kwargs), depth + 1)
        except _Return:
            pass
        finally:
            if foreign:
                self._site.pop()
                if self.tracer is not None:
                    self.tracer.pinned = None

    def _assign(self, node, scope: dict, strict: bool = True) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if node.value is None:
            return
        try:
            value = self._eval(node.value, scope)
        except Unreadable:
            value = _UNKNOWN
            if strict and _mentions_op(node.value, scope):
                self._unreadable(node.value, "an op call whose arguments are not known")
        for target in targets:
            if isinstance(target, ast.Name):
                scope[target.id] = value

    def _with(self, node: ast.With, scope: dict, depth: int) -> None:
        managers = []
        try:
            for item in node.items:
                manager = self._eval(item.context_expr, scope)
                value = manager.__enter__()
                managers.append(manager)
                if isinstance(item.optional_vars, ast.Name):
                    scope[item.optional_vars.id] = value
        except (Unreadable, AttributeError) as err:
            for manager in reversed(managers):
                manager.__exit__(None, None, None)
            failed = node.items[len(managers)]
            if _root_name(failed.context_expr) == "op":  # an Alembic block (batch) we cannot open
                if _mentions_op(node, scope):
                    self._unreadable(node, str(err))
                return
            # The project's own context manager (say, one that turns off SQLite foreign keys):
            # what runs inside it is still read.
            if isinstance(failed.optional_vars, ast.Name):
                scope[failed.optional_vars.id] = _UNKNOWN
            managers = []
        try:
            self._block(node.body, scope, depth)
        finally:
            for manager in reversed(managers):
                manager.__exit__(None, None, None)

    def _for(self, node: ast.For, scope: dict, depth: int) -> None:
        try:
            items = list(self._eval(node.iter, scope))
        except (Unreadable, TypeError):
            if scope.get("__file__") is None and _mentions_op(node, scope):
                self._unreadable(node, "a loop over values only the running project knows")
            return
        for item in items[:1000]:
            if isinstance(node.target, ast.Name):
                scope[node.target.id] = item
            elif isinstance(node.target, ast.Tuple) and all(isinstance(e, ast.Name) for e in node.target.elts):
                for name, value in zip(node.target.elts, item):
                    scope[name.id] = value
            self._block(node.body, scope, depth)

    # --- expressions ----------------------------------------------------------------------

    def _eval(self, node: ast.expr, scope: dict):
        """Evaluate only what needs no project code; otherwise raise Unreadable."""
        for sub in _walk_outside_lambdas(node):
            if isinstance(sub, ast.Attribute) and sub.attr.startswith("_") and sub.attr not in ("__tablename__",):
                raise Unreadable(f"private attribute {sub.attr}")
            if isinstance(sub, ast.Name) and sub.id not in scope and sub.id not in SAFE_BUILTINS:
                raise Unreadable(f"{sub.id} is defined outside what migsafe can read without running the project")
            if isinstance(sub, ast.Name) and scope.get(sub.id) is _UNKNOWN:
                raise Unreadable(f"the value of {sub.id} is only known when the project runs")
            if isinstance(sub, (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
                raise Unreadable(f"{type(sub).__name__} expression")
        # Frames of this code name the file it came from, so the renderer's tracer attributes
        # statements to the revision's own lines only.
        code = compile(ast.Expression(node), scope.get("__file__") or str(self.path), "eval")
        try:
            return eval(code, scope)  # noqa: S307 - names resolve only to libraries and literals
        except Unreadable:
            raise
        except RecursionError:
            raise Unreadable("expression nests too deep")
        except Exception as err:  # noqa: BLE001 - the library refused these values
            raise Unreadable(f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}")

    def _import(self, node: ast.Import | ast.ImportFrom, namespace: dict, follow_project: bool = True) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in LIBRARIES + PURE_STDLIB:
                    try:
                        module = importlib.import_module(alias.name)
                    except ImportError:  # e.g. sqlmodel not installed: its names stay unknown
                        continue
                    namespace[alias.asname or top] = module if alias.asname else importlib.import_module(top)
                elif follow_project and alias.asname and (project := self._project_module(alias.name)) is not None:
                    namespace[alias.asname] = _ModuleStub(project)
                elif follow_project and not alias.asname and self._project_module(top) is not None:
                    namespace[top] = _PackageStub(top, self)  # `import app.types` binds `app`
            return
        if not node.module or node.level:
            return
        if node.module.split(".")[0] not in LIBRARIES + PURE_STDLIB:
            if follow_project:
                self._import_project(node, namespace)
            return
        try:
            module = importlib.import_module(node.module)
        except ImportError:
            return
        for alias in node.names:
            if alias.name == "*":
                continue
            try:
                value = getattr(module, alias.name)
            except AttributeError:
                try:
                    value = importlib.import_module(f"{node.module}.{alias.name}")
                except ImportError:
                    continue
            namespace[alias.asname or alias.name] = value

    def _import_project(self, node: ast.ImportFrom, namespace: dict) -> None:
        """`from app.models import User`: read app/models.py (never run it) for what revisions
        take from it: a model's `__tablename__`, constants, helper functions that call op."""
        module = self._project_module(node.module)
        for alias in node.names:
            if module is not None and alias.name in module:
                namespace[alias.asname or alias.name] = module[alias.name]
            elif (sub := self._project_module(f"{node.module}.{alias.name}")) is not None:
                namespace[alias.asname or alias.name] = _ModuleStub(sub)
            elif module is not None:
                # An object of the project's (a session, an app): calls on it are data code, and
                # what it evaluates to is only known when the project runs.
                namespace[alias.asname or alias.name] = _UNKNOWN

    def _project_module(self, name: str) -> dict | None:
        if name in self._modules:
            return self._modules[name]
        self._modules[name] = None  # an import cycle reads as "not found"
        for root in self.search_roots:
            base = root.joinpath(*name.split("."))
            # A .pyi stub states the public API in library types (airflow: `StringID = sa.String`).
            for candidate in (base.with_suffix(".pyi"), base.with_suffix(".py"), base / "__init__.pyi",
                              base / "__init__.py"):
                if candidate.is_file():
                    tree = _parsed(candidate)
                    if tree is None:
                        return None
                    namespace: dict = {"__file__": str(candidate)}
                    self._modules[name] = namespace
                    self._load(tree, namespace, candidate, depth=1)
                    return namespace
        return None

    def _unreadable(self, node: ast.AST, reason: str) -> None:
        where = self._site[0] if self._site else node  # inside project code: the revision's call
        self.unreadable.append((getattr(where, "lineno", 1), reason))


_PARSED: dict[tuple[str, int, int], ast.Module | None] = {}


def _parsed(path: Path) -> ast.Module | None:
    """A project module's syntax tree, parsed once per run however many revisions import it."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _PARSED:
        try:
            _PARSED[key] = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError, RecursionError):
            _PARSED[key] = None
    return _PARSED[key]


class _ProjectFunction:
    """A function read from source. Followed statement by statement when called on its own line;
    inside an expression only a one-line `return <expression>` function can be evaluated."""

    def __init__(self, node: ast.FunctionDef, module: dict, path: Path, reader: StaticReader):
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
                    local[name] = _UNKNOWN
            else:
                local[name] = _UNKNOWN
        if a.vararg:
            local[a.vararg.arg] = tuple(args[len(params):])
        if a.kwarg:
            local[a.kwarg.arg] = kwargs
        return local

    def __call__(self, *args, **kwargs):
        body = [s for s in self.node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        if len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None:
            return self.reader._eval(body[0].value, self.bind(list(args), kwargs))
        raise Unreadable(f"{self.node.name}() is only known when the project runs")


class _ModuleStub:
    """A project module read from source, used as `module.name`."""

    def __init__(self, namespace: dict):
        self._namespace = namespace

    def __getattr__(self, name: str):
        if name in self._namespace:
            return self._namespace[name]
        raise Unreadable(f"{name} is only known when the project runs")


def _walk_outside_lambdas(node: ast.AST):
    """Every node, but not inside a lambda: making a lambda (a column's Python-side default)
    runs none of its body, so what its body names does not matter."""
    todo = [node]
    while todo:
        sub = todo.pop()
        yield sub
        if not isinstance(sub, ast.Lambda):
            todo.extend(ast.iter_child_nodes(sub))


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_column_type(node: ast.ClassDef) -> bool:
    """A project's own column type (a TypeDecorator and the like)."""
    bases = " ".join(ast.unparse(b) for b in node.bases)
    return any(word in bases for word in ("TypeDecorator", "UserDefinedType", "TypeEngine", "types.")) or any(
        isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "impl" for t in s.targets)
        for s in node.body)


def _custom_type(name: str) -> type:
    """Stands for a project column type (used as `T` or `T(...)`): DDL shows the type by the
    project's own name; what it really maps to is only known when the project runs."""
    from sqlalchemy.types import UserDefinedType

    def __init__(self, *args, **kwargs):
        pass

    def get_col_spec(self, **kw):
        return name

    return type(name, (UserDefinedType,), {"cache_ok": True, "__init__": __init__, "get_col_spec": get_col_spec})


class _PackageStub:
    """`import app.types` then `app.types.UUID()`: modules resolved when used."""

    def __init__(self, name: str, reader: StaticReader):
        self._name, self._reader = name, reader

    def __getattr__(self, attr: str):
        module = self._reader._project_module(self._name)
        if module is not None and attr in module:
            return module[attr]
        if self._reader._project_module(f"{self._name}.{attr}") is not None:
            return _PackageStub(f"{self._name}.{attr}", self._reader)
        raise Unreadable(f"{self._name}.{attr} is only known when the project runs")


class _ClassStub:
    """A project class read from its source: only its literal class attributes are known
    (column types are read as _custom_type instead)."""

    def __init__(self, name: str, attrs: dict):
        self._name, self._attrs = name, attrs

    def __call__(self, *args, **kwargs):
        raise Unreadable(f"{self._name}() is only known when the project runs")

    def __getattr__(self, attr: str):
        if attr.startswith("_") and attr not in ("__tablename__", "__table_args__"):
            raise AttributeError(attr)
        if attr in self._attrs:
            return self._attrs[attr]
        raise Unreadable(f"{self._name}.{attr} is only known when the project runs")


def _literals(body: list[ast.stmt]) -> dict:
    out = {}
    for node in body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        value = getattr(node, "value", None)
        if value is None:
            continue
        try:
            literal = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError):
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                out[target.id] = literal
    return out


class _Return(Exception):
    pass


class _Placeholder(str):
    """Stands for a string value only the running project knows."""


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown>"


_UNKNOWN = _Unknown()


def _mentions_op(node: ast.AST, scope: dict) -> bool:
    """Does this code call Alembic (op.*, or a batch_op bound in scope)?"""
    op = scope.get("op")
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and (sub.id == "op" or (sub.id in scope and _is_batch(scope[sub.id], op))):
            return True
    return False


def _is_batch(value, op) -> bool:
    return type(value).__name__ == "BatchOperations" or (op is not None and value is op)

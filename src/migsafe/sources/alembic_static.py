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
               "functools", "itertools", "collections", "typing", "dataclasses")
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
    namespace: dict = field(default_factory=dict)
    functions: dict[str, ast.FunctionDef] = field(default_factory=dict)
    unreadable: list[tuple[int, str]] = field(default_factory=list)

    def load_module_level(self, op) -> None:
        self.namespace.update({"op": op, "__builtins__": SAFE_BUILTINS})
        for node in self.tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self._import(node)
            elif isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                self._assign(node, self.namespace, quiet=True)
        self.namespace["op"] = op  # `from alembic import op` must be the live proxy

    def run(self, name: str) -> None:
        func = self.functions.get(name)
        if func is None:
            raise Unreadable(f"the revision has no {name}() function")
        self._block(func.body, dict(self.namespace), 0)

    # --- statements -----------------------------------------------------------------------

    def _block(self, body: list[ast.stmt], scope: dict, depth: int) -> None:
        for node in body:
            self._statement(node, scope, depth)

    def _statement(self, node: ast.stmt, scope: dict, depth: int) -> None:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            self._call_statement(node.value, scope, depth)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            self._assign(node, scope)
        elif isinstance(node, ast.With):
            self._with(node, scope, depth)
        elif isinstance(node, ast.For):
            self._for(node, scope, depth)
        elif isinstance(node, ast.If):
            try:
                branch = node.body if self._eval(node.test, scope) else node.orelse
                self._block(branch, scope, depth)
            except Unreadable:  # unknown condition: what either side would change
                self._block(node.body, scope, depth)
                self._block(node.orelse, scope, depth)
        elif isinstance(node, ast.Try):
            self._block(node.body, scope, depth)
            self._block(node.finalbody, scope, depth)
        elif isinstance(node, ast.Return):
            raise _Return()
        elif _mentions_op(node, scope):
            self._unreadable(node, f"{type(node).__name__.lower()} statement using op")

    def _call_statement(self, call: ast.Call, scope: dict, depth: int) -> None:
        func = call.func
        if isinstance(func, ast.Name) and func.id in self.functions and func.id not in scope:
            self._helper(self.functions[func.id], call, scope, depth)
            return
        root = _root_name(func)
        if root is not None and root not in scope and root not in SAFE_BUILTINS and root not in self.functions:
            # a function of the project (or of a library we do not load): it may change the schema
            self._unreadable(call, f"calls {ast.unparse(func)}(), which is defined outside the revision and"
                                   " may change the schema")
            return
        if not _mentions_op(call, scope):
            return  # data code (conn.execute of app models, prints, ...): no schema change to read
        try:
            self._eval(call, scope)
        except Unreadable as err:
            # A name only the database knows (a constraint name looked up by reflection) does not
            # change what the statement locks or rewrites: render it with the variable's name.
            unknown = {n.id for n in ast.walk(call) if isinstance(n, ast.Name) and scope.get(n.id) is _UNKNOWN}
            if not unknown:
                self._unreadable(call, str(err))
                return
            try:
                self._eval(call, {**scope, **{n: _Placeholder(f"<{n}>") for n in unknown}})
            except Unreadable:
                self._unreadable(call, str(err))

    def _helper(self, func: ast.FunctionDef, call: ast.Call, scope: dict, depth: int) -> None:
        if depth >= MAX_DEPTH:
            self._unreadable(call, f"helper {func.name}() nests too deep")
            return
        local = dict(self.namespace)
        try:
            args = [self._eval(a, scope) for a in call.args]
            kwargs = {k.arg: self._eval(k.value, scope) for k in call.keywords if k.arg}
        except Unreadable as err:
            if _mentions_op(func, local):
                self._unreadable(call, f"arguments of {func.name}(): {err}")
            return
        params = func.args.args
        defaults = func.args.defaults
        for i, param in enumerate(params):
            if i < len(args):
                local[param.arg] = args[i]
            elif param.arg in kwargs:
                local[param.arg] = kwargs[param.arg]
            elif i >= len(params) - len(defaults):
                try:
                    local[param.arg] = self._eval(defaults[i - (len(params) - len(defaults))], scope)
                except Unreadable:
                    local[param.arg] = _UNKNOWN
        try:
            self._block(func.body, local, depth + 1)
        except _Return:
            pass

    def _assign(self, node, scope: dict, quiet: bool = False) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if node.value is None:
            return
        try:
            value = self._eval(node.value, scope)
        except Unreadable:
            value = _UNKNOWN
            if not quiet and _mentions_op(node.value, scope):
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
        except Unreadable as err:
            for manager in reversed(managers):
                manager.__exit__(None, None, None)
            if _mentions_op(node, scope):
                self._unreadable(node, str(err))
            return
        try:
            self._block(node.body, scope, depth)
        finally:
            for manager in reversed(managers):
                manager.__exit__(None, None, None)

    def _for(self, node: ast.For, scope: dict, depth: int) -> None:
        try:
            items = list(self._eval(node.iter, scope))
        except (Unreadable, TypeError):
            if _mentions_op(node, scope):
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
        code = compile(ast.Expression(node), str(self.path), "eval")
        try:
            return eval(code, scope)  # noqa: S307 - names resolve only to libraries and literals
        except Unreadable:
            raise
        except Exception as err:  # noqa: BLE001 - the library refused these values
            raise Unreadable(f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}")

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES + PURE_STDLIB:
                    module = importlib.import_module(alias.name)
                    if alias.asname:
                        self.namespace[alias.asname] = module
                    else:
                        self.namespace[alias.name.split(".")[0]] = importlib.import_module(alias.name.split(".")[0])
            return
        if node.module and not node.level and node.module.split(".")[0] not in LIBRARIES + PURE_STDLIB:
            self._import_project(node)
            return
        if not node.module or node.level:
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
            self.namespace[alias.asname or alias.name] = value

    def _import_project(self, node: ast.ImportFrom) -> None:
        """`from app.models import User`: read app/models.py (never run it) for what a revision
        usually takes from it: a model's `__tablename__` and other literal class attributes,
        and module-level constants."""
        module = _project_module(node.module, self.search_roots)
        if module is None:
            return
        for alias in node.names:
            if alias.name in module:
                self.namespace[alias.asname or alias.name] = module[alias.name]

    def _unreadable(self, node: ast.AST, reason: str) -> None:
        self.unreadable.append((getattr(node, "lineno", 1), reason))


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


class _ClassStub:
    """A project class read from its source: only its literal class attributes are known."""

    def __init__(self, name: str, attrs: dict):
        self._name, self._attrs = name, attrs

    def __getattr__(self, attr: str):
        if attr.startswith("_") and attr not in ("__tablename__", "__table_args__"):
            raise AttributeError(attr)
        if attr in self._attrs:
            return self._attrs[attr]
        raise Unreadable(f"{self._name}.{attr} is only known when the project runs")


def _project_module(name: str, roots: list[Path]) -> dict | None:
    for root in roots:
        base = root.joinpath(*name.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                try:
                    tree = ast.parse(candidate.read_text(encoding="utf-8", errors="replace"))
                except (SyntaxError, ValueError):
                    return None
                return _module_values(tree)
    return None


def _module_values(tree: ast.Module) -> dict:
    values: dict = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            values[node.name] = _ClassStub(node.name, _literals(node.body))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            values.update(_literals([node]))
    return values


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

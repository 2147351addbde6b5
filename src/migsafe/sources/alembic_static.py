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
import contextlib
import contextvars
import copy
import hashlib
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path

# Importable without project code (`packaging`: revisions compare library versions).
LIBRARIES = ("sqlalchemy", "alembic", "sqlmodel", "sqlalchemy_utils", "packaging")
# Standard modules revisions use for values (timestamps, ids, enums), with nothing in them that
# touches files, processes or the network: safe to evaluate even under --no-exec.
PURE_STDLIB = ("datetime", "time", "uuid", "json", "enum", "decimal", "math", "string", "re", "textwrap",
               "functools", "itertools", "collections", "typing", "dataclasses", "logging")
SAFE_BUILTINS = {name: getattr(builtins, name) for name in (
    "True", "False", "None", "len", "range", "list", "dict", "tuple", "set", "frozenset", "str", "int",
    "float", "bool", "sorted", "enumerate", "zip", "min", "max", "reversed", "isinstance", "any", "all")}
MAX_DEPTH = 8
MODULE_DEPTH = 2  # project modules read: the revision's imports, and theirs


class Unreadable(Exception):
    """This expression needs something only the running project has."""


class RowsUnknown(Unreadable):
    """Rows a query reads back, read without running the revision: only a live database has
    them, so what depends on them is read both ways. Data, not DDL: never a finding itself."""


class Raised(Exception):
    """upgrade() stops here, as `alembic upgrade` would: a `raise`, or an `assert` found false,
    on the path read. What was read before it is still judged."""

    def __init__(self, line: int, reason: str):
        super().__init__(reason)
        self.line = line


@dataclass
class StaticReader:
    path: Path
    tree: ast.Module
    search_roots: list[Path] = field(default_factory=list)  # where the project's own modules live
    namespace: dict = field(default_factory=dict)  # the revision module's globals
    unreadable: list[tuple[int, str]] = field(default_factory=list)
    _modules: dict = field(default_factory=dict)  # project module name -> namespace (None: not found)
    tracer: object | None = None  # alembic.Tracer: pinned to the place of what is evaluated (see _at)
    statements: list = field(default_factory=list)  # what the render writes (model.Statement)
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
        the same way, see _import), classes (see _class), functions, and constants. The
        revision is depth 0."""
        namespace.setdefault("__builtins__", SAFE_BUILTINS)
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self._import(node, namespace, depth + 1)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                namespace[node.name] = _ProjectFunction(node, namespace, path, self)
                self._register_compiler(node, namespace)
            elif isinstance(node, ast.ClassDef):
                namespace[node.name] = self._class(node, namespace)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                self._assign(node, namespace, strict=False)

    def _class(self, node: ast.ClassDef, namespace: dict):
        """A project class: a column type stands in as _custom_type; a SQL construct built on
        SQLAlchemy's (`class utcnow(FunctionElement)`, SQL given by @compiles functions, see
        _register_compiler) is made for real from its bases and class attributes; any other class
        is a _ClassStub knowing its class attributes."""
        if _is_column_type(node):
            return _custom_type(node.name)
        attrs = {}
        for stmt in node.body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                try:
                    value = self._eval(stmt.value, namespace)
                except Unreadable:
                    continue
                for target in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                    if isinstance(target, ast.Name):
                        attrs[target.id] = value
        try:
            bases = tuple(self._eval(b, namespace) for b in node.bases)
        except Unreadable:
            bases = ()
        from sqlalchemy.sql.expression import ClauseElement

        if bases and all(isinstance(b, type) and issubclass(b, ClauseElement) for b in bases):
            return type(node.name, bases, {"inherit_cache": True, **attrs, _PROJECT_CONSTRUCT: True})
        if isinstance(attrs.get("__tablename__"), str):
            _declare_table(attrs)
        dataclass = any(ast.unparse(d).split("(")[0].split(".")[-1] == "dataclass" for d in node.decorator_list)
        fields = [s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
        properties = {f.name: _ProjectFunction(f, namespace, Path(namespace.get("__file__") or self.path), self)
                      for f in node.body if isinstance(f, ast.FunctionDef)
                      and any(isinstance(d, ast.Name) and d.id == "property" for d in f.decorator_list)}
        return _ClassStub(node.name, attrs, fields if dataclass else None, properties)

    def _register_compiler(self, node: ast.FunctionDef, namespace: dict) -> None:
        """`@compiles(construct[, dialect])` over a function returning SQL text: registered for
        the project construct made by _class (never for SQLAlchemy's own classes)."""
        from sqlalchemy.ext.compiler import compiles

        for decorator in node.decorator_list:
            try:
                if not isinstance(decorator, ast.Call) or self._eval(decorator.func, namespace) is not compiles:
                    continue
                construct, *dialects = (self._eval(a, namespace) for a in decorator.args)
            except (Unreadable, ValueError):
                continue
            if isinstance(construct, type) and construct.__dict__.get(_PROJECT_CONSTRUCT):
                compiles(construct, *dialects)(namespace[node.name])

    # --- statements -----------------------------------------------------------------------

    def _block(self, body: list[ast.stmt], scope: dict, depth: int) -> None:
        for node in body:
            self._statement(node, scope, depth)

    def _statement(self, node: ast.stmt, scope: dict, depth: int) -> None:
        strict = scope.get("__file__") is None  # the revision's own code, not a project helper
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            self._call_statement(node.value, scope, depth, strict)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Tuple):  # `op.add_column(...),`
            self._block([ast.copy_location(ast.Expr(e), e) for e in node.value.elts], scope, depth)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            self._assign(node, scope, strict)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):  # an import inside a function
            self._import(node, scope, 1 if strict else MODULE_DEPTH)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):  # a function inside a function
            scope[node.name] = _ProjectFunction(node, scope, Path(scope.get("__file__") or self.path), self)
        elif isinstance(node, ast.With):
            self._with(node, scope, depth)
        elif isinstance(node, ast.For):
            self._for(node, scope, depth)
        elif isinstance(node, ast.While):
            self._while(node, scope, depth)
        elif isinstance(node, ast.If):
            try:
                branch = node.body if self._eval(node.test, scope) else node.orelse
            except Unreadable:  # unknown condition: what either side would change
                for side in (node.body, node.orelse):
                    try:
                        self._block(side, scope, depth)
                    except (_Return, Raised):  # a `return` or `raise` on one side ends only that side
                        pass
                return
            self._block(branch, scope, depth)
        elif isinstance(node, ast.Try):
            try:
                self._block(node.body, scope, depth)
            except Raised:
                if not node.handlers:  # (an `except` may catch it: what it does then is not guessed)
                    self._block(node.finalbody, scope, depth)
                    raise
            self._block(node.finalbody, scope, depth)
        elif isinstance(node, ast.Raise):
            what = ast.unparse(node.exc)[:80] if node.exc else "the exception being handled"
            raise Raised(self._line(node), f"upgrade() raises {what}")
        elif isinstance(node, ast.Assert):
            try:
                holds = self._eval(node.test, scope)
            except Unreadable:
                return  # a condition only the running project knows: read on
            if not holds:
                raise Raised(self._line(node), f"upgrade() fails its assert {ast.unparse(node.test)[:80]}")
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
            # Data code (conn.execute of app models, prints, ...), read only when it goes through
            # the bind and can be: SQL sent with `conn.execute("ALTER TABLE ...")` is rendered.
            if type(getattr(callee, "__self__", None)).__name__ == "OfflineBind":
                with contextlib.suppress(Unreadable), self._at(call):
                    self._eval(call, scope)
            return
        try:
            with self._at(call):
                self._eval_op(call, scope)
        except Unreadable as err:
            self._unreadable(call, str(err))
            self._table_created_anyway(call, scope)

    def _table_created_anyway(self, call: ast.Call, scope: dict) -> None:
        """`op.create_table("name", <columns not all readable>)`: the table is still new in this
        migration, so what later revisions do to it is not judged as done to an old, large table."""
        from migsafe.model import Statement
        from migsafe.sql.facts import CreateTable

        try:
            if getattr(self._eval(call.func, scope), "__name__", None) != "create_table":
                return
            name = self._eval(call.args[0] if call.args else next(
                k.value for k in call.keywords if k.arg == "table_name"), scope)
        except (Unreadable, StopIteration):
            return
        if isinstance(name, str) and not isinstance(name, _Placeholder) and self.tracer is not None:
            self.statements.append(Statement(f"-- op.create_table({name!r}, ...): some columns unknown",
                                             self.tracer.node_span(self._site[0] if self._site else call),
                                             facts=[CreateTable(name.lower())]))

    def _eval_op(self, call: ast.expr, scope: dict):
        """An op call's value, with placeholders for names only the project knows if need be;
        Unreadable (saying why the call as written is) when even that cannot be read."""
        try:
            return self._eval(call, scope)
        except Unreadable as err:
            if not isinstance(call, ast.Call):
                raise
            try:
                return self._eval_with_placeholders(call, scope)
            except Unreadable:
                raise err from None

    def _eval_with_placeholders(self, call: ast.Call, scope: dict):
        """A name only the database knows (a constraint name found by reflection) does not
        change what the statement locks or rewrites: render the op with `<the expression>` in
        its place. Only name arguments (table, column, index, constraint, schema) stand in: an
        unknown type, column list or SQL text would change what the statement does."""
        callee = self._eval(call.func, scope)
        positional, names = _name_parameters(callee)
        extra: dict = {}
        nulled = getattr(callee, "__name__", "") == "bulk_insert"
        if nulled:
            call = self._rows_known_or_null(call, scope)

        def stand_in(arg: ast.expr, param: str | None) -> ast.expr:
            if self._readable(arg, scope):
                return arg
            if param not in names:
                raise Unreadable(f"{param or 'an argument'} is only known when the project runs")
            name = f"migsafe_placeholder_{len(extra)}"
            extra[name] = _Placeholder(f"<{ast.unparse(arg)[:60]}>")
            return ast.copy_location(ast.Name(name, ast.Load()), arg)

        if any(isinstance(a, ast.Starred) for a in call.args):
            raise Unreadable("arguments unpacked from a value only the running project knows")
        args = [stand_in(a, positional[i] if i < len(positional) else None) for i, a in enumerate(call.args)]
        # `existing_type=` and the like describe the column as it stands, for Alembic's use where
        # the database needs it restated (MySQL): unknown, they are left out, and Alembic says
        # when it cannot do without them.
        keywords = [ast.keyword(k.arg, stand_in(k.value, k.arg)) if k.arg else k for k in call.keywords
                    if not (k.arg and k.arg.startswith("existing_") and not self._readable(k.value, scope))]
        if not extra and len(keywords) == len(call.keywords) and not nulled:
            raise Unreadable("no argument to stand in for")
        new = ast.fix_missing_locations(ast.copy_location(ast.Call(call.func, args, keywords), call))
        return self._eval(new, {**scope, **extra})

    def _rows_known_or_null(self, call: ast.Call, scope: dict) -> ast.Call:
        """`op.bulk_insert(table, rows)` whose values only the project knows (`now`, a hashed
        password): an INSERT of rows changes no schema, locks nothing beyond them, so it is
        rendered with NULL for each such value (the statement shows NULL there)."""
        def known_or_null(rows: ast.expr) -> ast.expr:
            if not isinstance(rows, (ast.List, ast.Tuple)) or not all(isinstance(e, ast.Dict) for e in rows.elts):
                return rows
            elts = [ast.Dict(d.keys, [v if self._readable(v, scope) else ast.copy_location(ast.Constant(None), v)
                                      for v in d.values]) for d in rows.elts]
            return ast.copy_location(type(rows)(elts, ast.Load()), rows)

        args = [known_or_null(a) if i == 1 else a for i, a in enumerate(call.args)]
        keywords = [ast.keyword(k.arg, known_or_null(k.value)) if k.arg == "rows" else k for k in call.keywords]
        return ast.fix_missing_locations(ast.copy_location(ast.Call(call.func, args, keywords), call))

    def _readable(self, node: ast.expr, scope: dict) -> bool:
        try:
            self._eval(node, scope)
            return True
        except Unreadable:
            return False

    def _helper(self, func: _ProjectFunction, call: ast.Call, scope: dict, depth: int) -> None:
        """Follow a call into a function of the revision file or of the project's own modules."""
        if depth >= MAX_DEPTH:
            if _may_issue_sql(func, call, scope):
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
        try:
            self._block(func.node.body, func.bind(args, kwargs), depth + 1)
        except _Return:
            pass
        finally:
            if foreign:
                self._site.pop()

    def _assign(self, node, scope: dict, strict: bool = True) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if node.value is None:
            return
        try:
            with self._at(node.value):
                value = self._eval(node.value, scope)
        except Unreadable as err:
            value = _UNKNOWN
            if strict and _mentions_op(node.value, scope) and not isinstance(err, RowsUnknown):
                self._unreadable(node.value, "an op call whose arguments are not known")
        for target in targets:
            if isinstance(target, ast.Name):
                scope[target.id] = value

    def _with(self, node: ast.With, scope: dict, depth: int) -> None:
        managers = []
        for item in node.items:
            try:
                with self._at(item.context_expr):  # autocommit_block() writes COMMIT here
                    manager = self._eval_op(item.context_expr, scope)
                    value = manager.__enter__()
            except (Unreadable, AttributeError) as err:
                if _root_name(item.context_expr) == "op":  # an Alembic block (batch) we cannot open
                    self._exit(managers, node)
                    if _mentions_op(node, scope):
                        self._unreadable(node, str(err))
                    return
                # The project's own context manager (say, one that turns off SQLite foreign keys):
                # what runs inside it is still read.
                value = _UNKNOWN
            else:
                managers.append(manager)
            if isinstance(item.optional_vars, ast.Name):
                scope[item.optional_vars.id] = value
        try:
            self._block(node.body, scope, depth)
        finally:
            self._exit(managers, node)

    def _exit(self, managers: list, node: ast.With) -> None:
        """Close what a `with` opened. A batch writes its SQL here, and Alembic may refuse what
        it was given (a constraint on a column it cannot see): that block is unreadable."""
        # A batch that rebuilds the table is one statement: on the `with` line, as when rendered.
        for manager in reversed(managers):
            try:
                with self._at(node.items[0].context_expr):
                    manager.__exit__(None, None, None)
            except Exception as err:  # noqa: BLE001 - the library refused these values
                self._unreadable(node, _message(err))

    def _for(self, node: ast.For, scope: dict, depth: int) -> None:
        try:
            items = list(self._eval(node.iter, scope))
        except (Unreadable, TypeError):
            # Values only the running project knows: what one turn of the loop changes, with the
            # loop variables unknown (a name among them stands in as `<name>`, see placeholders).
            for name in ast.walk(node.target):
                if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store):
                    scope[name.id] = _UNKNOWN
            self._block(node.body, scope, depth)
            return
        for item in items[:1000]:
            if isinstance(node.target, ast.Name):
                scope[node.target.id] = item
            elif isinstance(node.target, ast.Tuple) and all(isinstance(e, ast.Name) for e in node.target.elts):
                for name, value in zip(node.target.elts, item):
                    scope[name.id] = value
            self._block(node.body, scope, depth)

    def _while(self, node: ast.While, scope: dict, depth: int) -> None:
        """A loop on a condition: its body read once (unless the condition is known false)."""
        try:
            if not self._eval(node.test, scope):
                self._block(node.orelse, scope, depth)
                return
        except Unreadable:
            pass
        self._block(node.body, scope, depth)

    # --- expressions ----------------------------------------------------------------------

    def _eval(self, node: ast.expr, scope: dict):
        """Evaluate only what needs no project code; otherwise raise Unreadable."""
        try:
            return self._eval_exactly(node, scope)
        except Unreadable as err:
            stood_in = self._unknown_column_types(node, scope)
            if stood_in is None:
                raise
            try:
                return self._eval_exactly(*stood_in)
            except Unreadable:
                raise err from None

    def _unknown_column_types(self, node: ast.expr, scope: dict) -> tuple[ast.expr, dict] | None:
        """Parts of a `sa.Column(...)` only the running project knows, where that does not change
        what the DDL does: a type T (`StringID(length=ID_LEN)`) stands in as an
        unknown_column_type, which only a table being created accepts (see there); a Python-side
        `default=`/`onupdate=` (never in DDL; a value op.bulk_insert may write) as `<the expression>`.
        None when there is no such column in `node`."""
        from sqlalchemy import Column
        from sqlalchemy.schema import SchemaItem

        reader, extra = self, {}

        def unknown(expr: ast.expr, stand_in) -> ast.expr | None:
            """`expr` itself if readable, else a name bound to stand_in(the reason)."""
            try:
                reader._eval(expr, {**scope, **extra})
                return None
            except Unreadable as err:
                name = f"migsafe_stand_in_{len(extra)}"
                extra[name] = stand_in(str(err))
                return ast.copy_location(ast.Name(name, ast.Load()), expr)

        class StandIn(ast.NodeTransformer):
            def visit_Call(self, call: ast.Call):
                self.generic_visit(call)
                try:
                    callee = reader._eval_exactly(call.func, scope)
                except Unreadable:
                    return call
                if not (isinstance(callee, type) and issubclass(callee, Column)):
                    return call
                for k in call.keywords:
                    if k.arg in ("default", "onupdate"):
                        k.value = unknown(k.value, lambda _, e=k.value: _Placeholder(f"<{ast.unparse(e)[:60]}>")) or k.value
                named = bool(call.args) and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)
                slot = [k for k in call.keywords if k.arg == "type_"] or call.args[int(named):int(named) + 1]
                expr = (slot[0].value if isinstance(slot[0], ast.keyword) else slot[0]) if slot else None
                if expr is None or (isinstance(expr, ast.Call) and reader._readable(expr.func, scope) and isinstance(
                        f := reader._eval(expr.func, scope), type) and issubclass(f, SchemaItem)):
                    return call  # no type given, or a ForeignKey or the like in its place
                stand_in = unknown(expr, lambda reason: unknown_column_type(ast.unparse(expr), reason))
                if stand_in is not None and isinstance(slot[0], ast.keyword):
                    slot[0].value = stand_in
                elif stand_in is not None:
                    call.args[int(named)] = stand_in
                return call

        new = ast.fix_missing_locations(StandIn().visit(copy.deepcopy(node)))
        return (new, {**scope, **extra}) if extra else None

    def _eval_exactly(self, node: ast.expr, scope: dict):
        node = self._known_branches(node, scope)
        for sub in _walk_outside_lambdas(node):
            if isinstance(sub, ast.Attribute) and sub.attr.startswith("_") and sub.attr not in ("__tablename__", "__version__"):
                raise Unreadable(f"private attribute {sub.attr}")
            if isinstance(sub, ast.Name) and sub.id not in scope and sub.id not in SAFE_BUILTINS:
                raise Unreadable(f"{sub.id} is defined outside what migsafe can read without running the project")
            if isinstance(sub, ast.Name) and _holds_unknown(scope.get(sub.id)):
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
            raise Unreadable(_message(err))

    def _known_branches(self, node: ast.expr, scope: dict) -> ast.expr:
        """`a if known_test else b` is the side taken: the other may name what only the project
        knows (`[] if alembic >= 1.7 else old_args`), and Python never evaluates it."""
        if not any(isinstance(sub, ast.IfExp) for sub in ast.walk(node)):
            return node
        reader = self

        class Taken(ast.NodeTransformer):
            def visit_IfExp(self, sub: ast.IfExp):
                try:
                    return self.visit(sub.body if reader._eval(sub.test, scope) else sub.orelse)
                except Unreadable:
                    return self.generic_visit(sub)

        return ast.fix_missing_locations(Taken().visit(copy.deepcopy(node)))

    def _import(self, node: ast.Import | ast.ImportFrom, namespace: dict, depth: int = 1) -> None:
        """Bind what an import names. A project module is read (at `depth`: the revision's own
        imports are 1) if not deeper than MODULE_DEPTH: a revision's helpers and what they use,
        not the whole application."""
        follow_project = depth <= MODULE_DEPTH
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in LIBRARIES + PURE_STDLIB:
                    module = _library(alias.name)  # `import a.b` loads a.b and binds a
                    if module is not None and not alias.asname:
                        module = _library(top)
                    if module is not None:  # else not installed: its names stay unknown
                        namespace[alias.asname or top] = module
                elif follow_project and alias.asname and (project := self._project_module(alias.name, depth)) is not None:
                    namespace[alias.asname] = _ModuleStub(project)
                elif follow_project and not alias.asname and self._project_module(top, depth) is not None:
                    namespace[top] = _PackageStub(top, self)  # `import app.types` binds `app`
            return
        if not node.module or node.level:
            return
        if node.module.split(".")[0] not in LIBRARIES + PURE_STDLIB:
            if follow_project:
                self._import_project(node, namespace, depth)
            return
        module = _library(node.module)
        if module is None:
            return
        for alias in node.names:
            if alias.name == "*":
                continue
            value = getattr(module, alias.name, None)
            if value is None:
                value = _library(f"{node.module}.{alias.name}")
            if value is not None:
                namespace[alias.asname or alias.name] = value

    def _import_project(self, node: ast.ImportFrom, namespace: dict, depth: int) -> None:
        """`from app.models import User`: read app/models.py (never run it) for what revisions
        take from it: a model's `__tablename__`, constants, helper functions that call op."""
        module = self._project_module(node.module, depth)
        for alias in node.names:
            if module is not None and alias.name in module:
                namespace[alias.asname or alias.name] = module[alias.name]
            elif (sub := self._project_module(f"{node.module}.{alias.name}", depth)) is not None:
                namespace[alias.asname or alias.name] = _ModuleStub(sub)
            elif module is not None:
                # An object of the project's (a session, an app): calls on it are data code, and
                # what it evaluates to is only known when the project runs.
                namespace[alias.asname or alias.name] = _UNKNOWN

    def _project_module(self, name: str, depth: int = 1) -> dict | None:
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
                    self._load(tree, namespace, candidate, depth)
                    return namespace
        return None

    def _unreadable(self, node: ast.AST, reason: str) -> None:
        self.unreadable.append((self._line(node), reason))

    @contextlib.contextmanager
    def _at(self, node: ast.AST):
        """What Alembic writes while `node` is evaluated is at its place in the revision (inside
        project code: at the revision's call into it). Rendering finds that place from the frames
        on the stack; code read here has none of the revision's while a batch is flushed, or
        while a project module's code runs, so the place is pinned."""
        if self.tracer is None:
            yield
            return
        previous = self.tracer.pinned
        self.tracer.pinned = self.tracer.node_span(self._site[0] if self._site else node)
        try:
            yield
        finally:
            self.tracer.pinned = previous

    def _line(self, node: ast.AST) -> int:
        where = self._site[0] if self._site else node  # inside project code: the revision's call
        return getattr(where, "lineno", 1)


def _message(err: BaseException) -> str:
    """An exception as one line; object addresses left out, so the message is the same each run."""
    if isinstance(err, AttributeError) and type(getattr(err, "obj", None)).__name__ == "Operations":
        return (f"op.{err.name} is no Alembic operation where migsafe runs (an operation a plugin of the"
                " project registers, and the plugin is not installed)")
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", f"{type(err).__name__}: {text}" if text else type(err).__name__)


def _library(name: str):
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


def _sqlmodel():
    """sqlmodel's column type, for revisions its autogenerate wrote when sqlmodel is not installed
    (`sqlmodel.sql.sqltypes.AutoString()`): a VARCHAR, 255 long on MySQL, as in sqlmodel itself.
    The rest of sqlmodel (Session, models) is the application's data code: unknown."""
    from types import SimpleNamespace

    from sqlalchemy import types

    class AutoString(types.TypeDecorator):
        impl = types.String
        cache_ok = True
        mysql_default_length = 255

        def load_dialect_impl(self, dialect):
            if dialect.name == "mysql":
                return dialect.type_descriptor(types.String(self.mysql_default_length))
            return super().load_dialect_impl(dialect)

    sqltypes = SimpleNamespace(AutoString=AutoString)
    return SimpleNamespace(AutoString=AutoString, sql=SimpleNamespace(sqltypes=sqltypes))


def _sqlalchemy_utils():
    """sqlalchemy_utils' column types revisions name, when it is not installed, mapped to the
    database types as sqlalchemy_utils maps them."""
    from types import SimpleNamespace

    from sqlalchemy import types
    from sqlalchemy.dialects import postgresql

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

    names = {"UUIDType": UUIDType, "StringEncryptedType": StringEncryptedType, "EncryptedType": EncryptedType}
    uuid = SimpleNamespace(UUIDType=UUIDType)
    return SimpleNamespace(**names, types=SimpleNamespace(**names, uuid=uuid))


# Library name -> its stand-in, used when it is not installed (never when it is).
STAND_INS = {"sqlmodel": _sqlmodel, "sqlalchemy_utils": _sqlalchemy_utils}

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


_FELL_THROUGH = object()  # a function body read to its end without a `return`


class _ProjectFunction:
    """A function read from source. Followed statement by statement when called on its own line;
    inside an expression only a function of assignments, `if`s and `return`s can be evaluated."""

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
        result = self._result(self.node.body, self.bind(list(args), kwargs))
        return None if result is _FELL_THROUGH else result

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
                if result is not _FELL_THROUGH:
                    return result
            else:
                raise Unreadable(f"{self.node.name}() is only known when the project runs")
        return _FELL_THROUGH


class _ModuleStub:
    """A project module read from source, used as `module.name`."""

    def __init__(self, namespace: dict):
        self._namespace = namespace

    def __getattr__(self, name: str):
        if name in self._namespace:
            return self._namespace[name]
        raise Unreadable(f"{name} is only known when the project runs")


def _name_parameters(callee) -> tuple[list[str], set[str]]:
    """An Alembic operation's positional parameters in order, and those that take a name."""
    import inspect

    from alembic.operations import Operations

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
    from sqlalchemy.ext.compiler import compiles
    from sqlalchemy.types import UserDefinedType

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


_CREATING_TABLE = contextvars.ContextVar("creating_table", default=False)


@contextlib.contextmanager
def creating_table():
    """While a new table's DDL is written: an UnknownColumnType may be written in it."""
    token = _CREATING_TABLE.set(True)
    try:
        yield
    finally:
        _CREATING_TABLE.reset(token)


def unknown_column_type(expression: str, reason: str):
    """A column type only the running project knows. In a table being created it changes
    nothing the statement locks or rewrites, so it is written as `unknown_<name>_<digest of the
    expression>`, a type rules take as unknown (change_column_type.py, as Django's stand-in
    fields); two different expressions never read as the same type. Anywhere else (add_column,
    alter_column) the type decides what the statement does: it stays unreadable there."""
    from sqlalchemy.types import UserDefinedType

    word = re.sub(r"\W+", "_", re.sub(r"\(.*", "", expression, flags=re.S).rpartition(".")[2]).strip("_").lower()
    spelled = f"unknown_{word or 'type'}_{hashlib.sha1(expression.encode()).hexdigest()[:8]}"

    def get_col_spec(self, **kw):
        if not _CREATING_TABLE.get():
            raise Unreadable(reason)
        return spelled

    return type("UnknownColumnType", (UserDefinedType,), {"cache_ok": True, "get_col_spec": get_col_spec,
                                                          "unknown_reason": reason})()


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


def _declare_table(attrs: dict) -> None:
    """A model's columns as declarative mapping makes them: named after their attributes and
    in a table named `__tablename__`, so `sa.ForeignKey(Model.id)` knows what it refers to."""
    import sqlalchemy.orm
    from sqlalchemy import Column, MetaData, Table

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


_PROJECT_CONSTRUCT = "_migsafe_project_construct"  # marks a SQL construct class made by StaticReader._class


class _ClassStub:
    """A project class read from its source: its class attributes are known. A dataclass can
    be made (its fields are what it was given), and its one-line properties read."""

    def __init__(self, name: str, attrs: dict, fields: list[str] | None = None, properties: dict | None = None):
        self._name, self._attrs, self._fields, self._properties = name, attrs, fields, properties or {}

    def __call__(self, *args, **kwargs):
        if self._fields is None or len(args) > len(self._fields) or set(kwargs) - set(self._fields):
            raise Unreadable(f"{self._name}() is only known when the project runs")
        return _ClassStub(self._name, {**self._attrs, **dict(zip(self._fields, args)), **kwargs},
                          properties=self._properties)

    def __getattr__(self, attr: str):
        if attr.startswith("_") and attr not in ("__tablename__", "__table_args__"):
            raise AttributeError(attr)
        if attr in self._attrs:
            return self._attrs[attr]
        if attr in self._properties:
            return self._properties[attr](self)
        raise Unreadable(f"{self._name}.{attr} is only known when the project runs")


class _Return(Exception):
    pass


class _Placeholder(str):
    """Stands for a string value only the running project knows."""


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown>"


_UNKNOWN = _Unknown()


def _holds_unknown(value) -> bool:
    """Unknown, or a helper's `*args`/`**kwargs` with an unknown argument among them."""
    if isinstance(value, dict):
        value = tuple(value.values())
    return value is _UNKNOWN or (isinstance(value, tuple) and any(v is _UNKNOWN for v in value))


def _mentions_op(node: ast.AST, scope: dict) -> bool:
    """Does this code call Alembic (op.*, or a batch_op bound in scope)? `op.get_bind()` and
    `op.get_context()` alone do not: what is done with them is data code, as with a `conn`."""
    op = scope.get("op")
    todo = [node]
    while todo:
        sub = todo.pop()
        if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in _NOT_OPS
                and isinstance(sub.func.value, ast.Name) and sub.func.value.id == "op"):
            todo.extend(sub.args + [k.value for k in sub.keywords])
            continue
        if isinstance(sub, ast.Name) and (sub.id == "op" or (sub.id in scope and _is_batch(scope[sub.id], op))):
            return True
        todo.extend(ast.iter_child_nodes(sub))
    return False


_NOT_OPS = ("get_bind", "get_context")


def _may_issue_sql(func: _ProjectFunction, call: ast.Call, scope: dict) -> bool:
    """Could this call, or what it calls, write SQL? Not if Alembic's op is neither passed to it
    nor named in its source, and that source (with the functions of its module it calls) calls
    nothing that sends SQL or an Alembic operation: a recursive walk over JSON (a dashboard
    layout) is data code however deep it goes."""
    from alembic.operations import Operations

    sending = {name for name in dir(Operations) if not name.startswith("_")} | {
        "execute", "exec_driver_sql", "executescript", "connection", "create_all", "drop_all", "create", "drop"}
    if _mentions_op(call, scope):
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
            if isinstance(sub, ast.Name) and isinstance(f.module.get(sub.id), _ProjectFunction):
                todo.append(f.module[sub.id])
    return False


def _is_batch(value, op) -> bool:
    return type(value).__name__ == "BatchOperations" or (op is not None and value is op)

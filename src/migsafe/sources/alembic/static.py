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
import copy
import enum
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import SchemaItem
from sqlalchemy.sql.expression import ClauseElement

from migsafe.model import Statement
from migsafe.sources.alembic.static_values import (Candidates, ClassStub, ModuleStub, PROJECT_CONSTRUCT, PackageStub,
                                                   Placeholder, ProjectFunction, Return, UNKNOWN, absolute_import,
                                                   bind_target, custom_type, declare_table, holds_unknown,
                                                   is_column_type, library, may_issue_sql, mentions_op, message,
                                                   name_parameters, parsed, root_name, unknown_column_type,
                                                   unknown_defaults_written, unknown_part, unknown_server_default,
                                                   writes_rows, given_the_bind, sent_through_bind, is_logging)
from migsafe.sources.core.guard import PURE_STDLIB, SAFE_BUILTINS, Unreadable, refusal
from migsafe.sql.facts import CreateTable, InsertRows

# Importable without project code (`packaging`: revisions compare library versions).
LIBRARIES = ("sqlalchemy", "alembic", "sqlmodel", "sqlalchemy_utils", "oslo_db", "packaging")
# Standard modules that work on files, never on a database: a revision moving the project's data
# folders (shutil.rmtree, Path.rename) does no DDL there. Never run; their calls are data code.
FILES_ONLY_STDLIB = ("shutil", "pathlib", "tempfile", "glob", "fnmatch", "filecmp")
# SQLAlchemy's methods that send DDL (MetaData.create_all, Table/Index/Enum.create and drop).
SCHEMA_DDL = ("create_all", "drop_all", "create", "drop")
MAX_DEPTH = 8
MODULE_DEPTH = 2  # project modules read: the revision's imports, and theirs


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
    _imported_from: dict = field(default_factory=dict)  # a name the revision imports -> its module

    def load_module_level(self, op) -> None:
        self._load(self.tree, self.namespace, self.path)
        self.namespace["op"] = op  # `from alembic import op` must be the live proxy

    def run(self, name: str) -> None:
        func = self.namespace.get(name)
        if not isinstance(func, ProjectFunction):
            raise Unreadable(f"the revision has no {name}() function")
        try:  # called as Alembic calls it, with no arguments: `def upgrade(op=None)` has op None
            self._block(func.node.body, func.bind([], {}), 0)
        except Return:
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
                namespace[node.name] = ProjectFunction(node, namespace, path, self)
                self._register_compiler(node, namespace)
            elif isinstance(node, ast.ClassDef):
                namespace[node.name] = self._class(node, namespace)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                self._assign(node, namespace, strict=False)

    def _class(self, node: ast.ClassDef, namespace: dict):
        """A project class: a column type stands in as custom_type; a SQL construct built on
        SQLAlchemy's (`class utcnow(FunctionElement)`, SQL given by @compiles functions, see
        _register_compiler) is made for real from its bases and class attributes; so is an
        enum.Enum of literal members (`sa.Enum(Model.Kind)` writes its names); any other class is a
        ClassStub knowing its class attributes (and classes nested in it)."""
        if is_column_type(node):
            return custom_type(node.name)
        attrs = {}
        for stmt in node.body:
            if isinstance(stmt, ast.ClassDef):
                attrs[stmt.name] = self._class(stmt, namespace)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
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

        if bases and all(isinstance(b, type) and issubclass(b, ClauseElement) for b in bases):
            return type(node.name, bases, {"inherit_cache": True, **attrs, PROJECT_CONSTRUCT: True})
        if bases and all(isinstance(b, type) for b in bases) and issubclass(bases[-1], enum.Enum):
            with contextlib.suppress(Exception):  # (members it cannot make: a stub, as for any class)
                mixin = next((b for b in bases[:-1] if not issubclass(b, enum.Enum)), None)
                return bases[-1](node.name, list(attrs.items()), type=mixin)
        if isinstance(attrs.get("__tablename__"), str):
            declare_table(attrs)
        dataclass = any(ast.unparse(d).split("(")[0].split(".")[-1] == "dataclass" for d in node.decorator_list)
        fields = [s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
        properties = {f.name: ProjectFunction(f, namespace, Path(namespace.get("__file__") or self.path), self)
                      for f in node.body if isinstance(f, ast.FunctionDef)
                      and any(isinstance(d, ast.Name) and d.id == "property" for d in f.decorator_list)}
        return ClassStub(node.name, attrs, fields if dataclass else None, properties)

    def _register_compiler(self, node: ast.FunctionDef, namespace: dict) -> None:
        """`@compiles(construct[, dialect])` over a function returning SQL text: registered for
        the project construct made by _class (never for SQLAlchemy's own classes)."""

        for decorator in node.decorator_list:
            try:
                if not isinstance(decorator, ast.Call) or self._eval(decorator.func, namespace) is not compiles:
                    continue
                construct, *dialects = (self._eval(a, namespace) for a in decorator.args)
            except (Unreadable, ValueError):
                continue
            if isinstance(construct, type) and construct.__dict__.get(PROJECT_CONSTRUCT):
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
            self._assign(node, scope, strict, depth)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):  # an import inside a function
            self._import(node, scope, 1 if strict else MODULE_DEPTH)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):  # a function inside a function
            scope[node.name] = ProjectFunction(node, scope, Path(scope.get("__file__") or self.path), self)
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
                    except (Return, Raised):  # a `return` or `raise` on one side ends only that side
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
            raise Return()
        elif strict and mentions_op(node, scope):
            self._unreadable(node, f"{type(node).__name__.lower()} statement using op")

    def _call_statement(self, call: ast.Call, scope: dict, depth: int, strict: bool) -> None:
        root = root_name(call.func)
        if is_logging(call, scope):
            return
        if root is not None and root not in scope and root not in builtins.__dict__:
            if strict and root in self._imported_from:  # a library not installed here, or the project's
                self._unreadable(call, f"calls {ast.unparse(call.func)}() of {self._imported_from[root]}, which"
                                       " migsafe cannot read where it runs (not installed, or not found) and may"
                                       " change the schema")
            elif strict:  # a function of the project (or of a library we do not load)
                self._unreadable(call, f"calls {ast.unparse(call.func)}(), which is defined outside what"
                                       " migsafe can read and may change the schema")
            return
        try:
            callee = self._eval(call.func, scope)
        except Unreadable:
            callee = None
        if isinstance(callee, ProjectFunction):
            self._helper(callee, call, scope, depth)
            return
        if not mentions_op(call, scope):
            # Data code (conn.execute of app models, prints, ...), read only when it goes through
            # the bind and can be: SQL sent with `conn.execute("ALTER TABLE ...")` is rendered.
            if sent_through_bind(callee):
                with contextlib.suppress(Unreadable), self._at(call):
                    self._eval_bind_call(call, scope)
            elif given_the_bind(call, lambda arg: self._eval(arg, scope)):
                self._library_call_on_bind(call, callee, scope, strict)
            elif callee is None and strict and isinstance(call.func, ast.Attribute) and call.func.attr in SCHEMA_DDL:
                self._unreadable(call, f"calls {ast.unparse(call.func)[:80]}() on an object only the running project"
                                       " has, which may change the schema")
            return
        try:
            with self._at(call), unknown_defaults_written() as defaults:
                self._eval_op(call, scope)
        except Unreadable as err:
            self._unreadable(call, str(err))
            self._table_created_anyway(call, scope)
            return
        for default in dict.fromkeys(d.said for d in defaults):
            self._unreadable(call, default)

    def _library_call_on_bind(self, call: ast.Call, callee, scope: dict, strict: bool) -> None:
        """A library call given the bind is no data code: `meta.reflect(bind=conn)` fills the
        MetaData the revision then writes through (answered from the replayed history, see
        offline.py), `meta.create_all(conn)` / `table.create(conn)` send DDL. Evaluated; where it
        cannot be, a call that may send DDL is reported (reflection writes nothing: what is done
        with what it did not find is reported where that is used)."""
        try:
            with self._at(call):
                self._eval(call, scope)
        except Unreadable as err:
            name = getattr(callee, "__name__", None) or getattr(call.func, "attr", None)
            if (strict or name in SCHEMA_DDL) and name != "reflect":
                self._unreadable(call, str(err))

    def _table_created_anyway(self, call: ast.Call, scope: dict) -> None:
        """`op.create_table("name", <columns not all readable>)`: the table is still new in this
        migration, so what later revisions do to it is not judged as done to an old, large table."""

        try:
            if getattr(self._eval(call.func, scope), "__name__", None) != "create_table":
                return
            name = self._eval(call.args[0] if call.args else next(
                k.value for k in call.keywords if k.arg == "table_name"), scope)
        except (Unreadable, StopIteration):
            return
        if isinstance(name, str) and not isinstance(name, Placeholder) and self.tracer is not None:
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
        positional, names = name_parameters(callee)
        extra: dict = {}
        nulled = getattr(callee, "__name__", "") in ("bulk_insert", "execute")
        if getattr(callee, "__name__", "") == "bulk_insert":
            call = self._rows_known_or_null(call, scope)
            rows = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "rows"), None)
            if rows is not None and not self._readable(rows, scope):
                return self._rows_unknown(call, scope)
        elif nulled:  # `op.execute(t.update().values(at=now))`: as sent through the bind (_eval_bind_call)
            call = self._unknown_values_as_null(call, scope)
            if not call.args or not writes_rows(self._eval(call.args[0], scope)):
                raise Unreadable("values only the project knows, in a statement that is no INSERT, UPDATE or DELETE")

        def stand_in(arg: ast.expr, param: str | None) -> ast.expr:
            if self._readable(arg, scope):
                return arg
            if param == "server_default":  # `op.alter_column(..., server_default=conf.X)`
                name = f"migsafe_placeholder_{len(extra)}"
                extra[name] = unknown_server_default(ast.unparse(arg), f"{ast.unparse(arg)[:60]} is only known when"
                                                                       " the project runs")
                return ast.copy_location(ast.Name(name, ast.Load()), arg)
            if param not in names:
                raise Unreadable(f"{param or 'an argument'} is only known when the project runs")
            name = f"migsafe_placeholder_{len(extra)}"
            extra[name] = Placeholder(f"<{ast.unparse(arg)[:60]}>")
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

    def _eval_bind_call(self, node: ast.expr, scope: dict):
        """The value of `node`; where it is SQL sent through the bind with parameter values only
        the project knows (`conn.execute(text("UPDATE t SET at = :now"), {"now": now})`,
        `.bindparams(size=conf.getint(...))`), the statement is still rendered, each unknown
        value as NULL: a value changes no schema and locks nothing beyond the rows written."""
        try:
            return self._eval(node, scope)
        except Unreadable:
            if not isinstance(node, ast.Call) or not sent_through_bind(self._eval(node.func, scope)):
                raise
        return self._eval(self._unknown_values_as_null(node, scope), scope)

    def _unknown_values_as_null(self, node: ast.expr, scope: dict) -> ast.expr:
        """`node` with each value written that only the project knows as NULL: a dict's values,
        and the keywords of `.bindparams()`, `.params()` and `.values()` (`t.update().values(
        perms=Perms.list())`). A value changes no schema and locks nothing beyond the rows written;
        what picks the rows (a WHERE) is left as it is."""
        readable = self._readable

        class UnknownValuesAsNull(ast.NodeTransformer):
            def visit_Dict(self, dict_node: ast.Dict) -> ast.Dict:
                return ast.Dict(dict_node.keys, [self.visit(v) if readable(v, scope) else
                                                 ast.copy_location(ast.Constant(None), v) for v in dict_node.values])

            def visit_Call(self, call: ast.Call) -> ast.Call:
                self.generic_visit(call)
                if isinstance(call.func, ast.Attribute) and call.func.attr in ("values", "bindparams", "params"):
                    call.keywords = [ast.keyword(k.arg, k.value if k.arg is None or readable(k.value, scope)
                                                 else ast.copy_location(ast.Constant(None), k.value))
                                     for k in call.keywords]
                return call

        return ast.fix_missing_locations(UnknownValuesAsNull().visit(copy.deepcopy(node)))

    def _rows_known_or_null(self, call: ast.Call, scope: dict) -> ast.Call:
        """`op.bulk_insert(table, rows)` whose values only the project knows (`now`, a hashed
        password): an INSERT of rows changes no schema, locks nothing beyond them, so it is
        rendered with NULL for each such value (the statement shows NULL there). Rows a
        comprehension makes (`[{"cid": cid, "name": n} for n in names]`) are made so; where it
        goes over rows only the database has (`for row in rows_read`), one row stands for them."""
        def null(v: ast.expr) -> ast.expr:
            return ast.copy_location(ast.Constant(None), v)

        def comprehension_rows(comp: ast.ListComp) -> ast.expr:
            own = {n.id for g in comp.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
            values = [v if all(n.id in own or self._readable(n, scope) for n in ast.walk(v)
                               if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)) else null(v)
                      for v in comp.elt.values]
            made = ast.fix_missing_locations(ast.copy_location(
                ast.ListComp(ast.Dict(comp.elt.keys, values), comp.generators), comp))
            if self._readable(made, scope):
                return made
            one = ast.Dict(comp.elt.keys, [v if self._readable(v, scope) else null(v) for v in comp.elt.values])
            return ast.copy_location(ast.List([one], ast.Load()), comp)

        def known_or_null(rows: ast.expr) -> ast.expr:
            if isinstance(rows, ast.ListComp) and isinstance(rows.elt, ast.Dict) and None not in rows.elt.keys:
                return comprehension_rows(rows)
            if not isinstance(rows, (ast.List, ast.Tuple)) or not all(isinstance(e, ast.Dict) for e in rows.elts):
                return rows
            elts = [ast.Dict(d.keys, [v if self._readable(v, scope) else ast.copy_location(ast.Constant(None), v)
                                      for v in d.values]) for d in rows.elts]
            return ast.copy_location(type(rows)(elts, ast.Load()), rows)

        args = [known_or_null(a) if i == 1 else a for i, a in enumerate(call.args)]
        keywords = [ast.keyword(k.arg, known_or_null(k.value)) if k.arg == "rows" else k for k in call.keywords]
        return ast.fix_missing_locations(ast.copy_location(ast.Call(call.func, args, keywords), call))

    def _rows_unknown(self, call: ast.Call, scope: dict) -> None:
        """`op.bulk_insert(table, rows)` whose rows only the project knows (built from rows read
        back, or by its code): an INSERT into the table, whatever the rows, is what is judged."""
        table = self._eval(call.args[0] if call.args else next(
            (k.value for k in call.keywords if k.arg == "table"), ast.Constant(None)), scope)
        name = getattr(table, "fullname", None) or getattr(table, "name", None)
        if not isinstance(name, str) or self.tracer is None:
            raise Unreadable("a table only the project knows")
        self.statements.append(Statement(f"-- op.bulk_insert({name}, rows only the project knows): INSERT INTO {name} ...",
                                         self.tracer.pinned or self.tracer.node_span(call),
                                         facts=[InsertRows("Insert", name.lower())]))

    def _readable(self, node: ast.expr, scope: dict) -> bool:
        try:
            self._eval(node, scope)
            return True
        except Unreadable:
            return False

    def _helper(self, func: ProjectFunction, call: ast.Call, scope: dict, depth: int) -> None:
        """Follow a call into a function of the revision file or of the project's own modules."""
        if depth >= MAX_DEPTH:
            if may_issue_sql(func, call, scope):
                self._unreadable(call, f"{func.node.name}() nests too deep")
            return
        args: list = []
        for a in call.args:
            try:
                value = self._eval(a.value if isinstance(a, ast.Starred) else a, scope)
                args.extend(value if isinstance(a, ast.Starred) else [value])
            except (Unreadable, TypeError):
                args.append(UNKNOWN)
        kwargs = {}
        for k in call.keywords:
            try:
                value = self._eval(k.value, scope)
            except Unreadable:
                value = UNKNOWN
            if k.arg:
                kwargs[k.arg] = value
            elif isinstance(value, dict):
                kwargs.update(value)
        foreign = func.path != self.path and not self._site  # entering project code from the revision
        if foreign:
            self._site.append(call)
        try:
            self._block(func.node.body, func.bind(args, kwargs), depth + 1)
        except Return:
            pass
        finally:
            if foreign:
                self._site.pop()

    def _assign(self, node, scope: dict, strict: bool = True, depth: int | None = None) -> None:
        """`depth`: inside upgrade() (not at module level), where a helper of the project whose
        value cannot be known (`version = get_version(op)`) is still followed for what it does."""
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if node.value is None:
            return
        before = len(self.statements)
        try:
            with self._at(node.value):
                value = self._eval_bind_call(node.value, scope)  # `result = conn.execute(...)`
        except Unreadable as err:
            value = self._candidates(node.value, scope)
            helper = self._helper_called(node.value, scope) if depth is not None else None
            if helper is not None:
                del self.statements[before:]  # (what the helper wrote before it failed is written again)
                with contextlib.suppress(Raised):  # (a value looked for in what the database holds, or else raise)
                    self._helper(helper, node.value, scope, depth)
            elif strict and mentions_op(node.value, scope) and not isinstance(err, RowsUnknown):
                self._unreadable(node.value, "an op call whose arguments are not known")
        for target in targets:
            bind_target(target, value, scope)

    def _candidates(self, node: ast.expr, scope: dict):
        """A comprehension whose filter only the running project knows (`[c for name, c in new
        if name not in columns_reflected]`): the Candidates it may hold; else UNKNOWN."""
        if not isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)) or \
                not any(g.ifs for g in node.generators):
            return UNKNOWN
        unfiltered = [ast.comprehension(g.target, g.iter, [], g.is_async) for g in node.generators]
        try:
            return Candidates(list(self._eval(ast.fix_missing_locations(
                ast.copy_location(ast.ListComp(node.elt, unfiltered), node)), scope)))
        except (Unreadable, TypeError):
            return UNKNOWN

    def _helper_called(self, node: ast.expr, scope: dict) -> ProjectFunction | None:
        """The project function `node` calls, where it may write SQL (see may_issue_sql)."""
        if not isinstance(node, ast.Call):
            return None
        try:
            callee = self._eval(node.func, scope)
        except Unreadable:
            return None
        return callee if isinstance(callee, ProjectFunction) and may_issue_sql(callee, node, scope) else None

    def _with(self, node: ast.With, scope: dict, depth: int) -> None:
        managers = []
        for item in node.items:
            try:
                with self._at(item.context_expr):  # autocommit_block() writes COMMIT here
                    manager = self._eval_op(item.context_expr, scope)
                    value = manager.__enter__()
            except (Unreadable, AttributeError) as err:
                if root_name(item.context_expr) == "op":  # an Alembic block (batch) we cannot open
                    self._exit(managers, node)
                    if mentions_op(node, scope):
                        self._unreadable(node, str(err))
                    return
                # The project's own context manager (say, one that turns off SQLite foreign keys):
                # what runs inside it is still read.
                value = UNKNOWN
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
                self._unreadable(node, message(err))

    def _for(self, node: ast.For, scope: dict, depth: int) -> None:
        try:
            with self._at(node.iter):  # (rows read back are read here: at the loop's line)
                iterable = self._eval(node.iter, scope)
                items = iterable.items if isinstance(iterable, Candidates) else list(iterable)
        except (Unreadable, TypeError):
            # Values only the running project knows: what one turn of the loop changes, with the
            # loop variables unknown (a name among them stands in as `<name>`, see placeholders).
            for name in ast.walk(node.target):
                if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store):
                    scope[name.id] = UNKNOWN
            self._block(node.body, scope, depth)
            return
        for item in items[:1000]:
            bind_target(node.target, item, scope)
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
                        k.value = unknown(k.value, lambda _, e=k.value: Placeholder(f"<{ast.unparse(e)[:60]}>")) or k.value
                    elif k.arg == "server_default":
                        k.value = unknown(k.value, lambda why, e=k.value: unknown_server_default(ast.unparse(e), why)) \
                            or k.value
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
        # (a comprehension's own names hold what its iterables give, themselves checked here)
        own = {n.id for comp in ast.walk(node) if isinstance(comp, ast.comprehension)
               for n in ast.walk(comp.target) if isinstance(n, ast.Name)}
        refused = refusal(node, lambda name: name in own or (name in scope or name in SAFE_BUILTINS)
                          and not holds_unknown(scope.get(name)), private="underscore", lambdas_run=False)
        if refused is not None:
            sub, what = refused
            if what == "attribute":
                raise Unreadable(f"private attribute {sub.attr}")
            if what == "name" and sub.id not in scope and sub.id not in SAFE_BUILTINS:
                raise Unreadable(f"{sub.id} is defined outside what migsafe can read without running the project")
            if what == "name":
                raise Unreadable(f"the value of {sub.id} is only known when the project runs")
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
            raise Unreadable(message(err, unknown_part(node, scope)))

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
                if top in FILES_ONLY_STDLIB:
                    namespace[alias.asname or top] = UNKNOWN
                elif top in LIBRARIES + PURE_STDLIB:
                    module = library(alias.name)  # `import a.b` loads a.b and binds a
                    if module is not None and not alias.asname:
                        module = library(top)
                    if module is not None:  # else not installed: its names stay unknown
                        namespace[alias.asname or top] = module
                elif follow_project and alias.asname and (project := self._project_module(alias.name, depth)) is not None:
                    namespace[alias.asname] = ModuleStub(project, alias.name)
                elif follow_project and not alias.asname and self._project_module(top, depth) is not None:
                    namespace[top] = PackageStub(top, self)  # `import app.types` binds `app`
            return
        if node.level:  # `from .db_version import get_version` in a module of the project's
            node = absolute_import(node, namespace.get("__package__"))
        if node is None or not node.module:
            return
        if namespace.get("__file__") is None:  # (the revision's own imports)
            self._imported_from.update({alias.asname or alias.name: node.module for alias in node.names})
        if node.module.split(".")[0] in FILES_ONLY_STDLIB:
            namespace.update({alias.asname or alias.name: UNKNOWN for alias in node.names if alias.name != "*"})
            return
        if node.module.split(".")[0] not in LIBRARIES + PURE_STDLIB:
            if follow_project:
                self._import_project(node, namespace, depth)
            return
        module = library(node.module)
        if module is None:
            return
        for alias in node.names:
            if alias.name == "*":
                continue
            value = getattr(module, alias.name, None)
            if value is None:
                value = library(f"{node.module}.{alias.name}")
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
                namespace[alias.asname or alias.name] = ModuleStub(sub, f"{node.module}.{alias.name}")
            elif module is not None:
                # An object of the project's (a session, an app): calls on it are data code, and
                # what it evaluates to is only known when the project runs.
                namespace[alias.asname or alias.name] = UNKNOWN

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
                    tree = parsed(candidate)
                    if tree is None:
                        return None
                    package = name if candidate.stem == "__init__" else name.rpartition(".")[0]
                    namespace: dict = {"__file__": str(candidate), "__package__": package}
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


"""`fix.edits`: the rewrites of a finding that are mechanical and keep the migration's meaning.

An edit replaces an exact span of the file (line/column from the statement's own span, end
column one past the last character), so applying it is a pure text operation. Edits are offered
only for .sql files and only where the rewrite is certain to be safe; everything else gets none
and stays a plan for a human:

- non-concurrent-index: `CONCURRENTLY` after `CREATE [UNIQUE] INDEX`, only when the statement
  runs outside a transaction block (else the result would be concurrently-in-transaction).
- validating-foreign-key / validating-check-constraint: `NOT VALID`, then `VALIDATE CONSTRAINT`
  as the next statement; only outside a transaction block (else the VALIDATE would run under the
  ADD's lock) and only for a named constraint (the VALIDATE must name it).
- add-unique-constraint: `CREATE UNIQUE INDEX CONCURRENTLY` + `ADD CONSTRAINT ... USING INDEX`,
  outside a transaction block, for the plain form only (no options the rewrite would drop).
- non-concurrent-drop-index: `CONCURRENTLY` after `DROP INDEX`, outside a transaction block,
  for one index without CASCADE.
- missing-lock-timeout: `SET lock_timeout` before the migration's first statement.

Python migrations are edited at the exact positions of their syntax tree (module-level upgrade(),
`class Migration`'s `operations` list), only on PostgreSQL except the lock_timeout prelude:

- Alembic: a lone `op.create_index(...)` in upgrade() gets `postgresql_concurrently=True` inside
  `autocommit_block()`; `op.create_foreign_key` / `op.create_check_constraint` as the last op of
  upgrade() gets `postgresql_not_valid=True` and the VALIDATE after it in `autocommit_block()`
  (which commits the ADD first, so the VALIDATE does not run under its lock);
  missing-lock-timeout: `op.execute("SET ...")` as upgrade()'s first line.
- Django: a migration whose operations are only AddIndex/RemoveIndex (and SET prelude) gets
  AddIndexConcurrently/RemoveIndexConcurrently, their import and `atomic = False`;
  missing-lock-timeout: a `RunSQL` of the SET as the first operation.
Anything else stays a plan for a human.
"""

from __future__ import annotations

import ast
import re

from migsafe import plans as P
from migsafe.fixes import python_tree
from migsafe.fixes import sql as S
from migsafe.model import Edit, Statement
from migsafe.sql import facts as F
from migsafe.sql.lines import line_starts, position

_CREATE_INDEX = re.compile(r"\ACREATE\s+(?:UNIQUE\s+)?INDEX\b", re.I)
_DROP_INDEX = re.compile(r"\ADROP\s+INDEX\b", re.I)
# Words that make a constraint more than the plain form the rewrites reproduce (options a
# rewrite would drop, partitions CONCURRENTLY cannot build on, IF EXISTS it would lose). Any
# identifier spelled so also blocks the edit: a missed edit is safe, a wrong one is not.
_NOT_PLAIN = {"DEFERRABLE", "INITIALLY", "INCLUDE", "NULLS", "WITH", "USING", "TABLESPACE", "ONLY", "EXISTS"}
MAX_NAME = 63  # PostgreSQL truncates longer identifiers: a generated name must not depend on it


def lock_timeout_first(ctx, path: str) -> list[Edit]:
    """missing-lock-timeout: the SET before the migration's first statement (SQL, any engine), as
    upgrade()'s first line (Alembic) or the first operation (Django, PostgreSQL)."""
    if ctx.migration.source == "sql":
        if ctx.statement.facts is not None:
            return []
        first = ctx.migration.statements[0]
        setting = S.sql(ctx.dialect.set_lock_timeout())
        return [_insert(path, first.span.line, first.span.column, setting + "\n" + _indent(ctx, first))]
    py = _python(ctx, any_dialect=True)
    if py is None:
        return []
    return _alembic_prelude(py, ctx, path) if ctx.migration.source == "alembic" else _django_prelude(py, ctx, path)


def concurrently(fact: F.Fact, ctx, path: str, alone: bool) -> list[Edit]:
    """non-concurrent-index / non-concurrent-drop-index: `CONCURRENTLY` after `CREATE [UNIQUE]
    INDEX` or `DROP INDEX` (one index, no CASCADE: CONCURRENTLY cannot cascade); Alembic's lone
    create_index in autocommit_block(); Django's AddIndex/RemoveIndex as their Concurrently forms."""
    if _sql_editable(ctx, alone):
        stmt = ctx.statement
        if isinstance(fact, F.CreateIndex):
            match = _CREATE_INDEX.match(stmt.sql)
        elif isinstance(fact, F.DropIndex) and "CASCADE" not in _words(stmt.sql):
            match = _DROP_INDEX.match(stmt.sql)
        else:
            match = None
        return [_insert(path, *_at(stmt, match.end()), " CONCURRENTLY")] if match else []
    py = _python(ctx)
    if py is None:
        return []
    if ctx.migration.source == "alembic":
        return _alembic_index(py, ctx, path) if isinstance(fact, F.CreateIndex) else []
    return _django_concurrent(py, ctx, path)


def not_valid_then_validate(fact: F.Fact, ctx, path: str, alone: bool) -> list[Edit]:
    """validating-foreign-key / validating-check-constraint: `NOT VALID`, then `VALIDATE
    CONSTRAINT` as the next statement (a named constraint only: the VALIDATE must name it);
    Alembic: `postgresql_not_valid=True` and the VALIDATE in autocommit_block()."""
    if not isinstance(fact, F.AddConstraint) or not fact.constraint.name:
        return []
    if _sql_editable(ctx, alone):
        if _words(ctx.statement.sql) & _NOT_PLAIN:
            return []
        stmt = ctx.statement
        # The statement's own `;` (outside its span) then ends the VALIDATE.
        validate = S.sql(P.ValidateConstraint(fact.table, fact.constraint.name)).rstrip(";")
        return [_insert(path, stmt.span.end_line, stmt.span.end_column, f" NOT VALID;\n{validate}")]
    py = _python(ctx)
    return _alembic_not_valid(py, ctx, fact, path) if py is not None and ctx.migration.source == "alembic" else []


def unique_index_then_constraint(fact: F.Fact, ctx, path: str, alone: bool) -> list[Edit]:
    """add-unique-constraint (SQL, the plain form only): `CREATE UNIQUE INDEX CONCURRENTLY` +
    `ADD CONSTRAINT ... USING INDEX`."""
    if not (_sql_editable(ctx, alone) and isinstance(fact, F.AddConstraint)) or _words(ctx.statement.sql) & _NOT_PLAIN:
        return []
    con, stmt = fact.constraint, ctx.statement
    if con.kind not in ("unique", "primary_key") or not con.columns:
        return []
    short = fact.table.split(".")[-1]
    name = con.name or (f"{short}_pkey" if con.kind == "primary_key" else f"{short}_{'_'.join(con.columns)}_key")
    if len(name) > MAX_NAME:
        return []
    # The index takes the constraint's name: USING INDEX would rename it to that anyway.
    build = S.sql(P.CreateIndexConcurrently(fact.table, name, con.columns, unique=True))
    attach = S.sql(P.AddConstraintUsingIndex(fact.table, name, con.kind, name)).rstrip(";")
    return [Edit(path, stmt.span.line, stmt.span.column, stmt.span.end_line, stmt.span.end_column,
                 f"{build}\n{attach}")]


def _sql_editable(ctx, alone: bool) -> bool:
    """A .sql statement the rewrites may touch: read from its own text, alone in its statement
    (an ALTER TABLE with one action), on PostgreSQL, outside a transaction block (else the
    result would be concurrently-in-transaction, or the VALIDATE would run under the ADD's lock)."""
    return (ctx.migration.source == "sql" and ctx.statement.facts is None and alone
            and not ctx.in_transaction and ctx.dialect.name == "postgresql")


def _python(ctx, any_dialect: bool = False) -> "_Py | None":
    """The Alembic or Django migration's syntax tree, where its edits apply (PostgreSQL, except
    the lock_timeout prelude); None for other sources and for a file that does not parse."""
    if ctx.migration.source not in ("alembic", "django") or not (any_dialect or ctx.dialect.name == "postgresql"):
        return None
    try:
        return _Py(ctx.migration.text)
    except (SyntaxError, ValueError):
        return None


class _Py:
    """A Python migration's syntax tree, with ast's positions (UTF-8 byte columns) as edit positions."""

    def __init__(self, text: str):
        self.tree = python_tree(text)
        self.body = text.removeprefix("\ufeff")  # as apply_edits counts
        self.starts = line_starts(self.body)
        self.lines = [self.body[a:b] for a, b in zip(self.starts, [*self.starts[1:], len(self.body)])]

    def offset(self, line: int, column: int) -> int:
        return self.starts[line - 1] + column - 1

    def start(self, node: ast.AST) -> tuple[int, int]:
        return node.lineno, self._column(node.lineno, node.col_offset)

    def end(self, node: ast.AST) -> tuple[int, int]:
        return node.end_lineno, self._column(node.end_lineno, node.end_col_offset)

    def line_end(self, line: int) -> tuple[int, int]:
        """Past the last character of `line` before its line break (after any trailing comment)."""
        return line, len(self.lines[line - 1].rstrip("\r\n")) + 1

    def indent(self, node: ast.AST) -> str | None:
        """The whitespace before `node` on its line; None when code precedes it there."""
        line, column = self.start(node)
        before = self.lines[line - 1][: column - 1]
        return None if before.strip() else before

    def _column(self, line: int, offset: int) -> int:
        return len(self.lines[line - 1].encode()[:offset].decode(errors="ignore")) + 1

    def imported(self, name: str) -> bool:
        """`name` is bound by a module-level import."""
        return any((a.asname or a.name).split(".")[0] == name for node in self.tree.body
                   if isinstance(node, (ast.Import, ast.ImportFrom)) for a in node.names)

    def upgrade(self) -> ast.FunctionDef | None:
        return next((n for n in self.tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None)

    def migration(self) -> tuple[ast.ClassDef, ast.Assign, ast.List] | None:
        """Django's `class Migration`, its `operations = [...]` statement and list."""
        for cls in self.tree.body:
            if isinstance(cls, ast.ClassDef) and cls.name == "Migration":
                for node in cls.body:
                    if _assigns(node, "operations") and isinstance(node.value, ast.List):
                        return cls, node, node.value
        return None


def _assigns(node: ast.stmt, name: str) -> bool:
    """`node` is `name = ...`."""
    return isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [name]


def _setting(ctx) -> str:
    return _py_str(S.sql(ctx.dialect.set_lock_timeout()).rstrip(";"))


def _py_str(text: str) -> str:
    """`text` as a double-quoted Python string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _alembic_prelude(py: _Py, ctx, path: str) -> list[Edit]:
    """`op.execute("SET lock_timeout ...")` as upgrade()'s first statement (after its docstring)."""
    fn = py.upgrade()
    body = fn.body if fn else []
    if body and ast.get_docstring(fn) is not None:
        body = body[1:]
    indent = py.indent(body[0]) if body else None
    if indent is None or not py.imported("op"):
        return []
    return [_insert(path, *py.start(body[0]), f"op.execute({_setting(ctx)})\n{indent}")]


def _django_prelude(py: _Py, ctx, path: str) -> list[Edit]:
    """`migrations.RunSQL("SET lock_timeout ...", migrations.RunSQL.noop)` as the first operation."""
    found = py.migration()
    if ctx.dialect.name != "postgresql" or found is None or not found[2].elts or not py.imported("migrations"):
        return []
    first = found[2].elts[0]
    indent = py.indent(first)
    after = f"\n{indent}" if indent is not None else " "
    return [_insert(path, *py.start(first), f"migrations.RunSQL({_setting(ctx)}, migrations.RunSQL.noop),{after}")]


def _upgrade_op(py: _Py, ctx, names: tuple[str, ...], last: bool = False) -> tuple[str, ast.Call] | None:
    """(indentation, call) of the `op.<name>(...)` call at the finding's place when it stands on its
    own line as a statement of module-level upgrade() (the last one if `last`); None elsewhere
    (in a loop, a branch, a batch block, a helper)."""
    fn = py.upgrade()
    span = ctx.statement.span
    for node in (fn.body[-1:] if last else fn.body) if fn else []:
        call = node.value if isinstance(node, ast.Expr) else None
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in names
                and isinstance(call.func.value, ast.Name) and call.func.value.id == "op"
                and py.start(call) == (span.line, span.column)):
            indent = py.indent(node)
            return None if indent is None else (indent, call)
    return None


def _last_argument(call: ast.Call) -> ast.AST:
    return max([*call.args, *call.keywords], key=lambda n: (n.end_lineno, n.end_col_offset))


def _alembic_index(py: _Py, ctx, path: str) -> list[Edit]:
    """`op.create_index(...)` -> the same call with `postgresql_concurrently=True` inside
    `with op.get_context().autocommit_block():`. Only when it is the migration's only statement:
    the block commits what ran before it, so anything else in the migration would lose the
    all-or-nothing transaction it has now."""
    work = [s for s in ctx.migration.statements if s.sql.strip().upper() not in ("BEGIN", "COMMIT")]
    found = _upgrade_op(py, ctx, ("create_index",))
    if not ctx.in_transaction or len(work) != 1 or found is None:
        return []
    indent, call = found
    if not call.args or any(k.arg in (None, "postgresql_concurrently") for k in call.keywords):
        return []
    start, end = py.offset(*py.start(call)), py.offset(*py.end(call))
    upto = py.offset(*py.end(_last_argument(call)))
    new_call = py.body[start:upto] + ", postgresql_concurrently=True" + py.body[upto:end]
    new_call = re.sub(r"\r\n?", "\n", new_call)  # apply_edits writes the file's own line breaks
    multiline_string = any(isinstance(n, ast.Constant) and isinstance(n.value, str) and n.lineno != n.end_lineno
                           for n in ast.walk(call))
    if not multiline_string:  # continuation lines move with the call (a string's own lines must not)
        new_call = new_call.replace("\n", "\n    ")
    return [Edit(path, *py.start(call), *py.end(call),
                 f"with op.get_context().autocommit_block():\n{indent}    {new_call}")]


def _alembic_not_valid(py: _Py, ctx, fact: F.AddConstraint, path: str) -> list[Edit]:
    """`postgresql_not_valid=True` on the op, then its VALIDATE in `autocommit_block()`. Only for
    the last op of upgrade(): the block commits what ran before it, so nothing may follow."""
    found = _upgrade_op(py, ctx, ("create_foreign_key", "create_check_constraint"), last=True)
    if found is None or not fact.constraint.name:
        return []
    indent, call = found
    if not (call.args or call.keywords) or any(k.arg in (None, "postgresql_not_valid") for k in call.keywords):
        return []
    validate = _py_str(S.sql(P.ValidateConstraint(fact.table, fact.constraint.name)).rstrip(";"))
    return [_insert(path, *py.end(_last_argument(call)), ", postgresql_not_valid=True"),
            _insert(path, *py.line_end(call.end_lineno),
                    f"\n{indent}with op.get_context().autocommit_block():\n{indent}    op.execute({validate})")]


_CONCURRENT = {"AddIndex": "AddIndexConcurrently", "RemoveIndex": "RemoveIndexConcurrently"}


def _django_concurrent(py: _Py, ctx, path: str) -> list[Edit]:
    """AddIndex/RemoveIndex -> their Concurrently forms (same arguments) with `atomic = False`.
    Only when the migration holds nothing else (but a SET prelude): `atomic = False` takes the
    transaction from every operation in it."""
    found = py.migration()
    if found is None:
        return []
    cls, assign, ops = found
    kinds = {op: _operation(op) for op in ops.elts}
    index_ops = [op for op, kind in kinds.items() if kind in _CONCURRENT]
    if not index_ops or any(kind not in _CONCURRENT and kind != "SET" for kind in kinds.values()):
        return []
    span = ctx.statement.span
    this = next((op for op in index_ops if py.start(op) == (span.line, span.column)), None)
    atomic = [n for n in cls.body if _assigns(n, "atomic")]
    indent = py.indent(assign)
    db_import = next((n for n in py.tree.body if isinstance(n, ast.ImportFrom) and n.module == "django.db"), None)
    if (this is None or indent is None or db_import is None or db_import.end_lineno >= len(py.lines)
            or (atomic and not (isinstance(atomic[0].value, ast.Constant) and atomic[0].value.value is False))):
        return []
    edits = [Edit(path, *py.start(this.func), *py.end(this.func), _CONCURRENT[kinds[this]])]
    if not atomic:
        edits.append(_insert(path, *py.start(assign), f"atomic = False\n{indent}"))
    missing = sorted({_CONCURRENT[kinds[op]] for op in index_ops} - {a.asname or a.name for n in py.tree.body
                     if isinstance(n, ast.ImportFrom) and n.module == "django.contrib.postgres.operations"
                     for a in n.names})
    if missing:
        edits.append(_insert(path, db_import.end_lineno + 1, 1,
                             f"from django.contrib.postgres.operations import {', '.join(missing)}\n"))
    return edits


def _operation(node: ast.expr) -> str | None:
    """The operation class an element of `operations` calls (`migrations.AddIndex(...)` ->
    "AddIndex"); "SET" for a RunSQL of a SET statement (a lock_timeout prelude)."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    sql = node.args[0] if node.args else None
    if (name == "RunSQL" and isinstance(sql, ast.Constant) and isinstance(sql.value, str)
            and sql.value.lstrip().upper().startswith("SET ")):
        return "SET"
    return name


def _words(sql: str) -> set[str]:
    return set(re.findall(r"[A-Z_]+", sql.upper()))


def _at(stmt: Statement, offset: int) -> tuple[int, int]:
    """The file position of a character offset into the statement's text."""
    starts = line_starts(stmt.sql[:offset])
    line, column = position(starts, offset)
    return stmt.span.line + line - 1, (stmt.span.column + offset if line == 1 else column)


def _indent(ctx, stmt: Statement) -> str:
    """The first statement's indentation, so the inserted line lines up with it."""
    lines = ctx.migration.text.splitlines()
    before = lines[stmt.span.line - 1][: stmt.span.column - 1] if stmt.span.line <= len(lines) else ""
    return before if not before.strip() else ""


def _insert(path: str, line: int, column: int, text: str) -> Edit:
    return Edit(path, line, column, line, column, text)


def apply_edits(text: str, edits: list[Edit]) -> str:
    """`text` with `edits` applied. Positions count as the SQL splitter counts them (after a BOM;
    \\r\\n, \\r and \\n end lines). Raises ValueError on overlapping or out-of-range edits."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    starts = line_starts(body)

    def offset(line: int, column: int) -> int:
        if not 1 <= line <= len(starts):
            raise ValueError(f"line {line} is outside the file")
        at = starts[line - 1] + column - 1
        end = starts[line] if line < len(starts) else len(body)
        if not starts[line - 1] <= at <= end:
            raise ValueError(f"column {column} is outside line {line}")
        return at

    spans = sorted(((offset(e.line, e.column), offset(e.end_line, e.end_column), e.replacement) for e in edits),
                   key=lambda s: (s[0], s[1]))
    for (_, end, _), (start, _, _) in zip(spans, spans[1:]):
        if start < end:
            raise ValueError("edits overlap")
    newline = "\r\n" if "\r\n" in body else "\n"  # inserted lines end as the file's own do
    for start, end, replacement in reversed(spans):  # from the end, so earlier offsets stay valid
        body = body[:start] + replacement.replace("\n", newline) + body[end:]
    return bom + body


# Rules whose findings may carry edits: a file holding one of them without edits is not rewritten.
REWRITABLE = ("non-concurrent-index", "validating-foreign-key", "validating-check-constraint",
              "add-unique-constraint", "missing-lock-timeout", "non-concurrent-drop-index")


def rewrites(findings: list) -> tuple[dict[str, list[Edit]], dict[str, list]]:
    """Per file: the edits `migsafe fix` applies, and the files it leaves untouched with the
    findings of REWRITABLE rules that have no safe edit (a half-fixed file would read as done)."""
    edits: dict[str, list[Edit]] = {}
    blocked: dict[str, list] = {}
    for f in findings:
        if f.fix is not None and f.fix.edits:
            edits.setdefault(f.path, []).extend(e for e in f.fix.edits if e not in edits.get(f.path, []))
        elif f.rule in REWRITABLE:
            blocked.setdefault(f.path, []).append(f)
    return {p: e for p, e in edits.items() if p not in blocked}, blocked

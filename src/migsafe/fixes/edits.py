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
- missing-lock-timeout: `SET lock_timeout` before the migration's first statement.

In an Alembic revision, a lone `op.create_index(...)` in upgrade() gets `postgresql_concurrently=True`
inside `autocommit_block()`. Other Alembic findings and Django migrations get no edits: their fixes
restructure Python code (several ops around a block, `atomic = False`) and are given as plans.
"""

from __future__ import annotations

import ast
import re

from migsafe import plans as P
from migsafe.fixes import sql as S
from migsafe.model import Edit, Statement
from migsafe.sql import facts as F
from migsafe.sql.split import line_starts, position

_CREATE_INDEX = re.compile(r"\ACREATE\s+(?:UNIQUE\s+)?INDEX\b", re.I)
# Words that make a constraint more than the plain form the rewrites reproduce (options a
# rewrite would drop, partitions CONCURRENTLY cannot build on, IF EXISTS it would lose). Any
# identifier spelled so also blocks the edit: a missed edit is safe, a wrong one is not.
_NOT_PLAIN = {"DEFERRABLE", "INITIALLY", "INCLUDE", "NULLS", "WITH", "USING", "TABLESPACE", "ONLY", "EXISTS"}
MAX_NAME = 63  # PostgreSQL truncates longer identifiers: a generated name must not depend on it


def edits_for(rule: str, fact: F.Fact, ctx, path: str, alone: bool) -> list[Edit]:
    """The edits that fix one finding of `rule` raised on `fact`; [] when there is no safe one.
    `alone`: the fact is the statement's only one (an ALTER TABLE with one action)."""
    stmt = ctx.statement
    if ctx.migration.source == "alembic" and rule == "non-concurrent-index" and isinstance(fact, F.CreateIndex):
        return _alembic_index(ctx, path)
    if ctx.migration.source != "sql" or stmt.facts is not None:
        return []
    if rule == "missing-lock-timeout":
        first = ctx.migration.statements[0]
        setting = S.sql(ctx.dialect.set_lock_timeout())
        return [_insert(path, first.span.line, first.span.column, setting + "\n" + _indent(ctx, first))]
    if ctx.in_transaction or ctx.dialect.name != "postgresql" or not alone:
        return []
    if rule == "non-concurrent-index" and isinstance(fact, F.CreateIndex):
        match = _CREATE_INDEX.match(stmt.sql)
        return [_insert(path, *_at(stmt, match.end()), " CONCURRENTLY")] if match else []
    if not isinstance(fact, F.AddConstraint) or _words(stmt.sql) & _NOT_PLAIN:
        return []
    con = fact.constraint
    if rule in ("validating-foreign-key", "validating-check-constraint") and con.name:
        # The statement's own `;` (outside its span) then ends the VALIDATE.
        validate = S.sql(P.ValidateConstraint(fact.table, con.name)).rstrip(";")
        return [_insert(path, stmt.span.end_line, stmt.span.end_column, f" NOT VALID;\n{validate}")]
    if rule == "add-unique-constraint" and con.kind in ("unique", "primary_key") and con.columns:
        short = fact.table.split(".")[-1]
        name = con.name or (f"{short}_pkey" if con.kind == "primary_key" else f"{short}_{'_'.join(con.columns)}_key")
        if len(name) > MAX_NAME:
            return []
        # The index takes the constraint's name: USING INDEX would rename it to that anyway.
        build = S.sql(P.CreateIndexConcurrently(fact.table, name, con.columns, unique=True))
        attach = S.sql(P.AddConstraintUsingIndex(fact.table, name, con.kind, name)).rstrip(";")
        return [Edit(path, stmt.span.line, stmt.span.column, stmt.span.end_line, stmt.span.end_column,
                     f"{build}\n{attach}")]
    return []


def _alembic_index(ctx, path: str) -> list[Edit]:
    """`op.create_index(...)` -> the same call with `postgresql_concurrently=True` inside
    `with op.get_context().autocommit_block():`. Only when it is the migration's only statement:
    the block commits what ran before it, so anything else in the migration would lose the
    all-or-nothing transaction it has now."""
    span = ctx.statement.span
    work = [s for s in ctx.migration.statements if s.sql.strip().upper() not in ("BEGIN", "COMMIT")]
    if ctx.dialect.name != "postgresql" or not ctx.in_transaction or len(work) != 1:
        return []
    text = ctx.migration.text
    call = _upgrade_call(text, span.line, span.column)
    if call is None or not call.args or any(k.arg in (None, "postgresql_concurrently") for k in call.keywords):
        return []
    lines = text.splitlines(keepends=True)
    indent = lines[span.line - 1][: span.column - 1]
    if indent.strip():
        return []
    offset = lambda line, col: len(lines[line - 1].encode()[:col].decode())  # noqa: E731 - ast counts bytes
    last = max([*call.args, *call.keywords], key=lambda n: (n.end_lineno, n.end_col_offset))
    segment = ast.get_source_segment(text, call) or ""
    # the call text up to its last argument, relative to the call's first character
    upto = sum(len(ln) for ln in lines[span.line - 1: last.end_lineno - 1]) - (span.column - 1) + offset(
        last.end_lineno, last.end_col_offset)
    new_call = segment[:upto] + ", postgresql_concurrently=True" + segment[upto:]
    multiline_string = any(isinstance(n, ast.Constant) and isinstance(n.value, str) and n.lineno != n.end_lineno
                           for n in ast.walk(call))
    if not multiline_string:  # continuation lines move with the call (a string's own lines must not)
        new_call = new_call.replace("\n", "\n    ")
    return [Edit(path, span.line, span.column, span.end_line, span.end_column,
                 f"with op.get_context().autocommit_block():\n{indent}    {new_call}")]


def _upgrade_call(text: str, line: int, column: int) -> ast.Call | None:
    """The `op.create_index(...)` call standing as a statement of module-level upgrade() at
    (line, column); None elsewhere (in a loop, a branch, a batch block, a helper)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    lines = text.splitlines()
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef) and fn.name == "upgrade":
            for node in fn.body:
                call = node.value if isinstance(node, ast.Expr) else None
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr == "create_index" and isinstance(call.func.value, ast.Name)
                        and call.func.value.id == "op" and call.lineno == line
                        and len(lines[line - 1].encode()[: call.col_offset].decode()) == column - 1):
                    return call
    return None


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
              "add-unique-constraint", "missing-lock-timeout")


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

"""Write a Plan as the `upgrade()` (and, for its rollback, `downgrade()`) of an Alembic revision.

Actions Alembic has an operation for become that `op` call; the rest run their SQL through
`op.execute`. CONCURRENTLY and batched backfills run inside `autocommit_block()`, which commits
the revision's transaction first: Alembic's own way to run outside a transaction.
"""

from __future__ import annotations

import re
from functools import singledispatch

from migsafe import plans as P
from migsafe.fixes import sql as S
from migsafe.fixes import Names
from migsafe.fixes.naming import Converted, project_convention

AUTOCOMMIT = "with op.get_context().autocommit_block():"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
# SQL type -> SQLAlchemy type, for op.add_column; other types go through op.execute. Names that
# SQLAlchemy 1.4 has too (no sa.Uuid or sa.Double there).
_TYPES = {"integer": "sa.Integer()", "int": "sa.Integer()", "int4": "sa.Integer()", "bigint": "sa.BigInteger()",
          "int8": "sa.BigInteger()", "smallint": "sa.SmallInteger()", "text": "sa.Text()",
          "boolean": "sa.Boolean()", "bool": "sa.Boolean()", "date": "sa.Date()", "uuid": "postgresql.UUID()",
          "timestamp": "sa.DateTime()", "timestamptz": "sa.DateTime(timezone=True)",
          "timestamp with time zone": "sa.DateTime(timezone=True)", "jsonb": "postgresql.JSONB()",
          "double precision": "sa.Float(53)", "float8": "sa.Float(53)", "real": "sa.REAL()"}
_PARAM_TYPES = {"varchar": "sa.String({})", "character varying": "sa.String({})", "numeric": "sa.Numeric({})",
                "decimal": "sa.Numeric({})", "char": "sa.CHAR({})"}


# Actions that must run outside the revision's transaction, whatever comes before them.
_OUTSIDE = (P.CreateIndexConcurrently, P.DropIndexConcurrently, P.Backfill)


def names_at(migration, span, table: str | None, column: str | None) -> Names | None:
    """The project's MetaData naming convention, which the fix's new names follow (fixes.names_at asks)."""
    convention = project_convention(migration.path)
    return Names(naming_convention=convention) if convention else None


def phase_code(actions: list[P.Action], names=None) -> str:
    if all(isinstance(a, _CODE_ONLY) for a in actions):  # nothing for a revision to do
        return "\n".join(op(a) for a in actions)
    return "def upgrade():\n" + _body(actions)


def rollback_code(actions: list[P.Action], names=None) -> str:
    notes = [f"# rollback: {a.text}" for a in actions if isinstance(a, P.CodeChange)]
    steps = [a for a in actions if not isinstance(a, P.CodeChange)]
    return "\n".join(notes + (["def downgrade():  # the way back of this step\n" + _body(steps)] if steps else []))


def _body(actions: list[P.Action]) -> str:
    """The statements of upgrade()/downgrade(); from the first action that must run outside
    the transaction on, all run in one autocommit_block()."""
    lines: list[str] = []
    outside = False
    for action in actions:
        if isinstance(action, (P.OutsideTransaction,) + _OUTSIDE) and not outside:
            outside = True
            lines.append(AUTOCOMMIT)
        if not isinstance(action, P.OutsideTransaction):
            lines += ["    " + ln if outside and ln else ln for ln in op(action).splitlines()]
    return "\n".join("    " + ln if ln else "" for ln in lines or ["pass"])


def _table(name: str) -> str:
    """`"table"`, or `"table", schema="s"` for a qualified name."""
    schema, _, table = name.rpartition(".")
    return repr(table).replace("'", '"') + (f', schema="{schema}"' if schema else "")


def s(text: str) -> str:
    """A Python string literal for `text`, double-quoted as Alembic revisions usually are; SQL of
    several lines as a triple-quoted string, so the fix reads at a reviewer's width."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    if "\n" in text:
        return '"""' + escaped + '"""'
    return '"' + escaped + '"'


def name(text: str) -> str:
    """An object's name; op.f(...) where the project's naming convention already gave it, so
    that Alembic does not apply the convention to it again."""
    return f"op.f({s(text)})" if isinstance(text, Converted) else s(text)


def execute(action: P.Action) -> str:
    comments, statements = S.pieces(action)
    return "\n".join([f"# {c}" for c in comments] + [f"op.execute({s(st)})" for st in statements])


def sa_type(sql_type: str) -> str | None:
    t = " ".join(sql_type.lower().split())
    if t in _TYPES:
        return _TYPES[t]
    m = re.fullmatch(r"([a-z ]+?)\s*\(([\d ,]+)\)", t)
    if m and m.group(1) in _PARAM_TYPES:
        return _PARAM_TYPES[m.group(1)].format(", ".join(x.strip() for x in m.group(2).split(",")))
    return None


@singledispatch
def op(action: P.Action) -> str:
    return execute(action)  # no Alembic operation for it: its SQL, as written


@op.register
def _(a: P.AddColumn) -> str:
    type_ = sa_type(a.type)
    if type_ is None or "<" in (a.default or ""):
        return execute(a)
    default = f", server_default=sa.text({s(a.default)})" if a.default else ""
    return f"op.add_column({_table(a.table)}, sa.Column({s(a.column)}, {type_}, nullable={a.nullable}{default}))"


@op.register
def _(a: P.Backfill) -> str:
    # Each batch commits on its own; offline (--sql) the loop renders one batch.
    (_, [update]) = S.pieces(a)
    return (f"# batches of 10,000 rows, each committed on its own (autocommit), until none is left\n"
            f"while op.get_bind().execute(sa.text({s(update)})).rowcount:\n    pass")


@op.register
def _(a: P.AddCheckNotValid) -> str:
    return f"op.create_check_constraint({name(a.name)}, {_table(a.table)}, {s(a.expression)}, postgresql_not_valid=True)"


@op.register
def _(a: P.AddForeignKeyNotValid) -> str:
    if not a.ref_columns:  # Alembic needs the referenced columns; the SQL does not
        return execute(a)
    ref_schema, _, ref = a.ref_table.rpartition(".")
    schema, _, table = a.table.rpartition(".")
    extra = (f", source_schema={s(schema)}" if schema else "") + (f", referent_schema={s(ref_schema)}" if ref_schema else "")
    return (f"op.create_foreign_key({name(a.name)}, {s(table)}, {s(ref)}, {list(a.columns)!r}, {list(a.ref_columns)!r}"
            f"{extra}, postgresql_not_valid=True)").replace("'", '"')


@op.register
def _(a: P.SetNotNull) -> str:
    return f"op.alter_column({_table(a.table)}, {s(a.column)}, nullable=False)"


@op.register
def _(a: P.DropConstraint) -> str:
    return f"op.drop_constraint({name(a.name)}, {_table(a.table)})"


@op.register
def _(a: P.CreateIndexConcurrently) -> str:
    if not all(_IDENT.fullmatch(c) for c in a.columns):  # expressions: the SQL as written
        return execute(a)
    unique = ", unique=True" if a.unique else ""
    cols = ", ".join(s(c) for c in a.columns)
    return f"op.create_index({name(a.name)}, {_table(a.table)}, [{cols}]{unique}, postgresql_concurrently=True)"


@op.register
def _(a: P.DropIndexConcurrently) -> str:
    return f"op.drop_index({name(a.name)}, postgresql_concurrently=True{', if_exists=True' if a.if_exists else ''})"


@op.register
def _(a: P.DropColumn) -> str:
    return f"op.drop_column({_table(a.table)}, {s(a.column)})  # migsafe: ignore[drop-column] {a.reason}"


@op.register
def _(a: P.DropTable) -> str:
    return f"op.drop_table({_table(a.table)})  # migsafe: ignore[drop-table] {a.reason}"


@op.register(P.StopUsingColumn)
@op.register(P.StopUsingTable)
def _(a) -> str:
    what = (f"remove the {a.column} Column from the {a.table} model (or mark it deferred() and stop"
            " writing it) and from every query" if isinstance(a, P.StopUsingColumn) else S.stop_using(a))
    return op(P.CodeChange(what))


@op.register
def _(a: P.Acknowledged) -> str:
    # The comment alone on the line above the call: it names the call's line, where findings point.
    _, statements = S.pieces(P.Statement(a.sql))
    return "\n".join([f"# {S.suppression(a)}"] + [f"op.execute({s(st)})" for st in statements])


_CODE_ONLY = (P.CodeChange, P.StopUsingColumn, P.StopUsingTable, P.OnlineSchemaChange)


@op.register
def _(a: P.CodeChange) -> str:
    return f"# application change, deployed before the next step: {a.text}"


@op.register
def _(a: P.OnlineSchemaChange) -> str:
    return "\n".join("#" + ln[2:] for ln in S.sql(a).splitlines())

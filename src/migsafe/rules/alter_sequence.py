"""alter-sequence: a sequence moved back (keys handed out twice) or given less room (nextval()
fails sooner).

setval() with a constant is reported: nothing says the constant is above the keys already handed
out, and on a database that has run for a while it usually is not. setval() with a computed value
(`SELECT setval('s', (SELECT max(id) FROM t))`, the usual repair after a data load) is not.
"""

from migsafe import plans as P
from migsafe.model import Severity
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F

SIZES = {"smallint": 2, "int2": 2, "integer": 4, "int": 4, "int4": 4, "bigint": 8, "int8": 8}
# A serial or identity column's own sequence has the column's type (sqlglot's names).
COLUMN_SIZES = {"SMALLSERIAL": 2, "SMALLINT": 2, "SERIAL": 4, "INT": 4, "BIGSERIAL": 8, "BIGINT": 8}


@register
class AlterSequence(Rule):
    id = "alter-sequence"
    severity = Severity.WARNING
    dialects = ("postgresql", "mysql")  # MariaDB has sequences
    facts = (F.AlterSequence,)

    def check(self, fact: F.AlterSequence, ctx):
        if fact.table is not None and ctx.is_new(fact.table):
            return
        if fact.name is not None and ctx.schema.object_is_new("sequence", fact.name, ctx.migration_index):
            return
        changes = [c for c in fact.changes if not (c.upper().startswith("AS ") and not self._narrows(fact, ctx))]
        if not changes:
            return
        seq = fact.name or f"the identity sequence of {fact.table}.{fact.column}"
        backwards = [c for c in changes if c.upper().startswith(("RESTART", "SETVAL", "CYCLE"))]
        if backwards:
            why = (f"{' and '.join(backwards)} can make {seq} hand out keys it already handed out: the running app's"
                   " inserts then fail with duplicate key errors (or, without a unique key, reuse ids)")
        else:
            why = (f"{' and '.join(changes)} gives {seq} less room: once it is used up, every nextval() fails"
                   " (`reached maximum value of sequence`) and so does every insert that takes a key")
        yield Hit(f"{why}.", fact.table, fact.column, ctx.dialect.lock(fact), self._plan(fact, ctx, bool(backwards)))

    def _narrows(self, fact: F.AlterSequence, ctx) -> bool:
        """AS a smaller type than the sequence's, as far as the history knows it (bigint unless
        the history says otherwise)."""
        made = ctx.schema.object("sequence", fact.name) if fact.name else None
        size = SIZES.get((made.detail if made is not None else None) or "bigint", 8)
        owner = owning_column(fact.name, ctx.schema) if fact.name and made is None else (fact.table, fact.column)
        column = ctx.schema.column(*owner) if owner and owner[0] else None
        if column is not None and column.type is not None and column.identity:
            size = COLUMN_SIZES.get(column.type.name, size)
        return SIZES.get(fact.new_type or "", 8) < size

    def _plan(self, fact: F.AlterSequence, ctx, backwards: bool) -> P.Plan:
        if not backwards:
            return P.Plan("Keep the sequence's range: check `SELECT last_value FROM <sequence>` and leave MAXVALUE"
                          " and the AS type at least as large as the column's type needs.")
        table, column = fact.table, fact.column
        if table is None:
            owner = owning_column(fact.name, ctx.schema)
            table, column = owner if owner else ("<table>", "<key column>")
        seq = f"'{fact.name}'" if fact.name else f"pg_get_serial_sequence('{table}', '{column}')"
        return P.Plan("Never move a sequence below the keys already in use: set it from the table's highest key.", [
            P.Phase("single", "Set the sequence just above the highest key in use", [
                P.Statement(f"SELECT setval({seq}, (SELECT COALESCE(max({column}), 0) + 1 FROM {table}), false)")]),
        ])


def owning_column(sequence: str, schema) -> tuple[str, str] | None:
    """The column whose default or identity draws from the sequence, as far as the history says."""
    for t in schema.tables.values():
        for c in t.columns.values():
            default = c.default.text.lower() if c.default is not None else ""
            if f"'{sequence}'" in default or (c.identity and f"{t.name}_{c.name}_seq" == sequence):
                return t.name, c.name
    for t in schema.tables.values():  # PostgreSQL's own naming: <table>_<column>_seq
        for c in t.columns:
            if f"{t.name}_{c}_seq" == sequence:
                return t.name, c
    return None

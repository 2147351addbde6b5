"""unindexed-foreign-key: a foreign key whose referencing columns lead no index.

Each delete of a referenced row (and each update of its key) looks for referencing rows; without
an index that lookup scans the whole referencing table. An index counts if it is in the replayed
schema, made later in the same migration (Django creates a ForeignKey's index after the key), or
is a PRIMARY KEY/UNIQUE constraint whose first columns are the key's. MySQL/MariaDB are not
judged: InnoDB creates the index itself when none leads with the key's columns.
"""

from migsafe import plans as P
from migsafe.model import Severity
from migsafe.rules import Hit, Rule, register
from migsafe.rules._columns import later_facts, leads, short
from migsafe.sql import facts as F

_KEYED = ("primary_key", "unique")


@register
class UnindexedForeignKey(Rule):
    id = "unindexed-foreign-key"
    severity = Severity.WARNING
    dialects = ("postgresql", "sqlite")
    facts = (F.AddConstraint, F.AddColumn, F.CreateTable)

    def check(self, fact, ctx):
        for con, own in _foreign_keys(fact):
            cols = tuple(con.columns)
            if not cols or _indexed(fact.table, cols, own, ctx) or _indexed_later(fact, cols, ctx):
                continue
            name = f"{short(fact.table)}_{'_'.join(cols)}_idx"
            new = ctx.is_new(fact.table) or isinstance(fact, F.CreateTable)
            build = [P.Statement(f"CREATE INDEX {name} ON {fact.table} ({', '.join(cols)})")] if new else [
                P.OutsideTransaction(), P.CreateIndexConcurrently(fact.table, name, cols)]
            key = f"foreign key {con.name} " if con.name else "foreign key "
            yield Hit(
                f"The {key}on {fact.table} ({', '.join(cols)}) → {con.ref_table} has no index that leads with"
                f" ({', '.join(cols)}): every delete from {con.ref_table} (and every change of a key there) scans all"
                f" of {fact.table} for the rows that reference it.",
                fact.table, cols[0] if len(cols) == 1 else None, None,
                P.Plan("Index the referencing columns" + ("" if new else " (CONCURRENTLY: the table is in use)") + ".", [
                    P.Phase("expand" if not new else "single", "Index the foreign key's columns", build)]))


def _foreign_keys(fact):
    """(foreign key, the other constraints declared with it) of the fact."""
    if isinstance(fact, F.AddConstraint):
        return [(fact.constraint, [])] if fact.constraint.kind == "foreign_key" else []
    if isinstance(fact, F.AddColumn):
        cons = fact.column.constraints
        return [(c, cons) for c in cons if c.kind == "foreign_key"]
    own = list(fact.constraints) + [c for col in fact.columns for c in col.constraints]
    return [(c, own) for c in own if c.kind == "foreign_key"]


def _indexed(table: str, cols: tuple[str, ...], own: list, ctx) -> bool:
    if any(c.kind in _KEYED and leads(c.columns, cols) for c in own):
        return True
    t = ctx.schema.table(table)
    if t is not None and any(c.kind in _KEYED and leads(c.columns, cols) for c in t.constraints.values()):
        return True
    return any(i.table == table and leads(i.columns, cols) for i in ctx.schema.indexes.values())


def _indexed_later(fact, cols: tuple[str, ...], ctx) -> bool:
    for f in later_facts(fact, ctx):
        if isinstance(f, F.CreateIndex) and f.table == fact.table and leads(f.columns, cols):
            return True
        if isinstance(f, F.AddConstraint) and f.table == fact.table and f.constraint.kind in _KEYED \
                and leads(f.constraint.columns, cols):
            return True
    return False

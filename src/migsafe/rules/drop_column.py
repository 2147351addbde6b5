from migsafe import plans as P
from migsafe.rules import Hit, Rule, does_nothing, register
from migsafe.rules._swap import added_earlier, swapped_in_later, table_dropped_later
from migsafe.sql import facts as F


@register
class DropColumn(Rule):
    id = "drop-column"
    facts = (F.DropColumn,)

    def check(self, fact: F.DropColumn, ctx):
        if ctx.is_new(fact.table) or does_nothing(fact, ctx) or added_earlier(fact, ctx):
            return
        if swapped_in_later(fact, ctx):  # the old app never sees it missing: change-column-type judges the swap
            return
        if table_dropped_later(fact, ctx):
            return
        yield Hit(
            f"Dropping column {fact.table}.{fact.column} breaks the running app version that still reads"
            f" or writes it (ORMs select every mapped column).",
            fact.table, fact.column, ctx.dialect.lock(fact),
            P.Plan("Stop using the column in the app first; drop it in a later deploy.", [
                P.Phase("expand", "Deploy app code that no longer reads or writes the column", [
                    *self._nullable(fact, ctx), P.StopUsingColumn(fact.table, fact.column)]),
                P.Phase("contract", "Drop the column in a later migration", [
                    ctx.dialect.set_lock_timeout(), P.DropColumn(fact.table, fact.column)]),
            ]))

    @staticmethod
    def _nullable(fact: F.DropColumn, ctx) -> list[P.Action]:
        """A NOT NULL column without a default must accept NULL first: the new code's inserts
        leave it out (PostgreSQL: catalog-only)."""
        col, table = ctx.schema.column(fact.table, fact.column), ctx.schema.table(fact.table)
        keyed = table is not None and any(c.kind == "primary_key" and fact.column in c.columns
                                          for c in table.constraints.values())
        if col is None or col.nullable or col.default is not None or keyed \
                or ctx.dialect.name not in ("postgresql", "generic"):
            return []
        return [ctx.dialect.set_lock_timeout(),
                P.Acknowledged(f"ALTER TABLE {fact.table} ALTER COLUMN {fact.column} DROP NOT NULL", "drop-not-null",
                               "the new code neither reads nor writes the column")]

from migsafe import plans as P
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@register
class DropColumn(Rule):
    id = "drop-column"
    facts = (F.DropColumn,)

    def check(self, fact: F.DropColumn, ctx):
        if ctx.is_new(fact.table):
            return
        yield Hit(
            f"Dropping column {fact.table}.{fact.column} breaks the running app version that still reads"
            f" or writes it (ORMs select every mapped column).",
            fact.table, fact.column, ctx.dialect.lock(fact),
            P.Plan("Stop using the column in the app first; drop it in a later deploy.", [
                P.Phase("expand", "Deploy app code that no longer reads or writes the column", [
                    P.StopUsingColumn(fact.table, fact.column)]),
                P.Phase("contract", "Drop the column in a later migration", [
                    ctx.dialect.set_lock_timeout(), P.DropColumn(fact.table, fact.column)]),
            ]))

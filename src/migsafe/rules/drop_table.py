from migsafe import plans as P
from migsafe.rules import Hit, Rule, does_nothing, register
from migsafe.sql import facts as F


@register
class DropTable(Rule):
    id = "drop-table"
    facts = (F.DropTable,)

    def check(self, fact: F.DropTable, ctx):
        if ctx.is_new(fact.table) or does_nothing(fact, ctx):
            return
        yield Hit(
            f"Dropping table {fact.table} breaks the running app version that still queries it, and its"
            " data is gone for good.",
            fact.table, None, ctx.dialect.lock(fact),
            P.Plan("Stop using the table in the app first; drop it in a later deploy.", [
                P.Phase("expand", "Deploy app code that no longer uses the table", [
                    P.StopUsingTable(fact.table)]),
                P.Phase("contract", "Drop the table in a later migration (after a backup if the data matters)", [
                    ctx.dialect.set_lock_timeout(), P.DropTable(fact.table)]),
            ]))

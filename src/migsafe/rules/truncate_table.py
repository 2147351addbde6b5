from migsafe import plans as P
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@register
class TruncateTable(Rule):
    id = "truncate-table"
    facts = (F.Truncate,)

    def check(self, fact: F.Truncate, ctx):
        if ctx.is_new(fact.table):
            return
        yield Hit(
            f"TRUNCATE {fact.table} deletes every row the running app relies on and takes an ACCESS EXCLUSIVE"
            " lock that blocks all reads and writes.",
            fact.table, None, "ACCESS EXCLUSIVE",
            P.Plan("Delete the rows in batches, or make sure the table is really unused first.", [
                P.Phase("single", "Delete in small batches instead", [
                    P.Statement(f"-- repeat until it deletes 0 rows:\nDELETE FROM {fact.table}"
                                f" WHERE {P.batch_where(ctx.dialect.name, fact.table, 'true')}")])]))

from migsafe import plans as P
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@register
class ConcurrentlyInTransaction(Rule):
    id = "concurrently-in-transaction"
    dialects = ("postgresql",)
    facts = (F.CreateIndex, F.DropIndex, F.Reindex, F.DetachPartition, F.NoTransaction)

    def check(self, fact, ctx):
        if not ctx.in_transaction:
            return
        if isinstance(fact, F.NoTransaction):
            what, table = fact.what, fact.table
        elif not getattr(fact, "concurrently", False):
            return
        else:
            what = {F.CreateIndex: "CREATE INDEX CONCURRENTLY", F.DropIndex: "DROP INDEX CONCURRENTLY",
                    F.Reindex: "REINDEX CONCURRENTLY", F.DetachPartition: "DETACH PARTITION CONCURRENTLY"}[type(fact)]
            table = getattr(fact, "table", None)
        yield Hit(
            f"{what} fails at deploy time here: PostgreSQL refuses to run it inside a transaction block,"
            " and this migration runs it inside one.",
            table, None, None,
            _outside(f"Run {what} outside any transaction block.", ctx.statement.sql))


def _outside(summary: str, sql: str) -> P.Plan:
    return P.Plan(summary, [P.Phase("single", "Run it outside the transaction", [
        P.OutsideTransaction(), P.Statement(sql)])])

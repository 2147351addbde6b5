from migsafe import plans as P
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@register
class ConcurrentlyInTransaction(Rule):
    id = "concurrently-in-transaction"
    dialects = ("postgresql",)
    facts = (F.CreateIndex, F.DropIndex, F.Reindex, F.DetachPartition, F.NoTransaction, F.EnumAddValue)

    def check(self, fact, ctx):
        if not ctx.in_transaction:
            return
        if isinstance(fact, F.EnumAddValue):
            if ctx.dialect.add_value_in_transaction_fails():
                yield Hit(f"ALTER TYPE {fact.type_name} ADD VALUE cannot run inside a transaction block before"
                          f" PostgreSQL 12 (target {ctx.dialect.version_text}): the migration fails at deploy time.",
                          plan=_outside("Run ADD VALUE outside a transaction block.", ctx.statement.sql))
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
            f"{what} cannot run inside a transaction block: this migration runs it in one, so it fails at"
            " deploy time (PostgreSQL: \"cannot run inside a transaction block\").",
            table, None, None,
            _outside(f"Run {what} outside the transaction: in a migration (or part of one) that is not"
                     " wrapped in one.", ctx.statement.sql))


def _outside(summary: str, sql: str) -> P.Plan:
    return P.Plan(summary, [P.Phase("single", "Run it outside the transaction", [
        P.OutsideTransaction(), P.Statement(sql)])])

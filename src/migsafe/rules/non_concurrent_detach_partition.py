from migsafe import plans as P
from migsafe.model import Severity
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@register
class NonConcurrentDetachPartition(Rule):
    """DETACH PARTITION takes ACCESS EXCLUSIVE on the parent and the partition (P99): short, no scan,
    but it waits for every query on the partitioned table and queues every later one behind it.
    CONCURRENTLY (PostgreSQL 14+) takes SHARE UPDATE EXCLUSIVE (P101), outside a transaction block,
    and is refused when the table has a default partition."""

    id = "non-concurrent-detach-partition"
    severity = Severity.WARNING
    dialects = ("postgresql",)
    facts = (F.DetachPartition,)

    def check(self, fact, ctx):
        if fact.concurrently or fact.finalize or ctx.is_new(fact.table):
            return
        t, p, lock = fact.table, fact.partition, ctx.dialect.lock(fact)
        message = (f"DETACH PARTITION {p} without CONCURRENTLY takes an {lock} lock on {t} and {p}: it waits for"
                   f" every running query on {t}, and every query on {t} that arrives meanwhile waits behind it.")
        default = next((x.name for x in ctx.schema.partitions(t) if x.partition_bound == "DEFAULT"), None)
        quiet = P.Plan(f"Set a lock timeout, detach when {t} is quiet, and retry the deploy if it times out.", [
            P.Phase("single", "Fail fast instead of queueing every query", [
                ctx.dialect.set_lock_timeout(), P.Statement(ctx.statement.sql)])])
        if not ctx.dialect.at_least(14):
            yield Hit(f"{message} PostgreSQL {ctx.dialect.version_text} has no DETACH ... CONCURRENTLY (it came in"
                      " 14).", t, None, lock, quiet)
        elif default is not None:
            yield Hit(f"{message} CONCURRENTLY is refused here: {t} has a default partition ({default}).",
                      t, None, lock, quiet)
        else:
            yield Hit(message, t, None, lock, P.Plan(
                "Detach CONCURRENTLY (PostgreSQL 14+), outside a transaction block: queries on the table go on.", [
                    P.Phase("single", "Detach without blocking queries", [
                        P.OutsideTransaction(),
                        P.Statement(f"ALTER TABLE {t} DETACH PARTITION {p} CONCURRENTLY")])]))

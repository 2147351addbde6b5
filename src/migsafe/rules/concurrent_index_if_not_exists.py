"""CREATE INDEX CONCURRENTLY IF NOT EXISTS: a failed concurrent build leaves an INVALID index of
that name behind, and the retry skips it ("already exists, skipping")."""

from migsafe import plans as P
from migsafe.model import Severity
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@register
class ConcurrentIndexIfNotExists(Rule):
    id = "concurrent-index-if-not-exists"
    severity = Severity.WARNING
    dialects = ("postgresql",)
    facts = (F.CreateIndex,)

    def check(self, fact, ctx):
        if not (fact.concurrently and fact.if_not_exists) or fact.name is None or ctx.is_new(fact.table) \
                or _checks_for_invalid_leftover(fact.name, ctx):
            return
        yield Hit(
            f"CREATE {'UNIQUE ' if fact.unique else ''}INDEX CONCURRENTLY IF NOT EXISTS {fact.name} on {fact.table}:"
            " when a concurrent build fails (a duplicate key, a deadlock, a cancelled deploy) it leaves an INVALID"
            " index of that name, and the retry only says \"already exists, skipping\": the index is never used, yet"
            " every write keeps updating it.",
            fact.table, None, None,
            P.Plan("Drop any leftover of a failed build first, then build the index without IF NOT EXISTS.", [
                P.Phase("single", "Rebuild from scratch on every run", [
                    P.OutsideTransaction(), P.DropIndexConcurrently(fact.name, if_exists=True),
                    P.CreateIndexConcurrently(fact.table, fact.name, fact.columns, fact.unique)])]))


def _checks_for_invalid_leftover(name: str, ctx) -> bool:
    """The migration's own code looks the index up in pg_index.indisvalid and drops or rebuilds an
    INVALID leftover before the build (Prefect's revisions since 2026): the hazard is handled, at run
    time, where no rendering shows it."""
    return "indisvalid" in ctx.migration.text and name in ctx.migration.text

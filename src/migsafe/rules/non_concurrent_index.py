from migsafe import plans as P
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@register
class NonConcurrentIndex(Rule):
    id = "non-concurrent-index"
    dialects = ("postgresql",)
    facts = (F.CreateIndex, F.Reindex)

    def check(self, fact, ctx):
        if fact.concurrently:
            return
        if isinstance(fact, F.Reindex):
            if fact.target in ("index", "table"):
                yield Hit(
                    f"REINDEX {fact.target.upper()} {fact.name} without CONCURRENTLY locks the index"
                    " exclusively: reads that plan against it and all writes wait until the rebuild ends.",
                    fact.table, None, ctx.dialect.lock(fact),
                    P.Plan("Rebuild with REINDEX CONCURRENTLY (PostgreSQL 12+) outside a transaction.", [
                        P.Phase("single", "Rebuild without blocking", [
                            P.OutsideTransaction(),
                            P.Statement(f"REINDEX {fact.target.upper()} CONCURRENTLY {fact.name}")])]))
            return
        if ctx.is_new(fact.table) or fact.only:
            return
        name = fact.name or f"{fact.table.split('.')[-1]}_{'_'.join(c.split()[0] for c in fact.columns)}_idx"
        kind = "unique index" if fact.unique else "index"
        yield Hit(
            f"Creating {kind} {name} on {fact.table} without CONCURRENTLY holds a SHARE lock that blocks"
            " every insert, update and delete on the table while the whole index is built.",
            fact.table, None, ctx.dialect.lock(fact),
            P.Plan("Build the index with CONCURRENTLY, outside the migration's transaction.", [
                P.Phase("single", "Build the index without blocking writes", [
                    P.OutsideTransaction(),
                    P.CreateIndexConcurrently(fact.table, name, fact.columns, fact.unique)])]))

from migsafe import plans as P
from migsafe.fixes import edits as E
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
        name = fact.name or _index_name(fact.table, fact.columns)
        kind = "unique index" if fact.unique else "index"
        table = ctx.schema.table(fact.table)
        if table is not None and table.partition_by:
            yield _partitioned(fact, name, kind, ctx)
            return
        yield Hit(
            f"Creating {kind} {name} on {fact.table} without CONCURRENTLY holds a SHARE lock that blocks"
            " every insert, update and delete on the table while the whole index is built.",
            fact.table, None, ctx.dialect.lock(fact),
            P.Plan("Build the index with CONCURRENTLY, outside the migration's transaction.", [
                P.Phase("single", "Build the index without blocking writes", [
                    P.OutsideTransaction(),
                    P.CreateIndexConcurrently(fact.table, name, fact.columns, fact.unique)])]))

    def edits(self, fact, ctx, path, alone):
        return E.concurrently(fact, ctx, path, alone)


def _index_name(table: str, columns: tuple[str, ...]) -> str:
    return f"{table.split('.')[-1]}_{'_'.join(c.split()[0] for c in columns)}_idx"


def _partitioned(fact: F.CreateIndex, name: str, kind: str, ctx) -> Hit:
    """PostgreSQL refuses CREATE INDEX CONCURRENTLY on a partitioned table (P104): the index is made
    ON ONLY the parent (invalid, SHARE on the parent alone, P105), each partition's index is built
    CONCURRENTLY, and attaching the last one makes the parent's index valid."""
    t, cols = fact.table, ", ".join(fact.columns)
    unique = "UNIQUE " if fact.unique else ""
    parts = [p.name for p in ctx.schema.partitions(t)]
    steps: list[P.Action] = [ctx.dialect.set_lock_timeout(),
                             P.Statement(f"CREATE {unique}INDEX {name} ON ONLY {t} ({cols})"), P.OutsideTransaction()]
    for part in parts:
        part_index = F.same_schema(part, _index_name(part, fact.columns))
        steps += [P.CreateIndexConcurrently(part, part_index, fact.columns, fact.unique),
                  P.Statement(f"ALTER INDEX {name} ATTACH PARTITION {part_index}")]
    if not parts:  # the history does not show them
        steps += [P.Statement(f"-- for each partition of {t}:\n"
                              f"CREATE {unique}INDEX CONCURRENTLY <partition>_idx ON <partition> ({cols});\n"
                              f"ALTER INDEX {name} ATTACH PARTITION <partition>_idx;")]
    return Hit(
        f"Creating {kind} {name} on the partitioned table {t} holds a SHARE lock on {t} and on every partition,"
        " blocking every insert, update and delete on all of them while each partition's index is built.",
        t, None, ctx.dialect.lock(fact),
        P.Plan(f"CONCURRENTLY is refused on a partitioned table: create the index ON ONLY {t} (instant, not valid yet),"
               " build each partition's index CONCURRENTLY, then attach each one; the parent's index becomes valid"
               " when every partition has its index attached.", [
            P.Phase("single", "Build the index partition by partition", steps)]))

from migsafe import plans as P
from migsafe.fixes import edits as E
from migsafe.model import Severity
from migsafe.rules import Hit, Rule, does_nothing, register
from migsafe.sql import facts as F


@register
class NonConcurrentDropIndex(Rule):
    id = "non-concurrent-drop-index"
    severity = Severity.WARNING
    dialects = ("postgresql",)
    facts = (F.DropIndex,)

    def check(self, fact: F.DropIndex, ctx):
        index = ctx.schema.indexes.get(fact.name)
        table = index.table if index else None
        if fact.concurrently or (table and ctx.is_new(table)) or does_nothing(fact, ctx):
            return
        on = f" on {table}" if table else ""
        yield Hit(
            f"Dropping index {fact.name}{on} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the"
            " table: while it waits for running queries, every read and write queues behind it.",
            table, None, ctx.dialect.lock(fact),
            P.Plan("Drop the index with CONCURRENTLY, outside the migration's transaction.", [
                P.Phase("single", "Drop the index without blocking", [
                    P.OutsideTransaction(), P.DropIndexConcurrently(fact.name)])]))

    def edits(self, fact, ctx, path, alone):
        return E.concurrently(fact, ctx, path, alone)

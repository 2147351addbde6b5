from migsafe import plans as P
from migsafe.model import Severity
from migsafe.rules import Hit, Rule, register
from migsafe.rules._swap import locked_earlier
from migsafe.sql import facts as F


@register
class UnbatchedBackfill(Rule):
    id = "unbatched-backfill"
    severity = Severity.WARNING
    facts = (F.DataChange,)

    def check(self, fact: F.DataChange, ctx):
        if fact.has_where or fact.has_limit or ctx.is_new(fact.table):
            return
        message, lock = (f"{fact.verb} of every row of {fact.table} in one statement holds row locks on the whole table"
                         " until the migration commits, blocking the app's writes to those rows, and bloats the table.",
                         "ROW EXCLUSIVE")
        held = locked_earlier(fact, ctx)
        if held is not None:  # e.g. the copy of a column swap, after its ADD COLUMN
            lock = ctx.dialect.exclusive_lock
            message = (f"{fact.verb} of every row of {fact.table} in one statement runs under the {lock} lock this"
                       f" transaction took on {fact.table} at line {held.span.line}, held until the migration"
                       " commits, and bloats the table.")
        yield Hit(
            message, fact.table, None, lock,
            P.Plan("Change rows in batches, each in its own transaction, outside the schema migration.", [
                P.Phase("backfill", "Batch it", [
                    P.Statement(f"-- repeat until it affects 0 rows, each batch in its own transaction:\n"
                                f"{fact.verb} ... WHERE"
                                f" {P.batch_where(ctx.dialect.name, fact.table, '<not yet done>')}")])]))

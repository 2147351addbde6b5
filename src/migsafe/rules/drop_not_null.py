"""drop-not-null: NULLs the running app version does not expect."""

from migsafe import plans as P
from migsafe.model import Severity
from migsafe.rules import Hit, Rule, register
from migsafe.rules._columns import column_goes_later, made_here
from migsafe.rules._swap import added_earlier
from migsafe.sql import facts as F


@register
class DropNotNull(Rule):
    id = "drop-not-null"
    severity = Severity.WARNING
    facts = (F.DropNotNull,)

    def check(self, fact, ctx):
        if made_here(ctx, fact.table) or added_earlier(fact, ctx) or column_goes_later(fact, ctx):
            return
        col = ctx.schema.column(fact.table, fact.column)
        if col is not None and col.type is not None and col.nullable:
            return  # already nullable (MySQL's MODIFY restates the whole column)
        where = f"{fact.table}.{fact.column}"
        yield Hit(
            f"Dropping NOT NULL on {where}: once NULLs are written there, the running app version reads them"
            f" where it expects a value (and may fail on them).",
            fact.table, fact.column, ctx.dialect.lock(fact),
            P.Plan("Deploy app code that accepts NULL in the column first; drop NOT NULL in a later migration,"
                   " and write NULLs only after that.", [
                P.Phase("switch", "Deploy app code that reads the column as optional (and writes no NULL yet)", [
                    P.CodeChange(f"every reader of {where} accepts NULL")]),
                P.Phase("contract", "Drop NOT NULL in a later migration", [
                    ctx.dialect.set_lock_timeout(),
                    P.Acknowledged(ctx.statement.sql, self.id, "every running app version accepts NULL there"
                                                               " since the previous deploy")]),
            ]))

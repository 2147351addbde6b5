"""drop-identity: inserts that leave the id out, for the database to number, fail."""

from migsafe.rules import Hit, Rule, register
from migsafe.rules._columns import earlier_facts, inserts_set_it_first
from migsafe.rules._swap import added_earlier
from migsafe.rules.drop_default import numbers_rows
from migsafe.sql import facts as F


@register
class DropIdentity(Rule):
    id = "drop-identity"
    dialects = ("postgresql", "mysql")
    facts = (F.DropIdentity, F.DropDefault, F.SetDefault)

    def check(self, fact, ctx):
        if ctx.is_new(fact.table) or added_earlier(fact, ctx) or any(
                isinstance(f, F.AddIdentity) and (f.table, f.column) == (fact.table, fact.column)
                for f in earlier_facts(fact, ctx)):
            return  # numbered by the database only since this migration: no running app relies on it
        col = ctx.schema.column(fact.table, fact.column)
        where = f"{fact.table}.{fact.column}"
        if isinstance(fact, F.DropIdentity):
            if fact.if_exists and col is not None and col.type is not None and col.identity is None:
                return  # no identity to drop
            what = f"Dropping the identity of {where}"
        else:
            if col is None or not numbers_rows(col):
                return
            if isinstance(fact, F.SetDefault) and "nextval(" in fact.default.text.lower():
                return  # another sequence still numbers the rows
            what = f"Dropping the sequence default of {where}"
        yield Hit(
            f"{what}: inserts of the running app version that leave {fact.column} out, for the database to"
            f" number the row, now fail.",
            fact.table, fact.column, ctx.dialect.lock(fact),
            inserts_set_it_first(fact, ctx, self.id, "Deploy app code that sets the id on every insert first (or keep"
                                 " the identity); drop it in a later migration.", "it"))

from migsafe.rules import Hit, Rule, register
from migsafe.rules.not_null_without_default import not_null_plan
from migsafe.sql import facts as F


@register
class SetNotNull(Rule):
    id = "set-not-null"
    facts = (F.SetNotNull, F.AddConstraint)

    def check(self, fact, ctx):
        if isinstance(fact, F.AddConstraint):  # PostgreSQL 18: ADD CONSTRAINT n NOT NULL c
            if fact.constraint.kind != "not_null" or fact.constraint.not_valid:
                return
            column = fact.constraint.columns[0]
        else:
            column = fact.column
        if ctx.is_new(fact.table):
            return
        if ctx.dialect.set_not_null_is_cheap(ctx.schema.has_valid_not_null_check(fact.table, column)):
            return
        col = ctx.schema.column(fact.table, column)
        type_text = col.type.text if col and col.type else "<type>"
        lock = ctx.dialect.lock(fact) or "ACCESS EXCLUSIVE"
        yield Hit(
            f"Setting {fact.table}.{column} NOT NULL scans the whole table under an {lock} lock,"
            " blocking every read and write until the scan ends.",
            fact.table, column, lock,
            not_null_plan(fact.table, column, type_text, "<value>", add=False))

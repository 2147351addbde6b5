from migsafe.rules import Hit, Rule, engine_cost, register
from migsafe.rules.not_null_without_default import not_null_plan
from migsafe.sql import facts as F


@register
class SetNotNull(Rule):
    id = "set-not-null"
    facts = (F.SetNotNull, F.AddConstraint)

    def check(self, fact, ctx):
        if isinstance(fact, F.SetNotNull):
            judged = engine_cost(fact, ctx, f"Setting {fact.table}.{fact.column} NOT NULL", fact.column)
            if judged is not None:
                yield from judged
                return
        if ctx.is_new(fact.table):
            return
        for column in self._columns(fact, ctx):
            yield from self._judge(fact, column, ctx)

    @staticmethod
    def _columns(fact, ctx) -> list[str]:
        if isinstance(fact, F.SetNotNull):
            return [fact.column]
        con = fact.constraint
        if con.kind == "not_null" and not con.not_valid:  # PostgreSQL 18: ADD CONSTRAINT n NOT NULL c
            return list(con.columns)
        if con.kind == "primary_key" and con.using_index:  # runs SET NOT NULL on nullable columns (P57)
            index = ctx.schema.indexes.get(con.using_index)
            known = [ctx.schema.column(fact.table, c) for c in (index.columns if index else ())]
            return [c.name for c in known if c is not None and c.nullable]
        return []

    def _judge(self, fact, column: str, ctx):
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

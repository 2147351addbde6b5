from migsafe import plans as P
from migsafe.rules import Hit, Rule, engine_cost, register
from migsafe.sql import facts as F


@register
class VolatileDefault(Rule):
    id = "volatile-default"
    facts = (F.AddColumn,)

    def check(self, fact: F.AddColumn, ctx):
        judged = engine_cost(fact, ctx, f"Adding column {fact.table}.{fact.column.name}", fact.column.name)
        if judged is not None:
            yield from judged
            return
        if ctx.is_new(fact.table):
            return
        col = fact.column
        why = ctx.dialect.add_column_rewrite(col, ctx.schema.domains_with_check)
        if why is None:
            return
        lock = ctx.dialect.lock(fact)
        type_text = col.type.text if col.type else "<type>"
        if col.serial:
            type_text = {"smallserial": "smallint", "serial2": "smallint", "bigserial": "bigint",
                         "serial8": "bigint"}.get(type_text.lower(), "integer")
        value = col.default.text if col.default else "<value>"
        phases = [
            P.Phase("expand", "Add the column without a default (catalog-only)", [
                ctx.dialect.set_lock_timeout(), P.AddColumn(fact.table, col.name, type_text)]),
        ]
        if col.default is not None:
            phases[0].actions.append(P.Statement(
                f"ALTER TABLE {fact.table} ALTER COLUMN {col.name} SET DEFAULT {col.default.text}"))
        phases.append(P.Phase("backfill", "Fill existing rows in batches", [P.Backfill(fact.table, col.name, value, ctx.dialect.name)]))
        yield Hit(
            f"Adding column {fact.table}.{col.name} rewrites the whole table and all its indexes under an"
            f" {lock} lock, blocking every read and write for the duration: {why}.",
            fact.table, col.name, lock,
            P.Plan("Add the column without the rewriting part, set the default for new rows, backfill"
                   " existing rows in batches.", phases))

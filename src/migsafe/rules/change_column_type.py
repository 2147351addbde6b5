from migsafe import plans as P
from migsafe.rules import Hit, Rule, engine_cost, register
from migsafe.sql import facts as F


@register
class ChangeColumnType(Rule):
    id = "change-column-type"
    facts = (F.AlterColumnType,)

    def check(self, fact: F.AlterColumnType, ctx):
        judged = engine_cost(fact, ctx, f"Changing {fact.table}.{fact.column} to {fact.new_type.text}", fact.column)
        if judged is not None:
            yield from judged
            return
        if ctx.is_new(fact.table):
            return
        col = ctx.schema.column(fact.table, fact.column)
        old = col.type if col else None
        if any(t is not None and t.name.lower().startswith("unknown_") for t in (old, fact.new_type)):
            old = None  # a field class that could not be imported (sources/django.py): type not known
        why = ctx.dialect.type_change_rewrite(old, fact.new_type, fact.using, fact.column, fact.collate)
        if why is None:
            return
        t, c, new = fact.table, fact.column, f"{fact.column}_new"
        lock = ctx.dialect.lock(fact)
        if why == "UNKNOWN":
            message = (f"Changing {t}.{c} to {fact.new_type.text} may rewrite the whole table under an {lock}"
                       " lock, blocking every read and write until it finishes: the column's current type is not"
                       " known from the migration history, so migsafe cannot tell whether the change is"
                       " binary compatible.")
        else:
            message = (f"Changing {t}.{c} to {fact.new_type.text} rewrites the table and its indexes under an"
                       f" {lock} lock, blocking every read and write until it finishes ({why}). The running"
                       " app version may also misread the new type.")
        yield Hit(
            message,
            t, c, lock,
            P.Plan("Add a column of the new type, keep it in step, backfill, switch the app, drop the old one.", [
                P.Phase("expand", f"Add {new} of type {fact.new_type.text} and keep it in step", [
                    ctx.dialect.set_lock_timeout(), P.AddColumn(t, new, fact.new_type.text),
                    P.SyncTrigger(t, c, new, ctx.dialect.name)]),
                P.Phase("backfill", "Copy existing values in batches", [
                    P.Backfill(t, new, fact.using or c, ctx.dialect.name)]),
                P.Phase("switch", f"Deploy app code that uses {new}", [P.CodeChange(f"read and write {t}.{new}")]),
                P.Phase("contract", f"Drop the trigger and {c} in a later migration", [
                    ctx.dialect.set_lock_timeout(), P.DropSyncTrigger(t, c, new, ctx.dialect.name), P.DropColumn(t, c)]),
            ]))

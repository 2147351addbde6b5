from migsafe import plans as P
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@register
class ChangeColumnType(Rule):
    id = "change-column-type"
    facts = (F.AlterColumnType,)

    def check(self, fact: F.AlterColumnType, ctx):
        if ctx.is_new(fact.table):
            return
        col = ctx.schema.column(fact.table, fact.column)
        old = col.type if col else None
        why = ctx.dialect.type_change_rewrite(old, fact.new_type, fact.using, fact.column, fact.collate)
        if why is None:
            return
        t, c, new = fact.table, fact.column, f"{fact.column}_new"
        lock = ctx.dialect.lock(fact)
        yield Hit(
            f"Changing the type of {t}.{c} to {fact.new_type.text} holds an {lock} lock that blocks every"
            f" read and write while the table is rewritten: {why}. The running app version may also"
            " misread the new type.",
            t, c, lock,
            P.Plan("Add a column of the new type, keep it in step, backfill, switch the app, drop the old one.", [
                P.Phase("expand", f"Add {new} of type {fact.new_type.text} and keep it in step", [
                    P.SetLockTimeout(), P.AddColumn(t, new, fact.new_type.text), P.SyncTrigger(t, c, new)]),
                P.Phase("backfill", "Copy existing values in batches", [P.Backfill(t, new, fact.using or c)]),
                P.Phase("switch", f"Deploy app code that uses {new}", [P.CodeChange(f"read and write {t}.{new}")]),
                P.Phase("contract", f"Drop {c} in a later migration (rename {new} with a view if the name matters)", [
                    P.SetLockTimeout(), P.DropColumn(t, c)]),
            ]))

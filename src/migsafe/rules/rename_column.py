from migsafe import plans as P
from migsafe.rules import Hit, Rule, register
from migsafe.rules._swap import added_earlier, swapped_in_later
from migsafe.sql import facts as F


@register
class RenameColumn(Rule):
    id = "rename-column"
    facts = (F.RenameColumn,)

    def check(self, fact: F.RenameColumn, ctx):
        if ctx.is_new(fact.table) or added_earlier(fact, ctx):  # no running app version knows the old name
            return
        if swapped_in_later(fact, ctx):  # the old name is back before commit: change-column-type judges the swap
            return
        col = ctx.schema.column(fact.table, fact.column)
        type_text = col.type.text if col and col.type else "<type of " + fact.column + ">"
        t, old, new = fact.table, fact.column, fact.new_name
        yield Hit(
            f"Renaming column {t}.{old} to {new} breaks the running app version, which still uses the"
            " old name until the deploy finishes.",
            t, old, ctx.dialect.lock(fact),
            P.Plan("Add the new column, keep both in step, switch the app, then drop the old one.", [
                P.Phase("expand", f"Add {new} and keep it in step with {old}", [
                    ctx.dialect.set_lock_timeout(), P.AddColumn(t, new, type_text), P.SyncTrigger(t, old, new, ctx.dialect.name)]),
                P.Phase("backfill", f"Copy existing values into {new} in batches", [P.Backfill(t, new, old, ctx.dialect.name, from_row=True)]),
                P.Phase("switch", f"Deploy app code that reads and writes {new}", [
                    P.SwitchColumn(f"use {t}.{new} instead of {old}", t, old, new)]),
                P.Phase("contract", f"Drop the trigger and {old} in a later migration", [
                    ctx.dialect.set_lock_timeout(), P.DropSyncTrigger(t, old, new, ctx.dialect.name), P.DropColumn(t, old)]),
            ]))

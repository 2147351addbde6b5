from migsafe import plans as P
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@register
class RenameTable(Rule):
    id = "rename-table"
    facts = (F.RenameTable,)

    def check(self, fact: F.RenameTable, ctx):
        if ctx.is_new(fact.table):
            return
        t, new = fact.table, fact.new_name
        yield Hit(
            f"Renaming table {t} to {new} breaks the running app version, which still queries {t}.",
            t, None, ctx.dialect.lock(fact),
            P.Plan("Rename, and leave a view under the old name until no app version uses it.", [
                P.Phase("expand", f"Rename and keep {t} readable and writable as a view", [
                    ctx.dialect.set_lock_timeout(), P.Statement(f"-- migsafe: ignore[rename-table] the view {t} keeps the old name working\n"
                                f"ALTER TABLE {t} RENAME TO {new}"),
                    P.Statement(f"CREATE VIEW {t} AS SELECT * FROM {new}")]),
                P.Phase("switch", f"Deploy app code that uses {new}", [P.CodeChange(f"use {new} instead of {t}")]),
                P.Phase("contract", "Drop the view in a later migration", [P.Statement(f"DROP VIEW {t}")]),
            ]))

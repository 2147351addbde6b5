from migsafe import plans as P
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@register
class RenameTable(Rule):
    id = "rename-table"
    facts = (F.RenameTable,)

    def check(self, fact: F.RenameTable, ctx):
        if ctx.is_new(fact.table) or ctx.schema.view(fact.table):
            return  # a view: rename-object's
        t, new = fact.table, fact.new_name
        moved = ctx.dialect.name != "mysql" and schema_of(t) != schema_of(new)
        what = f"Moving table {t} to schema {schema_of(new)}" if moved else f"Renaming table {t} to {new}"
        yield Hit(
            f"{what} breaks the running app version, which still queries {t}.",
            t, None, ctx.dialect.lock(fact),
            P.Plan("Rename, and leave a view under the old name until no app version uses it.", [
                P.Phase("expand", f"Rename and keep {t} readable and writable as a view", [
                    ctx.dialect.set_lock_timeout(), P.Statement(f"-- migsafe: ignore[rename-table] the view {t} keeps the old name working\n"
                                f"{rename_statement(ctx.dialect.name, t, new)}"),
                    P.Statement(f"CREATE VIEW {t} AS SELECT * FROM {new}")]),
                P.Phase("switch", f"Deploy app code that uses {new}", [P.CodeChange(f"use {new} instead of {t}")]),
                P.Phase("contract", "Drop the view in a later migration", [
                    P.Acknowledged(f"DROP VIEW {t}", "drop-object", P.DROP_REASON)]),
            ]))


def schema_of(name: str) -> str:
    return name.rpartition(".")[0] or "public"


def rename_statement(dialect: str, old: str, new: str) -> str:
    """The statement that gives table `old` the name `new` (both schema keys). PostgreSQL and
    SQLite take a bare name after RENAME TO and move a table to another schema with SET SCHEMA;
    MySQL renames across databases with RENAME TO db.name."""
    if dialect == "mysql":
        return f"ALTER TABLE {old} RENAME TO {new}"
    bare = new.rpartition(".")[2]
    if schema_of(old) == schema_of(new):
        return f"ALTER TABLE {old} RENAME TO {bare}"
    moved = f"ALTER TABLE {old} SET SCHEMA {schema_of(new)}"
    if old.rpartition(".")[2] == bare:
        return moved
    return f"{moved};\nALTER TABLE {schema_of(new)}.{old.rpartition('.')[2]} RENAME TO {bare}"

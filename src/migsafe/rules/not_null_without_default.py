from migsafe import plans as P
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


def not_null_plan(table: str, column: str, type_text: str, value: str, add: bool) -> P.Plan:
    """Add (or keep) the column nullable, backfill, prove NOT NULL with a validated CHECK."""
    check = f"{table.split('.')[-1]}_{column}_not_null"
    expand = [P.SetLockTimeout(), P.AddColumn(table, column, type_text)] if add else []
    phases = []
    if add:
        phases.append(P.Phase("expand", f"Add {column} as nullable; deploy app code that writes it", [
            *expand, P.CodeChange(f"write {table}.{column} on every insert")]))
    phases += [
        P.Phase("backfill", "Fill existing rows in batches", [P.Backfill(table, column, value)]),
        P.Phase("contract", "Add a NOT NULL check without scanning existing rows", [
            P.SetLockTimeout(), P.AddCheckNotValid(table, check, f"{column} IS NOT NULL")]),
        P.Phase("contract", "In a later migration (its own transaction): validate it, then SET NOT NULL"
                " without a scan (PostgreSQL 12+) and drop the check", [
            P.ValidateConstraint(table, check), P.SetLockTimeout(), P.SetNotNull(table, column),
            P.DropConstraint(table, check)]),
    ]
    return P.Plan("Add the column nullable, backfill in batches, then enforce NOT NULL through a"
                  " validated CHECK.", phases)


@register
class NotNullWithoutDefault(Rule):
    id = "not-null-without-default"
    facts = (F.AddColumn,)

    def check(self, fact: F.AddColumn, ctx):
        col = fact.column
        if ctx.is_new(fact.table) or col.nullable or col.default is not None or col.identity \
                or col.serial or col.generated:
            return
        type_text = col.type.text if col.type else "<type>"
        yield Hit(
            f"Adding NOT NULL column {fact.table}.{col.name} without a default fails on a table that has"
            " rows, and the running app version does not write it, so its inserts would fail too.",
            fact.table, col.name, ctx.dialect.lock(fact),
            not_null_plan(fact.table, col.name, type_text, "<value>", add=True))

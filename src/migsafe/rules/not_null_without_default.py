from migsafe import plans as P
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F
from migsafe.sql.defaults import added_with_default


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


# A default added with the column and dropped in the same migration (sql/defaults.py): the existing
# rows get it, the running app's inserts do not.
_DROPPED = ("with a default that the same migration drops again: the existing rows get the value, but the"
            " running app version does not write the column, so its inserts would fail")


@register
class NotNullWithoutDefault(Rule):
    id = "not-null-without-default"
    facts = (F.AddColumn, F.DropDefault)

    def check(self, fact, ctx):
        if isinstance(fact, F.DropDefault):
            # ADD COLUMN ... DEFAULT x earlier in the migration, then DROP DEFAULT: NOT NULL without default.
            statements = ctx.migration.statements
            at = next(i for i, s in enumerate(statements) if s is ctx.statement)
            added = added_with_default(statements, ctx.facts_of, at,
                                       next(i for i, f in enumerate(ctx.facts_of(ctx.statement)) if f is fact))
            if added is not None and _judged(ctx.facts_of(statements[added[0]])[added[1]], ctx):
                col = ctx.schema.column(fact.table, fact.column)
                yield self._hit(fact.table, fact.column, col.type if col else None, ctx, _DROPPED,
                                col.default if col else None)
            return
        col = fact.column
        if not _judged(fact, ctx) or col.default is not None:  # (a default dropped later: judged there)
            return
        if col.dropped_default is not None:  # dropped by its own operation (sql/defaults.py)
            yield self._hit(fact.table, col.name, col.type, ctx, _DROPPED, col.dropped_default)
            return
        yield self._hit(fact.table, col.name, col.type, ctx, f"without a default {ctx.dialect.not_null_add}, and"
                        " the running app version does not write it, so its inserts would fail too")

    @staticmethod
    def _hit(table: str, column: str, type_ref, ctx, what: str, known: F.Default | None = None) -> Hit:
        type_text = type_ref.text if type_ref else "<type>"
        if ctx.dialect.cost(F.AddColumn(table, F.ColumnDef(column, type_ref)), ctx.schema) is None:
            kept = F.ColumnDef(column, type_ref, nullable=False, default=known)
            if known is not None and known.volatility == "constant" \
                    and ctx.dialect.add_column_rewrite(kept, ctx.schema.domains_with_check) is None:
                plan = P.Plan("Keep the default in the database, so that existing rows and the running app's"
                              " inserts get it (adding a column with a constant default writes no row).", [
                    P.Phase("single", "Add the column with its default, and keep the default", [
                        ctx.dialect.set_lock_timeout(),
                        P.AddColumn(table, column, type_text, default=known.text, nullable=False)])])
            else:
                plan = not_null_plan(table, column, type_text, known.text if known else "<value>", add=True)
        else:  # MySQL/MariaDB, SQLite: a column with a constant default is added in place
            plan = P.Plan("Give the column a default, so that existing rows and the running app's inserts get it.", [
                P.Phase("single", "Add the column with a default", [
                    ctx.dialect.set_lock_timeout(),
                    P.AddColumn(table, column, type_text, default=known.text if known else "<value>",
                                nullable=False)])])
        return Hit(
            f"Adding NOT NULL column {table}.{column} {what}.",
            table, column, ctx.dialect.lock(F.AddColumn(table, F.ColumnDef(column, type_ref))), plan)


def _judged(fact: F.AddColumn, ctx) -> bool:
    """An added column the running app's inserts must fill: NOT NULL on a table it already has,
    and no value of the database's own (identity, serial, generated)."""
    col = fact.column
    return not (ctx.is_new(fact.table) or col.nullable or col.identity or col.serial or col.generated)

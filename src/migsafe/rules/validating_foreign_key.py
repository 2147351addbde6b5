from migsafe import plans as P
from migsafe.fixes import edits as E
from migsafe.rules import Hit, Rule, constraint_cost, register
from migsafe.rules._validation import validate_in_same_transaction
from migsafe.sql import facts as F


@register
class ValidatingForeignKey(Rule):
    id = "validating-foreign-key"
    facts = (F.AddConstraint, F.AddColumn, F.ValidateConstraint)

    def check(self, fact, ctx):
        if isinstance(fact, F.ValidateConstraint):
            yield from validate_in_same_transaction(fact, ctx, "foreign_key", "SHARE ROW EXCLUSIVE")
            return
        judged = constraint_cost(fact, ctx, ("foreign_key",))
        if judged is not None:
            yield from judged
            return
        if ctx.is_new(fact.table):
            return
        if isinstance(fact, F.AddColumn):
            cons = [c for c in fact.column.constraints if c.kind == "foreign_key"]
            if cons and _all_null(fact.column):
                yield from (_new_column_hit(fact, con, ctx) for con in cons)
                return
        else:
            cons = [fact.constraint] if fact.constraint.kind == "foreign_key" and not fact.constraint.not_valid else []
        # ADD COLUMN ... REFERENCES takes ACCESS EXCLUSIVE on the table (the column), and validates
        # under it (seen on PostgreSQL 15 and 18: tests/database/test_rule_docs_database.py).
        lock = ctx.dialect.lock(fact) or "SHARE ROW EXCLUSIVE"
        for con in cons:
            name = _name(fact.table, con)
            held = (f"SHARE ROW EXCLUSIVE locks that block writes to both {fact.table} and {con.ref_table}"
                    if lock == "SHARE ROW EXCLUSIVE" else
                    f"{lock} on {fact.table} (reads wait too) and SHARE ROW EXCLUSIVE on {con.ref_table} (writes wait)")
            yield Hit(
                f"Adding foreign key {name} on {fact.table} ({', '.join(con.columns)}) → {con.ref_table}"
                f" validates every existing row while holding {held}.",
                fact.table, con.columns[0] if len(con.columns) == 1 else None, lock,
                P.Plan("Add the foreign key NOT VALID (instant), then VALIDATE it in its own step (writes continue).",
                       _not_valid_then_validate(fact.table, name, con, ctx)))

    def edits(self, fact, ctx, path, alone):
        return E.not_valid_then_validate(fact, ctx, path, alone)


def _all_null(column: F.ColumnDef) -> bool:
    return column.default is None or column.default.text.strip().lower() == "null"


def _name(table: str, con: F.ConstraintDef) -> str:
    return con.name or f"{table.split('.')[-1]}_{'_'.join(con.columns)}_fkey"


def _not_valid_then_validate(table: str, name: str, con: F.ConstraintDef, ctx) -> list[P.Phase]:
    return [
        P.Phase("expand", "Add the constraint without checking existing rows", [
            ctx.dialect.set_lock_timeout(),
            P.AddForeignKeyNotValid(table, name, con.columns, con.ref_table)]),
        P.Phase("contract", "Validate it in a separate migration/transaction", [
            P.ValidateConstraint(table, name)]),
    ]


def _new_column_hit(fact: F.AddColumn, con: F.ConstraintDef, ctx) -> Hit:
    """A new column is all NULL, so nothing is scanned (P11), but the constraint still locks the
    referenced table against writes until the migration commits, and everything else the
    migration does on either table runs under those locks. As strong_migrations and squawk do,
    and as the contract says for Django's AddField(ForeignKey): add the column, then the key."""
    col, name = fact.column, _name(fact.table, con)
    type_ = col.type.text if col.type else "bigint"
    return Hit(
        f"Adding column {fact.table}.{col.name} with foreign key {name} → {con.ref_table} also blocks"
        f" writes to {con.ref_table} (SHARE ROW EXCLUSIVE) until the migration commits; nothing is scanned"
        f" (the new column is all NULL).",
        fact.table, col.name, "ACCESS EXCLUSIVE",
        P.Plan("Add the column without the constraint, then the foreign key NOT VALID, then VALIDATE it.", [
            P.Phase("expand", f"Add {col.name} without the foreign key", [
                ctx.dialect.set_lock_timeout(), P.AddColumn(fact.table, col.name, type_)]),
            *_not_valid_then_validate(fact.table, name, con, ctx),
        ]))

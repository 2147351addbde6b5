from migsafe import plans as P
from migsafe.rules import Hit, Rule, register
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
        if ctx.is_new(fact.table):
            return
        if isinstance(fact, F.AddColumn):
            # A new column is all NULL, so its FK is checked for free unless it has a default (P11, P109).
            if fact.column.default is None or fact.column.default.text.strip().lower() == "null":
                return
            cons = [c for c in fact.column.constraints if c.kind == "foreign_key"]
        else:
            cons = [fact.constraint] if fact.constraint.kind == "foreign_key" and not fact.constraint.not_valid else []
        for con in cons:
            name = con.name or f"{fact.table.split('.')[-1]}_{'_'.join(con.columns)}_fkey"
            yield Hit(
                f"Adding foreign key {name} on {fact.table} ({', '.join(con.columns)}) → {con.ref_table}"
                f" validates every existing row while holding SHARE ROW EXCLUSIVE locks that block writes"
                f" to both {fact.table} and {con.ref_table}.",
                fact.table, con.columns[0] if len(con.columns) == 1 else None, "SHARE ROW EXCLUSIVE",
                P.Plan("Add the foreign key NOT VALID (instant), then VALIDATE it in its own step (writes continue).", [
                    P.Phase("expand", "Add the constraint without checking existing rows", [
                        P.SetLockTimeout(),
                        P.AddForeignKeyNotValid(fact.table, name, con.columns, con.ref_table)]),
                    P.Phase("contract", "Validate it in a separate migration/transaction", [
                        P.ValidateConstraint(fact.table, name)]),
                ]))

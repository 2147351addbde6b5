from migsafe import plans as P
from migsafe.fixes import edits as E
from migsafe.rules import Hit, Rule, constraint_cost, register
from migsafe.rules._validation import validate_in_same_transaction
from migsafe.sql import facts as F


@register
class ValidatingCheckConstraint(Rule):
    id = "validating-check-constraint"
    facts = (F.AddConstraint, F.AddColumn, F.ValidateConstraint)

    def check(self, fact, ctx):
        if isinstance(fact, F.ValidateConstraint):
            yield from validate_in_same_transaction(fact, ctx, "check", "ACCESS EXCLUSIVE")
            return
        judged = constraint_cost(fact, ctx, ("check",))
        if judged is not None:
            yield from judged
            return
        if ctx.is_new(fact.table):
            return
        if isinstance(fact, F.AddColumn):
            cons = [c for c in fact.column.constraints if c.kind == "check"]  # scanned even on a new column (P13)
        else:
            cons = [fact.constraint] if fact.constraint.kind == "check" and not fact.constraint.not_valid else []
        for con in cons:
            name = con.name or f"{fact.table.split('.')[-1]}_check"
            yield Hit(
                f"Adding CHECK ({con.expression}) on {fact.table} scans every row under an ACCESS EXCLUSIVE"
                " lock, blocking all reads and writes until the scan ends.",
                fact.table, fact.column.name if isinstance(fact, F.AddColumn) else None, "ACCESS EXCLUSIVE",
                P.Plan("Add the CHECK NOT VALID (instant), then VALIDATE it in its own step (reads and writes continue).", [
                    P.Phase("expand", "Add the constraint without checking existing rows", [
                        ctx.dialect.set_lock_timeout(), P.AddCheckNotValid(fact.table, name, con.expression or "<condition>")]),
                    P.Phase("contract", "Validate it in a separate migration/transaction", [
                        P.ValidateConstraint(fact.table, name)]),
                ]))

    def edits(self, fact, ctx, path, alone):
        return E.not_valid_then_validate(fact, ctx, path, alone)

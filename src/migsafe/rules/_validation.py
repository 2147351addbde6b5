"""Shared by the validating-* rules: VALIDATE in the transaction that added the constraint."""

from migsafe import plans as P
from migsafe.rules import Hit
from migsafe.sql import facts as F


def validate_in_same_transaction(fact: F.ValidateConstraint, ctx, kind: str, lock: str):
    table = ctx.schema.table(fact.table)
    con = table.constraints.get(fact.name) if table else None
    if con is None or con.kind != kind or con.validated or con.added_tx != ctx.schema.tx or ctx.is_new(fact.table):
        return
    yield Hit(
        f"VALIDATE CONSTRAINT {fact.name} runs in the same transaction that added it NOT VALID, so the {lock}"
        f" lock taken by the ADD is still held while every row of {fact.table} is scanned: NOT VALID gains nothing.",
        fact.table, None, lock,
        P.Plan("Commit the ADD ... NOT VALID first; VALIDATE in its own transaction (a later migration).", [
            P.Phase("contract", "Validate in a separate transaction", [P.ValidateConstraint(fact.table, fact.name)])]))

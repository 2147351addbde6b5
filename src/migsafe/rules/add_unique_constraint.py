from migsafe import plans as P
from migsafe.rules import Hit, Rule, constraint_cost, register
from migsafe.sql import facts as F


@register
class AddUniqueConstraint(Rule):
    id = "add-unique-constraint"
    facts = (F.AddConstraint, F.AddColumn)

    def check(self, fact, ctx):
        judged = constraint_cost(fact, ctx, ("unique", "primary_key"))
        if judged is not None:
            yield from judged
            return
        if ctx.is_new(fact.table):
            return
        if isinstance(fact, F.AddColumn):
            cons = [c for c in fact.column.constraints if c.kind in ("unique", "primary_key")]
        else:
            cons = [fact.constraint] if fact.constraint.kind in ("unique", "primary_key", "exclude") \
                and not fact.constraint.using_index else []
        short = fact.table.split(".")[-1]
        for con in cons:
            kind = {"unique": "UNIQUE", "primary_key": "PRIMARY KEY", "exclude": "EXCLUDE"}[con.kind]
            default = f"{short}_pkey" if con.kind == "primary_key" else f"{short}_{'_'.join(con.columns)}_key"
            name = con.name or default  # PostgreSQL's own names for unnamed constraints
            index = f"{name}_idx" if con.name else name
            phases = [] if con.kind == "exclude" else [
                P.Phase("expand", "Build the unique index without blocking writes", [
                    P.OutsideTransaction(), P.CreateIndexConcurrently(fact.table, index, con.columns, unique=True)]),
                P.Phase("contract", "Attach it as the constraint (instant)", [
                    ctx.dialect.set_lock_timeout(), P.AddConstraintUsingIndex(fact.table, name, con.kind, index)]),
            ]
            yield Hit(
                f"Adding {kind} constraint {name} on {fact.table} builds its index under an ACCESS EXCLUSIVE"
                " lock, blocking every read and write while the whole table is indexed.",
                fact.table, con.columns[0] if len(con.columns) == 1 else None, "ACCESS EXCLUSIVE",
                P.Plan("Build a unique index CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX.", phases))

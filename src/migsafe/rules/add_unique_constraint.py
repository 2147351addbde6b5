from migsafe import plans as P
from migsafe.fixes import edits as E
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
            if con.kind == "exclude":
                yield _exclude(fact, con, short, ctx)
                continue
            kind = {"unique": "UNIQUE", "primary_key": "PRIMARY KEY"}[con.kind]
            default = f"{short}_pkey" if con.kind == "primary_key" else f"{short}_{'_'.join(con.columns)}_key"
            name = con.name or default  # PostgreSQL's own names for unnamed constraints
            index = f"{name}_idx" if con.name else name
            nullable = _nullable(fact, con, ctx) if con.kind == "primary_key" else []
            phases = [
                *_not_null_first(fact.table, nullable, ctx),
                P.Phase("expand", "Build the unique index without blocking writes", [
                    P.OutsideTransaction(), P.CreateIndexConcurrently(fact.table, index, con.columns, unique=True)]),
                P.Phase("contract", "Attach it as the constraint (instant)", [
                    ctx.dialect.set_lock_timeout(), P.AddConstraintUsingIndex(fact.table, name, con.kind, index)]),
            ]
            summary = "Build a unique index CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX."
            if nullable:
                summary = (f"Make {', '.join(nullable)} NOT NULL through a validated CHECK first (ADD PRIMARY KEY"
                           f" ... USING INDEX would scan for NULLs under ACCESS EXCLUSIVE), then {summary[0].lower()}"
                           f"{summary[1:]}")
            yield Hit(
                f"Adding {kind} constraint {name} on {fact.table} builds its index under an ACCESS EXCLUSIVE"
                " lock, blocking every read and write while the whole table is indexed.",
                fact.table, con.columns[0] if len(con.columns) == 1 else None, "ACCESS EXCLUSIVE",
                P.Plan(summary, phases))

    def edits(self, fact, ctx, path, alone):
        return E.unique_index_then_constraint(fact, ctx, path, alone)


def _nullable(fact, con: F.ConstraintDef, ctx) -> list[str]:
    """The key's columns not known to be NOT NULL: ADD PRIMARY KEY ... USING INDEX would run SET NOT
    NULL's full scan on them under ACCESS EXCLUSIVE (P57)."""
    if isinstance(fact, F.AddColumn):
        return []  # a new column: declared with the key
    out = []
    for name in con.columns:
        col = ctx.schema.column(fact.table, name)
        if col is None or col.type is None or col.nullable:
            out.append(name)
    return out


def _not_null_first(table: str, columns: list[str], ctx) -> list[P.Phase]:
    """NOT NULL without a long lock (PostgreSQL 12+: SET NOT NULL trusts a validated CHECK, P22)."""
    if not columns:
        return []
    if not ctx.dialect.set_not_null_is_cheap(True):
        return [P.Phase("contract", "Set NOT NULL first (a scan under ACCESS EXCLUSIVE before PostgreSQL 12:"
                                    " run it at a quiet time)", [
            ctx.dialect.set_lock_timeout(), *(P.SetNotNull(table, c) for c in columns)])]
    checks = [(c, f"{table.split('.')[-1]}_{c}_not_null") for c in columns]
    return [
        P.Phase("expand", "Prove the key's columns NOT NULL without scanning", [
            ctx.dialect.set_lock_timeout(), *(P.AddCheckNotValid(table, n, f"{c} IS NOT NULL") for c, n in checks)]),
        P.Phase("expand", "In a later migration (its own transaction): validate, then SET NOT NULL without a"
                          " scan and drop the check", [
            *(P.ValidateConstraint(table, n) for _, n in checks), ctx.dialect.set_lock_timeout(),
            *(a for c, n in checks for a in (P.SetNotNull(table, c), P.DropConstraint(table, n)))]),
    ]


def _exclude(fact, con: F.ConstraintDef, short: str, ctx) -> Hit:
    """No USING INDEX form exists for EXCLUDE (and UNIQUE USING INDEX refuses a GiST index): the
    build holds ACCESS EXCLUSIVE from start to end, whatever the spelling (P59)."""
    name = con.name or f"{short}_excl"
    return Hit(
        f"Adding EXCLUDE constraint {name} on {fact.table} builds its index under an ACCESS EXCLUSIVE lock,"
        " blocking every read and write while the whole table is indexed; PostgreSQL has no way to build an"
        " exclusion constraint's index beforehand (no USING INDEX form for EXCLUDE).",
        fact.table, None, "ACCESS EXCLUSIVE",
        P.Plan("An exclusion constraint cannot be added without holding ACCESS EXCLUSIVE for the whole build:"
               " add it at a quiet time with a lock_timeout (it fails fast instead of queueing everyone), or"
               " enforce the rule another way (a unique index over a derived column, a check in the app).", [
            P.Phase("single", "At a quiet time, with a lock_timeout: the table is blocked for the whole build", [
                ctx.dialect.set_lock_timeout(),
                P.Acknowledged(ctx.statement.sql, "add-unique-constraint",
                               "added at a quiet time: the table is blocked while the index builds")])]))

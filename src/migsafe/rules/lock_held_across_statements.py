"""A statement that works on a table at length after an earlier statement of the same transaction
took ACCESS EXCLUSIVE on it: PostgreSQL holds every lock until commit, so the table stays
blocked, reads included, for all of the work (ddl-facts.md, "Transactions")."""

from dataclasses import dataclass, field

from migsafe import plans as P
from migsafe.model import Span, Statement
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@dataclass
class _Held:
    """The exclusive locks the transaction holds so far."""

    first: dict[str, Statement] = field(default_factory=dict)  # table -> the first statement that locked it
    lockers: dict[str, set[Span]] = field(default_factory=dict)  # table -> the places (operations) of all that did


@register
class LockHeldAcrossStatements(Rule):
    id = "lock-held-across-statements"
    dialects = ("postgresql",)
    facts = (F.Fact,)  # every statement may take the lock that later ones run under

    def check(self, fact, ctx):
        if not ctx.in_transaction:
            return
        locks = ctx.kept(self.id, _Held)
        blocked = []  # (table, what the statement does there, the statement that locked it)
        for table, doing in ([] if _checks_no_rows(fact, ctx) else ctx.dialect.work_on(fact, ctx.schema)):
            held = locks.first.get(table)
            if held is None or held is ctx.statement or ctx.is_new(table) or \
                    _said_by_another_rule(fact, table, locks.lockers[table], ctx):
                continue
            blocked.append((table, doing, held))
        if blocked:  # one finding per statement, however many of its tables are held (a foreign key's two)
            lock = ctx.dialect.exclusive_lock
            tables = " and ".join(t for t, _, _ in blocked)
            taken = " and ".join(f"on {t} at line {h.span.line}" for t, _, h in blocked)
            lines = list(dict.fromkeys(str(h.span.line) for _, _, h in blocked))
            changes = f"change at line {lines[0]}" if len(lines) == 1 else f"changes at lines {' and '.join(lines)}"
            theirs = "its lock is" if len(lines) == 1 else "their locks are"
            yield Hit(
                f"This statement {_doing([d for _, d, _ in blocked])} while the transaction still holds the {lock}"
                f" lock{'s' if len(blocked) > 1 else ''} taken {taken}: every read and write of {tables} waits for"
                " all of it, until the migration commits.",
                blocked[0][0], None, lock,
                P.Plan(f"Commit the {changes} first ({theirs} then held only for a moment), and run"
                       " this statement in a transaction of its own: a later migration.", _phases(fact, ctx)))
        if ctx.dialect.lock(fact) == ctx.dialect.exclusive_lock:
            table = ctx.dialect.locked_table(fact, ctx.schema)
            if table is not None:
                locks.first.setdefault(table, ctx.statement)
                locks.lockers.setdefault(table, set()).add(ctx.statement.span)


def _checks_no_rows(fact: F.Fact, ctx) -> bool:
    """A foreign key added to a table made earlier in this migration: the check joins its (no) rows
    to the referenced table, so it reads nothing there (Django's CreateModel adds its foreign keys so)."""
    return isinstance(fact, F.AddConstraint) and fact.constraint.kind == "foreign_key" and ctx.is_new(fact.table)


def _said_by_another_rule(fact: F.Fact, table: str, lockers: set[Span], ctx) -> bool:
    """unbatched-backfill names the held lock of a whole-table UPDATE/DELETE; validating-check-
    constraint and validating-foreign-key that of a VALIDATE in the transaction that added it.
    Where one operation (an Alembic op call, a Django AddField of a ForeignKey) took the lock and
    then validates a foreign key or builds an index, validating-foreign-key or non-concurrent-index
    already reports the statement, and its plan takes the work out of the operation: there is no
    line to commit first. So does set-not-null for Django's AlterField to NOT NULL with a default
    (SET DEFAULT, UPDATE ... WHERE c IS NULL, SET NOT NULL). The operation's own lock counts even
    where an earlier line took it first (`lockers`), and where Django defers the operation's index
    to the migration's end: committing that line would not free the table."""
    if ctx.statement.span in lockers:
        if isinstance(fact, (F.AddConstraint, F.CreateIndex)):
            return True
        if isinstance(fact, F.DataChange) and any(isinstance(f, F.SetNotNull) and f.table == fact.table
                                                  for f in _rest_of_operation(ctx)):
            return True
    if isinstance(fact, F.DataChange):
        return table == fact.table and not fact.has_where and not fact.has_limit
    if isinstance(fact, F.ValidateConstraint):
        own = ctx.schema.table(fact.table)
        con = own.constraints.get(fact.name) if own else None
        return con is not None and con.added_tx == ctx.schema.tx and not con.validated
    return False


def _doing(doings: list[str]) -> str:
    """What the statement does on the held tables, said once: a foreign key's "validates fk (a scan
    of orders)" and "validates fk (a scan of customers)" as "validates fk (a scan of orders and customers)"."""
    heads = {d.partition(" (a scan of ")[0] for d in doings}
    if len(doings) > 1 and len(heads) == 1 and all(" (a scan of " in d for d in doings):
        return f"{heads.pop()} (a scan of {' and '.join(d.partition(' (a scan of ')[2][:-1] for d in doings)})"
    return ", and ".join(doings)


def _rest_of_operation(ctx):
    """The facts of the statements after the current one that the same operation made (same place)."""
    statements = ctx.migration.statements
    at = next(i for i, s in enumerate(statements) if s is ctx.statement)
    for statement in statements[at + 1:]:
        if statement.span != ctx.statement.span:
            return
        yield from ctx.facts_of(statement)


def _phases(fact: F.Fact, ctx) -> list[P.Phase]:
    if isinstance(fact, F.ValidateConstraint):
        return [P.Phase("contract", "Validate in a migration of its own",
                        [P.ValidateConstraint(fact.table, fact.name)])]
    if isinstance(fact, F.CreateIndex):
        name = fact.name or f"{fact.table.split('.')[-1]}_{'_'.join(c.split()[0] for c in fact.columns)}_idx"
        return [P.Phase("expand", "Build the index in a migration of its own, concurrently", [
            P.OutsideTransaction(), P.CreateIndexConcurrently(fact.table, name, fact.columns, fact.unique)])]
    if isinstance(fact, F.AddConstraint):
        con = fact.constraint
        name = con.name or f"{fact.table.split('.')[-1]}_{'_'.join(con.columns)}_fkey"
        return [P.Phase("expand", "Add the foreign key NOT VALID (no scan)", [
                    ctx.dialect.set_lock_timeout(),
                    P.AddForeignKeyNotValid(fact.table, name, con.columns, con.ref_table)]),
                P.Phase("contract", "Validate it in a migration of its own", [P.ValidateConstraint(fact.table, name)])]
    return [P.Phase("backfill", "Run it in a migration of its own, after the locking one has committed",
                    [P.Statement(ctx.statement.sql)])]

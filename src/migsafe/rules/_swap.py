"""What the rest of a migration does to a column's name: for the rules that judge dropping or
renaming a column (drop-column, rename-column, change-column-type) and copying rows
(unbatched-backfill).

The column swap (add `kind_v2`, copy `kind` into it, drop `kind`, rename `kind_v2` to `kind`)
is, when it commits at once, a type change of `kind`: the running app version never sees `kind`
missing, and never knew `kind_v2`. Facts commit at once when they are in one transaction on a
database with transactional DDL (PostgreSQL, SQLite), or in one statement (MySQL's
`ALTER TABLE t DROP COLUMN kind, RENAME COLUMN kind_v2 TO kind`). Outside a transaction each
statement commits alone, and the moment `kind` does not exist is real.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

from migsafe.model import Migration, Statement
from migsafe.sql import facts as F


@dataclass
class Swap:
    """`source` renamed to the name the judged fact takes away, in the same commit."""

    source: str
    new_type: F.TypeRef | None  # the source column's type at the rename
    statement: Statement  # the rename's


def swapped_in_later(fact: F.DropColumn | F.RenameColumn, ctx) -> Swap | None:
    """The column `fact` drops (or renames away) is replaced in the same commit by another column
    renamed to its name. A column added under that name is no swap (its data is not carried)."""
    facts, at = migration_facts(ctx), fact_position(ctx, fact)
    events = facts.columns[(fact.table, fact.column)]
    for j in events[bisect.bisect_right(events, at):]:
        f = facts.steps[j].fact
        if facts.units[j] != facts.units[at] or facts.table_changed(fact.table, at, j) \
                or isinstance(f, F.AddColumn) and f.column.name == fact.column:
            return None
        if isinstance(f, F.RenameColumn) and f.new_name == fact.column:
            typed = [k for k in facts.columns[(fact.table, f.column)] if at < k < j
                     and isinstance(facts.steps[k].fact, (F.AddColumn, F.AlterColumnType))]
            if typed:
                last = facts.steps[typed[-1]].fact
                new_type = last.column.type if isinstance(last, F.AddColumn) else last.new_type
            else:
                column = ctx.schema.column(fact.table, f.column)
                new_type = column.type if column else None
            return Swap(f.column, new_type, facts.steps[j].statement)
    return None


def added_earlier(fact: F.DropColumn | F.RenameColumn, ctx) -> bool:
    """The column was added (or renamed to its name) earlier in this migration: no running app
    version knows it, whatever the transactions."""
    facts, at = migration_facts(ctx), fact_position(ctx, fact)
    events = facts.columns[(fact.table, fact.column)]
    for j in reversed(events[:bisect.bisect_left(events, at)]):
        f = facts.steps[j].fact
        if isinstance(f, F.AddColumn) or isinstance(f, F.RenameColumn) and f.new_name == fact.column:
            return True
        if isinstance(f, (F.DropColumn, F.RenameColumn)):
            return False
    return False


def table_dropped_later(fact: F.DropColumn, ctx) -> bool:
    """The column's table is dropped later in the same commit (Django's RemoveField before the
    DeleteModel of its model): drop-table judges the break, once."""
    facts, at = migration_facts(ctx), fact_position(ctx, fact)
    steps = facts.tables[fact.table]
    return any(isinstance(facts.steps[j].fact, F.DropTable) and facts.units[j] == facts.units[at]
               for j in steps[bisect.bisect_right(steps, at):])


def locked_earlier(fact: F.Fact, ctx) -> Statement | None:
    """The statement that last took the dialect's exclusive lock on `fact`'s table earlier in the
    same transaction (the ADD COLUMN before the copy of a swap): held until commit."""
    facts, at = migration_facts(ctx), fact_position(ctx, fact)
    if facts.units[at][0] != "tx":
        return None
    locks = facts.locks[getattr(fact, "table", None)]
    i = bisect.bisect_left(locks, at)
    if i and facts.units[locks[i - 1]] == facts.units[at]:
        return facts.steps[locks[i - 1]].statement
    return None


@dataclass
class _Step:
    statement: Statement
    fact: F.Fact


@dataclass
class _Facts:
    """A migration's facts in order, with what the questions above look up (positions in steps)."""

    steps: list[_Step] = field(default_factory=list)
    units: list[tuple] = field(default_factory=list)  # equal ones commit together: ("tx", n), ("statement", n)
    first: dict[int, int] = field(default_factory=dict)  # id(statement) -> its first step
    # (table, column) -> the steps that add, drop, rename or retype it; table -> the steps that
    # drop or rename it; table -> the steps that take the dialect's exclusive lock on it.
    columns: dict[tuple, list[int]] = field(default_factory=lambda: defaultdict(list))
    tables: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    locks: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def table_changed(self, table: str, after: int, before: int) -> bool:
        steps = self.tables[table]
        i = bisect.bisect_right(steps, after)
        return i < len(steps) and steps[i] < before


_LAST: list = [None, None]  # the migration last indexed, and its _Facts (rules ask per fact)


def migration_facts(ctx) -> _Facts:
    """Every fact of the migration, with its unit of commit as judge.py follows BEGIN/COMMIT and
    each statement's own transaction state."""
    migration: Migration = ctx.migration
    if _LAST[0] is migration:
        return _LAST[1]
    facts_of = ctx.facts_of
    out, in_tx, tx = _Facts(), migration.starts_in_transaction, 0
    for n, stmt in enumerate(migration.statements):
        if not (stmt.in_transaction if stmt.in_transaction is not None else in_tx):
            tx += 1
        out.first[id(stmt)] = len(out.steps)
        for fact in facts_of(stmt):
            if isinstance(fact, F.Begin):
                in_tx, tx = True, tx + 1
            elif isinstance(fact, F.Commit):
                in_tx = False
            inside = stmt.in_transaction if stmt.in_transaction is not None else in_tx
            at = len(out.steps)
            out.steps.append(_Step(stmt, fact))
            out.units.append(("tx", tx) if inside and ctx.dialect.transactional_ddl else ("statement", n))
            table = getattr(fact, "table", None)
            if isinstance(fact, (F.DropColumn, F.AlterColumnType)):
                out.columns[(table, fact.column)].append(at)
            elif isinstance(fact, F.AddColumn):
                out.columns[(table, fact.column.name)].append(at)
            elif isinstance(fact, F.RenameColumn):
                out.columns[(table, fact.column)].append(at)
                out.columns[(table, fact.new_name)].append(at)
            elif isinstance(fact, (F.DropTable, F.RenameTable)):
                out.tables[table].append(at)
            if table is not None and ctx.dialect.lock(fact) == ctx.dialect.exclusive_lock:
                out.locks[table].append(at)
    _LAST[:] = [migration, out]
    return out


def fact_position(ctx, fact: F.Fact) -> int:
    facts = migration_facts(ctx)
    at = facts.first[id(ctx.statement)]
    while not (facts.steps[at].fact is fact or facts.steps[at].fact == fact):
        at += 1
    return at

"""A default added with its column and dropped again later in the migration (ADD COLUMN ...
DEFAULT x, then ALTER COLUMN ... DROP DEFAULT): the existing rows get the value, the running app's
inserts do not. Django's AddField of a NOT NULL field with a Python default writes it so, in one
operation; hand-written SQL may too. The one place that pairs a DROP DEFAULT with the ADD COLUMN it
undoes: Django's facts net the pair of one operation into the column it leaves
(sources/django/facts.py), not-null-without-default judges the others."""

from __future__ import annotations

from collections.abc import Callable

from migsafe.model import Statement
from migsafe.sql import facts as F


def added_with_default(statements: list[Statement], facts_of: Callable[[Statement], list], at: int,
                       position: int) -> tuple[int, int] | None:
    """Where the DROP DEFAULT that is fact `position` of statements[at] finds its column added with
    a default: (statement index, fact index) of the last ADD COLUMN of that column before it, if it
    had a default and no DROP DEFAULT of the column came between; else None."""
    drop = facts_of(statements[at])[position]
    found = None
    for i, stmt in enumerate(statements[:at + 1]):
        facts = facts_of(stmt)
        for j, fact in enumerate(facts[:position] if i == at else facts):
            if isinstance(fact, F.AddColumn) and (fact.table, fact.column.name) == (drop.table, drop.column):
                found = (i, j) if fact.column.default is not None else None
            elif isinstance(fact, F.DropDefault) and (fact.table, fact.column) == (drop.table, drop.column):
                found = None
    return found

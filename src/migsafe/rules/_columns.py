"""Shared by the rules about columns and constraints (issue 20): what the rest of the migration
does around a fact, what kind a constraint is, and whether an index leads with some columns."""

from __future__ import annotations

import re
from collections.abc import Iterator

from migsafe.rules._swap import _facts, _position
from migsafe.sql import facts as F


def earlier_facts(fact: F.Fact, ctx) -> Iterator[F.Fact]:
    """The facts of the migration before `fact`, nearest first."""
    facts = _facts(ctx)
    for step in reversed(facts.steps[:_position(ctx, fact)]):
        yield step.fact


def later_facts(fact: F.Fact, ctx) -> Iterator[F.Fact]:
    """The facts of the migration after `fact`, in order."""
    facts = _facts(ctx)
    for step in facts.steps[_position(ctx, fact) + 1:]:
        yield step.fact


# Naming conventions (PostgreSQL's own, Django's, Alembic's usual naming_convention) tell a
# constraint's kind where the replayed history does not show it.
_NAMED = [
    ("primary_key", re.compile(r"(_pkey$|^pk_|_pk$)")),
    ("foreign_key", re.compile(r"(_fkey$|_fk_|^fk_|_fk$|_fk\d*$)")),
    ("unique", re.compile(r"(_key$|_uniq$|^uq_|_uq$|_unique$|^unique_|_uniq_)")),
    ("check", re.compile(r"(_check$|^ck_|_ck$|_chk$)")),
    ("exclude", re.compile(r"_excl$")),
]


def kind_by_name(name: str) -> str | None:
    short = name.rpartition(".")[2].lower()
    return next((kind for kind, pattern in _NAMED if pattern.search(short)), None)


def index_column(text: str) -> str | None:
    """The column an index element names (`"Email"`, `email DESC`, `email varchar_pattern_ops`);
    None for an expression."""
    text = text.strip()
    if "(" in text:
        return None
    m = re.match(r'"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*)', text)
    if not m:
        return None
    return m.group(1).replace('""', '"') if m.group(1) is not None else m.group(2).lower()


def leads(index_columns, columns: tuple[str, ...]) -> bool:
    """An index (or key) on `index_columns` serves lookups by `columns`: they are its first columns,
    in any order."""
    first = [index_column(c) for c in list(index_columns)[:len(columns)]]
    return len(columns) > 0 and len(first) == len(columns) and set(first) == set(columns)


def is_not_null_check(expression: str | None, column: str) -> bool:
    pattern = re.compile(rf'^\(*\s*"?{re.escape(column)}"?\s+is\s+not\s+null\s*\)*$', re.I)
    return bool(expression) and bool(pattern.match(expression.strip()))


def short(table: str) -> str:
    return table.rpartition(".")[2]

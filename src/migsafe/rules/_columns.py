"""Shared by the rules about columns and constraints (issue 20): what the rest of the migration
does around a fact, what kind a constraint is, and whether an index leads with some columns."""

from __future__ import annotations

import re
from collections.abc import Iterator

from migsafe import plans as P
from migsafe.rules._swap import fact_position, migration_facts
from migsafe.sql import facts as F


def earlier_facts(fact: F.Fact, ctx) -> Iterator[F.Fact]:
    """The facts of the migration before `fact`, nearest first."""
    facts = migration_facts(ctx)
    for step in reversed(facts.steps[:fact_position(ctx, fact)]):
        yield step.fact


def later_facts(fact: F.Fact, ctx) -> Iterator[F.Fact]:
    """The facts of the migration after `fact`, in order."""
    facts = migration_facts(ctx)
    for step in facts.steps[fact_position(ctx, fact) + 1:]:
        yield step.fact


def made_here(ctx, table: str | None) -> bool:
    """No running app version has used the table: created earlier in this migration (ctx.is_new),
    or, in the migration that starts the history from an empty database, one the history does not
    show (made by code static reading cannot follow: nova's shadow tables, made in a loop over the
    reflected tables)."""
    if ctx.is_new(table):
        return True
    t = ctx.schema.table(table) if table else None
    return ctx.migration_index == 0 and ctx.schema.starts_empty and table is not None \
        and (t is None or t.created_in is None)


def column_goes_later(fact: F.Fact, ctx) -> bool:
    """The column of `fact` (or its table) is dropped later in the migration: drop-column (drop-table)
    says what breaks, once (Django's AlterField(null=True) before the RemoveField of the field)."""
    return any(isinstance(f, F.DropColumn) and f.table == fact.table and f.column == fact.column
               or isinstance(f, F.DropTable) and f.table == fact.table for f in later_facts(fact, ctx))


def is_partial(step) -> bool:
    """A partial index (CREATE INDEX ... WHERE): it serves only the rows its predicate picks, and an
    ON CONFLICT without that predicate does not match it."""
    return isinstance(step.fact, F.CreateIndex) and re.search(r"\bwhere\b", step.statement.sql, re.I) is not None


def later_steps(fact: F.Fact, ctx):
    """The steps (fact and its statement) of the migration after `fact`, in order."""
    return migration_facts(ctx).steps[fact_position(ctx, fact) + 1:]


# Naming conventions (PostgreSQL's own, Django's, Alembic's usual naming_convention) tell a
# constraint's kind where the replayed history does not show it. PostgreSQL numbers a name it
# picks that is taken already: t_c_key1.
_NAMED = [
    ("primary_key", re.compile(r"(_pkey\d*$|^pk_|_pk$)")),
    ("foreign_key", re.compile(r"(_fkey\d*$|_fk_|^fk_|_fk$|_fk\d*$)")),
    ("unique", re.compile(r"(_key\d*$|_uniq$|^uq_|_uq$|_unique$|^unique_|_uniq_)")),
    ("check", re.compile(r"(_check\d*$|^ck_|_ck$|_chk$)")),
    ("exclude", re.compile(r"_excl$")),
]


def kind_by_name(name: str) -> str | None:
    short = name.rpartition(".")[2].lower()
    return next((kind for kind, pattern in _NAMED if pattern.search(short)), None)


_KIND_SUFFIX = re.compile(r"_(pkey|fkey|key|check|excl|uniq|unique|uq|idx|index|ix)\d*$")


def columns_in_name(name: str, table: str, candidates) -> tuple[str, ...] | None:
    """The columns, among `candidates`, that a constraint or index name spells after its table's
    name, by the usual conventions (PostgreSQL's `t_a_b_key1`, `uq_t__a_b`, `ix_t_a`); None when
    the name does not spell them so. For what the history does not show: its name is all we have."""
    text, table_name = name.rpartition(".")[2].lower(), short(table).lower()
    at = text.find(table_name)
    if at < 0:
        return None
    rest = _KIND_SUFFIX.sub("", text[at + len(table_name):]).strip("_")
    return _spelled(rest, {c.lower() for c in filter(None, map(index_column, candidates))})


def _spelled(text: str, names: set[str]) -> tuple[str, ...] | None:
    if text in names:
        return (text,)
    for n in names:
        if text.startswith(n + "_"):
            tail = _spelled(text[len(n):].lstrip("_"), names)
            if tail:
                return (n, *tail)
    return None


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


def inserts_set_it_first(fact, ctx, rule_id: str, summary: str, dropped: str) -> P.Plan:
    """The plan of a drop that breaks inserts leaving a column out (its default, its identity):
    app code that writes the column on every insert first, the drop in a later migration."""
    return P.Plan(summary, [
        P.Phase("switch", f"Deploy app code that writes {fact.column} on every insert", [
            P.CodeChange(f"every insert into {fact.table} sets {fact.column}")]),
        P.Phase("contract", f"Drop {dropped} in a later migration", [
            ctx.dialect.set_lock_timeout(),
            P.Acknowledged(ctx.statement.sql, rule_id, f"every insert sets {fact.column} since the previous deploy")]),
    ])

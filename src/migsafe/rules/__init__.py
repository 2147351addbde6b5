"""Rules: one module per rule id in this package, found by walking it (no central list).

A rule says which fact types it judges and, for each, yields Hits: the message a reviewer
reads, with the table/column/lock where known and the safe plan. The engine turns hits into
findings with location, severity and suppression.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import ClassVar, Iterator

from migsafe.dialects.postgresql import Dialect
from migsafe.model import Migration, Severity, Statement
from migsafe.plans import Plan
from migsafe.schema import Schema
from migsafe.sql import facts as F

ALL_DIALECTS = ("postgresql", "mysql", "sqlite")


@dataclass
class Hit:
    message: str
    table: str | None = None
    column: str | None = None
    lock: str | None = None
    plan: Plan | None = None


@dataclass
class Context:
    """What a rule may know when judging one fact: the schema just before it."""

    schema: Schema
    dialect: Dialect
    migration: Migration
    migration_index: int
    statement: Statement
    in_transaction: bool
    lock_timeout_set: bool
    state: set[str] = field(default_factory=set)  # per-migration flags, e.g. "reported once"

    def is_new(self, table: str | None) -> bool:
        return self.schema.is_new(table, self.migration_index)


class Rule:
    id: ClassVar[str]
    severity: ClassVar[Severity] = Severity.ERROR
    dialects: ClassVar[tuple[str, ...]] = ALL_DIALECTS
    facts: ClassVar[tuple[type[F.Fact], ...]] = ()

    def check(self, fact: F.Fact, ctx: Context) -> Iterator[Hit]:
        raise NotImplementedError


_REGISTRY: dict[str, type[Rule]] = {}

# Rules raised by the engine itself (no module of their own); they still have a rules/*.md page.
ENGINE_RULES = {
    "not-analyzed": Severity.ERROR,
    "bad-suppression": Severity.WARNING,
    "irreversible-migration": Severity.WARNING,
}


def register(cls: type[Rule]) -> type[Rule]:
    _REGISTRY[cls.id] = cls
    return cls


def _load() -> None:
    if not _REGISTRY:
        for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            importlib.import_module(f"{__name__}.{mod.name}")


def all_rules() -> list[Rule]:
    _load()
    return [_REGISTRY[k]() for k in sorted(_REGISTRY)]


def default_severities() -> dict[str, Severity]:
    """Every rule id with its default severity, engine rules included."""
    severities = {r.id: r.severity for r in all_rules()}
    severities.update(ENGINE_RULES)
    return dict(sorted(severities.items()))


def rule_dialects(rule_id: str) -> tuple[str, ...]:
    _load()
    cls = _REGISTRY.get(rule_id)
    return cls.dialects if cls else ALL_DIALECTS


def engine_cost(fact: F.Fact, ctx: Context, subject: str, column: str | None = None,
                asked: bool | None = False) -> list[Hit] | None:
    """Where the dialect judges a change by its algorithm (MySQL/MariaDB) or by rebuild (SQLite):
    the hit when the change blocks writes or fails, [] when it does neither. None: PostgreSQL,
    judged by the rule's own lock and rewrite logic. `subject` starts the message ("Changing
    t.c to bigint"); the dialect's reason completes it. A copy only the statement's own
    ALGORITHM=COPY asks for belongs to table-rewrite (`asked=True`), not to the change's rule;
    `asked=None`: either."""
    cost = ctx.dialect.cost(fact, ctx.schema)
    if cost is None:
        return None
    table = ctx.dialect.locked_table(fact, ctx.schema)
    if not cost.hazard or (asked is not None and cost.asked != asked) or (ctx.is_new(table) and not cost.fails):
        return []
    lock = ctx.dialect.rewrite_lock if cost.blocks_writes else None
    return [Hit(f"{subject} {cost.why}.", table, column, lock,
                ctx.dialect.cost_plan(table or "<table>", ctx.statement.sql, fact, ctx.schema))]


def constraint_cost(fact: F.AddConstraint | F.AddColumn, ctx: Context, kinds: tuple[str, ...]) -> list[Hit] | None:
    """engine_cost for the rules about added constraints: an AddConstraint of one of `kinds`; a
    column's inline constraints are part of adding the column (volatile-default judges it)."""
    if ctx.dialect.cost(fact, ctx.schema) is None:
        return None
    if not isinstance(fact, F.AddConstraint) or fact.constraint.kind not in kinds:
        return []
    con = fact.constraint
    what = {"foreign_key": "foreign key", "check": "CHECK", "primary_key": "PRIMARY KEY"}.get(con.kind, con.kind.upper())
    return engine_cost(fact, ctx, f"Adding {what} constraint {con.name + ' ' if con.name else ''}on {fact.table}")


def later_deploy(text: str) -> str:
    return f"{text} Ship it in a later deploy, after every running app version has stopped using it."

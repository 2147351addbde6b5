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


def later_deploy(text: str) -> str:
    return f"{text} Ship it in a later deploy, after every running app version has stopped using it."

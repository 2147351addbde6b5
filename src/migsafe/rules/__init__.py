"""Rules: one module per rule id in this package, found by walking it (no central list).

A rule says which fact types it judges and, for each, yields Hits: the message a reviewer
reads, with the table/column/lock where known and the safe plan. The engine turns hits into
findings with location, severity and suppression.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Iterator, TypeVar

from migsafe.dialects.postgresql import Dialect
from migsafe.model import Edit, Migration, Severity, Statement
from migsafe.plans import Plan
from migsafe.schema import Schema
from migsafe.sql import facts as F

ALL_DIALECTS = ("postgresql", "mysql", "sqlite")
T = TypeVar("T")


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
    # The facts of any statement of the migration (rules that look ahead or back: _swap.py).
    facts_of: Callable[[Statement], list[F.Fact]] | None = None
    # What rules keep while one transaction lasts (the locks it holds, the enum values it added),
    # by rule id: judge.py starts an empty one with each transaction. Rules keep nothing else.
    transaction: dict[str, object] = field(default_factory=dict)

    def is_new(self, table: str | None) -> bool:
        return self.schema.is_new(table, self.migration_index)

    def kept(self, rule_id: str, make: Callable[[], T]) -> T:
        """The rule's store in this transaction (ctx.transaction), made on first use."""
        if rule_id not in self.transaction:
            self.transaction[rule_id] = make()
        return self.transaction[rule_id]


class Rule:
    id: ClassVar[str]
    severity: ClassVar[Severity] = Severity.ERROR
    dialects: ClassVar[tuple[str, ...]] = ALL_DIALECTS
    facts: ClassVar[tuple[type[F.Fact], ...]] = ()

    def check(self, fact: F.Fact, ctx: Context) -> Iterator[Hit]:
        raise NotImplementedError

    def edits(self, fact: F.Fact, ctx: Context, path: str, alone: bool) -> list[Edit]:
        """The mechanical rewrite of a finding of this rule raised on `fact` (fixes/edits.py makes
        them): offered only where it is certain to keep the migration's meaning and to leave
        nothing for any rule to raise, which `migsafe fix` checks again; [] where a human must
        decide. `alone`: the fact is its statement's only one (an ALTER TABLE with one action)."""
        return []

    def __init_subclass__(cls, **kwargs):
        """Every rule's messages say a name known only at run time in words (in_words)."""
        super().__init_subclass__(**kwargs)
        check = cls.__dict__.get("check")
        if check is not None:
            @functools.wraps(check)
            def worded(self, fact, ctx):
                for hit in check(self, fact, ctx):
                    hit.message = in_words(hit.message, run_time_names(fact, hit))
                    yield hit

            cls.check = worded


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


ALEMBIC_TEMPORARY = "_alembic_tmp_"  # Alembic batch mode's copy of a table while it rebuilds it


def does_nothing(fact: F.Fact, ctx: Context) -> bool:
    """A drop `IF EXISTS` of an object the database does not have. Known when the replayed history
    holds everything the database does (Schema.knows_all: it starts from an empty database and
    has no gap), or for Alembic batch mode's temporary table, which no app version uses."""
    if not getattr(fact, "if_exists", False):
        return False
    schema = ctx.schema
    if isinstance(fact, F.DropTable):
        return fact.table not in schema.tables and (
            schema.knows_all("table") or fact.table.rpartition(".")[2].startswith(ALEMBIC_TEMPORARY))
    if isinstance(fact, F.DropColumn):
        table = schema.table(fact.table)
        return table is not None and fact.column not in table.columns and schema.knows_all("column")
    if isinstance(fact, F.DropConstraint):
        table = schema.table(fact.table)
        return table is not None and fact.name not in table.constraints and schema.knows_constraints(fact.table)
    if isinstance(fact, F.DropIndex):
        # A constraint's index has the constraint's name. MySQL, whose DROP INDEX names the table,
        # drops it so; PostgreSQL refuses to.
        return fact.name not in schema.indexes and schema.knows_all("index") \
            and (not fact.table or schema.knows_constraints(fact.table)) and not any(
            fact.name in t.constraints for t in schema.tables.values())
    if isinstance(fact, F.DropObject):
        return not schema.has_object(fact.kind, fact.name)
    return False


# Where a revision gives a name only the running project knows (a loop over reflected indexes),
# static reading renders it as `<the expression>` (sources/alembic/static_values.py, Placeholder).
_RUN_TIME_NAME = re.compile(r"<[^<>]+>")
_ARTICLE = {"index": "an", "unique index": "a"}


def run_time_names(fact: F.Fact, hit: Hit) -> dict[str, str]:
    """The placeholders among the names `fact` and `hit` hold, each with what it names (table,
    column, index, constraint). Expressions (a CHECK's, a default's) are not names: left alone."""
    own = ("column" if isinstance(fact, (F.RenameColumn, F.DropColumn)) else "index" if "Index" in type(fact).__name__
           else "constraint" if "Constraint" in type(fact).__name__ else "table")
    names = [(hit.table, "table"), (hit.column, "column"), (getattr(fact, "name", None), own),
             (getattr(fact, "new_name", None), own)]
    names += [(getattr(fact, f, None), "table") for f in ("table", "ref_table", "partition", "partition_of")]
    column, constraint = getattr(fact, "column", None), getattr(fact, "constraint", None)
    names.append((column.name if isinstance(column, F.ColumnDef) else column, "column"))
    if isinstance(constraint, F.ConstraintDef):
        names += [(constraint.name, "constraint"), (constraint.ref_table, "table")]
    found: dict[str, str] = {}
    for value, kind in names:
        for m in _RUN_TIME_NAME.finditer(value if isinstance(value, str) else ""):
            found.setdefault(m[0], kind)
    return found


def in_words(message: str, names: dict[str, str]) -> str:
    """`Dropping index <index['name']>` as "Dropping an index whose name is computed at run time
    (`index['name']`)"; `t.<col>` as "a column of t whose ..."; `<t>.c` as "column c of a table whose ..."."""
    for text, kind in names.items():
        said = f"whose name is computed at run time (`{text[1:-1]}`)"
        name = re.escape(text)
        if kind == "table":
            message = re.sub(rf"(?:column )?{name}\.(\w+)", lambda m: f"column {m[1]} of a table {said}", message)
        if kind == "column":
            message = re.sub(rf"(?:column )?([\w.]+)\.{name}", lambda m: f"a column of {m[1]} {said}", message)

        def spelled(m: re.Match) -> str:
            what = m[1] or kind
            return f"{_ARTICLE.get(what, 'a')} {what} {said}"

        message = re.sub(rf"(?:\b(unique index|index|table|column|constraint|foreign key) )?{name}", spelled, message)
    return message

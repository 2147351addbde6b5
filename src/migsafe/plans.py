"""Safe alternatives as abstract steps, so each framework can write them in its own code.

A rule returns a Plan: phases (expand, backfill, switch, contract, single), each a list of
actions from the small vocabulary below. `fixes/sql.py`, `fixes/alembic.py` and `fixes/django.py`
write them as code of the finding's own framework; `undo()` says how each step rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Action:
    pass


@dataclass(frozen=True)
class SetLockTimeout(Action):
    value: str = "5s"
    setting: str = "lock_timeout"  # MySQL/MariaDB: lock_wait_timeout, in seconds


@dataclass(frozen=True)
class OnlineSchemaChange(Action):
    """Run an ALTER with an online schema-change tool (gh-ost, pt-online-schema-change) instead
    of in the migration: the tool copies the table in the background while writes continue."""

    table: str
    alter: str  # the ALTER TABLE clauses, e.g. "MODIFY n bigint"


@dataclass(frozen=True)
class AddColumn(Action):
    table: str
    column: str
    type: str
    default: str | None = None
    nullable: bool = True


@dataclass(frozen=True)
class Backfill(Action):
    table: str
    column: str
    value: str  # SQL expression; "<value>" only where no value is known
    dialect: str = "postgresql"  # how a batch is picked: batch_where()
    from_row: bool = False  # the value reads the row (a copied column): NULL where the row's is NULL

    def pending(self, column: str) -> str:
        """The rows still to fill. Where the value comes from the row, a row whose value is NULL
        stays NULL after its update: it is not pending, or the batches would pick it forever."""
        return f"{column} IS NULL" + (f" AND ({self.value}) IS NOT NULL" if self.from_row else "")


def batch_where(dialect: str, table: str, condition: str) -> str:
    """The WHERE clause of one batch of 10,000 rows meeting `condition`, in the dialect's own
    way: MySQL/MariaDB take LIMIT on UPDATE/DELETE itself; SQLite and PostgreSQL pick the rows
    by their physical row id (rowid, ctid) in a subquery."""
    if dialect == "mysql":
        return f"{condition} LIMIT 10000"
    rowid = "rowid" if dialect == "sqlite" else "ctid"
    return f"{rowid} IN (SELECT {rowid} FROM {table} WHERE {condition} LIMIT 10000)"


@dataclass(frozen=True)
class AddCheckNotValid(Action):
    table: str
    name: str
    expression: str


@dataclass(frozen=True)
class AddForeignKeyNotValid(Action):
    table: str
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidateConstraint(Action):
    table: str
    name: str


@dataclass(frozen=True)
class SetNotNull(Action):
    table: str
    column: str


@dataclass(frozen=True)
class DropConstraint(Action):
    table: str
    name: str


@dataclass(frozen=True)
class CreateIndexConcurrently(Action):
    table: str
    name: str
    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class DropIndexConcurrently(Action):
    name: str
    if_exists: bool = False  # a leftover of a failed build, if there is one


@dataclass(frozen=True)
class AddConstraintUsingIndex(Action):
    table: str
    name: str
    kind: str  # "unique" | "primary_key"
    index: str


DROP_REASON = "the app stopped using it in the previous deploy"


@dataclass(frozen=True)
class DropColumn(Action):
    table: str
    column: str
    reason: str = DROP_REASON  # why the drop is safe here: written as its suppression comment


@dataclass(frozen=True)
class DropTable(Action):
    table: str
    reason: str = DROP_REASON


@dataclass(frozen=True)
class SyncTrigger(Action):
    """Keep a new column in step with the old one while both versions of the app run."""

    table: str
    old: str
    new: str
    dialect: str = "postgresql"  # each dialect has its own trigger language


@dataclass(frozen=True)
class DropSyncTrigger(Action):
    table: str
    old: str
    new: str
    dialect: str = "postgresql"


@dataclass(frozen=True)
class OutsideTransaction(Action):
    """Marks the following actions as needing to run outside a transaction block."""


@dataclass(frozen=True)
class CodeChange(Action):
    """A change to the application, deployed between two migrations."""

    text: str


@dataclass(frozen=True)
class SwitchColumn(CodeChange):
    """The code change of a switch: the app reads and writes `new` in place of `old`, a column
    added beside it (Django: the field moves to the new column in the migration state)."""

    table: str = ""
    old: str = ""
    new: str = ""


@dataclass(frozen=True)
class StopUsingColumn(Action):
    """The code change before a drop: the app no longer maps the column (Django: the field leaves
    the model and the migration state; SQLAlchemy: the Column leaves the model or is deferred)."""

    table: str
    column: str


@dataclass(frozen=True)
class StopUsingTable(Action):
    table: str


@dataclass(frozen=True)
class Statement(Action):
    """The user's own statement, kept as written (e.g. the contract step of a drop)."""

    sql: str


# --- issue 20: columns ---


@dataclass(frozen=True)
class Acknowledged(Action):
    """The user's own statement, run once an earlier deploy made it safe: written with the
    suppression comment that says why (the reviewer reads the reason in the diff)."""

    sql: str
    rule: str
    reason: str


def undo(action: Action) -> Action | None:
    """The step that takes `action` back (a rollback of its deploy); None: nothing to undo.
    Drops cannot be undone by a migration: their undo says so."""
    if isinstance(action, AddColumn):
        return DropColumn(action.table, action.column, "rolls back the column this step added")
    if isinstance(action, (AddCheckNotValid, AddForeignKeyNotValid, AddConstraintUsingIndex)):
        return DropConstraint(action.table, action.name)
    if isinstance(action, CreateIndexConcurrently):
        return DropIndexConcurrently(action.name)
    if isinstance(action, SetNotNull):
        return Statement(f"ALTER TABLE {action.table} ALTER COLUMN {action.column} DROP NOT NULL")
    if isinstance(action, SyncTrigger):
        return DropSyncTrigger(action.table, action.old, action.new, action.dialect)
    if isinstance(action, (StopUsingColumn, StopUsingTable, CodeChange)):
        return CodeChange("redeploy the previous app version (the schema still has what it uses)")
    if isinstance(action, (DropColumn, DropTable)):
        return CodeChange("not reversible by a migration: the data is gone; restore from a backup")
    return None  # SET, backfill, validate, a dropped helper constraint: nothing to take back


@dataclass
class Phase:
    phase: str  # expand | backfill | switch | contract | single
    title: str
    actions: list[Action] = field(default_factory=list)

    def __post_init__(self):
        # None: a step the dialect has no counterpart for (SQLite's lock timeout)
        self.actions = [a for a in self.actions if a is not None]


@dataclass
class Plan:
    summary: str
    phases: list[Phase] = field(default_factory=list)

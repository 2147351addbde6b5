"""migsafe's vocabulary of schema changes: one statement becomes a list of facts.

Rules see facts, never sqlglot trees, so every spelling of the same change reaches the same
rule. The translation lives in `translate.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TypeRef:
    """A column type: `name` is sqlglot's canonical type name (VARCHAR, INT, ...), `params`
    its numeric parameters, `text` the type as the user wrote it."""

    name: str
    params: tuple[int, ...] = ()
    text: str = ""
    array: bool = False
    charset: str | None = None  # MySQL `CHARACTER SET x` written with the column, lower case


@dataclass
class Default:
    text: str  # original SQL text
    volatility: str  # "constant" | "stable" | "volatile"
    functions: tuple[str, ...] = ()  # names of the volatile (or unknown) functions it calls, lower case


@dataclass
class ConstraintDef:
    kind: str  # "check" | "foreign_key" | "unique" | "primary_key" | "exclude" | "not_null"
    name: str | None = None
    columns: tuple[str, ...] = ()
    expression: str | None = None  # CHECK expression text
    ref_table: str | None = None
    not_valid: bool = False
    using_index: str | None = None


@dataclass
class ColumnDef:
    name: str
    type: TypeRef | None
    nullable: bool = True
    default: Default | None = None
    serial: bool = False
    identity: bool = False
    generated: str | None = None  # "stored" | "virtual" | None (no keyword: "default")
    constraints: list[ConstraintDef] = field(default_factory=list)
    domain_check: bool = False  # set by replay when the type is a domain with a CHECK
    position: str | None = None  # MySQL `FIRST` / `AFTER c`: not the last column
    dropped_default: Default | None = None  # the default the same operation drops again (Django's AddField)


@dataclass(kw_only=True)
class Fact:
    # The statement's MySQL/MariaDB `ALGORITHM=` and `LOCK=` clauses (upper case). The server
    # refuses the statement rather than do it with a weaker guarantee, so they are facts too.
    algorithm: str | None = None
    lock_clause: str | None = None


@dataclass
class CreateTable(Fact):
    table: str
    columns: list[ColumnDef] = field(default_factory=list)
    constraints: list[ConstraintDef] = field(default_factory=list)
    partition_of: str | None = None


@dataclass
class DropTable(Fact):
    table: str
    if_exists: bool = False


@dataclass
class RenameTable(Fact):
    table: str
    new_name: str


@dataclass
class AddColumn(Fact):
    table: str
    column: ColumnDef


@dataclass
class DropColumn(Fact):
    table: str
    column: str
    if_exists: bool = False


@dataclass
class RenameColumn(Fact):
    table: str
    column: str
    new_name: str


@dataclass
class AlterColumnType(Fact):
    table: str
    column: str
    new_type: TypeRef
    using: str | None = None
    collate: str | None = None


@dataclass
class SetNotNull(Fact):
    table: str
    column: str


@dataclass
class DropNotNull(Fact):
    table: str
    column: str


@dataclass
class SetDefault(Fact):
    table: str
    column: str
    default: Default


@dataclass
class DropDefault(Fact):
    table: str
    column: str


@dataclass
class AddConstraint(Fact):
    table: str
    constraint: ConstraintDef


@dataclass
class ValidateConstraint(Fact):
    table: str
    name: str


@dataclass
class DropConstraint(Fact):
    table: str
    name: str
    kind: str | None = None  # "primary_key", "foreign_key", "check" where the spelling says (MySQL)
    if_exists: bool = False


@dataclass
class RenameConstraint(Fact):
    table: str
    name: str
    new_name: str


@dataclass
class CreateIndex(Fact):
    table: str
    name: str | None
    columns: tuple[str, ...] = ()
    unique: bool = False
    concurrently: bool = False
    only: bool = False  # CREATE INDEX ... ON ONLY parent (partitioned tables)


@dataclass
class DropIndex(Fact):
    name: str
    concurrently: bool = False
    table: str | None = None  # MySQL names the table (`DROP INDEX i ON t`, `ALTER TABLE t DROP INDEX i`)
    if_exists: bool = False


@dataclass
class RenameIndex(Fact):
    name: str
    new_name: str


@dataclass
class Reindex(Fact):
    target: str  # "index" | "table" | "schema" | "database" | "system"
    name: str
    concurrently: bool = False
    table: str | None = None


@dataclass
class Truncate(Fact):
    table: str


@dataclass
class DataChange(Fact):
    """UPDATE or DELETE."""

    verb: str  # "UPDATE" | "DELETE"
    table: str
    has_where: bool
    has_limit: bool = False


@dataclass
class SetSetting(Fact):
    name: str  # lower case, e.g. lock_timeout
    value: str
    local: bool = False


@dataclass
class Begin(Fact):
    pass


@dataclass
class Commit(Fact):
    rollback: bool = False


@dataclass
class TableRewrite(Fact):
    """Rewrites the whole table: SET TABLESPACE, SET LOGGED/UNLOGGED, CLUSTER, VACUUM FULL (under
    ACCESS EXCLUSIVE); MySQL CONVERT TO CHARACTER SET (a copy), FORCE/ENGINE=/OPTIMIZE TABLE
    (rebuilt in place, writes continue: `inplace`); an SQLite rebuild."""

    table: str
    what: str  # e.g. "SET TABLESPACE"
    inplace: bool = False


@dataclass
class NoTransaction(Fact):
    """A statement that cannot run inside a transaction block (VACUUM, CONCURRENTLY forms
    other than index builds)."""

    what: str
    table: str | None = None


@dataclass
class LockTable(Fact):
    table: str
    mode: str


@dataclass
class AttachPartition(Fact):
    table: str
    partition: str


@dataclass
class DetachPartition(Fact):
    table: str
    partition: str
    concurrently: bool = False


@dataclass
class EnumAddValue(Fact):
    type_name: str


@dataclass
class CreateDomain(Fact):
    name: str
    has_check: bool


@dataclass
class Harmless(Fact):
    """Understood and irrelevant to safety (COMMENT, GRANT, CREATE FUNCTION, INSERT, ...)."""

    what: str


@dataclass
class KnownColumn(Harmless):
    """A column as it stands before the facts after it, as the migration itself states it
    (Alembic's `existing_type=`, `existing_nullable=`, `existing_server_default=`). Replay takes
    it only where the history does not know the column (schema.py)."""

    table: str
    column: ColumnDef


@dataclass
class Unknown(Fact):
    """A statement whose effect migsafe does not model; `table` when it names one."""

    what: str
    table: str | None = None
    tables: tuple[str, ...] = ()  # tables mentioned (e.g. inside a DO block)


@dataclass
class ParseFailed(Fact):
    message: str
    line_offset: int = 0  # lines into the statement where parsing failed

"""migsafe's vocabulary of schema changes: one statement becomes a list of facts.

Rules see facts, never sqlglot trees, so every spelling of the same change reaches the same
rule. The translation lives in `translate.py`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

UNKNOWN_TYPE = "unknown_"  # how a type no source could know is spelled in the SQL it renders


def same_schema(sibling: str, name: str) -> str:
    """`name` in the schema of `sibling` (a renamed table, an index of a table) unless qualified."""
    if "." in name or "." not in sibling:
        return name
    return sibling.rsplit(".", 1)[0] + "." + name


def unknown_type(word: str, described: str) -> str:
    """The SQL spelling of a column type only the project knows (a field class or a type
    expression migsafe cannot evaluate): `unknown_<word>_<digest of what describes it>`, so two
    different types never read as the same one, and rules know they cannot compare it."""
    return f"{UNKNOWN_TYPE}{word}_{hashlib.sha1(described.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class TypeRef:
    """A column type: `name` is sqlglot's canonical type name (VARCHAR, INT, ...), `params`
    its numeric parameters, `text` the type as the user wrote it."""

    name: str
    params: tuple[int, ...] = ()
    text: str = ""
    array: bool = False
    charset: str | None = None  # MySQL `CHARACTER SET x` written with the column, lower case

    @property
    def unknown(self) -> bool:
        """A type only the project knows (unknown_type): what it rewrites cannot be judged."""
        return self.name.lower().startswith(UNKNOWN_TYPE)


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
    partition_bound: str = ""  # PARTITION OF p: as AttachPartition.bound
    partition_by: str | None = None  # PARTITION BY RANGE (k) as written, e.g. "RANGE (k)"


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
    cascade: bool = False  # DROP CONSTRAINT ... CASCADE: the foreign keys that need a dropped key go too


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
    if_not_exists: bool = False


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
    bound: str = ""  # after FOR VALUES, as written: "FROM (2000) TO (3000)", "IN (1, 2)"; or "DEFAULT"


@dataclass
class DetachPartition(Fact):
    table: str
    partition: str
    concurrently: bool = False
    finalize: bool = False  # DETACH ... FINALIZE: completes an interrupted CONCURRENTLY detach


@dataclass
class EnumAddValue(Fact):
    type_name: str
    value: str | None = None  # the new label, as PostgreSQL stores it


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


# --- issue 20: objects ---


@dataclass
class CreateObject(Harmless):
    """A view, function, sequence, type, schema, extension, policy... made by the migration:
    replayed so that a drop or rename of it in the same migration is not reported (schema.py)."""

    kind: str  # "view" | "materialized view" | "function" | "procedure" | "sequence" | "type" | ...
    name: str
    table: str | None = None  # a policy's table
    trigger: bool = False  # a function RETURNS trigger: no app calls it, its trigger does
    detail: str | None = None  # a sequence's AS type, lower case
    replace: bool = False  # CREATE OR REPLACE: an existing view is locked (ACCESS EXCLUSIVE) while replaced


@dataclass
class DropObject(Fact):
    """DROP VIEW / MATERIALIZED VIEW / FUNCTION / PROCEDURE / TYPE / SEQUENCE / DOMAIN / EXTENSION /
    SCHEMA / DATABASE: one fact per object named."""

    kind: str
    name: str
    if_exists: bool = False
    cascade: bool = False
    args: str = ""  # a routine's argument list as written, with its parentheses


@dataclass
class DropExpression(Fact):
    """ALTER TABLE ... ALTER COLUMN c DROP EXPRESSION: the generated column becomes a plain one."""

    table: str
    column: str
    if_exists: bool = False


@dataclass
class RenameObject(Fact):
    """A rename (or, with `moved`, ALTER ... SET SCHEMA) of a view, function, type, sequence,
    schema...; kind "enum value": `name` is the type, `value`/`new_value` the labels."""

    kind: str
    name: str
    new_name: str
    moved: bool = False
    value: str | None = None
    new_value: str | None = None


@dataclass
class AccessChange(Fact):
    """REVOKE, ALTER TABLE ... ENABLE/FORCE ROW LEVEL SECURITY, CREATE/ALTER/DROP POLICY.
    `narrows`: the app may lose access (a permissive CREATE POLICY only widens it)."""

    what: str  # e.g. "REVOKE", "ENABLE ROW LEVEL SECURITY", "DROP POLICY"
    table: str | None = None
    name: str | None = None  # a policy's name; REVOKE: the privileges and grantees as written
    narrows: bool = True


@dataclass
class AlterSequence(Fact):
    """ALTER SEQUENCE s RESTART / AS type / MAXVALUE n / CYCLE, an identity column's RESTART or SET
    option (`table`, `column`), or setval() with a constant value: `changes` as written, upper case."""

    name: str | None
    changes: tuple[str, ...] = ()
    table: str | None = None
    column: str | None = None
    new_type: str | None = None  # AS type, lower case


# --- issue 20: transactions ---


@dataclass
class InsertRows(Harmless):
    """INSERT INTO `table` ...; `sources`: the tables its SELECT reads (empty for VALUES)."""

    table: str
    sources: tuple[str, ...] = ()
    select: bool = False  # INSERT ... SELECT: as long as the query it runs


@dataclass
class DropTrigger(Fact):
    """PostgreSQL's DROP TRIGGER name ON table (ACCESS EXCLUSIVE on the table)."""

    table: str
    name: str
    if_exists: bool = False


# --- issue 20: scans ---


@dataclass
class DomainConstraint(Fact):
    """ALTER DOMAIN d ADD [CONSTRAINT n] CHECK (...) | NOT NULL [NOT VALID], or SET NOT NULL:
    without NOT VALID, every stored value of the domain is checked (each table using it scanned)."""

    domain: str
    what: str  # as written, e.g. "CHECK (VALUE > 0)", "NOT NULL"
    name: str | None = None
    not_valid: bool = False
    set_not_null: bool = False  # ALTER DOMAIN d SET NOT NULL (no NOT VALID form exists)


@dataclass
class ValidateDomainConstraint(Fact):
    domain: str
    name: str


@dataclass
class ExchangePartition(Fact):
    """MySQL/MariaDB ALTER TABLE t EXCHANGE PARTITION p WITH TABLE other [WITH|WITHOUT VALIDATION]:
    unless WITHOUT VALIDATION, every row of `other` is checked against p's bound."""

    table: str
    partition: str
    with_table: str
    validation: bool = True


@dataclass
class RefreshMaterializedView(Fact):
    view: str
    concurrently: bool = False
    with_data: bool = True  # WITH NO DATA empties it instead


# --- issue 20: columns ---


@dataclass
class AddIdentity(Fact):
    """ALTER COLUMN c ADD GENERATED ... AS IDENTITY: future rows only (P28)."""

    table: str
    column: str


@dataclass
class DropIdentity(Fact):
    """ALTER COLUMN c DROP IDENTITY [IF EXISTS]: inserts that leave the column out get no value."""

    table: str
    column: str
    if_exists: bool = False


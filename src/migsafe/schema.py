"""Replay facts, in order, into a model of the schema: what existed before each statement.

The model is deliberately forgiving: history is often incomplete (a folder starts after the
tables were made elsewhere), so a fact about an unknown table or column just creates what it
needs instead of failing.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from migsafe.sql import facts as F


@dataclass
class Column:
    name: str
    type: F.TypeRef | None
    nullable: bool = True
    default: F.Default | None = None
    identity: str | None = None  # "identity" (GENERATED ... AS IDENTITY, AUTO_INCREMENT) or "serial"


@dataclass
class Constraint:
    name: str
    kind: str
    columns: tuple[str, ...] = ()
    expression: str | None = None
    validated: bool = True
    added_tx: int = 0  # the transaction that added it (Schema.tx at the time)
    ref_table: str | None = None  # a foreign key's target


@dataclass
class Table:
    name: str
    created_in: int | None = None  # index of the migration that created it; None: unknown history
    columns: dict[str, Column] = field(default_factory=dict)
    constraints: dict[str, Constraint] = field(default_factory=dict)
    partition_by: str | None = None  # a partitioned table's key, as written: "RANGE (k)"
    partition_of: str | None = None  # a partition's parent
    partition_bound: str = ""  # a partition's bound, as written ("FROM (1) TO (2)", "DEFAULT")
    # A constraint the database named (no name given, not the primary key): its name is our guess of
    # the database's pick (PostgreSQL numbers a taken one, t_c_key1; MySQL's t_ibfk_1), so this
    # table's constraint names are not all known (Schema.knows_constraints).
    named_by_database: bool = False


@dataclass
class Index:
    name: str
    table: str
    unique: bool = False
    columns: tuple[str, ...] = ()  # as written: plain column names or expressions


@dataclass
class SchemaObject:
    """A view, routine, sequence, type, schema, extension or policy (issue 20: objects)."""

    kind: str
    name: str  # a policy's: "table name"
    created_in: int
    trigger: bool = False  # a trigger function: called by its trigger, never by the app
    detail: str | None = None  # a sequence's AS type


@dataclass
class Schema:
    tables: dict[str, Table] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)
    domains_with_check: set[str] = field(default_factory=set)
    domains: dict[str, int] = field(default_factory=dict)  # each domain the history made: its migration
    objects: dict[tuple[str, str], SchemaObject] = field(default_factory=dict)  # (kind, name): views, routines...
    tx: int = 0  # the current transaction, counted by the engine across the whole replay
    # Whether what the model lacks, the database lacks too (knows_all): the history starts from an
    # empty database when its first migration creates tables; `gaps` are the kinds of object
    # ("table", "column", "index", "constraint") a statement used without the history having made
    # them, or made without a name (the database picks it); "migration": one could not be read.
    starts_empty: bool = False
    gaps: set[str] = field(default_factory=set)

    def table(self, name: str) -> Table | None:
        return self.tables.get(name)

    def column(self, table: str, column: str) -> Column | None:
        t = self.tables.get(table)
        return t.columns.get(column) if t else None

    def is_new(self, table: str | None, migration: int) -> bool:
        """Created earlier in this same migration: empty, so locks and rewrites do not matter."""
        t = self.tables.get(table) if table else None
        if t is None and table is not None:  # a materialized view is a table of rows too (its indexes)
            return getattr(self.objects.get(("materialized view", table)), "created_in", None) == migration
        return t is not None and t.created_in == migration

    def knows_all(self, kind: str) -> bool:
        """Every table, and every object of `kind`, the database holds is in the model: so an
        object the model lacks does not exist (a drop `IF EXISTS` of it does nothing)."""
        return self.starts_empty and not self.gaps & {kind, "table", "migration"}

    def knows_constraints(self, table: str) -> bool:
        """knows_all("constraint") for the constraints of one table."""
        t = self.tables.get(table)
        return self.knows_all("constraint") and not (t is not None and t.named_by_database)

    def has_valid_not_null_check(self, table: str, column: str) -> bool:
        """A validated `CHECK (col IS NOT NULL)` lets PostgreSQL 12+ skip SET NOT NULL's scan."""
        t = self.tables.get(table)
        if t is None:
            return False
        pattern = re.compile(rf'^\(*\s*"?{re.escape(column)}"?\s+is\s+not\s+null\s*\)*$', re.I)
        return any(c.kind == "check" and c.validated and c.expression and pattern.match(c.expression.strip())
                   for c in t.constraints.values())

    # --- replay ---------------------------------------------------------------------------

    def _ensure(self, name: str) -> Table:
        if name not in self.tables:
            self.tables[name] = Table(name)
            self.gaps.add("table")
        return self.tables[name]

    def _add_constraint(self, table: Table, con: F.ConstraintDef, validated: bool) -> None:
        if con.name is None and con.kind != "primary_key":  # (a primary key's is t_pkey, or PRIMARY)
            table.named_by_database = True
        if con.ref_table is not None and con.ref_table not in self.tables and con.ref_table != table.name:
            self.gaps.add("table")  # a foreign key to a table the history did not make
        name = con.name or _default_name(table.name, con)
        table.constraints[name] = Constraint(name, con.kind, con.columns, con.expression, validated, self.tx,
                                             con.ref_table)

    def apply(self, fact: F.Fact, migration: int) -> None:
        method = getattr(self, "_apply_" + type(fact).__name__, None)
        if method is not None:
            method(fact, migration)

    def _apply_CreateTable(self, f: F.CreateTable, migration: int) -> None:
        t = Table(f.table, created_in=migration, partition_by=f.partition_by, partition_of=f.partition_of,
                  partition_bound=f.partition_bound)
        self.starts_empty = self.starts_empty or migration == 0
        parent = self.tables.get(f.partition_of) if f.partition_of else None
        if parent is not None:  # a partition has its parent's columns
            t.columns = {n: dataclasses.replace(c) for n, c in parent.columns.items()}
        elif not f.columns:  # CREATE TABLE ... AS SELECT, LIKE, PARTITION OF: columns not listed
            self.gaps.add("column")
        for col in f.columns:
            t.columns[col.name] = Column(col.name, col.type, col.nullable, col.default, _identity(col))
            for con in col.constraints:
                self._add_constraint(t, con, True)
        for con in f.constraints:
            self._add_constraint(t, con, True)
        self.tables[f.table] = t

    def _apply_DropTable(self, f: F.DropTable, migration: int) -> None:
        if self.tables.pop(f.table, None) is None and not f.if_exists:
            self.gaps.add("table")
        for name in [n for n, i in self.indexes.items() if i.table == f.table]:
            del self.indexes[name]

    def _apply_RenameTable(self, f: F.RenameTable, migration: int) -> None:
        if self.view(f.table):  # MySQL's RENAME TABLE (and PostgreSQL's ALTER TABLE) rename views too
            return self._apply_RenameObject(F.RenameObject(self.view(f.table).kind, f.table, f.new_name), migration)
        if f.table not in self.tables:
            self.gaps.add("table")
        t = self.tables.pop(f.table, None) or Table(f.new_name)
        t.name = f.new_name
        self.tables[f.new_name] = t
        for i in self.indexes.values():
            if i.table == f.table:
                i.table = f.new_name

    def _apply_AddColumn(self, f: F.AddColumn, migration: int) -> None:
        t = self._ensure(f.table)
        t.columns[f.column.name] = Column(f.column.name, f.column.type, f.column.nullable, f.column.default,
                                          _identity(f.column))
        for con in f.column.constraints:
            self._add_constraint(t, con, True)

    def _apply_DropColumn(self, f: F.DropColumn, migration: int) -> None:
        if self._ensure(f.table).columns.pop(f.column, None) is None and not f.if_exists:
            self.gaps.add("column")

    def _apply_RenameColumn(self, f: F.RenameColumn, migration: int) -> None:
        t = self._ensure(f.table)
        if f.column not in t.columns:
            self.gaps.add("column")
        col = t.columns.pop(f.column, None) or Column(f.new_name, None)
        col.name = f.new_name
        t.columns[f.new_name] = col
        # indexes and constraints on the column follow it (issue 20: an FK's index after the rename)
        for con in t.constraints.values():
            con.columns = _renamed(con.columns, f.column, f.new_name)
        for index in self.indexes.values():
            if index.table == f.table:
                index.columns = _renamed(index.columns, f.column, f.new_name)

    def _column(self, table: str, column: str) -> Column:
        t = self._ensure(table)
        if column not in t.columns:
            self.gaps.add("column")
        return t.columns.setdefault(column, Column(column, None))

    def _apply_KnownColumn(self, f: F.KnownColumn, migration: int) -> None:
        """What the migration says the column is: replayed history, where it has one, wins."""
        t, c = self._ensure(f.table), f.column
        if c.name not in t.columns:
            self.gaps.add("column")
            t.columns[c.name] = Column(c.name, c.type, c.nullable, c.default)
        elif t.columns[c.name].type is None:
            t.columns[c.name].type = c.type

    def _apply_AlterColumnType(self, f: F.AlterColumnType, migration: int) -> None:
        self._column(f.table, f.column).type = f.new_type

    def _apply_SetNotNull(self, f: F.SetNotNull, migration: int) -> None:
        self._column(f.table, f.column).nullable = False

    def _apply_DropNotNull(self, f: F.DropNotNull, migration: int) -> None:
        self._column(f.table, f.column).nullable = True

    def _apply_SetDefault(self, f: F.SetDefault, migration: int) -> None:
        self._column(f.table, f.column).default = f.default

    def _apply_DropDefault(self, f: F.DropDefault, migration: int) -> None:
        col = self._column(f.table, f.column)
        col.default = None
        if col.identity == "serial":
            col.identity = None

    # --- issue 20: columns ---

    def _apply_AddIdentity(self, f: F.AddIdentity, migration: int) -> None:
        self._column(f.table, f.column).identity = "identity"

    def _apply_DropIdentity(self, f: F.DropIdentity, migration: int) -> None:
        self._column(f.table, f.column).identity = None

    def _apply_AddConstraint(self, f: F.AddConstraint, migration: int) -> None:
        self._add_constraint(self._ensure(f.table), f.constraint, not f.constraint.not_valid)

    def _apply_ValidateConstraint(self, f: F.ValidateConstraint, migration: int) -> None:
        con = self._ensure(f.table).constraints.get(f.name)
        if con is not None:
            con.validated = True
        else:
            self.gaps.add("constraint")

    def _apply_DropConstraint(self, f: F.DropConstraint, migration: int) -> None:
        if self._ensure(f.table).constraints.pop(f.name, None) is None and not f.if_exists:
            self.gaps.add("constraint")

    def _apply_RenameConstraint(self, f: F.RenameConstraint, migration: int) -> None:
        t = self._ensure(f.table)
        if f.name in t.constraints:
            con = t.constraints.pop(f.name)
            con.name = f.new_name
            t.constraints[f.new_name] = con
        else:
            self.gaps.add("constraint")

    def _apply_CreateIndex(self, f: F.CreateIndex, migration: int) -> None:
        if f.table not in self.tables and ("materialized view", f.table) not in self.objects:
            self.gaps.add("table")
        if f.name:
            self.indexes[f.name] = Index(f.name, f.table, f.unique, f.columns)
        else:
            self.gaps.add("index")

    def _apply_DropIndex(self, f: F.DropIndex, migration: int) -> None:
        if self.indexes.pop(f.name, None) is None and not f.if_exists:
            self.gaps.add("index")

    def _apply_RenameIndex(self, f: F.RenameIndex, migration: int) -> None:
        if f.name in self.indexes:
            index = self.indexes.pop(f.name)
            index.name = f.new_name
            self.indexes[f.new_name] = index
        else:
            self.gaps.add("index")

    def _apply_CreateDomain(self, f: F.CreateDomain, migration: int) -> None:
        self.domains[f.name] = migration
        if f.has_check:
            self.domains_with_check.add(f.name)

    # --- issue 20: objects ---

    def object(self, kind: str, name: str) -> SchemaObject | None:
        """A view, routine, sequence, type, schema, extension or policy the history made."""
        return self.objects.get((kind, name))

    def view(self, name: str) -> SchemaObject | None:
        """The view or materialized view of that name the history made."""
        return self.object("view", name) or self.object("materialized view", name)

    def object_is_new(self, kind: str, name: str, migration: int) -> bool:
        made = self.domains.get(name) if kind == "domain" else getattr(self.object(kind, name), "created_in", None)
        return made == migration

    def has_object(self, kind: str, name: str) -> bool:
        """Whether the database may hold it (False only where Schema.knows_all says so)."""
        if kind == "database":
            return True  # the server's, not the migrated database's: no history lists them
        if kind == "schema" and any(t.startswith(name + ".") for t in self.tables):
            return True  # its tables say it exists, whether or not the history made it
        if kind == "domain":
            return name in self.domains or not self.knows_all(kind)
        if kind == "sequence" and any(f"{t.name}_{c.name}_seq" == name and c.identity
                                      for t in self.tables.values() for c in t.columns.values()):
            return True  # a serial or identity column's own sequence
        return self.object(kind, name) is not None or not self.knows_all(kind)

    def _apply_CreateObject(self, f: F.CreateObject, migration: int) -> None:
        key = f"{f.table} {f.name}" if f.kind == "policy" else f.name
        self.objects[(f.kind, key)] = SchemaObject(f.kind, key, migration, f.trigger, f.detail)
        if f.kind == "extension":  # it makes routines, types, ... the history does not list
            self.gaps.update(("function", "procedure", "type", "domain", "view", "sequence"))

    def _apply_DropObject(self, f: F.DropObject, migration: int) -> None:
        if self.objects.pop((f.kind, f.name), None) is None and not f.if_exists and f.kind != "domain":
            self.gaps.add(f.kind)
        if f.kind == "domain":
            self.domains.pop(f.name, None)
        if f.kind == "schema":
            for name in [n for n in self.tables if n.startswith(f.name + ".")]:
                self._apply_DropTable(F.DropTable(name), migration)

    def _apply_RenameObject(self, f: F.RenameObject, migration: int) -> None:
        if f.kind == "enum value" or f.kind.endswith("column"):
            return  # the object keeps its name
        made = self.objects.pop((f.kind, f.name), None)
        if made is None:
            self.gaps.add(f.kind)
        else:
            made.name = f.new_name
            self.objects[(f.kind, f.new_name)] = made

    def _apply_AccessChange(self, f: F.AccessChange, migration: int) -> None:
        if f.what == "DROP POLICY":
            self.objects.pop(("policy", f"{f.table} {f.name}"), None)

    # --- issue 20: scans ---

    def domain_users(self, domain: str) -> list[str]:
        """The tables with a column of the domain (or an array of it)."""
        return [t.name for t in self.tables.values()
                if any(c.type is not None and type_name(c.type) == domain for c in t.columns.values())]

    def partitions(self, parent: str) -> list[Table]:
        return [t for t in self.tables.values() if t.partition_of == parent]

    def _apply_DomainConstraint(self, f: F.DomainConstraint, migration: int) -> None:
        if f.domain not in self.domains:
            self.gaps.add("domain")
        if not f.set_not_null and f.what.upper().startswith("CHECK"):
            self.domains_with_check.add(f.domain)  # a column of it added later rewrites (P29)

    def _apply_AttachPartition(self, f: F.AttachPartition, migration: int) -> None:
        t = self._ensure(f.partition)
        t.partition_of, t.partition_bound = f.table, f.bound

    def _apply_DetachPartition(self, f: F.DetachPartition, migration: int) -> None:
        t = self._ensure(f.partition)
        t.partition_of, t.partition_bound = None, ""


def type_name(t: F.TypeRef) -> str:
    """A type's schema key as the user spelled it (`"Money"` -> Money, `public.posint` -> posint),
    the way a CREATE DOMAIN's name is kept."""
    parts = [p[1:-1] if p.startswith('"') else p.lower() for p in t.text.strip().removesuffix("[]").split(".")]
    if len(parts) > 1 and parts[-2] == "public":
        parts = parts[-1:]
    return ".".join(parts)


def _identity(col: F.ColumnDef) -> str | None:
    """How the column numbers new rows by itself, if it does: a serial's default is nextval()."""
    if col.identity:
        return "identity"
    if col.serial or (col.default is not None and "nextval(" in col.default.text.lower()):
        return "serial"
    return None


# PostgreSQL's own names for constraints created without one (<table>_<columns>_<suffix>).
_SUFFIX = {"primary_key": "pkey", "unique": "key", "foreign_key": "fkey", "check": "check", "exclude": "excl"}


def _default_name(table: str, con: F.ConstraintDef) -> str:
    short = table.rpartition(".")[2]
    if con.kind == "primary_key":
        return f"{short}_pkey"
    return "_".join([short, *con.columns, _SUFFIX.get(con.kind, con.kind)])


def _renamed(columns: tuple[str, ...], old: str, new: str) -> tuple[str, ...]:
    """Index or key columns, as written, with column `old` named `new` (expressions unchanged)."""
    plain = re.compile(rf'^\s*"?{re.escape(old)}"?(\s|$)', 0 if old != old.lower() else re.I)
    spelled = new if new == new.lower() else f'"{new}"'
    return tuple(plain.sub(lambda m: spelled + m.group(1), c, count=1) if plain.match(c) else c for c in columns)

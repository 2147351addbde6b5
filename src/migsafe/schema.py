"""Replay facts, in order, into a model of the schema: what existed before each statement.

The model is deliberately forgiving: history is often incomplete (a folder starts after the
tables were made elsewhere), so a fact about an unknown table or column just creates what it
needs instead of failing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from migsafe.sql import facts as F


@dataclass
class Column:
    name: str
    type: F.TypeRef | None
    nullable: bool = True
    default: F.Default | None = None


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


@dataclass
class Index:
    name: str
    table: str
    unique: bool = False
    columns: tuple[str, ...] = ()  # as written: plain column names or expressions


@dataclass
class Schema:
    tables: dict[str, Table] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)
    domains_with_check: set[str] = field(default_factory=set)
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
        return t is not None and t.created_in == migration

    def knows_all(self, kind: str) -> bool:
        """Every table, and every object of `kind`, the database holds is in the model: so an
        object the model lacks does not exist (a drop `IF EXISTS` of it does nothing)."""
        return self.starts_empty and not self.gaps & {kind, "table", "migration"}

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
        if con.name is None:
            self.gaps.add("constraint")
        if con.ref_table is not None and con.ref_table not in self.tables and con.ref_table != table.name:
            self.gaps.add("table")  # a foreign key to a table the history did not make
        name = con.name or f"{table.name}_{'_'.join(con.columns) or con.kind}_{con.kind}"
        table.constraints[name] = Constraint(name, con.kind, con.columns, con.expression, validated, self.tx,
                                             con.ref_table)

    def apply(self, fact: F.Fact, migration: int) -> None:
        method = getattr(self, "_apply_" + type(fact).__name__, None)
        if method is not None:
            method(fact, migration)

    def _apply_CreateTable(self, f: F.CreateTable, migration: int) -> None:
        t = Table(f.table, created_in=migration)
        self.starts_empty = self.starts_empty or migration == 0
        if not f.columns:  # CREATE TABLE ... AS SELECT, LIKE, PARTITION OF: columns not listed
            self.gaps.add("column")
        for col in f.columns:
            t.columns[col.name] = Column(col.name, col.type, col.nullable, col.default)
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
        t.columns[f.column.name] = Column(f.column.name, f.column.type, f.column.nullable, f.column.default)
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
        self._column(f.table, f.column).default = None

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
        if f.table not in self.tables:
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
        if f.has_check:
            self.domains_with_check.add(f.name)

"""The facts of a Django migration's SQL, as the running app meets them: what Django's schema
editors write in several statements that amount to one change (a default added then dropped, a
SQLite table remade), and a type change migsafe cannot judge."""

from __future__ import annotations

import dataclasses

from migsafe.model import Statement
from migsafe.sql import facts as F
from migsafe.sql.translate import translate


def net_defaults(statements: list[Statement], dialect: str) -> None:
    """AddField of a NOT NULL field with a Python `default`: Django adds the column with that
    default as a DB default and drops it again in the same operation. What the running app
    version meets is a NOT NULL column without default, so the ADD COLUMN's facts say that."""
    for i, stmt in enumerate(statements):
        if "DROP DEFAULT" not in stmt.sql.upper():
            continue
        for drop in (f for f in translate(stmt.sql, dialect) if isinstance(f, F.DropDefault)):
            for earlier in statements[:i]:
                if earlier.span != stmt.span or "ADD" not in earlier.sql.upper():
                    continue
                facts = earlier.facts if earlier.facts is not None else translate(earlier.sql, dialect)
                earlier.facts = [g for f in facts for g in _without_default(f, drop)]


def remade_tables(statements: list[Statement], dialect: str) -> None:
    """Django's SQLite editor changes most columns and constraints by remaking the table: CREATE
    TABLE "new__t", INSERT ... SELECT, DROP TABLE "t", ALTER TABLE "new__t" RENAME TO "t". That
    DROP is no drop but a rebuild of t, as Alembic's batch recreate is: a TableRewrite of t (the
    RENAME then puts the new definition in t's place)."""
    if dialect != "sqlite":
        return
    facts = [s.facts if s.facts is not None else translate(s.sql, dialect) for s in statements]
    renamed = {f.new_name for fs in facts for f in fs if isinstance(f, F.RenameTable) and f.table == f"new__{f.new_name}"}
    for stmt, fs in zip(statements, facts):
        if any(isinstance(f, F.DropTable) and f.table in renamed for f in fs):
            stmt.facts = [F.TableRewrite(f.table, "Django's SQLite schema editor, remaking the table,")
                          if isinstance(f, F.DropTable) and f.table in renamed else f for f in fs]


def _without_default(fact, drop) -> list:
    """The AddColumn `drop` takes the default from, as its net effect: no default, and its inline
    foreign key as a constraint of its own (the default filled existing rows: it is validated)."""
    if not (isinstance(fact, F.AddColumn) and fact.table == drop.table and fact.column.name == drop.column):
        return [fact]
    foreign = [c for c in fact.column.constraints if c.kind == "foreign_key"]
    column = dataclasses.replace(fact.column, default=None, dropped_default=fact.column.default,
                                 constraints=[c for c in fact.column.constraints if c not in foreign])
    return [dataclasses.replace(fact, column=column)] + [F.AddConstraint(table=fact.table, constraint=c) for c in foreign]


def say_unknown_type(stmt: Statement, column: str, what: str) -> None:
    """A change of `column` to or from a type migsafe does not know: an Unknown fact beside the
    type change (which keeps the schema in step), so that a reviewer is told to judge it."""
    changes = [f for f in stmt.facts if isinstance(f, F.AlterColumnType) and f.column == column]
    stmt.facts = [*stmt.facts, *(F.Unknown(what, f.table) for f in changes[:1])]

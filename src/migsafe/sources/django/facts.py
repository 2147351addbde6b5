"""The facts of a Django migration's SQL, as the running app meets them: what Django's schema
editors write in several statements that amount to one change (a default added then dropped, a
SQLite table remade), and a type change migsafe cannot judge."""

from __future__ import annotations

import dataclasses

from migsafe.model import Statement
from migsafe.sql import facts as F
from migsafe.sql.defaults import added_with_default
from migsafe.sql.translate import translate


def net_defaults(statements: list[Statement], dialect: str) -> None:
    """AddField of a NOT NULL field with a Python `default`: Django adds the column with that
    default as a DB default and drops it again in the same operation. What the running app
    version meets is a NOT NULL column without default, so the ADD COLUMN's facts say that."""
    translated: dict[int, list] = {}  # id of a statement -> its facts, each translated once

    def facts_of(stmt: Statement) -> list:
        if stmt.facts is not None:
            return stmt.facts
        if id(stmt) not in translated:
            translated[id(stmt)] = translate(stmt.sql, dialect)
        return translated[id(stmt)]

    for i, stmt in enumerate(statements):
        if "DROP DEFAULT" not in stmt.sql.upper():
            continue
        for position, drop in enumerate(facts_of(stmt)):
            added = isinstance(drop, F.DropDefault) and added_with_default(statements, facts_of, i, position)
            if added and statements[added[0]].span == stmt.span:  # by the same operation
                earlier = statements[added[0]]
                facts = facts_of(earlier)
                earlier.facts = facts[:added[1]] + _without_default(facts[added[1]]) + facts[added[1] + 1:]


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


def _without_default(fact: F.AddColumn) -> list:
    """An AddColumn whose default its operation drops again, as its net effect: no default, and its
    inline foreign key as a constraint of its own (the default filled existing rows: it is validated)."""
    foreign = [c for c in fact.column.constraints if c.kind == "foreign_key"]
    column = dataclasses.replace(fact.column, default=None, dropped_default=fact.column.default,
                                 constraints=[c for c in fact.column.constraints if c not in foreign])
    return [dataclasses.replace(fact, column=column)] + [F.AddConstraint(table=fact.table, constraint=c) for c in foreign]


def say_unknown_type(stmt: Statement, column: str, what: str) -> None:
    """A change of `column` to or from a type migsafe does not know: an Unknown fact beside the
    type change (which keeps the schema in step), so that a reviewer is told to judge it."""
    changes = [f for f in stmt.facts if isinstance(f, F.AlterColumnType) and f.column == column]
    stmt.facts = [*stmt.facts, *(F.Unknown(what, f.table) for f in changes[:1])]

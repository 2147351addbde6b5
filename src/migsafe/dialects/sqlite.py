"""SQLite: which changes ALTER TABLE does natively, by version, and which need a table rebuild.

SQLite locks the whole database file for writing during any ALTER; what matters is whether the
statement works at all and whether it copies the table. ALTER TABLE does RENAME TO, RENAME
COLUMN (3.25+), ADD COLUMN (with restrictions) and DROP COLUMN (3.35+; it rewrites the table);
from 3.53 also NOT NULL and CHECK constraints. Everything else needs the documented rebuild:
create the new table, copy the rows, drop the old one, rename (Alembic's batch_alter_table does
it, and reports as a TableRewrite fact). Source: ../shared/design/ddl-facts.md (SQLite part; the
ADD COLUMN restrictions were checked on SQLite 3.40).
"""

from __future__ import annotations

from migsafe import plans as P
from migsafe.dialects.base import Cost, Dialect
from migsafe.sql import facts as F

NATIVE, REBUILD = "native", "rebuild"


class SQLite(Dialect):
    name = "sqlite"
    label = "SQLite"
    default_version = "3.45"
    transactional_ddl = True
    rewrite_lock = "database write"
    exclusive_lock = "database write"
    lock_timeout_setting = "busy_timeout"
    nested_begin = ("SQLite refuses it (\"cannot start a transaction within a transaction\"): the migration fails"
                    " at deploy time")
    not_null_add = "is refused by SQLite (\"Cannot add a NOT NULL column with default value NULL\")"
    upsert_by_name = None  # (ON CONFLICT takes columns only; INSERT OR REPLACE stops replacing too)

    def set_lock_timeout(self) -> None:
        # None in a plan: no step. A waiting SQLite writer makes nobody queue behind it, so there
        # is nothing to time out (busy_timeout only bounds its own wait).
        return None

    def lock(self, fact: F.Fact) -> str | None:
        return None if isinstance(fact, (F.Harmless, F.SetSetting)) else "database write"

    def cost(self, fact: F.Fact, schema) -> Cost | None:
        missing = self._unsupported(fact)
        if missing is not None:
            return Cost(REBUILD, fails=True, why=f"is not possible with ALTER TABLE on {self.server} ({missing}):"
                                                 " the statement fails, and the table must be rebuilt instead")
        if isinstance(fact, F.TableRewrite):
            return Cost(REBUILD, True, f"rebuilds {fact.table}: every row is copied into a new"
                                       " table while the database is locked for writing")
        return Cost(NATIVE)

    def _unsupported(self, fact: F.Fact) -> str | None:
        """Why SQLite's ALTER TABLE cannot do this, or None when it can."""
        v353 = self.at_least(3, 53)
        if isinstance(fact, F.AddColumn):
            col = fact.column
            if any(c.kind in ("primary_key", "unique") for c in col.constraints):
                return "a PRIMARY KEY or UNIQUE column cannot be added"
            if col.generated == "stored":
                return "a STORED generated column cannot be added"
            if col.default is not None and (col.default.volatility != "constant" or col.default.text.startswith("(")):
                return f"the default {col.default.text} is not a constant"
            if col.default is not None and col.default.text.strip().lower() != "null" and \
                    any(c.kind == "foreign_key" for c in col.constraints):
                return "a REFERENCES column must default to NULL"
            return None
        if isinstance(fact, F.DropColumn) and not self.at_least(3, 35):
            return "DROP COLUMN needs SQLite 3.35"
        if isinstance(fact, F.RenameColumn) and not self.at_least(3, 25):
            return "RENAME COLUMN needs SQLite 3.25"
        if isinstance(fact, F.AlterColumnType):
            return "a column's type cannot be changed"
        if isinstance(fact, (F.SetNotNull, F.DropNotNull)) and not v353:
            return "NOT NULL cannot be changed before SQLite 3.53"
        if isinstance(fact, (F.SetDefault, F.DropDefault)):
            return "a column's default cannot be changed"
        if isinstance(fact, F.AddConstraint):
            if fact.constraint.kind == "check" and v353:
                return None
            return f"a {fact.constraint.kind.replace('_', ' ')} constraint cannot be added" + (
                "" if fact.constraint.kind != "check" else " before SQLite 3.53")
        if isinstance(fact, F.DropConstraint) and not v353:
            return "constraints cannot be dropped before SQLite 3.53"
        return None

    def cost_plan(self, table: str, statement: str, fact: F.Fact, schema) -> P.Plan:
        t = table.split(".")[-1]
        return P.Plan("Rebuild the table: create it anew, copy the rows, swap it in (Alembic: op.batch_alter_table).", [
            P.Phase("single", "Rebuild the table in one transaction, when the app can wait for it", [
                # one action per statement, so each framework writes each comment above its own statement
                P.Statement(f"-- instead of: {statement.strip().rstrip(';')}\n"
                            f"-- the table's new definition:\nCREATE TABLE {t}_new (...)"),
                P.Statement(f"INSERT INTO {t}_new SELECT ... FROM {t}"),
                P.Statement(f"-- migsafe: ignore[drop-table] {t}_new, with every row, replaces it\nDROP TABLE {t}"),
                P.Statement(f"ALTER TABLE {t}_new RENAME TO {t}")])])

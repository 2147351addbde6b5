"""The base dialect: what every dialect answers (rules ask these, never hard-code), with
PostgreSQL's answers, which a dialect of its own overrides where its engine differs.

Source of every PostgreSQL fact here: ../shared/design/ddl-facts.md (measured on 15); the
P-numbers in comments point at rows of pg15-lock-probe-results.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from migsafe import plans as P
from migsafe.sql import facts as F

AEL = "ACCESS EXCLUSIVE"
SRE = "SHARE ROW EXCLUSIVE"
SUE = "SHARE UPDATE EXCLUSIVE"
SHARE = "SHARE"


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)) or (0,)


@dataclass(frozen=True)
class Cost:
    """What an ALTER costs on an engine that picks an algorithm per change (MySQL/MariaDB) or
    rebuilds the table for most changes (SQLite). `why` completes "<the change> ..."."""

    algorithm: str  # INSTANT | NOCOPY | INPLACE | COPY; SQLite: native | rebuild
    blocks_writes: bool = False
    why: str = ""
    fails: bool = False  # the server refuses the statement as written
    asked: bool = False  # a copy only because the statement says ALGORITHM=COPY (table-rewrite's)

    @property
    def hazard(self) -> bool:
        return self.blocks_writes or self.fails


class Dialect:
    """The generic dialect: PostgreSQL's facts, used until a dialect has its own module."""

    name = "generic"
    label = "PostgreSQL"
    default_version = "15"
    transactional_ddl = True
    lock_timeout_setting = "lock_timeout"
    rewrite_lock = "ACCESS EXCLUSIVE"  # what a whole-table rewrite holds
    exclusive_lock = AEL  # the lock that queues every later query behind it while it waits
    not_null_add = "fails on a table that has rows"  # ADD COLUMN c T NOT NULL without a default (P15)

    def __init__(self, version: str | None):
        self.version_text = version or self.default_version
        self.version = version_tuple(self.version_text)

    def at_least(self, *version: int) -> bool:
        return self.version >= version

    @property
    def server(self) -> str:
        """The target named for messages: "PostgreSQL 15", "MariaDB 11.4"."""
        return f"{self.label} {self.version_text}"

    def set_lock_timeout(self) -> P.SetLockTimeout:
        return P.SetLockTimeout()

    def cost(self, fact: F.Fact, schema) -> Cost | None:
        """Per-change cost where the engine decides by algorithm (MySQL/MariaDB) or rebuilds
        (SQLite); None here: PostgreSQL is judged by lock() and the *_rewrite methods."""
        return None

    def cost_plan(self, table: str, statement: str, fact: F.Fact, schema) -> P.Plan:
        """The safe way to make a change that cost() finds hazardous. Asked only where cost()
        gave a Cost, which it never does here."""
        raise NotImplementedError(f"{self.label} judges changes by lock() and the *_rewrite methods, not cost()")

    # --- locks ----------------------------------------------------------------------------

    def lock(self, fact: F.Fact) -> str | None:
        """The strongest lock the statement takes on its table (None: no table lock worth naming)."""
        if isinstance(fact, F.AddConstraint):
            if fact.constraint.kind == "foreign_key":
                return SRE  # on both tables (P48)
            return AEL
        if isinstance(fact, F.CreateIndex):
            return SUE if fact.concurrently else SHARE  # P60-P63
        if isinstance(fact, F.DropIndex):
            return SUE if fact.concurrently else AEL  # P64, P65
        if isinstance(fact, F.ValidateConstraint):
            return SUE  # P47, P50
        if isinstance(fact, F.Reindex):
            return SUE if fact.concurrently else AEL  # AEL on the index blocks reads too (P66)
        if isinstance(fact, F.DetachPartition):
            return SUE if fact.concurrently else AEL
        if isinstance(fact, F.AttachPartition):
            return SUE if self.at_least(12) else AEL
        if isinstance(fact, F.LockTable):
            return fact.mode
        if isinstance(fact, F.CreateTable):
            return AEL if fact.partition_of else None  # AEL on the parent (P102)
        if isinstance(fact, (F.AddColumn, F.DropColumn, F.RenameColumn, F.RenameTable, F.AlterColumnType,
                             F.SetNotNull, F.DropNotNull, F.SetDefault, F.DropDefault, F.DropConstraint,
                             F.RenameConstraint, F.DropTable, F.Truncate, F.TableRewrite)):
            return AEL
        return None

    def locked_table(self, fact: F.Fact, schema) -> str | None:
        """The table whose lock matters; an index statement locks the index's table."""
        if isinstance(fact, F.CreateTable):
            return fact.partition_of
        if isinstance(fact, (F.DropIndex, F.Reindex)) and getattr(fact, "table", None) is None:
            index = schema.indexes.get(fact.name)
            return index.table if index else None
        return getattr(fact, "table", None)

    # --- rewrites and scans ---------------------------------------------------------------

    def add_column_rewrite(self, col: F.ColumnDef, domains_with_check: set[str]) -> str | None:
        """Why adding this column rewrites the table, or None when it is catalog-only."""
        if col.serial:
            return f"a {col.type.text if col.type else 'serial'} column fills every existing row from a sequence"
        if col.identity:
            return "an identity column fills every existing row from a sequence"  # P9
        if col.generated == "stored" or (col.generated == "default" and not self.at_least(18)):
            return "a stored generated column is computed for every existing row"  # P10
        if col.type is not None and col.type.name in domains_with_check:
            return f"a column of domain {col.type.name} (which has a CHECK) is checked and written for every row"  # P29
        if col.default is not None:
            if not self.at_least(11):
                return "before PostgreSQL 11 any default is written into every existing row"
            if col.default.volatility == "volatile":
                funcs = " and ".join(f + "()" for f in col.default.functions)
                if col.default.text.strip().lower() == funcs.lower():
                    return f"the default {funcs} is volatile (or not known to be stable), so it is computed for every row"
                are = "is" if len(col.default.functions) == 1 else "are"
                return (f"the default {col.default.text} calls {funcs}, which {are} volatile (or not known to be"
                        " stable), so it is computed for every row")
        return None

    def type_change_rewrite(self, old: F.TypeRef | None, new: F.TypeRef, using: str | None,
                            column: str, collate: str | None) -> str | None:
        """Why changing the type rewrites (or scans) the table, or None when it is catalog-only."""
        if old is None:
            return "UNKNOWN"  # the rule words this case itself
        if using is not None and re.sub(r'[\s"]', "", using).lower() not in (column.lower(), f"{column.lower()}::{new.text.lower()}"):
            return f"USING {using} computes a new value for every row"
        if old.array != new.array:
            return f"{old.text} to {new.text} converts every value"
        o, n = old.name, new.name
        text_like = ("VARCHAR", "TEXT", "NVARCHAR")
        if o == n and old.params == new.params:
            return "a collation change rebuilds every index on the column" if collate else None
        if o in text_like and n in text_like:
            if n == "TEXT" or (n == "VARCHAR" and not new.params):
                return None  # P33, P35
            if o == "VARCHAR" and old.params and new.params and new.params[0] >= old.params[0]:
                return None  # P31
            return f"{old.text} to {new.text} must check the length of every value"  # P32, P34
        if o == n == "DECIMAL":
            if not new.params:
                return None  # P40
            if old.params and len(new.params) >= 1 and new.params[0] >= old.params[0] and \
                    (new.params[1:] or (0,)) == (old.params[1:] or (0,)):
                return None  # P38
            return f"{old.text} to {new.text} changes the precision or scale of every value"  # P39
        if {o, n} == {"TIMESTAMP", "TIMESTAMPTZ"}:
            if self.at_least(12):
                return (f"{old.text} to {new.text} is only catalog-only when the session TimeZone is UTC,"
                        " and indexes on the column are rebuilt either way")  # P41, P42
        return f"{old.text} to {new.text} is not binary compatible"

    def set_not_null_is_cheap(self, has_valid_check: bool) -> bool:
        return has_valid_check and self.at_least(12)  # P22; a NOT VALID check does not help (P23)

    def add_value_in_transaction_fails(self) -> bool:
        return not self.at_least(12)

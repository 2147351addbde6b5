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


# type_change_rewrite's verdict for a collation change of a type kept binary compatible: the
# table stays, every index on the column is rebuilt (under the ALTER's ACCESS EXCLUSIVE lock).
COLLATION_ONLY = "COLLATION"


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
    # What a BEGIN inside an open transaction does (completes "... here: <it>").
    nested_begin = ("PostgreSQL only warns (\"there is already a transaction in progress\") and carries on, so the"
                    " next COMMIT ends the outer transaction early and what follows it runs outside any transaction")
    # The app's upsert on a key's columns, and what it does once the key is dropped (drop-constraint).
    upsert = "INSERT ... ON CONFLICT {columns}"
    upsert_unmatched = "no longer finds a matching constraint and fails"
    upsert_by_name = "ON CONFLICT ON CONSTRAINT"  # None: the dialect's upsert cannot name a key

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
            return SUE if fact.concurrently or fact.finalize else AEL  # P99-P101
        if isinstance(fact, F.AttachPartition):
            return SUE if self.at_least(12) else AEL
        if isinstance(fact, (F.DomainConstraint, F.ValidateDomainConstraint, F.RefreshMaterializedView)):
            return self.scan_lock(fact)
        if isinstance(fact, F.LockTable):
            return fact.mode
        if isinstance(fact, F.CreateTable):
            return AEL if fact.partition_of else None  # AEL on the parent (P102)
        if isinstance(fact, (F.AddColumn, F.DropColumn, F.RenameColumn, F.RenameTable, F.AlterColumnType,
                             F.SetNotNull, F.DropNotNull, F.SetDefault, F.DropDefault, F.DropConstraint,
                             F.RenameConstraint, F.DropTable, F.Truncate, F.TableRewrite,
                             F.AddIdentity, F.DropIdentity)):
            return AEL
        if isinstance(fact, (F.DropObject, F.DropExpression, F.RenameObject, F.AccessChange, F.AlterSequence)):
            return self.object_lock(fact)
        if isinstance(fact, F.DropTrigger):
            return AEL  # on the table (measured on 15: tests/truth/test_truth_transactions.py)
        if isinstance(fact, F.CreateObject) and fact.replace and fact.kind == "view":
            return AEL  # on the view it replaces, if there is one
        return None

    def locked_table(self, fact: F.Fact, schema) -> str | None:
        """The table whose lock matters; an index statement locks the index's table."""
        if isinstance(fact, F.CreateTable):
            return fact.partition_of
        if isinstance(fact, (F.DropIndex, F.Reindex)) and getattr(fact, "table", None) is None:
            index = schema.indexes.get(fact.name)
            return index.table if index else None
        if isinstance(fact, (F.DropObject, F.CreateObject, F.RenameObject)) and \
                fact.kind in ("view", "materialized view", "sequence"):
            return fact.name  # the view or sequence itself: every query of it waits
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
        if collate:  # measured on 15: only the column's indexes are rebuilt, the table is kept (P110)
            return self.type_change_rewrite(old, new, using, column, None) or COLLATION_ONLY
        if using is not None and re.sub(r'[\s"]', "", using).lower() not in (column.lower(), f"{column.lower()}::{new.text.lower()}"):
            return f"USING {using} computes a new value for every row"
        if old.array != new.array:
            return f"{old.text} to {new.text} converts every value"
        o, n = old.name, new.name
        text_like = ("VARCHAR", "TEXT", "NVARCHAR")
        if o == n and old.params == new.params:
            return None
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

    # --- issue 20: scans -------------------------------------------------------------------

    def scan_lock(self, fact: F.Fact) -> str | None:
        """The lock of a statement that scans something other than its own table: a domain's
        constraint (SHARE on every table using the domain, measured on 15), REFRESH."""
        if isinstance(fact, F.DomainConstraint):
            return None if fact.not_valid else SHARE
        if isinstance(fact, F.ValidateDomainConstraint):
            # SHARE on 15 (measured); SHARE UPDATE EXCLUSIVE from PostgreSQL 19 (commit 16a0039)
            return SUE if self.at_least(19) else SHARE
        if isinstance(fact, F.RefreshMaterializedView):
            return "EXCLUSIVE" if fact.concurrently else AEL  # P95, P96
        return None

    # --- issue 20: objects ------------------------------------------------------------------

    def object_lock(self, fact: F.Fact) -> str | None:
        """The lock a statement about a view, sequence, type, policy... holds until commit, on that
        object or on its table (measured on 15, tests/truth/test_truth_objects.py). Routines,
        schemas and grants take no lock that a query of the app waits for."""
        if isinstance(fact, F.AlterSequence):
            if fact.table is not None:
                return AEL  # ALTER TABLE ... ALTER COLUMN id RESTART: on the table
            # ALTER SEQUENCE: SHARE ROW EXCLUSIVE, which every nextval() waits for; setval(): ROW EXCLUSIVE
            return "ROW EXCLUSIVE" if fact.changes[0].lower().startswith("setval") else SRE
        if isinstance(fact, F.AccessChange):
            return None if fact.what == "REVOKE" else AEL  # policies and row-level security: on the table
        if isinstance(fact, F.DropExpression):
            return AEL
        if isinstance(fact, F.RenameObject) and fact.kind == "enum value":
            return "EXCLUSIVE"  # on the type (P108): blocks nothing the app runs
        if fact.kind.removesuffix(" column") in ("view", "materialized view", "sequence"):
            return AEL  # on the view or sequence: every query of it waits
        return None

    def set_not_null_is_cheap(self, has_valid_check: bool) -> bool:
        return has_valid_check and self.at_least(12)  # P22; a NOT VALID check does not help (P23)

    def add_value_in_transaction_fails(self) -> bool:
        return not self.at_least(12)

    # --- issue 20: transactions ---

    def work_on(self, fact: F.Fact, schema) -> list[tuple[str, str]]:
        """The tables a statement reads or writes at length while taking less than ACCESS EXCLUSIVE
        on them itself, each with what it does ("validates fk, a scan of t"): an ACCESS EXCLUSIVE
        lock held from earlier in the transaction blocks every reader of the table for all of it."""
        if isinstance(fact, F.ValidateConstraint):  # SUE (P47, P50)
            table = schema.table(fact.table)
            con = table.constraints.get(fact.name) if table else None
            tables = [fact.table] + ([con.ref_table] if con is not None and con.ref_table else [])
            return [(t, f"validates {fact.name} (a scan of {t})") for t in dict.fromkeys(tables)]
        if isinstance(fact, F.AddConstraint) and fact.constraint.kind == "foreign_key" \
                and not fact.constraint.not_valid and fact.constraint.ref_table:  # SRE, scans both (P48)
            what = f"foreign key {fact.constraint.name}" if fact.constraint.name else "a foreign key"
            tables = dict.fromkeys([fact.table, fact.constraint.ref_table])
            return [(t, f"validates {what} (a scan of {t})") for t in tables]
        if isinstance(fact, F.CreateIndex) and not fact.concurrently and not fact.only:  # SHARE (P60)
            what = f"index {fact.name}" if fact.name else "an index"
            return [(fact.table, f"builds {what} (a scan of {fact.table})")]
        if isinstance(fact, F.DataChange):  # ROW EXCLUSIVE
            return [(fact.table, f"{'updates' if fact.verb == 'UPDATE' else 'deletes'} rows of {fact.table}")]
        if isinstance(fact, F.InsertRows) and fact.select:
            work = [(t, f"reads {t} for INSERT ... SELECT") for t in fact.sources if t != fact.table]
            return [(fact.table, f"inserts the rows of a query into {fact.table}")] + work
        return []

"""MySQL 8.0/8.4 and MariaDB 10.11/11.x (InnoDB): which algorithm each change gets, by version.

What matters on these servers is not a lock mode but the ALTER algorithm: INSTANT (data
dictionary only) and INPLACE (rebuilt inside InnoDB, or not) keep writes running; COPY copies
the table row by row and blocks writes until it ends. Every ALTER also takes an exclusive
metadata lock, briefly, which queues every later query on the table while it waits for open
transactions: that is what `lock_wait_timeout` bounds.

Sources: ../shared/design/ddl-facts.md (MySQL and MariaDB parts, from the manuals). The MariaDB
verdicts were checked on a MariaDB 10.11 server (tests/test_mysql_truth.py asks the server the
same questions); the MySQL-only ones (8.0.12/8.0.28/8.0.29 gates, INPLACE VARCHAR widening) are
from the manual.

`--target-version`: `8.0`, `8.0.36`, `8.4` for MySQL; `mariadb-10.11`, `mariadb-11.4` (or a bare
`10.11`, `11.4`: MySQL has no major version 10 or 11) for MariaDB. A missing patch level counts
as .0, so `8.0` is judged as 8.0.0; give the patch release to get the later 8.0 INSTANT facts.
"""

from __future__ import annotations

import re

from migsafe import plans as P
from migsafe.dialects.base import Cost, Dialect
from migsafe.sql import facts as F

INSTANT, NOCOPY, INPLACE, COPY = "INSTANT", "NOCOPY", "INPLACE", "COPY"
MDL = "EXCLUSIVE METADATA"
UNKNOWN_TYPE = ("the column's current type is not known from the migration history, so migsafe cannot tell whether"
                " the server changes it in place")
# Bytes per character of the common character sets; anything else is treated as utf8mb4 (4),
# MySQL 8's default.
BYTES_PER_CHAR = {"latin1": 1, "ascii": 1, "binary": 1, "utf8mb3": 3, "utf8": 3, "ucs2": 2, "utf16": 4,
                  "utf32": 4, "utf8mb4": 4}
VARLEN = ("VARCHAR", "VARBINARY")
ENUMS = ("ENUM", "SET")
# Facts that are an ALTER of an existing table, so take the exclusive metadata lock.
DDL_FACTS = (F.AddColumn, F.DropColumn, F.RenameColumn, F.AlterColumnType, F.SetNotNull, F.DropNotNull,
             F.SetDefault, F.DropDefault, F.AddConstraint, F.DropConstraint, F.CreateIndex, F.DropIndex,
             F.RenameIndex, F.RenameTable, F.DropTable, F.Truncate, F.TableRewrite)


class MySQL(Dialect):
    name = "mysql"
    default_version = "8.4"
    transactional_ddl = False
    lock_timeout_setting = "lock_wait_timeout"
    rewrite_lock = "SHARED"  # a COPY lets reads run and blocks writes
    exclusive_lock = MDL
    not_null_add = "fills every existing row with the type's implicit default (0, '' or a zero date)"
    upsert = "INSERT ... ON DUPLICATE KEY UPDATE on {columns}"
    upsert_unmatched = "no longer sees a duplicate: it inserts a second row instead of updating the first"
    upsert_by_name = None
    nested_begin = ("the server commits the open transaction first (BEGIN causes an implicit commit), so what came"
                    " before it can no longer be rolled back with what follows")

    def __init__(self, version: str | None):
        super().__init__(version)
        self.mariadb = self.version_text.lower().startswith("mariadb") or self.version[0] >= 10
        self.label = "MariaDB" if self.mariadb else "MySQL"

    @property
    def server(self) -> str:
        return f"{self.label} {re.sub(r'(?i)^mariadb-', '', self.version_text)}"

    def mysql_at_least(self, *version: int) -> bool:
        """A MySQL version gate; MariaDB 10.4+ has every INSTANT change these gates are for."""
        return self.mariadb or self.at_least(*version)

    def lock(self, fact: F.Fact) -> str | None:
        return MDL if isinstance(fact, DDL_FACTS) else None

    def locked_table(self, fact: F.Fact, schema) -> str | None:
        return getattr(fact, "table", None) or super().locked_table(fact, schema)

    def set_lock_timeout(self) -> P.SetLockTimeout:
        return P.SetLockTimeout("5", self.lock_timeout_setting)

    def cost_plan(self, table: str, statement: str, fact: F.Fact, schema) -> P.Plan:
        alter = alter_clauses(statement)
        alg, why = self._best(fact, schema)
        if alg != COPY and not why.startswith("blocks writes") and re.match(r"(?is)\s*alter\s+table", statement):
            # The server can do it without blocking writes: ask for that, so it refuses rather than copies.
            clause = "ALGORITHM=INSTANT" if alg == INSTANT else f"ALGORITHM={alg}, LOCK=NONE"
            return P.Plan(f"Ask for {clause}: {self.server} does this change without blocking writes, and"
                          " refuses the statement rather than copy the table.", [
                P.Phase("single", f"Run it with {clause}", [
                    self.set_lock_timeout(), P.Statement(f"ALTER TABLE {table} {alter}, {clause}")])])
        return P.Plan("Let an online schema-change tool (gh-ost, pt-online-schema-change) copy the table while"
                      " writes continue, or split the change into steps the server does in place.", [
            P.Phase("single", "Run the change with an online schema-change tool", [
                P.OnlineSchemaChange(table, alter)])])

    # --- the algorithm ----------------------------------------------------------------------

    def cost(self, fact: F.Fact, schema) -> Cost | None:
        best = self._best(fact, schema)
        if best is None:
            return None
        alg, why = best
        asked = fact.algorithm
        order = [INSTANT, NOCOPY, INPLACE, COPY]
        if isinstance(fact, F.AddConstraint) and fact.constraint.kind == "foreign_key" and asked in (INPLACE, NOCOPY):
            # In place with foreign_key_checks=0, a session setting migsafe does not follow: the
            # server enforces the clause either way.
            return Cost(asked, False, "the server adds the foreign key in place or refuses")
        if asked in order and order.index(asked) < order.index(alg):
            return Cost(alg, fails=True, why=f"is refused by {self.server}: ALGORITHM={asked} is not possible for it"
                                             f" ({why}), so the migration fails at deploy time")
        requested = asked == COPY and alg != COPY
        if requested:
            alg, why = COPY, "the statement asks for ALGORITHM=COPY"
        online_copy = self.mariadb and self.at_least(11, 4) and fact.lock_clause == "NONE"
        if alg == COPY and fact.lock_clause == "NONE" and not online_copy:
            return Cost(alg, fails=True, why=f"is refused by {self.server}: LOCK=NONE is not possible with a copy"
                                             f" ({why}), so the migration fails at deploy time")
        if alg == COPY and not online_copy:
            may = "may copy" if why == UNKNOWN_TYPE else "copies"
            return Cost(alg, True, f"{may} the whole table on {self.server} (ALGORITHM=COPY), blocking every write"
                                   f" until the copy ends: {why}", asked=requested)
        if alg == INPLACE and why.startswith("blocks writes"):
            if fact.lock_clause == "NONE":
                return Cost(alg, fails=True, why=f"is refused by {self.server}: LOCK=NONE is not possible ({why})")
            return Cost(alg, True, f"rebuilds the table in place on {self.server} but {why}")
        if fact.lock_clause in ("SHARED", "EXCLUSIVE") and alg != INSTANT:
            return Cost(alg, True, f"asks for LOCK={fact.lock_clause}, which blocks writes while {self.server}"
                                   " works through the whole table")
        return Cost(alg, False, why)

    def _best(self, fact: F.Fact, schema) -> tuple[str, str] | None:
        """The best algorithm the server has for the change, and why (None: not an ALTER)."""
        if isinstance(fact, F.AddColumn):
            return self._add_column(fact.column)
        if isinstance(fact, F.DropColumn):
            if self.mysql_at_least(8, 0, 29):
                return INSTANT, "dropping a column is instant"
            return INPLACE, "dropping a column rebuilds the table in place before MySQL 8.0.29"
        if isinstance(fact, F.RenameColumn):
            return (INSTANT if self.mysql_at_least(8, 0, 28) else INPLACE), "renaming a column is metadata only"
        if isinstance(fact, F.AlterColumnType):
            col = schema.column(fact.table, fact.column)
            return self._type_change(col.type if col else None, fact.new_type)
        if isinstance(fact, F.SetNotNull):
            col = schema.column(fact.table, fact.column)
            if col is not None and not col.nullable:
                return INSTANT, "the column is already NOT NULL"
            return INPLACE, "NOT NULL is enforced by rebuilding the table in place, writes continue"
        if isinstance(fact, F.DropNotNull):
            col = schema.column(fact.table, fact.column)
            if col is not None and col.nullable:
                return INSTANT, "the column is already nullable"
            return INPLACE, "allowing NULL rebuilds the table in place, writes continue"
        if isinstance(fact, (F.SetDefault, F.DropDefault, F.RenameTable, F.RenameIndex)):
            return INSTANT, "metadata only"
        if isinstance(fact, F.AddConstraint):
            kind = fact.constraint.kind
            if kind == "foreign_key":
                return COPY, "a foreign key is added in place only with foreign_key_checks=0"
            if kind == "check":
                return COPY, "a CHECK constraint is checked by copying the table"
            return INPLACE, "the index is built in place, writes continue"
        if isinstance(fact, F.DropConstraint):
            if fact.kind == "primary_key":
                return COPY, "dropping the primary key without adding one copies the table"
            if fact.kind == "primary_key_replaced":
                return INPLACE, "replacing the primary key rebuilds the table in place"
            return (INSTANT if self.mariadb else INPLACE), "dropping a constraint is metadata only"
        if isinstance(fact, (F.CreateIndex, F.DropIndex)):
            return (NOCOPY if self.mariadb else INPLACE), "index changes run in place, writes continue"
        if isinstance(fact, F.TableRewrite):
            if fact.inplace:
                return INPLACE, f"{fact.what} rebuilds the table in place, writes continue"
            return COPY, f"{fact.what} converts every row"
        return None

    def _add_column(self, col: F.ColumnDef) -> tuple[str, str]:
        if col.generated == "stored":
            return COPY, "a stored generated column is computed for every row"
        if col.identity or col.serial:
            return INPLACE, "blocks writes: an AUTO_INCREMENT column numbers every existing row"
        if col.default is not None and col.default.volatility == "volatile":
            return COPY, f"the default {col.default.text} is an expression evaluated for every row"
        if any(c.kind in ("unique", "primary_key") for c in col.constraints):
            return INPLACE, "the new column's index is built in place, writes continue"
        if self.mysql_at_least(8, 0, 29) or (col.position is None and self.at_least(8, 0, 12)):
            return INSTANT, "adding a column is instant"
        return INPLACE, "adding a column rebuilds the table in place before MySQL 8.0.29 (8.0.12 for the last position)"

    def _type_change(self, old: F.TypeRef | None, new: F.TypeRef) -> tuple[str, str]:
        if old is None:
            return COPY, UNKNOWN_TYPE
        old_cs, new_cs = old.charset or "utf8mb4", new.charset or "utf8mb4"
        if old_cs != new_cs:
            return COPY, f"the character set changes from {old_cs} to {new_cs}"
        o, n = old.name, new.name
        if o == n and old.params == new.params and _members(old) == _members(new):
            return INSTANT, "the type is unchanged"
        if o == n and o in VARLEN and old.params and new.params and new.params[0] >= old.params[0]:
            per = 1 if o == "VARBINARY" else BYTES_PER_CHAR.get(old_cs, 4)
            before, after = old.params[0] * per, new.params[0] * per
            if (before <= 255) == (after <= 255):
                return (INSTANT if self.mariadb else INPLACE), "widening keeps the same length prefix"
            if self.mariadb and before <= 127:  # values under 128 bytes keep a 1-byte prefix (measured on 10.11)
                return INSTANT, "every stored value is shorter than 128 bytes, so its length prefix stays 1 byte"
            return COPY, (f"{old.text} to {new.text} grows past 255 bytes ({before} to {after} bytes in {old_cs}),"
                          " so every value's length prefix grows from 1 to 2 bytes")
        if o == n and o in ENUMS:
            a, b = _members(old), _members(new)
            if b[:len(a)] == a and (len(b) <= 255 if o == "ENUM" else (len(a) - 1) // 8 == (len(b) - 1) // 8):
                return INSTANT, "members appended at the end keep every stored value"
            return COPY, "reordering or removing members renumbers the stored values"
        return COPY, f"{old.text} to {new.text} changes how every value is stored"


def _members(t: F.TypeRef) -> list[str]:
    return re.findall(r"'((?:[^']|'')*)'", t.text) if t.name in ENUMS else []


def alter_clauses(statement: str) -> str:
    """`ALTER TABLE t MODIFY n bigint;` -> `MODIFY n bigint` (what gh-ost's --alter takes)."""
    text = re.sub(r"(?is)^\s*alter\s+(?:online\s+|ignore\s+)?table\s+\S+\s+", "", statement.strip())
    return re.sub(r"(?i),?\s*(algorithm|lock)\s*=?\s*\w+", "", text).rstrip("; \n")

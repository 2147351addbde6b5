"""What one statement did on the server: the evidence a finding carries in --database mode.

PostgreSQL only (elsewhere: the time alone). Observed in the statement's own session and
transaction, on a raw DB-API cursor of the same connection, just before and just after it:

- locks: `pg_locks` rows of this backend on user relations (oid >= FirstNormalObjectId) that were
  not held before: the locks the statement took and the transaction now keeps until its end;
- rewrite: user tables, indexes and materialized views whose `pg_class.relfilenode` changed
  (a rewritten table gets a new file, and so do its indexes);
- scan: tables whose `pg_stat_xact_user_tables.seq_scan` grew (this transaction's counters);
- ms: wall time between the two snapshots.

A statement run outside a transaction (autocommit) releases its locks before after() can see
them, so its `locks` are empty; the runners run such statements inside one where they can.
In a transaction of many statements (an Alembic upgrade in one transaction, a Django migration
of many operations), a lock an earlier statement took is not taken again: `earlier` says which
the transaction already held, and since which statement (the `where` given to after()).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

_FIRST_USER_OID = 16384  # PostgreSQL's FirstNormalObjectId: below it, the system catalogs

_LOCKS = (f"SELECT l.relation::int, l.relation::regclass::text, l.mode FROM pg_locks l "
          f"WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted "
          f"AND l.relation >= {_FIRST_USER_OID}")
# Views and partitioned tables and indexes too (their relfilenode is 0, so never a rewrite): a lock
# on one the statement drops is then still named (after() names it from this snapshot).
_FILES = (f"SELECT c.oid::int, c.oid::regclass::text, c.relfilenode::int FROM pg_class c "
          f"WHERE c.oid >= {_FIRST_USER_OID} AND c.relkind IN ('r', 'i', 'm', 't', 'p', 'I', 'v')")
_SCANS = "SELECT relid::int, relid::regclass::text, seq_scan FROM pg_stat_xact_user_tables"


@dataclass(frozen=True)
class Evidence:
    locks: tuple[tuple[str, str], ...] = ()  # (relation, lock mode) the statement newly held
    rewritten: tuple[str, ...] = ()  # relations whose relfilenode changed
    scanned: tuple[str, ...] = ()  # tables sequentially scanned
    ms: float = 0.0
    server_version: str = ""  # "18.6"; "" where unknown
    # Every lock the transaction held on user relations after the statement (also those taken
    # by earlier statements): what the statement ran under, for comparing with the fact table.
    held: tuple[tuple[str, str], ...] = ()
    # The strongest lock the transaction already held on each relation before the statement, and
    # where it was taken ("" where no statement the runner saw took it): (relation, mode, where).
    earlier: tuple[tuple[str, str, str], ...] = ()

    def to_json(self) -> dict:
        return {"locks": [{"relation": r, "mode": m} for r, m in self.locks], "rewrite": bool(self.rewritten),
                "scan": bool(self.scanned), "ms": round(self.ms, 1), "server_version": self.server_version}

    def strongest(self) -> list[tuple[str, str]]:
        """(relation, mode) of the strongest lock newly taken on each relation, in name order."""
        best: dict[str, str] = {}
        for relation, mode in self.locks:
            if relation not in best or rank(mode) > rank(best[relation]):
                best[relation] = mode
        return sorted(best.items())

    def text(self) -> str:
        """One line for reports and `trace`."""
        locks = ", ".join(f"{m} on {r}" for r, m in self.strongest()) or ("none new" if self.earlier else "none")
        parts = [f"locks: {locks}"]
        parts.append(f"rewrite: {', '.join(self.rewritten)}" if self.rewritten else "no rewrite")
        parts.append(f"scan: {', '.join(self.scanned)}" if self.scanned else "no scan")
        parts.append(f"{self.ms:.1f} ms")
        return "; ".join(parts)

    def new_lock(self, table: str) -> str | None:
        """The strongest lock the statement newly took on `table` (unqualified name, any case)."""
        modes = [m for r, m in self.locks if _bare(r) == _bare(table)]
        return max(modes, key=rank) if modes else None

    def held_before(self, table: str) -> tuple[str, str] | None:
        """(mode, where taken) of the lock the transaction held on `table` before the statement."""
        return next(((m, where) for r, m, where in self.earlier if _bare(r) == _bare(table)), None)

    def holds(self, table: str, mode: str) -> bool:
        """Whether the transaction held `mode` on `table` after the statement (taken by it or before)."""
        return any(_bare(r) == _bare(table) and m == mode for r, m in (*self.held, *self.locks))


# PostgreSQL's table lock modes, weakest first.
LOCK_MODES = ["ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE",
              "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"]


def rank(mode: str) -> int:
    return LOCK_MODES.index(mode) if mode in LOCK_MODES else -1  # (advisory-like modes: weakest)


def lock_mode(pg_mode: str) -> str:
    """pg_locks' "ShareUpdateExclusiveLock" -> "SHARE UPDATE EXCLUSIVE" (the documentation's name)."""
    words = re.findall(r"[A-Z][a-z]*", pg_mode.removesuffix("Lock"))
    return " ".join(words).upper()


def _bare(name: str) -> str:
    return name.rsplit(".", 1)[-1].strip('"').lower()


class Probe:
    """Snapshots around one statement on `dbapi_connection` (the connection it runs on)."""

    def __init__(self, dbapi_connection, dialect: str):
        self._conn = dbapi_connection
        self._postgres = dialect == "postgresql"
        self._version: str | None = None
        self._start = 0.0
        self._locks: dict[tuple[int, str], str] = {}
        self._files: dict[int, tuple[str, int]] = {}
        self._scans: dict[int, int] = {}
        self._scan_names: dict[int, str] = {}
        self._taken_at: dict[tuple[int, str], str] = {}  # (oid, mode) held now -> where it was taken

    def before(self) -> None:
        if self._postgres:
            if self._version is None:
                self._version = self._server_version()
            self._locks, self._files, self._scans = self._snapshot()
        self._start = time.perf_counter()

    def after(self, where: str = "") -> Evidence:
        """The evidence of the statement since before(); `where`: how to name the statement to
        later ones that find its locks held already ("r1a2b line 12")."""
        ms = (time.perf_counter() - self._start) * 1000
        if not self._postgres:
            return Evidence(ms=ms)
        locks, files, scans = self._snapshot()
        # Each relation by its name before the statement: one it dropped has no name now, and one it
        # renamed is the one the statement (and its finding) names.
        names = {oid: name for oid, (name, _) in self._files.items()}
        # A relation with no name, then or now, is the statement's own scratch (the new heap of a
        # rewrite, dropped again before it ended); TOAST tables follow their table. Neither is shown.
        named = {key: _name(key[0], name, names) for key, name in locks.items()}
        named = {key: name for key, name in named.items() if _shown(name)}
        new = tuple(sorted({(name, mode) for (oid, mode), name in named.items() if (oid, mode) not in self._locks}))
        held = tuple(sorted({(name, mode) for (oid, mode), name in named.items()}))
        rewritten = tuple(sorted(name for oid, (name, node) in files.items()
                                 if oid in self._files and self._files[oid][1] != node and _shown(name)))
        scanned = tuple(sorted(self._scan_names.get(oid, str(oid))
                               for oid, count in scans.items() if count > self._scans.get(oid, 0)))
        self._taken_at = {key: self._taken_at.get(key, "") if key in self._locks else where for key in locks}
        strongest: dict[str, tuple[str, str]] = {}
        for (oid, mode), name in named.items():
            if (oid, mode) in self._locks and (name not in strongest or rank(mode) > rank(strongest[name][0])):
                strongest[name] = mode, self._taken_at[(oid, mode)]
        earlier = tuple((name, mode, at) for name, (mode, at) in sorted(strongest.items()))
        return Evidence(new, rewritten, scanned, ms, self._version or "", held, earlier)

    def _snapshot(self):
        cur = self._conn.cursor()
        try:
            cur.execute(_LOCKS)
            locks = {(oid, lock_mode(mode)): name for oid, name, mode in cur.fetchall()}
            cur.execute(_FILES)
            files = {oid: (name, node) for oid, name, node in cur.fetchall()}
            cur.execute(_SCANS)
            rows = cur.fetchall()
        finally:
            cur.close()
        self._scan_names = {oid: name for oid, name, _ in rows}
        return locks, files, {oid: count for oid, _, count in rows}

    def _server_version(self) -> str:
        cur = self._conn.cursor()
        try:
            cur.execute("SHOW server_version")
            return str(cur.fetchone()[0]).split()[0]
        finally:
            cur.close()


def _shown(name: str) -> bool:
    return not name.isdigit() and not name.startswith("pg_toast.")


def _name(oid: int, name: str, known: dict[int, str]) -> str:
    return known.get(oid, name)

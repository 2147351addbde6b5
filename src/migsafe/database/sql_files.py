""".sql migrations applied on the scratch database as their runner would, each statement probed.

The migrations are those the offline reader made (sources/sql.py: same statements, spans and
text, so suppression comments and reports work alike); each statement is sent as it stands
through the driver in autocommit mode, so the file's own BEGIN/COMMIT take effect as under psql.
A file in a per-file transaction (sql-transaction = "per-file", dbmate/goose) is wrapped in one.

A statement outside any transaction runs in a transaction of its own around the probe, so its
locks can be seen before it commits (the same effect as psql's autocommit); one the server will
not run inside a transaction block (CREATE INDEX CONCURRENTLY, VACUUM, ...) is then run alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from migsafe.database.probe import Probe
from migsafe.database.scratch import Scratch
from migsafe.database.server_errors import server_message
from migsafe.model import Migration

_NOT_IN_TRANSACTION = "25001"
# The file's own BEGIN/COMMIT: sent as they are, never inside a transaction of migsafe's.
_TRANSACTION_CONTROL = re.compile(r"(\s+|--[^\n]*\n|/\*.*?\*/)*(BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT)\b",
                                  re.I | re.S)  # active_sql_transaction: "... cannot run inside a transaction block"


def run_sql_files(migrations: Iterable[Migration], scratch: Scratch) -> Iterator[Migration]:
    """Apply each migration in order and yield it with each statement's evidence. The first one
    the server rejects carries the server's message at the failing statement's line; the later
    ones are not run."""
    session = _Session(scratch)
    failed: Migration | None = None
    try:
        for migration in migrations:
            if failed is not None:
                _not_run(migration, failed)
            elif migration.error is None:
                migration.notes += scratch.before_migration()
                if not session.apply(migration):
                    failed = migration
            yield migration
    finally:
        session.close()


def _not_run(migration: Migration, failed: Migration) -> None:
    migration.statements = []
    migration.error, migration.error_line = f"not run: {failed.name} failed on the database", 1


class _Session:
    """One driver connection in autocommit mode (the file's own BEGIN/COMMIT are plain SQL)."""

    def __init__(self, scratch: Scratch):
        self.dialect = scratch.dialect
        self.url = scratch.url
        self._pooled = scratch.engine().raw_connection()
        self.conn = self._pooled.driver_connection
        self._pooled.detach()  # ours alone: its autocommit mode never goes back to the pool
        if self.dialect == "postgresql":
            self.conn.autocommit = True
        elif self.dialect == "mysql":
            self.conn.autocommit(True)
        else:
            self.conn.isolation_level = None  # sqlite3: BEGIN/COMMIT only as written
        self.probe = Probe(self.conn, self.dialect)

    def apply(self, migration: Migration) -> bool:
        """Run the migration's statements; False (and migration.error set) where the server refused one."""
        ran = []
        try:
            if migration.starts_in_transaction:
                self._run("BEGIN")
            for statement in migration.statements:
                statement.evidence = self._probed(statement.sql, f"{migration.name} line {statement.span.line}")
                ran.append(statement)
            if migration.starts_in_transaction and self._in_transaction():
                self._run("COMMIT")
        except Exception as e:  # noqa: BLE001 - any driver's error is the migration's failure
            if not _is_driver_error(e):
                raise
            failing = migration.statements[len(ran)] if len(ran) < len(migration.statements) else None
            migration.error = server_message(e, self.url)
            migration.error_line = failing.span.line if failing else 1
            # What was sent is judged (the failing statement too: a rule may foresee the failure,
            # as concurrently-in-transaction does); the rest never happened.
            migration.statements = ran + [failing] if failing else ran
            self._rollback()
            return False
        if self._in_transaction():  # a file that leaves its transaction open: the runner's session ends it
            self._rollback()
        return True

    def _probed(self, sql: str, where: str):
        if self._in_transaction() or self.dialect != "postgresql" or _TRANSACTION_CONTROL.match(sql):
            return self._timed(sql, where)
        # Outside a transaction: one of its own, so that its locks are seen before they go.
        self._run("BEGIN")
        try:
            evidence = self._timed(sql, where)
        except Exception as e:  # noqa: BLE001
            self._rollback()
            if (getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)) != _NOT_IN_TRANSACTION:  # psycopg, psycopg2
                raise
            return self._timed(sql, where)  # as psql runs it: alone (its locks are gone before we look)
        self._run("COMMIT")
        return evidence

    def _timed(self, sql: str, where: str):
        self.probe.before()
        self._run(sql)
        return self.probe.after(where)

    def _run(self, sql: str) -> None:
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql)
        finally:
            cursor.close()

    def _in_transaction(self) -> bool:
        if self.dialect == "postgresql":
            return self.conn.info.transaction_status != 0  # psycopg.pq.TransactionStatus.IDLE
        if self.dialect == "mysql":
            return bool(self.conn.server_status & 1)  # SERVER_STATUS_IN_TRANS
        return self.conn.in_transaction

    def _rollback(self) -> None:
        try:
            self._run("ROLLBACK")
        except Exception as e:  # noqa: BLE001 - nothing to roll back, or a connection already gone
            if not _is_driver_error(e):
                raise

    def close(self) -> None:
        try:
            self._pooled.close()
        except Exception as e:  # noqa: BLE001
            if not _is_driver_error(e):
                raise


def _is_driver_error(error: BaseException) -> bool:
    """A DB-API error of any driver (psycopg, psycopg2, PyMySQL, sqlite3): their classes all subclass an `Error`
    of the driver module; a KeyboardInterrupt or a bug in migsafe is not one."""
    return any(cls.__name__ in ("Error", "DatabaseError", "Warning") and cls.__module__.split(".")[0]
               in ("psycopg", "psycopg2", "pymysql", "sqlite3") for cls in type(error).__mro__)

"""migsafe's MySQL-side claims checked against a real MariaDB server.

A throwaway mariadbd (Debian's `mariadb-server`, which .ci/run installs when absent) runs in a
temp folder on a private socket. For each statement the server is asked which algorithms it
accepts (`ALGORITHM=INSTANT/NOCOPY/INPLACE/COPY`, each with and without `LOCK=NONE`, each on a
fresh copy of the table), and migsafe, given the same history and target version, must:

- flag the statement exactly when no algorithm the server accepts allows `LOCK=NONE` (writes
  blocked), or when the statement's own ALGORITHM=/LOCK= clause is refused (deploy fails);
- claim INSTANT exactly when the server accepts `ALGORITHM=INSTANT`.

Skipped, with the reason, where no MariaDB server is installed or it cannot start.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from migsafe import engine
from migsafe.config import load_settings
from migsafe.dialects.mysql import MySQL
from migsafe.rules import default_severities
from migsafe.schema import Schema
from migsafe.sql.translate import translate
from servers import throwaway_mariadb

pytestmark = pytest.mark.slow  # (a real database server)

SETUP = """
CREATE TABLE p (id int PRIMARY KEY);
CREATE TABLE t (id int PRIMARY KEY, v varchar(50), vb varchar(100), l varchar(50) CHARACTER SET latin1,
  w varchar(20),
  n int, nn int NOT NULL DEFAULT 0, s varchar(10) NOT NULL, e enum('a','b'), pid int, d datetime,
  KEY t_v (v)) DEFAULT CHARSET=utf8mb4;
"""
ROWS = "INSERT INTO p VALUES (1); INSERT INTO t VALUES (1, 'a', 'b', 'c', 'w', 1, 1, 'x', 'a', 1, now());"

# Statements without an ALGORITHM=/LOCK= clause: the server's best algorithm decides.
CASES = [
    "ALTER TABLE t ADD COLUMN c int",
    "ALTER TABLE t ADD COLUMN c int FIRST",
    "ALTER TABLE t ADD COLUMN c int NOT NULL",
    "ALTER TABLE t ADD COLUMN c datetime DEFAULT CURRENT_TIMESTAMP",
    "ALTER TABLE t ADD COLUMN c varchar(36) DEFAULT (uuid())",
    "ALTER TABLE t ADD COLUMN c int AS (n * 2) STORED",
    "ALTER TABLE t ADD COLUMN c int AS (n * 2) VIRTUAL",
    "ALTER TABLE t ADD COLUMN c bigint AUTO_INCREMENT UNIQUE",
    "ALTER TABLE t DROP COLUMN n",
    "ALTER TABLE t RENAME COLUMN n TO m",
    "ALTER TABLE t CHANGE n m int",
    "ALTER TABLE t MODIFY n int AFTER id",
    "ALTER TABLE t MODIFY n bigint",
    "ALTER TABLE t MODIFY n int unsigned",
    "ALTER TABLE t MODIFY v text",
    "ALTER TABLE t MODIFY v varchar(63)",
    "ALTER TABLE t MODIFY v varchar(64)",
    "ALTER TABLE t MODIFY v varchar(40)",
    "ALTER TABLE t MODIFY vb varchar(200)",
    "ALTER TABLE t MODIFY l varchar(200) CHARACTER SET latin1",
    "ALTER TABLE t MODIFY l varchar(255) CHARACTER SET latin1",
    "ALTER TABLE t MODIFY l varchar(256) CHARACTER SET latin1",
    "ALTER TABLE t MODIFY l varchar(200)",
    "ALTER TABLE t MODIFY w varchar(64)",
    "ALTER TABLE t MODIFY vb varchar(30)",
    "ALTER TABLE t MODIFY e enum('a','b','c')",
    "ALTER TABLE t MODIFY e enum('b','a')",
    "ALTER TABLE t MODIFY n int NOT NULL",
    "ALTER TABLE t MODIFY s varchar(10) NULL",
    "ALTER TABLE t ALTER COLUMN n SET DEFAULT 5",
    "ALTER TABLE t ALTER COLUMN nn DROP DEFAULT",
    "ALTER TABLE t ADD INDEX t_n (n)",
    "ALTER TABLE t ADD UNIQUE KEY t_n_uq (n)",
    "ALTER TABLE t DROP INDEX t_v",
    "ALTER TABLE t RENAME INDEX t_v TO t_v2",
    "ALTER TABLE t ADD CONSTRAINT t_fk FOREIGN KEY (pid) REFERENCES p (id)",
    "ALTER TABLE t ADD CONSTRAINT t_ck CHECK (n > 0)",
    "ALTER TABLE t DROP PRIMARY KEY",
    "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id, nn)",
    "ALTER TABLE t CONVERT TO CHARACTER SET latin1",
    "ALTER TABLE t FORCE",
    "ALTER TABLE t ENGINE=InnoDB",
    "ALTER TABLE t RENAME TO t2",
]
# Statements with their own clause: the server must refuse exactly those migsafe says fail.
CLAUSED = [
    "ALTER TABLE t MODIFY n bigint, ALGORITHM=INPLACE",
    "ALTER TABLE t MODIFY n bigint, LOCK=NONE",
    "ALTER TABLE t MODIFY v varchar(60), ALGORITHM=INSTANT",
    "ALTER TABLE t ADD COLUMN c int, ALGORITHM=INSTANT",
    "ALTER TABLE t ADD INDEX t_n (n), ALGORITHM=INSTANT",
    "ALTER TABLE t ADD INDEX t_n (n), ALGORITHM=INPLACE, LOCK=NONE",
    "SET foreign_key_checks = 0; ALTER TABLE t ADD CONSTRAINT t_fk FOREIGN KEY (pid) REFERENCES p (id), ALGORITHM=INPLACE",
    "ALTER TABLE t ADD COLUMN c int, ALGORITHM=COPY, LOCK=NONE",
    "ALTER TABLE t MODIFY v varchar(60), LOCK=NONE",
    "ALTER TABLE t ADD COLUMN c bigint AUTO_INCREMENT UNIQUE, LOCK=NONE",
    "CREATE INDEX t_n ON t (n) ALGORITHM=INPLACE LOCK=NONE",
    "ALTER TABLE t DROP PRIMARY KEY, ALGORITHM=INPLACE",
]
ALGORITHMS = ("INSTANT", "NOCOPY", "INPLACE", "COPY")
# Rules about backward compatibility, not about locks: they fire whatever the algorithm.
COMPAT_RULES = {"drop-column", "rename-column", "rename-table", "not-null-without-default",
                "drop-constraint", "drop-not-null", "drop-default", "drop-identity", "new-write-restriction",
                "unindexed-foreign-key"}


@pytest.fixture(scope="module")
def mariadb():
    client = shutil.which("mariadb")
    if not client:
        pytest.skip("no MariaDB client installed (mariadb; Debian: apt-get install mariadb-server)")
    with throwaway_mariadb() as sock:
        if isinstance(sock, str):  # why there is none
            pytest.skip(sock)

        def query(sql: str, database: str = "probe") -> subprocess.CompletedProcess:
            return subprocess.run([client, "--no-defaults", "-S", str(sock), "-uroot", "-N", "-B", "-D", database],
                                  input=sql, capture_output=True, text=True, timeout=60)

        query("CREATE DATABASE probe", "mysql")
        yield query


def accepted(query, statement: str) -> bool:
    """Does the server run the statement? (On a fresh copy of the tables, so every try starts alike.)"""
    proc = query(f"DROP TABLE IF EXISTS t, t2, p;\n{SETUP}\n{ROWS}\n{statement};")
    return proc.returncode == 0


def server_truth(query, statement: str) -> dict[str, bool]:
    """{"INSTANT": accepted?, ..., "COPY+NONE": accepted?} for every algorithm, with and without LOCK=NONE."""
    return {f"{alg}{lock}": accepted(query, f"{statement}, ALGORITHM={alg}{', LOCK=NONE' if lock else ''}")
            for alg in ALGORITHMS for lock in ("", "+NONE")}


@pytest.fixture(scope="module")
def target(mariadb) -> str:
    version = mariadb("SELECT VERSION()", "mysql").stdout.strip()  # e.g. 10.11.6-MariaDB-0+deb12u1
    return "mariadb-" + ".".join(version.split("-")[0].split(".")[:2])


def findings(tmp_path: Path, statement: str, target: str) -> set[str]:
    (tmp_path / "V1__setup.sql").write_text(SETUP)
    (tmp_path / "V2__change.sql").write_text(f"SET SESSION lock_wait_timeout = 5;\n{statement};\n")
    settings = load_settings(None, {"dialect": "mysql", "target-version": target}, set(default_severities()))
    return {f.rule for f in engine.check([tmp_path], settings, tmp_path).findings} - COMPAT_RULES


def claimed_algorithms(statement: str, target: str) -> set[str]:
    """The algorithms migsafe says the server picks for the statement's changes."""
    schema, dialect = Schema(), MySQL(target)
    for part in SETUP.split(";"):
        for fact in translate(part, "mysql"):
            schema.apply(fact, 0)
    claims = set()
    for fact in translate(statement, "mysql"):
        if (cost := dialect.cost(fact, schema)) is not None:
            claims.add(cost.algorithm)
        schema.apply(fact, 1)
    return claims


@pytest.mark.parametrize("statement", CASES)
def test_flagged_exactly_when_writes_block(mariadb, target, tmp_path, statement):
    truth = server_truth(mariadb, statement)
    online = truth["INSTANT"] or any(truth[f"{alg}+NONE"] for alg in ALGORITHMS)  # RENAME TO takes no LOCK=
    assert truth["COPY"] or online, f"the server refuses {statement!r} altogether: fix the case"
    assert bool(findings(tmp_path, statement, target)) == (not online), (statement, truth)


@pytest.mark.parametrize("statement", CASES)
def test_instant_exactly_when_the_server_says_so(mariadb, target, statement):
    truth = server_truth(mariadb, statement)
    claims = claimed_algorithms(statement, target) - {"INSTANT"} or {"INSTANT"}
    assert (claims == {"INSTANT"}) == truth["INSTANT"], (statement, claims, truth)


@pytest.mark.parametrize("statement", CLAUSED)
def test_flagged_exactly_when_the_clause_is_refused(mariadb, target, tmp_path, statement):
    refused = not accepted(mariadb, statement)
    assert bool(findings(tmp_path, statement, target)) == refused, statement

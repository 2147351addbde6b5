"""Every rule's MySQL/MariaDB and SQLite verdict, through SQL: the same statement, the same
history, each engine's own answer. (PostgreSQL is covered by tests/test_rules.py and the rule
pages; the MariaDB verdicts are also checked against a real server in tests/test_mysql_truth.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from migsafe.config import load_settings
from migsafe.engine import check
from migsafe.rules import default_severities

HISTORY = """
CREATE TABLE p (id bigint PRIMARY KEY);
CREATE TABLE t (id bigint PRIMARY KEY, v varchar(50), l varchar(50) CHARACTER SET latin1, n int,
  nn int NOT NULL DEFAULT 0, e enum('a','b'), pid bigint);
CREATE INDEX t_n ON t (n);
"""
LOCK = "SET SESSION lock_wait_timeout = 5;\n"
# Warnings about what the running app meets whatever the engine does (a new unique rule, a dropped
# constraint, a foreign key without an index): judged per dialect in tests/rules/test_columns.py.
# Here: each engine's own lock, cost and refusal verdicts.
APP_WARNINGS = ["new-write-restriction", "drop-constraint", "unindexed-foreign-key"]

# (statement, target version, rules it raises besides missing-lock-timeout)
MYSQL = [
    # change-column-type: COPY vs in place, by type, charset and length prefix
    ("ALTER TABLE t MODIFY n bigint", "8.4", {"change-column-type"}),
    ("ALTER TABLE t MODIFY v varchar(63)", "8.4", set()),
    ("ALTER TABLE t MODIFY v varchar(64)", "8.4", {"change-column-type"}),
    ("ALTER TABLE t MODIFY v varchar(40)", "8.4", {"change-column-type"}),
    ("ALTER TABLE t MODIFY l varchar(255) CHARACTER SET latin1", "8.4", set()),
    ("ALTER TABLE t MODIFY l varchar(256) CHARACTER SET latin1", "8.4", {"change-column-type"}),
    ("ALTER TABLE t MODIFY l varchar(256) CHARACTER SET latin1", "mariadb-10.11", set()),  # < 128 bytes before
    ("ALTER TABLE t MODIFY l varchar(50)", "8.4", {"change-column-type"}),  # charset back to the default
    ("ALTER TABLE t MODIFY e enum('a','b','c')", "8.4", set()),
    ("ALTER TABLE t MODIFY e enum('b','a')", "8.4", {"change-column-type"}),
    ("ALTER TABLE t CHANGE n n2 int", "8.4", {"rename-column"}),
    ("ALTER TABLE t CHANGE n n2 bigint", "8.4", {"rename-column", "change-column-type"}),
    ("ALTER TABLE t MODIFY n bigint, ALGORITHM=INPLACE", "8.4", {"change-column-type"}),  # refused
    ("ALTER TABLE t MODIFY n bigint, LOCK=NONE", "mariadb-10.11", {"change-column-type"}),  # refused
    ("ALTER TABLE t MODIFY n bigint, LOCK=NONE", "mariadb-11.4", set()),  # online copy
    ("ALTER TABLE t ALTER COLUMN n TYPE bigint", "8.4", {"change-column-type"}),
    # set-not-null: rebuilt in place, writes continue
    ("ALTER TABLE t MODIFY n int NOT NULL", "8.4", set()),
    ("ALTER TABLE t MODIFY n int NOT NULL, LOCK=SHARED", "8.4", {"set-not-null"}),
    # not-null-without-default / volatile-default
    ("ALTER TABLE t ADD COLUMN c int NOT NULL", "8.4", {"not-null-without-default"}),
    ("ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0", "8.0", set()),
    ("ALTER TABLE t ADD COLUMN c int FIRST", "8.0.28", set()),  # INPLACE rebuild, writes continue
    ("ALTER TABLE t ADD COLUMN c varchar(36) DEFAULT (uuid())", "8.4", {"volatile-default"}),
    ("ALTER TABLE t ADD COLUMN c int AS (n * 2) STORED", "8.4", {"volatile-default"}),
    ("ALTER TABLE t ADD COLUMN c int AS (n * 2)", "8.4", set()),
    ("ALTER TABLE t ADD COLUMN c bigint AUTO_INCREMENT UNIQUE", "8.4", {"volatile-default"}),
    ("ALTER TABLE t ADD COLUMN c int, ALGORITHM=COPY", "8.4", {"table-rewrite"}),
    # constraints and indexes
    ("ALTER TABLE t ADD CONSTRAINT t_fk FOREIGN KEY (pid) REFERENCES p (id)", "8.4", {"validating-foreign-key"}),
    ("ALTER TABLE t ADD CONSTRAINT t_fk FOREIGN KEY (pid) REFERENCES p (id), ALGORITHM=INPLACE", "8.4", set()),
    ("ALTER TABLE t ADD CONSTRAINT t_ck CHECK (n > 0)", "mariadb-10.11", {"validating-check-constraint"}),
    ("ALTER TABLE t ADD UNIQUE KEY t_v_uq (v)", "8.4", set()),
    ("ALTER TABLE t ADD PRIMARY KEY (id)", "8.4", set()),
    ("CREATE INDEX t_v ON t (v)", "8.4", set()),
    ("CREATE UNIQUE INDEX t_v ON t (v) ALGORITHM=INPLACE LOCK=NONE", "8.4", set()),
    ("DROP INDEX t_n ON t", "8.4", set()),
    ("ALTER TABLE t DROP FOREIGN KEY t_fk", "8.4", set()),
    ("ALTER TABLE t DROP INDEX t_n, DROP CHECK t_ck", "8.4", set()),
    ("ALTER TABLE t DROP PRIMARY KEY", "8.4", {"table-rewrite"}),
    ("ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id, nn)", "8.4", set()),
    # whole table
    ("ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4", "8.4", {"table-rewrite"}),
    ("ALTER TABLE t ENGINE=InnoDB", "8.4", set()),
    ("OPTIMIZE TABLE t", "8.4", set()),
    # backward compatibility does not depend on the engine
    ("ALTER TABLE t DROP COLUMN n", "8.0", {"drop-column"}),
    ("ALTER TABLE t RENAME COLUMN n TO m", "8.4", {"rename-column"}),
    ("RENAME TABLE t TO t2", "8.4", {"rename-table"}),
    ("ALTER TABLE t RENAME TO t2", "8.4", {"rename-table"}),
    ("DROP TABLE t", "8.4", {"drop-table"}),
    ("TRUNCATE TABLE t", "8.4", {"truncate-table"}),
    ("UPDATE t SET n = 0", "8.4", {"unbatched-backfill"}),
]

SQLITE = [
    ("ALTER TABLE t ADD COLUMN c int", "3.45", set()),
    ("ALTER TABLE t ADD COLUMN c int NOT NULL", "3.45", {"not-null-without-default"}),
    ("ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0", "3.45", set()),
    ("ALTER TABLE t ADD COLUMN c timestamp DEFAULT CURRENT_TIMESTAMP", "3.45", {"volatile-default"}),
    ("ALTER TABLE t ADD COLUMN c int DEFAULT (1 + 1)", "3.45", {"volatile-default"}),
    ("ALTER TABLE t ADD COLUMN c int UNIQUE", "3.45", {"volatile-default"}),
    ("ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS AS (n * 2) STORED", "3.45", {"volatile-default"}),
    ("ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS AS (n * 2) VIRTUAL", "3.45", set()),
    ("ALTER TABLE t RENAME COLUMN n TO m", "3.25", {"rename-column"}),
    ("ALTER TABLE t RENAME COLUMN n TO m", "3.24", {"rename-column", "table-rewrite"}),
    ("ALTER TABLE t DROP COLUMN n", "3.35", {"drop-column"}),
    ("ALTER TABLE t DROP COLUMN n", "3.34", {"drop-column", "table-rewrite"}),
    ("ALTER TABLE t RENAME TO t2", "3.45", {"rename-table"}),
    ("ALTER TABLE t ALTER COLUMN n TYPE bigint", "3.45", {"change-column-type"}),
    ("ALTER TABLE t ALTER COLUMN n SET NOT NULL", "3.45", {"set-not-null"}),
    ("ALTER TABLE t ALTER COLUMN n SET NOT NULL", "3.53", set()),
    ("ALTER TABLE t ALTER COLUMN n SET DEFAULT 1", "3.45", {"table-rewrite"}),
    ("ALTER TABLE t ADD CONSTRAINT t_ck CHECK (n > 0)", "3.45", {"validating-check-constraint"}),
    ("ALTER TABLE t ADD CONSTRAINT t_fk FOREIGN KEY (pid) REFERENCES p (id)", "3.45", {"validating-foreign-key"}),
    ("ALTER TABLE t ADD CONSTRAINT t_uq UNIQUE (v)", "3.45", {"add-unique-constraint"}),
    ("CREATE UNIQUE INDEX t_v ON t (v)", "3.45", set()),
    ("DROP INDEX t_n", "3.45", set()),
    ("DROP TABLE t", "3.45", {"drop-table"}),
    ("DELETE FROM t", "3.45", {"unbatched-backfill"}),
]


def findings(tmp_path: Path, dialect: str, version: str, statement: str):
    history = HISTORY if dialect == "mysql" else HISTORY.replace(" CHARACTER SET latin1", "").replace(
        "enum('a','b')", "text")
    (tmp_path / "V1__history.sql").write_text(history)
    (tmp_path / "V2__change.sql").write_text((LOCK if dialect == "mysql" else "") + statement + ";\n")
    settings = load_settings(None, {"dialect": dialect, "target-version": version,
                                    "start-after": {"sql": "V1__history.sql"}, "ignore": APP_WARNINGS},
                             set(default_severities()))
    return check([tmp_path], settings, cwd=tmp_path).findings


@pytest.mark.parametrize("statement, version, expected", MYSQL, ids=[f"{v} {s}" for s, v, _ in MYSQL])
def test_mysql(tmp_path, statement, version, expected):
    assert {f.rule for f in findings(tmp_path, "mysql", version, statement)} == expected


@pytest.mark.parametrize("statement, version, expected", SQLITE, ids=[f"{v} {s}" for s, v, _ in SQLITE])
def test_sqlite(tmp_path, statement, version, expected):
    assert {f.rule for f in findings(tmp_path, "sqlite", version, statement)} == expected


def test_mysql_lock_wait_timeout_is_the_timeout(tmp_path):
    (tmp_path / "V1__history.sql").write_text(HISTORY)
    (tmp_path / "V2__change.sql").write_text("ALTER TABLE t ADD COLUMN c int;\n")
    settings = load_settings(None, {"dialect": "mysql", "start-after": {"sql": "V1__history.sql"}},
                             set(default_severities()))
    (hit,) = check([tmp_path], settings, cwd=tmp_path).findings
    assert hit.rule == "missing-lock-timeout" and "lock_wait_timeout" in hit.message
    assert hit.fix.steps[0].code == "SET SESSION lock_wait_timeout = 5;"


def test_mysql_copy_fix_names_the_online_tools(tmp_path):
    (hit,) = findings(tmp_path, "mysql", "8.4", "ALTER TABLE t MODIFY n bigint")
    assert hit.lock == "SHARED" and "ALGORITHM=COPY" in hit.message
    assert 'gh-ost --database=<db> --table=t --alter="MODIFY n bigint"' in hit.fix.steps[0].code
    assert "pt-online-schema-change" in hit.fix.steps[0].code

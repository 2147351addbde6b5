"""Issue 20, transactions: each new rule's claim checked on a real PostgreSQL (15 here), and
migsafe's verdict on the same SQL beside it.

- lock-held-across-statements: after an ALTER TABLE in the transaction, the statement still runs
  under the ACCESS EXCLUSIVE lock, and scans the table; alone, it takes no such lock.
- enum-add-value: a use of the new value in its transaction fails ("unsafe use of new value").
- transaction-nesting: a nested BEGIN only warns, and its COMMIT commits the outer work.
- concurrent-index-if-not-exists: a failed concurrent build leaves an INVALID index that the
  retry skips.
- missing-lock-timeout: DROP VIEW / MATERIALIZED VIEW / SEQUENCE / TRIGGER, CREATE OR REPLACE
  VIEW, policies and DETACH PARTITION take ACCESS EXCLUSIVE.

The throwaway cluster is tests/test_postgres_truth.py's; skipped where no server is installed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from migsafe import engine
from migsafe.config import load_settings
from migsafe.rules import default_severities
from test_postgres_truth import psql  # noqa: F401  (the cluster fixture)

pytestmark = pytest.mark.slow

SETUP = """CREATE TABLE lh (id bigint PRIMARY KEY, ref bigint, v int, note text);
CREATE TABLE lh_parent (id bigint PRIMARY KEY);
CREATE TABLE lh_copy (id bigint, v int);
ALTER TABLE lh ADD CONSTRAINT lh_v_ck CHECK (v >= 0) NOT VALID;
CREATE TYPE lh_mood AS ENUM ('ok', 'sad');
CREATE TABLE lh_people (id bigint PRIMARY KEY, m lh_mood, label text);
CREATE TABLE lh_dup (id bigint, v int);
CREATE VIEW lh_view AS SELECT id, v FROM lh;
CREATE MATERIALIZED VIEW lh_matview AS SELECT count(*) AS n FROM lh;
CREATE SEQUENCE lh_seq;
CREATE FUNCTION lh_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER lh_trg BEFORE UPDATE ON lh FOR EACH ROW EXECUTE FUNCTION lh_touch();
CREATE POLICY lh_pol ON lh USING (true);
CREATE TABLE lh_events (id bigint, at date) PARTITION BY RANGE (at);
CREATE TABLE lh_events_2025 PARTITION OF lh_events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
"""
ROWS = """INSERT INTO lh_parent SELECT g FROM generate_series(1, 2000) g;
INSERT INTO lh SELECT g, g, g, 'n' FROM generate_series(1, 2000) g;
INSERT INTO lh_people SELECT g, 'ok', 'x' FROM generate_series(1, 100) g;
INSERT INTO lh_dup SELECT g, g % 10 FROM generate_series(1, 200) g;
"""


@pytest.fixture(scope="module")
def pg(psql):  # noqa: F811
    """run(sql) -> (exit code, stdout, stderr) on the fixture's cluster, errors allowed."""
    socket = psql("SHOW unix_socket_directories;").strip()
    psql(SETUP + ROWS)

    def run(sql: str) -> tuple[int, str, str]:
        proc = subprocess.run(["psql", "-h", socket, "-U", "postgres", "-d", "postgres", "-X", "-q", "-At",
                               "-v", "ON_ERROR_STOP=1"],
                              input=sql, capture_output=True, text=True)
        return proc.returncode, proc.stdout, proc.stderr

    return run


def findings(tmp_path: Path, sql: str, **options) -> list[tuple[str, int]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "V1__setup.sql").write_text(SETUP)
    (tmp_path / "V2__change.sql").write_text(sql)
    options = {k.replace("_", "-"): v for k, v in options.items()} | {"start-after": {"sql": "V1__setup.sql"}}
    settings = load_settings(None, options | {"target-version": "15"}, set(default_severities()))
    return [(f.rule, f.span.line) for f in engine.check([tmp_path], settings, tmp_path).findings]


# --- lock-held-across-statements ----------------------------------------------------------

HELD_CASES = [
    # statement, the table it scans (and whose held lock it runs under)
    ("ALTER TABLE lh VALIDATE CONSTRAINT lh_v_ck", "lh"),
    ("CREATE INDEX lh_ref_idx ON lh (ref)", "lh"),
    ("UPDATE lh SET note = 'x' WHERE v > 1000", "lh"),
    ("DELETE FROM lh WHERE v < 0", "lh"),
    ("INSERT INTO lh_copy SELECT id, v FROM lh", "lh"),
    ("ALTER TABLE lh ADD CONSTRAINT lh_ref_fk FOREIGN KEY (ref) REFERENCES lh_parent (id)", "lh"),
]
EXCLUSIVE = "AccessExclusiveLock"


def _scan_and_locks(pg, before: str, statement: str, table: str) -> tuple[int, set[str]]:
    """In one transaction: `before`, then `statement`; the sequential scans of `table` the
    statement made, and the lock modes this session then holds on it."""
    rc, out, err = pg(f"""BEGIN;
{before}
SELECT coalesce((SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = '{table}'), 0);
{statement};
SELECT coalesce((SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = '{table}'), 0);
SELECT mode FROM pg_locks WHERE relation = '{table}'::regclass AND pid = pg_backend_pid() AND granted;
ROLLBACK;""")
    assert rc == 0, err
    lines = out.split()
    return int(lines[1]) - int(lines[0]), set(lines[2:])


@pytest.mark.parametrize("statement, table", HELD_CASES, ids=[c[0] for c in HELD_CASES])
def test_work_runs_under_the_lock_held_from_before(pg, tmp_path, statement, table):
    scans, held = _scan_and_locks(pg, "ALTER TABLE lh ADD COLUMN extra int;", statement, table)
    assert scans >= 1 and EXCLUSIVE in held, (scans, held)  # blocked for reads and writes, for all of the scan
    scans_alone, alone = _scan_and_locks(pg, "", statement, table)
    assert scans_alone >= 1 and EXCLUSIVE not in alone, alone  # alone it lets reads run
    sql = "SET lock_timeout = '5s';\nBEGIN;\nALTER TABLE lh ADD COLUMN extra int;\n" + statement + ";\nCOMMIT;\n"
    assert ("lock-held-across-statements", 4) in findings(tmp_path / "held", sql)
    alone_sql = "SET lock_timeout = '5s';\nBEGIN;\n" + statement + ";\nCOMMIT;\n"
    assert "lock-held-across-statements" not in {r for r, _ in findings(tmp_path / "alone", alone_sql)}


# --- enum-add-value ------------------------------------------------------------------------

ENUM_CASES = [
    ("UPDATE lh_people SET m = '{v}' WHERE id = 1", True),
    ("INSERT INTO lh_people (id, m) VALUES (1000, '{v}')", True),
    ("ALTER TABLE lh_people ALTER COLUMN m SET DEFAULT '{v}'", True),
    ("SELECT '{v}'::lh_mood", True),
    ("UPDATE lh_copy SET v = length('{v}') WHERE id = 1", False),  # the text, not the enum's value
    ("ALTER TYPE lh_mood ADD VALUE '{v}_2' AFTER '{v}'", False),
]


@pytest.mark.parametrize("use, fails", ENUM_CASES, ids=[c[0] for c in ENUM_CASES])
def test_new_enum_value_used_in_its_transaction(pg, tmp_path, use, fails):
    value = f"v{ENUM_CASES.index((use, fails))}"
    sql = f"BEGIN;\nALTER TYPE lh_mood ADD VALUE '{value}';\n{use.format(v=value)};\nCOMMIT;\n"
    rc, _, err = pg(sql.replace("COMMIT;", "ROLLBACK;"))
    assert ("unsafe use of new value" in err) == fails, err
    assert (("enum-add-value", 3) in findings(tmp_path, sql)) == fails


# --- transaction-nesting -------------------------------------------------------------------

def test_nested_begin_only_warns_and_commits_early(pg, tmp_path):
    sql = "BEGIN;\nCREATE TABLE lh_tn_a (id int);\nBEGIN;\nCREATE TABLE lh_tn_b (id int);\nCOMMIT;\nROLLBACK;\n"
    rc, _, err = pg(sql)
    assert rc == 0 and "there is already a transaction in progress" in err, err
    assert "there is no transaction in progress" in err  # the last ROLLBACK had nothing left to undo
    _, out, _ = pg("SELECT to_regclass('lh_tn_a') IS NOT NULL;")
    assert out.strip() == "t"  # the outer transaction's table survived its ROLLBACK
    assert ("transaction-nesting", 3) in findings(tmp_path, sql)


# --- concurrent-index-if-not-exists --------------------------------------------------------

def test_retry_skips_the_invalid_index(pg, tmp_path):
    sql = "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS lh_dup_v_key ON lh_dup (v);\n"
    rc, _, err = pg(sql)
    assert rc != 0 and "could not create unique index" in err, err
    rc, _, err = pg(sql)
    assert rc == 0 and "already exists, skipping" in err, err
    _, out, _ = pg("SELECT indisvalid FROM pg_index WHERE indexrelid = 'lh_dup_v_key'::regclass;")
    assert out.strip() == "f"
    assert ("concurrent-index-if-not-exists", 1) in findings(tmp_path, sql)


# --- missing-lock-timeout: ACCESS EXCLUSIVE it did not see before --------------------------

TIMEOUT_CASES = [
    # statement, the relation it locks ACCESS EXCLUSIVE
    ("DROP VIEW lh_view", "lh_view"),
    ("DROP MATERIALIZED VIEW lh_matview", "lh_matview"),
    ("DROP SEQUENCE lh_seq", "lh_seq"),
    ("DROP TRIGGER lh_trg ON lh", "lh"),
    ("CREATE OR REPLACE VIEW lh_view AS SELECT id, v FROM lh", "lh_view"),
    ("CREATE POLICY lh_pol2 ON lh USING (true)", "lh"),
    ("ALTER POLICY lh_pol ON lh USING (false)", "lh"),
    ("DROP POLICY lh_pol ON lh", "lh"),
    ("ALTER TABLE lh_events DETACH PARTITION lh_events_2025", "lh_events"),
]


@pytest.mark.parametrize("statement, relation", TIMEOUT_CASES, ids=[c[0] for c in TIMEOUT_CASES])
def test_exclusive_lock_without_timeout(pg, tmp_path, statement, relation):
    rc, out, err = pg(f"""CREATE TEMP TABLE IF NOT EXISTS lh_oid AS SELECT '{relation}'::regclass::oid AS oid;
TRUNCATE lh_oid; INSERT INTO lh_oid SELECT '{relation}'::regclass::oid;
BEGIN;
{statement};
SELECT mode FROM pg_locks WHERE relation = (SELECT oid FROM lh_oid) AND pid = pg_backend_pid() AND granted;
ROLLBACK;""")
    assert rc == 0, err
    assert EXCLUSIVE in out.split(), out
    assert ("missing-lock-timeout", 1) in findings(tmp_path, statement + ";\n")

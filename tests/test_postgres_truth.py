"""migsafe's rewrite verdicts checked against a real PostgreSQL server.

For each statement, a throwaway cluster tells whether PostgreSQL really rewrote the table (the
table's relfilenode changes), and migsafe, given the same history, must flag the statement
exactly when it rewrites. Skipped, with the reason, where no PostgreSQL server is installed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from migsafe import engine
from migsafe.config import load_settings
from migsafe.rules import default_severities
from servers import throwaway_postgres

pytestmark = pytest.mark.slow  # (a real database server)

SETUP = """
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TABLE t (id bigint PRIMARY KEY, v varchar(50), tx text, n numeric(10, 2), i int, ts timestamp);
CREATE INDEX t_v_idx ON t (v);
"""
ROWS = "INSERT INTO t SELECT g, 'v' || g, 't' || g, g / 10.0, g, now() FROM generate_series(1, 2000) g;"

# statement, the rule that flags a rewrite of it
CASES = [
    ("ALTER TABLE t ALTER COLUMN v TYPE varchar(100)", "change-column-type"),
    ("ALTER TABLE t ALTER COLUMN v TYPE varchar(20)", "change-column-type"),
    ("ALTER TABLE t ALTER COLUMN v TYPE text", "change-column-type"),
    ("ALTER TABLE t ALTER COLUMN tx TYPE varchar(10)", "change-column-type"),
    ("ALTER TABLE t ALTER COLUMN tx TYPE varchar", "change-column-type"),
    ("ALTER TABLE t ALTER COLUMN i TYPE bigint", "change-column-type"),
    ("ALTER TABLE t ALTER COLUMN n TYPE numeric(12, 2)", "change-column-type"),
    ("ALTER TABLE t ALTER COLUMN n TYPE numeric(10, 4)", "change-column-type"),
    ("ALTER TABLE t ALTER COLUMN n TYPE numeric", "change-column-type"),
    ("ALTER TABLE t ALTER COLUMN i TYPE text", "change-column-type"),
    ("ALTER TABLE t ALTER COLUMN v TYPE varchar(100) USING v", "change-column-type"),
    ("ALTER TABLE t ALTER COLUMN v TYPE varchar(100) USING upper(v)", "change-column-type"),
    ("ALTER TABLE t ADD COLUMN c int", "volatile-default"),
    ("ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0", "volatile-default"),
    ("ALTER TABLE t ADD COLUMN c text DEFAULT 'x'", "volatile-default"),
    ("ALTER TABLE t ADD COLUMN c timestamptz DEFAULT now()", "volatile-default"),
    ("ALTER TABLE t ADD COLUMN c jsonb NOT NULL DEFAULT '{}'::jsonb", "volatile-default"),
    ("ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid()", "volatile-default"),
    ("ALTER TABLE t ADD COLUMN c float8 DEFAULT random()", "volatile-default"),
    ("ALTER TABLE t ADD COLUMN c bigserial", "volatile-default"),
    ("ALTER TABLE t ADD COLUMN c bigint GENERATED ALWAYS AS IDENTITY", "volatile-default"),
    ("ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS AS (i * 2) STORED", "volatile-default"),
    ("ALTER TABLE t ADD COLUMN c positive", "volatile-default"),
    ("ALTER TABLE t SET UNLOGGED", "table-rewrite"),
    ("VACUUM FULL t", "table-rewrite"),
    ("CLUSTER t USING t_pkey", "table-rewrite"),
    ("ALTER TABLE t ALTER COLUMN v SET NOT NULL", "table-rewrite"),
    ("ALTER TABLE t DROP COLUMN v", "table-rewrite"),
]


@pytest.fixture(scope="module")
def psql():
    with throwaway_postgres() as sock:
        if isinstance(sock, str):  # why there is none
            pytest.skip(sock)

        def query(sql: str) -> str:
            proc = subprocess.run(["psql", "-h", str(sock), "-U", "postgres", "-d", "postgres", "-X", "-q", "-At",
                                   "-v", "ON_ERROR_STOP=1"], input=sql, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr
            return proc.stdout

        query(SETUP + ROWS)
        yield query


def rewrites(query, statement: str) -> bool:
    """Did PostgreSQL write a new file for t? (Run on a copy, so every case starts alike.)"""
    out = query(f"""
DROP TABLE IF EXISTS t_case; DROP TABLE IF EXISTS t CASCADE;
CREATE TABLE t (id bigint PRIMARY KEY, v varchar(50), tx text, n numeric(10, 2), i int, ts timestamp);
CREATE INDEX t_v_idx ON t (v);
{ROWS}
SELECT relfilenode FROM pg_class WHERE relname = 't';
SET TimeZone = 'Europe/Berlin';
{statement};
SELECT relfilenode FROM pg_class WHERE relname = 't';
""").split()
    return out[0] != out[-1]


def flagged(tmp_path: Path, statement: str, rule: str) -> bool:
    (tmp_path / "V1__setup.sql").write_text(SETUP)
    (tmp_path / "V2__change.sql").write_text(statement + ";\n")
    settings = load_settings(None, {"target-version": "15"}, set(default_severities()))
    return rule in {f.rule for f in engine.check([tmp_path], settings, tmp_path).findings}


@pytest.mark.parametrize("statement, rule", CASES, ids=[c[0] for c in CASES])
def test_flagged_exactly_when_postgres_rewrites(psql, tmp_path, statement, rule):
    assert flagged(tmp_path, statement, rule) == rewrites(psql, statement), statement

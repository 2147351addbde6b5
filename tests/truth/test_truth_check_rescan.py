"""change-column-type's claim for a widening under a CHECK, checked on a real PostgreSQL: a type
change that keeps the rows (varchar(20) -> varchar(40)) still scans the table under its lock when
a validated CHECK is on the column, and does not when the check was added back NOT VALID (the
rule's plan). Each beside migsafe's verdict on the same history. Uses tests/test_postgres_truth.py's
throwaway cluster (`psql` fixture)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared cluster fixture
from test_postgres_truth import psql  # noqa: E402,F401  (a fixture: pytest finds it by name)

from migsafe import engine  # noqa: E402
from migsafe.config import load_settings  # noqa: E402
from migsafe.rules import default_severities  # noqa: E402

pytestmark = pytest.mark.slow

HISTORY = """CREATE TABLE coupons (id bigint PRIMARY KEY, code varchar(20) CONSTRAINT coupons_code_check CHECK (code <> ''),
  note varchar(20));
"""
SETUP = "DROP SCHEMA IF EXISTS ck CASCADE; CREATE SCHEMA ck; SET search_path = ck;\n" + HISTORY + \
    "INSERT INTO coupons SELECT g, 'c' || g, 'n' || g FROM generate_series(1, 2000) g; ANALYZE;"
WIDEN = "ALTER TABLE coupons ALTER COLUMN {column} TYPE varchar(40);"
PLAN = """ALTER TABLE coupons DROP CONSTRAINT coupons_code_check;
ALTER TABLE coupons ALTER COLUMN code TYPE varchar(40);
ALTER TABLE coupons ADD CONSTRAINT coupons_code_check CHECK (code <> '') NOT VALID;"""


def verdict(tmp_path: Path, sql: str) -> set[str]:
    (tmp_path / "V1__history.sql").write_text(HISTORY)
    (tmp_path / "V2__change.sql").write_text("SET lock_timeout = '5s';\n" + sql + "\n")
    settings = load_settings(None, {"start-after": {"sql": "V1__history.sql"}}, set(default_severities()))
    return {f.rule for f in engine.check([tmp_path], settings, tmp_path).findings}


def scans(psql, sql: str) -> tuple[int, bool]:
    """(sequential scans of coupons while `sql` ran, whether its file stayed the same)."""
    out = psql(f"""SET search_path = ck;
BEGIN;
SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'coupons';
SELECT relfilenode FROM pg_class WHERE relname = 'coupons';
{sql}
SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'coupons';
SELECT relfilenode FROM pg_class WHERE relname = 'coupons';
ROLLBACK;""").split()
    numbers = [int(w) for w in out if w.isdigit()]
    return numbers[2] - numbers[0], numbers[1] == numbers[3]


@pytest.fixture(scope="module")
def ck(psql):
    psql(SETUP)
    return psql


def test_a_widening_under_a_validated_check_scans_and_is_flagged(ck, tmp_path):
    scanned, kept = scans(ck, WIDEN.format(column="code"))
    assert kept and scanned >= 1
    assert "change-column-type" in verdict(tmp_path, WIDEN.format(column="code"))


def test_a_widening_with_no_check_neither_scans_nor_is_flagged(ck, tmp_path):
    assert scans(ck, WIDEN.format(column="note")) == (0, True)
    assert "change-column-type" not in verdict(tmp_path, WIDEN.format(column="note"))


def test_the_plan_with_the_check_added_back_not_valid_does_not_scan(ck, tmp_path):
    assert scans(ck, PLAN) == (0, True)
    assert verdict(tmp_path, PLAN) == set()

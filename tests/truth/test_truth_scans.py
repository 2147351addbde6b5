"""The scan rules' lock, scan and rebuild claims, checked on a real PostgreSQL (issue 20: scans).

For each statement a throwaway cluster (tests/test_postgres_truth.py's `psql` fixture) shows the
locks it holds inside its transaction (pg_locks), whether it read a table (pg_stat_user_tables'
seq_scan, counted before and after) and whether a table or index got new storage (relfilenode);
migsafe, given the same history, must flag the statement exactly when the server shows the hazard.
The plans are run too: the SQL migsafe proposes must do the job on the server without the hazard.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared cluster fixture
from test_postgres_truth import psql  # noqa: E402,F401  (a fixture: pytest finds it by name)

from migsafe import engine  # noqa: E402
from migsafe.config import load_settings  # noqa: E402
from migsafe.rules import default_severities  # noqa: E402

pytestmark = pytest.mark.slow

ROWS = 2000
SETUP = f"""
DROP SCHEMA IF EXISTS scans CASCADE;
CREATE SCHEMA scans;
SET search_path = scans;
CREATE DOMAIN amount AS numeric(12, 2);
CREATE DOMAIN spare AS int;
CREATE TABLE invoices (id bigint PRIMARY KEY, total amount);
CREATE TABLE refunds (id bigint PRIMARY KEY, total amount);
INSERT INTO invoices SELECT g, g FROM generate_series(1, {ROWS}) g;
INSERT INTO refunds SELECT g, g FROM generate_series(1, {ROWS}) g;
CREATE TABLE m (id bigint, k int, v int) PARTITION BY RANGE (k);
CREATE TABLE m_1 PARTITION OF m FOR VALUES FROM (0) TO (1000);
CREATE TABLE m_new (id bigint, k int NOT NULL, v int);
INSERT INTO m_new SELECT g, 1000 + g % 1000, g FROM generate_series(1, {ROWS}) g;
CREATE TABLE m_nullable_check (id bigint, k int, v int, CONSTRAINT c1 CHECK (k >= 1000 AND k < 2000));
INSERT INTO m_nullable_check SELECT g, 1000 + g % 1000, g FROM generate_series(1, {ROWS}) g;
CREATE TABLE m_proven (id bigint, k int NOT NULL, v int, CONSTRAINT c2 CHECK (k >= 1000 AND k < 2000));
INSERT INTO m_proven SELECT g, 1000 + g % 1000, g FROM generate_series(1, {ROWS}) g;
CREATE TABLE m_not_valid (id bigint, k int NOT NULL, v int);
INSERT INTO m_not_valid SELECT g, 1000 + g % 1000, g FROM generate_series(1, {ROWS}) g;
ALTER TABLE m_not_valid ADD CONSTRAINT c3 CHECK (k >= 1000 AND k < 2000) NOT VALID;
CREATE TABLE l (id bigint, region text) PARTITION BY LIST (region);
CREATE TABLE l_other PARTITION OF l DEFAULT;
INSERT INTO l_other SELECT g, 'r' || g FROM generate_series(1, {ROWS}) g;
CREATE TABLE l_eu (id bigint, region text NOT NULL, CONSTRAINT c4 CHECK (region IN ('eu')));
CREATE TABLE people (id bigint PRIMARY KEY, name varchar(50), nick varchar(50));
INSERT INTO people SELECT g, 'n' || g, 'k' || g FROM generate_series(1, {ROWS}) g;
CREATE INDEX people_name_idx ON people (name);
CREATE MATERIALIZED VIEW totals AS SELECT id, total FROM invoices;
CREATE MATERIALIZED VIEW keyed AS SELECT id, total FROM invoices;
CREATE UNIQUE INDEX keyed_id ON keyed (id);
"""
# The same history as migsafe reads it (no rows, no search_path: the names are unqualified).
HISTORY = "\n".join(line for line in SETUP.splitlines()
                    if not line.startswith(("INSERT", "DROP SCHEMA", "CREATE SCHEMA", "SET search_path")))


@pytest.fixture
def pg(psql):
    """A fresh copy of the schema for each case; queries run with search_path = scans."""
    psql(SETUP)
    return lambda sql: psql("SET search_path = scans;\n" + sql)


def locks(pg, statement: str) -> dict[str, set[str]]:
    """The relation locks `statement` holds at the end of its transaction (rolled back)."""
    out = pg(f"""BEGIN;
{statement};
SELECT c.relname || '|' || l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation';
ROLLBACK;""")
    held: dict[str, set[str]] = {}
    for line in out.split():
        if "|" in line:
            rel, mode = line.split("|")
            held.setdefault(rel, set()).add(re.sub(r"(?<!^)(?=[A-Z])", " ", mode.removesuffix("Lock")).upper())
    return held


def seq_scans(pg) -> dict[str, int]:
    """seq_scan per table of the schema (read in a new session, after the last one flushed its stats)."""
    out = pg("SELECT pg_stat_force_next_flush();\n"
             "SELECT relname || '|' || seq_scan FROM pg_stat_user_tables WHERE schemaname = 'scans';")
    return {r: int(n) for r, n in (line.split("|") for line in out.split() if "|" in line)}


def scanned(pg, statement: str) -> set[str]:
    """The tables `statement` read from start to end (committed)."""
    pg("SELECT pg_stat_force_next_flush();")
    before = seq_scans(pg)
    pg(statement + ";\nSELECT pg_stat_force_next_flush();")
    after = seq_scans(pg)
    return {t for t, n in after.items() if n > before.get(t, 0)}


def relfilenodes(pg, *names: str) -> dict[str, str]:
    out = pg(f"SELECT relname || '|' || relfilenode FROM pg_class WHERE relname IN ({', '.join(map(repr, names))})"
             " AND relnamespace = 'scans'::regnamespace;")
    return dict(line.split("|") for line in out.split() if "|" in line)


def findings(tmp_path: Path, statement: str, rule: str) -> list:
    (tmp_path / "V1__setup.sql").write_text(HISTORY)
    (tmp_path / "V2__change.sql").write_text("SET lock_timeout = '5s';\n" + statement + ";\n")
    settings = load_settings(None, {"target-version": "15"}, set(default_severities()))
    return [f for f in engine.check([tmp_path], settings, tmp_path).findings
            if f.rule == rule and f.path.endswith("V2__change.sql")]


def plan_sql(finding) -> str:
    """The SQL steps of a finding's plan, without comments."""
    return "\n".join(line for step in finding.fix.steps for line in step.code.splitlines()
                     if line.strip() and not line.startswith("--"))


# --- validating-domain-constraint -------------------------------------------------------

DOMAIN_CASES = [
    ("ALTER DOMAIN amount ADD CONSTRAINT amount_pos CHECK (VALUE >= 0)", {"invoices", "refunds"}),
    ("ALTER DOMAIN amount SET NOT NULL", {"invoices", "refunds"}),
    ("ALTER DOMAIN amount ADD CONSTRAINT amount_pos CHECK (VALUE >= 0) NOT VALID", set()),
    ("ALTER DOMAIN spare ADD CONSTRAINT spare_pos CHECK (VALUE > 0)", set()),
]


@pytest.mark.parametrize("statement, tables", DOMAIN_CASES, ids=[c[0] for c in DOMAIN_CASES])
def test_domain_constraint_scans_every_table_using_it_under_share(pg, tmp_path, statement, tables):
    held = locks(pg, statement)
    assert {t for t, modes in held.items() if "SHARE" in modes} & {"invoices", "refunds"} == tables
    assert scanned(pg, statement) & {"invoices", "refunds"} == tables
    found = findings(tmp_path, statement, "validating-domain-constraint")
    assert bool(found) == bool(tables), statement
    if found:
        assert found[0].lock == "SHARE" and all(t in found[0].message for t in tables)


def test_domain_validate_holds_share_on_15(pg):
    """The plan's second step: on 15, VALIDATE still blocks writes (SHARE) while it scans."""
    pg("ALTER DOMAIN amount ADD CONSTRAINT amount_pos CHECK (VALUE >= 0) NOT VALID;")
    held = locks(pg, "ALTER DOMAIN amount VALIDATE CONSTRAINT amount_pos")
    assert "SHARE" in held["invoices"] and "SHARE" in held["refunds"]


def test_domain_plan_runs(pg, tmp_path):
    [f] = findings(tmp_path, DOMAIN_CASES[0][0], "validating-domain-constraint")
    expand, contract = (plan_sql_step(s) for s in f.fix.steps)
    assert scanned(pg, expand) & {"invoices", "refunds"} == set()  # NOT VALID: nothing read
    assert scanned(pg, contract) >= {"invoices", "refunds"}  # VALIDATE reads them


def plan_sql_step(step) -> str:
    return "\n".join(line for line in step.code.splitlines() if line.strip() and not line.startswith("--"))


# --- attach-partition-scan --------------------------------------------------------------

ATTACH_CASES = [
    ("ALTER TABLE m ATTACH PARTITION m_new FOR VALUES FROM (1000) TO (2000)", {"m_new"}),
    ("ALTER TABLE m ATTACH PARTITION m_nullable_check FOR VALUES FROM (1000) TO (2000)", {"m_nullable_check"}),
    ("ALTER TABLE m ATTACH PARTITION m_not_valid FOR VALUES FROM (1000) TO (2000)", {"m_not_valid"}),
    ("ALTER TABLE m ATTACH PARTITION m_proven FOR VALUES FROM (1000) TO (2000)", set()),
    ("ALTER TABLE l ATTACH PARTITION l_eu FOR VALUES IN ('eu')", {"l_other"}),  # the default partition
]


@pytest.mark.parametrize("statement, tables", ATTACH_CASES, ids=[c[0] for c in ATTACH_CASES])
def test_attach_scans_unless_a_valid_check_proves_the_bound(pg, tmp_path, statement, tables):
    part = statement.split("PARTITION ")[1].split()[0]
    held = locks(pg, statement)
    assert "ACCESS EXCLUSIVE" in held[part] and "ACCESS EXCLUSIVE" not in held[statement.split()[2]]  # parent: SUE
    assert scanned(pg, statement) == tables
    found = findings(tmp_path, statement, "attach-partition-scan")
    assert bool(found) == bool(tables), statement
    if found:
        assert all(t in found[0].message for t in tables) and found[0].lock == "ACCESS EXCLUSIVE"


def test_attach_plan_avoids_the_scan(pg, tmp_path):
    """migsafe's CHECK, added NOT VALID and validated, lets ATTACH skip the partition's scan."""
    statement = ATTACH_CASES[0][0]
    [f] = findings(tmp_path, statement, "attach-partition-scan")
    expand, contract = (plan_sql_step(s) for s in f.fix.steps)
    validate, attach, drop = [s for s in contract.split(";\n") if not s.startswith("SET ")]
    pg(expand + "\n" + validate + ";")
    assert scanned(pg, attach) == set()
    pg(drop)
    assert pg("SELECT count(*) FROM pg_inherits WHERE inhrelid = 'scans.m_new'::regclass;").strip() == "1"


# --- non-concurrent-detach-partition ----------------------------------------------------


def test_detach_takes_access_exclusive_on_parent_and_partition(pg, tmp_path):
    statement = "ALTER TABLE m DETACH PARTITION m_1"
    held = locks(pg, statement)
    assert "ACCESS EXCLUSIVE" in held["m"] and "ACCESS EXCLUSIVE" in held["m_1"]
    [f] = findings(tmp_path, statement, "non-concurrent-detach-partition")
    assert f.lock == "ACCESS EXCLUSIVE" and "m_1 CONCURRENTLY" in plan_sql(f)
    pg(plan_sql(f))  # the plan runs (psql sends it outside a transaction block)
    assert pg("SELECT count(*) FROM pg_inherits WHERE inhrelid = 'scans.m_1'::regclass;").strip() == "0"


def test_detach_concurrently_is_refused_in_a_transaction_and_with_a_default_partition(pg):
    for sql, error in (("BEGIN;\nALTER TABLE m DETACH PARTITION m_1 CONCURRENTLY;\nCOMMIT;", "transaction block"),
                       ("ALTER TABLE l DETACH PARTITION l_other CONCURRENTLY;", "default partition")):
        with pytest.raises(AssertionError, match=error):
            pg(sql)


# --- non-concurrent-refresh -------------------------------------------------------------


def test_refresh_locks(pg, tmp_path):
    assert "ACCESS EXCLUSIVE" in locks(pg, "REFRESH MATERIALIZED VIEW keyed")["keyed"]
    concurrent = locks(pg, "REFRESH MATERIALIZED VIEW CONCURRENTLY keyed")["keyed"]
    assert "EXCLUSIVE" in concurrent and "ACCESS EXCLUSIVE" not in concurrent
    with pytest.raises(AssertionError, match="unique index"):
        pg("REFRESH MATERIALIZED VIEW CONCURRENTLY totals;")
    [f] = findings(tmp_path, "REFRESH MATERIALIZED VIEW totals", "non-concurrent-refresh")
    assert f.lock == "ACCESS EXCLUSIVE"
    # the plan, with the placeholder filled in, makes CONCURRENTLY work
    pg(plan_sql(f).replace("<columns that identify a row>", "id"))


# --- non-concurrent-index on a partitioned table ----------------------------------------


def test_partitioned_index_plan_runs_and_leaves_a_valid_index(pg, tmp_path):
    with pytest.raises(AssertionError, match="partitioned table"):
        pg("CREATE INDEX CONCURRENTLY m_v_idx ON m (v);")
    [f] = findings(tmp_path, "CREATE INDEX m_v_idx ON m (v)", "non-concurrent-index")
    pg(plan_sql(f))
    assert pg("SELECT indisvalid FROM pg_index WHERE indexrelid = 'scans.m_v_idx'::regclass;").strip() == "t"


# --- change-column-type: a collation change ---------------------------------------------

COLLATION_CASES = [
    ('ALTER TABLE people ALTER COLUMN name TYPE varchar(50) COLLATE "C"', True),
    ('ALTER TABLE people ALTER COLUMN name TYPE varchar(80) COLLATE "C"', True),
    ('ALTER TABLE people ALTER COLUMN nick TYPE varchar(50) COLLATE "C"', False),
]


@pytest.mark.parametrize("statement, index_rebuilt", COLLATION_CASES, ids=[c[0] for c in COLLATION_CASES])
def test_collation_change_rebuilds_indexes_not_the_table(pg, tmp_path, statement, index_rebuilt):
    before = relfilenodes(pg, "people", "people_name_idx")
    assert "ACCESS EXCLUSIVE" in locks(pg, statement)["people"]
    pg(statement + ";")
    after = relfilenodes(pg, "people", "people_name_idx")
    assert after["people"] == before["people"]  # the table is kept
    assert (after["people_name_idx"] != before["people_name_idx"]) == index_rebuilt
    found = findings(tmp_path, statement, "change-column-type")
    assert bool(found) == index_rebuilt, statement
    if found:
        assert "not rewritten" in found[0].message and "rewrites the table" not in found[0].message


def test_collation_plan_rebuilds_nothing_under_the_lock(pg, tmp_path):
    statement = COLLATION_CASES[0][0]
    [f] = findings(tmp_path, statement, "change-column-type")
    steps = [s for s in plan_sql(f).split(";\n") if s.strip()]
    alter = next(i for i, s in enumerate(steps) if s.startswith("ALTER TABLE"))
    pg(";\n".join(steps[:alter]) + ";")
    table = relfilenodes(pg, "people")["people"]
    assert scanned(pg, steps[alter]) == set() and relfilenodes(pg, "people")["people"] == table
    pg(";\n".join(steps[alter + 1:]) + ";")
    assert pg("SELECT indisvalid FROM pg_index WHERE indexrelid = 'scans.people_name_idx'::regclass;").strip() == "t"


# --- attach-partition-scan on MySQL/MariaDB: EXCHANGE PARTITION ---------------------------

from test_mysql_truth import mariadb, target  # noqa: E402,F401  (fixtures)

EXCHANGE_SETUP = """DROP TABLE IF EXISTS xpt, xt;
CREATE TABLE xpt (id int NOT NULL, k int NOT NULL, PRIMARY KEY (id, k)) PARTITION BY RANGE (k)
    (PARTITION p0 VALUES LESS THAN (1000), PARTITION p1 VALUES LESS THAN (2000));
CREATE TABLE xt (id int NOT NULL, k int NOT NULL, PRIMARY KEY (id, k));
INSERT INTO xt VALUES (1, 1500), (2, 500);
"""


def test_exchange_partition_checks_every_row_unless_without_validation(mariadb, target, tmp_path):
    """A row outside the bound makes the exchange fail: the server read every row of the table.
    (Measured by hand on MariaDB 10.11: 900,000 rows took 1 s, and an INSERT into the partitioned
    table waited for all of it.)"""
    statement = "ALTER TABLE xpt EXCHANGE PARTITION p1 WITH TABLE xt"
    checked = mariadb(EXCHANGE_SETUP + statement + ";")
    assert checked.returncode != 0 and "match the partition" in checked.stderr, checked.stderr
    version = tuple(int(p) for p in target.removeprefix("mariadb-").split("."))
    without = mariadb(EXCHANGE_SETUP + statement + " WITHOUT VALIDATION;")
    assert (without.returncode == 0) == (version >= (11, 4)), without.stderr  # MDEV-22164, 11.4
    (tmp_path / "V1__setup.sql").write_text(EXCHANGE_SETUP.replace("DROP TABLE IF EXISTS xpt, xt;\n", "")
                                            .split("INSERT")[0])
    (tmp_path / "V2__change.sql").write_text(f"SET SESSION lock_wait_timeout = 5;\n{statement};\n")
    settings = load_settings(None, {"dialect": "mysql", "target-version": target}, set(default_severities()))
    [f] = [f for f in engine.check([tmp_path], settings, tmp_path).findings if f.rule == "attach-partition-scan"]
    assert ("WITHOUT VALIDATION" in plan_sql(f)) == (version >= (11, 4))

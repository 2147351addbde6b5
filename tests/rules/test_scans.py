"""Scans nobody sees (issue 20): validating-domain-constraint, attach-partition-scan,
non-concurrent-detach-partition, non-concurrent-refresh; and the two verdicts fixed with them:
CREATE INDEX on a partitioned table (non-concurrent-index's plan), a collation change
(change-column-type: indexes rebuilt, the table kept).

One case per spelling a user writes; the lock and scan claims themselves are checked on a real
PostgreSQL in tests/truth/test_truth_scans.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from migsafe import engine
from migsafe.config import load_settings
from migsafe.rules import default_severities

HISTORY = """
CREATE DOMAIN amount AS numeric(12, 2);
CREATE DOMAIN "Code" AS text;
CREATE DOMAIN spare AS int;
CREATE SCHEMA billing;
CREATE DOMAIN billing.cents AS bigint;
CREATE TABLE invoices (id bigint PRIMARY KEY, total amount, code "Code");
CREATE TABLE billing.ledger (id bigint PRIMARY KEY, delta billing.cents, totals amount[]);
CREATE TABLE measurements (id bigint, taken_at date NOT NULL, value numeric) PARTITION BY RANGE (taken_at);
CREATE TABLE measurements_2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE measurements_2027 (id bigint, taken_at date NOT NULL, value numeric);
CREATE TABLE measurements_2028 (id bigint, taken_at date NOT NULL, value numeric,
    CONSTRAINT m28 CHECK (taken_at >= '2028-01-01' AND taken_at < '2029-01-01'));
CREATE TABLE measurements_2029 (id bigint, taken_at date, value numeric,
    CONSTRAINT m29 CHECK (taken_at >= '2029-01-01' AND taken_at < '2030-01-01'));
CREATE TABLE measurements_2030 (id bigint, taken_at date, value numeric);
ALTER TABLE measurements_2030 ADD CONSTRAINT m30
    CHECK (taken_at IS NOT NULL AND taken_at >= '2030-01-01' AND taken_at < '2031-01-01') NOT VALID;
CREATE TABLE events (id bigint, region text) PARTITION BY LIST (region);
CREATE TABLE events_other PARTITION OF events DEFAULT;
CREATE TABLE events_eu (id bigint, region text NOT NULL, CONSTRAINT eu CHECK (region IN ('eu')));
CREATE TABLE "Hits" (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE "Hits_1" PARTITION OF "Hits" FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE people (id bigint PRIMARY KEY, name varchar(50), nick varchar(50), email varchar(50) UNIQUE);
CREATE INDEX people_name_idx ON people (name);
CREATE INDEX people_lower_name_idx ON people (lower(name));
CREATE MATERIALIZED VIEW totals AS SELECT 1 AS id;
CREATE MATERIALIZED VIEW keyed_totals AS SELECT 1 AS id;
CREATE UNIQUE INDEX keyed_totals_id ON keyed_totals (id);
"""


def findings(tmp_path: Path, sql: str, history: str = HISTORY, **overrides) -> list:
    """The findings of `sql` as the newest migration after `history`, with a lock timeout set."""
    (tmp_path / "V1__history.sql").write_text(history)
    (tmp_path / "V2__change.sql").write_text("SET lock_timeout = '5s';\n" + sql)
    settings = load_settings(None, {k.replace("_", "-"): v for k, v in overrides.items()}, set(default_severities()))
    return [f for f in engine.check([tmp_path], settings, tmp_path).findings if f.path.endswith("V2__change.sql")]


def rules(tmp_path: Path, sql: str, **kw) -> set[str]:
    return {f.rule for f in findings(tmp_path, sql, **kw)}


UNSAFE = [
    ("validating-domain-constraint", "ALTER DOMAIN amount ADD CONSTRAINT amount_pos CHECK (VALUE >= 0);"),
    ("validating-domain-constraint", "alter domain amount add check (value >= 0);"),
    ("validating-domain-constraint", "ALTER DOMAIN public.amount ADD CHECK (VALUE >= 0);"),
    ("validating-domain-constraint", 'ALTER DOMAIN "Code" ADD CHECK (VALUE <> \'\');'),
    ("validating-domain-constraint", "ALTER DOMAIN billing.cents ADD CONSTRAINT c CHECK (VALUE > 0);"),
    ("validating-domain-constraint", "ALTER DOMAIN amount SET NOT NULL;"),
    ("validating-domain-constraint", "ALTER DOMAIN amount ADD CONSTRAINT amount_nn NOT NULL;"),
    ("validating-domain-constraint", "ALTER DOMAIN made_elsewhere ADD CHECK (VALUE > 0);"),  # users unknown
    ("attach-partition-scan",
     "ALTER TABLE measurements ATTACH PARTITION measurements_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');"),
    ("attach-partition-scan",  # a CHECK that lets NULL through does not prove the bound (measured)
     "ALTER TABLE measurements ATTACH PARTITION measurements_2029 FOR VALUES FROM ('2029-01-01') TO ('2030-01-01');"),
    ("attach-partition-scan",  # a NOT VALID CHECK does not either
     "ALTER TABLE measurements ATTACH PARTITION measurements_2030 FOR VALUES FROM ('2030-01-01') TO ('2031-01-01');"),
    ("attach-partition-scan",
     "alter table only public.measurements attach partition measurements_2027"
     " for values from ('2027-01-01') to ('2028-01-01');"),
    ("attach-partition-scan",  # the partition is proven, the default partition is scanned anyway
     "ALTER TABLE events ATTACH PARTITION events_eu FOR VALUES IN ('eu');"),
    ("attach-partition-scan", "ALTER TABLE events ATTACH PARTITION made_elsewhere FOR VALUES IN ('us');"),
    ("attach-partition-scan", "ALTER TABLE measurements ATTACH PARTITION measurements_2027 DEFAULT;"),
    ("non-concurrent-detach-partition", "ALTER TABLE measurements DETACH PARTITION measurements_2026;"),
    ("non-concurrent-detach-partition", 'ALTER TABLE IF EXISTS "Hits" DETACH PARTITION "Hits_1";'),
    ("non-concurrent-detach-partition", "alter table events detach partition events_other;"),
    ("non-concurrent-refresh", "REFRESH MATERIALIZED VIEW totals;"),
    ("non-concurrent-refresh", "refresh materialized view public.keyed_totals with data;"),
    ("non-concurrent-index", "CREATE INDEX measurements_value_idx ON measurements (value);"),
    ("non-concurrent-index", 'CREATE UNIQUE INDEX hits_key ON "Hits" (id, at);'),
    ("change-column-type", 'ALTER TABLE people ALTER COLUMN name TYPE varchar(50) COLLATE "C";'),
    ("change-column-type", 'ALTER TABLE people ALTER COLUMN name TYPE varchar(80) COLLATE "C";'),  # widened too
    ("change-column-type", 'ALTER TABLE people ALTER COLUMN email SET DATA TYPE varchar(50) COLLATE "C";'),
]

SAFE = [
    "ALTER DOMAIN amount ADD CONSTRAINT amount_pos CHECK (VALUE >= 0) NOT VALID;",
    "ALTER DOMAIN amount VALIDATE CONSTRAINT amount_pos;",
    "ALTER DOMAIN amount DROP CONSTRAINT IF EXISTS amount_pos;",
    "ALTER DOMAIN spare ADD CHECK (VALUE > 0);",  # no table uses it
    "CREATE DOMAIN fresh AS int;\nALTER DOMAIN fresh SET NOT NULL;",
    "ALTER TABLE measurements ATTACH PARTITION measurements_2028 FOR VALUES FROM ('2028-01-01') TO ('2029-01-01');",
    "CREATE TABLE measurements_2031 (id bigint, taken_at date NOT NULL, value numeric);\n"
    "ALTER TABLE measurements ATTACH PARTITION measurements_2031 FOR VALUES FROM ('2031-01-01') TO ('2032-01-01');",
    "ALTER TABLE measurements DETACH PARTITION measurements_2026 CONCURRENTLY;",
    "ALTER TABLE measurements DETACH PARTITION measurements_2026 FINALIZE;",
    "REFRESH MATERIALIZED VIEW CONCURRENTLY keyed_totals;",
    "REFRESH MATERIALIZED VIEW totals WITH NO DATA;",
    "CREATE MATERIALIZED VIEW fresh_totals AS SELECT 1 AS id WITH NO DATA;\nREFRESH MATERIALIZED VIEW fresh_totals;",
    "CREATE INDEX measurements_value_idx ON ONLY measurements (value);",
    'ALTER TABLE people ALTER COLUMN nick TYPE varchar(50) COLLATE "C";',  # no index on it: catalog-only
]


@pytest.mark.parametrize("rule, sql", UNSAFE, ids=[s for _, s in UNSAFE])
def test_unsafe(tmp_path, rule, sql):
    assert rule in rules(tmp_path, sql)


@pytest.mark.parametrize("sql", SAFE)
def test_safe(tmp_path, sql):
    found = findings(tmp_path, sql)
    scans = {"validating-domain-constraint", "attach-partition-scan", "non-concurrent-detach-partition",
             "non-concurrent-refresh", "non-concurrent-index", "change-column-type", "not-analyzed",
             "unrecognized-statement"}
    assert not [f for f in found if f.rule in scans], [(f.rule, f.message) for f in found]


def test_domain_message_names_the_tables_it_scans(tmp_path):
    [f] = [f for f in findings(tmp_path, "ALTER DOMAIN amount ADD CHECK (VALUE >= 0);")
           if f.rule == "validating-domain-constraint"]
    assert "invoices" in f.message and "billing.ledger" in f.message and f.lock == "SHARE"
    plan = "\n".join(step.code for step in f.fix.steps)
    assert "ADD CONSTRAINT amount_check CHECK (VALUE >= 0) NOT VALID" in plan
    assert "VALIDATE CONSTRAINT amount_check" in plan


def test_domain_set_not_null_plan_is_a_not_valid_check(tmp_path):
    [f] = [f for f in findings(tmp_path, "ALTER DOMAIN amount SET NOT NULL;")
           if f.rule == "validating-domain-constraint"]
    assert "CHECK (VALUE IS NOT NULL) NOT VALID" in "\n".join(step.code for step in f.fix.steps)


def test_domain_validate_lock_follows_the_version(tmp_path):
    """VALIDATE holds SHARE until PostgreSQL 19 (measured on 15): the plan says to run it at a quiet time."""
    sql = "ALTER DOMAIN amount ADD CHECK (VALUE >= 0);"
    [old] = [f for f in findings(tmp_path, sql) if f.rule == "validating-domain-constraint"]
    [new] = [f for f in findings(tmp_path, sql, target_version="19") if f.rule == "validating-domain-constraint"]
    assert "still holds SHARE" in old.fix.summary and "SHARE UPDATE EXCLUSIVE" in new.fix.summary


def test_attach_plan_proves_the_bound_with_a_check(tmp_path):
    [f] = [f for f in findings(tmp_path, "ALTER TABLE measurements ATTACH PARTITION measurements_2027"
                                         " FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');")
           if f.rule == "attach-partition-scan"]
    assert f.table == "measurements_2027" and f.lock == "ACCESS EXCLUSIVE"
    plan = "\n".join(step.code for step in f.fix.steps)
    assert ("CHECK (taken_at IS NOT NULL AND taken_at >= '2027-01-01' AND taken_at < '2028-01-01') NOT VALID"
            in plan), plan
    attach = f.fix.steps[-1].code  # the contract step: validate, attach, drop the CHECK
    assert attach.index("VALIDATE CONSTRAINT") < attach.index("ATTACH PARTITION") < attach.index("DROP CONSTRAINT")
    # the plan's own steps, run as migrations, are not reported again
    steps = [s.code for s in f.fix.steps]
    assert not {"attach-partition-scan", "validating-check-constraint", "lock-held-across-statements"} & rules(
        tmp_path, steps[0] + "\n") - {"missing-lock-timeout"}


def test_attach_names_the_default_partition(tmp_path):
    [f] = [f for f in findings(tmp_path, "ALTER TABLE events ATTACH PARTITION events_eu FOR VALUES IN ('eu');")
           if f.rule == "attach-partition-scan"]
    assert "events_other" in f.message and "events_eu (" not in f.message  # events_eu is proven


def test_attach_before_pg12_locks_the_parent(tmp_path):
    sql = "ALTER TABLE measurements ATTACH PARTITION measurements_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');"
    [f] = [f for f in findings(tmp_path, sql, target_version="11") if f.rule == "attach-partition-scan"]
    assert "measurements itself is locked ACCESS EXCLUSIVE" in f.message


def test_detach_plan_per_version_and_default_partition(tmp_path):
    def plan(sql, **kw):
        [f] = [f for f in findings(tmp_path, sql, **kw) if f.rule == "non-concurrent-detach-partition"]
        return f, "\n".join(step.code for step in f.fix.steps)

    f, code = plan("ALTER TABLE measurements DETACH PARTITION measurements_2026;")
    assert "DETACH PARTITION measurements_2026 CONCURRENTLY" in code and "outside a transaction" in code
    assert f.lock == "ACCESS EXCLUSIVE" and f.table == "measurements"
    f, code = plan("ALTER TABLE measurements DETACH PARTITION measurements_2026;", target_version="13")
    assert "CONCURRENTLY" not in code and "no DETACH ... CONCURRENTLY" in f.message and "lock_timeout" in code
    f, code = plan("ALTER TABLE events DETACH PARTITION events_other;")
    assert "CONCURRENTLY" not in code and "default partition (events_other)" in f.message


def test_detach_concurrently_in_a_transaction_is_refused(tmp_path):
    found = rules(tmp_path, "BEGIN;\nALTER TABLE measurements DETACH PARTITION measurements_2026 CONCURRENTLY;\nCOMMIT;")
    assert "concurrently-in-transaction" in found and "non-concurrent-detach-partition" not in found


def test_refresh_plan_says_the_view_needs_a_unique_index(tmp_path):
    def plan(sql):
        [f] = [f for f in findings(tmp_path, sql) if f.rule == "non-concurrent-refresh"]
        return f.fix.summary + "\n".join(step.code for step in f.fix.steps)

    without = plan("REFRESH MATERIALIZED VIEW totals;")
    assert "CREATE UNIQUE INDEX CONCURRENTLY totals_key ON totals" in without and "unique index" in without
    keyed = plan("REFRESH MATERIALIZED VIEW keyed_totals;")
    assert "keyed_totals_id" in keyed and "CREATE UNIQUE INDEX" not in keyed
    assert "REFRESH MATERIALIZED VIEW CONCURRENTLY keyed_totals" in keyed


def test_partitioned_index_plan_is_on_only_then_each_partition(tmp_path):
    [f] = [f for f in findings(tmp_path, "CREATE INDEX measurements_value_idx ON measurements (value);")
           if f.rule == "non-concurrent-index"]
    code = "\n".join(step.code for step in f.fix.steps)
    assert "CREATE INDEX measurements_value_idx ON ONLY measurements (value);" in code
    assert "CREATE INDEX CONCURRENTLY measurements_2026_value_idx ON measurements_2026 (value);" in code
    assert "ALTER INDEX measurements_value_idx ATTACH PARTITION measurements_2026_value_idx;" in code
    assert "CONCURRENTLY measurements_value_idx" not in code  # never CONCURRENTLY on the parent
    assert not rules(tmp_path, code.replace("SET lock_timeout = '5s';\n", "")) & {"non-concurrent-index",
                                                                                  "not-analyzed"}


def test_partitioned_index_plan_without_known_partitions(tmp_path):
    history = "CREATE TABLE p (id bigint, k int) PARTITION BY HASH (id);"
    [f] = [f for f in findings(tmp_path, "CREATE INDEX p_k_idx ON p (k);", history=history)
           if f.rule == "non-concurrent-index"]
    code = "\n".join(step.code for step in f.fix.steps)
    assert "ON ONLY p (k)" in code and "for each partition of p" in code


def test_collation_change_rebuilds_indexes_not_the_table(tmp_path):
    [f] = [f for f in findings(tmp_path, 'ALTER TABLE people ALTER COLUMN name TYPE varchar(50) COLLATE "C";')
           if f.rule == "change-column-type"]
    assert "rewrites the table" not in f.message and "not rewritten" in f.message
    assert "people_name_idx" in f.message and "people_lower_name_idx" in f.message
    code = "\n".join(step.code for step in f.fix.steps)
    assert code.index("DROP INDEX CONCURRENTLY people_name_idx") < code.index("COLLATE") < code.index(
        "CREATE INDEX CONCURRENTLY people_name_idx ON people (name)")


def test_collation_change_of_a_constraint_index_cannot_drop_it(tmp_path):
    [f] = [f for f in findings(tmp_path, 'ALTER TABLE people ALTER COLUMN email TYPE varchar(50) COLLATE "C";')
           if f.rule == "change-column-type"]
    assert "maintenance window" in f.fix.summary and "DROP INDEX" not in "".join(s.code for s in f.fix.steps)


def test_type_change_with_collation_still_rewrites(tmp_path):
    [f] = [f for f in findings(tmp_path, 'ALTER TABLE people ALTER COLUMN name TYPE varchar(20) COLLATE "C";')
           if f.rule == "change-column-type"]
    assert "rewrites the table" in f.message


ALEMBIC = '''from alembic import op
import sqlalchemy as sa

revision = "r2"
down_revision = "r1"


def upgrade():
    op.execute("SET lock_timeout = '5s'")
{body}


def downgrade():
    pass
'''


@pytest.mark.parametrize("rule, body", [
    ("validating-domain-constraint", '    op.execute("ALTER DOMAIN amount ADD CHECK (VALUE >= 0)")'),
    ("non-concurrent-detach-partition",
     '    op.execute(sa.text("ALTER TABLE measurements DETACH PARTITION measurements_2026"))'),
    ("non-concurrent-refresh", '    op.execute("REFRESH MATERIALIZED VIEW totals")'),
    ("non-concurrent-index", '    op.create_index("ix_value", "measurements", ["value"])'),
])
def test_alembic(tmp_path, rule, body):
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "r1.py").write_text('revision = "r1"\ndown_revision = None\nfrom alembic import op\n\n\n'
                                    f'def upgrade():\n    op.execute("""{HISTORY}""")\n')
    (versions / "r2.py").write_text(ALEMBIC.format(body=body))
    settings = load_settings(None, {}, set(default_severities()))
    found = [f for f in engine.check([tmp_path], settings, tmp_path).findings
             if f.rule == rule and f.path.endswith("r2.py")]
    assert found, rule
    if rule == "non-concurrent-index":  # the plan in Alembic: ON ONLY, then each partition in autocommit
        code = "\n".join(step.code for step in found[0].fix.steps)
        assert "ON ONLY measurements" in code and "autocommit_block" in code
        assert 'postgresql_concurrently=True' in code and "measurements_2026" in code


def test_django_runsql(tmp_path):
    migrations = tmp_path / "shop" / "migrations"
    migrations.mkdir(parents=True)
    (tmp_path / "shop" / "__init__.py").write_text("")
    (migrations / "__init__.py").write_text("")
    (migrations / "0001_initial.py").write_text(
        "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    initial = True\n"
        f"    dependencies = []\n    operations = [migrations.RunSQL({HISTORY!r}, migrations.RunSQL.noop)]\n")
    (migrations / "0002_scan.py").write_text(
        "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
        "    dependencies = [('shop', '0001_initial')]\n    operations = [\n"
        "        migrations.RunSQL(\"SET lock_timeout = '5s'\", migrations.RunSQL.noop),\n"
        "        migrations.RunSQL('ALTER DOMAIN amount ADD CHECK (VALUE >= 0)', migrations.RunSQL.noop),\n"
        "        migrations.RunSQL(\"ALTER TABLE measurements ATTACH PARTITION measurements_2027"
        " FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')\", migrations.RunSQL.noop),\n"
        "        migrations.RunSQL('REFRESH MATERIALIZED VIEW totals', migrations.RunSQL.noop),\n    ]\n")
    settings = load_settings(None, {}, set(default_severities()))
    found = {(f.rule, f.span.line) for f in engine.check([tmp_path], settings, tmp_path).findings}
    assert {("validating-domain-constraint", 8), ("attach-partition-scan", 9), ("non-concurrent-refresh", 10)} <= found


MYSQL_HISTORY = """
CREATE TABLE sales (id bigint NOT NULL, k int NOT NULL, PRIMARY KEY (id, k))
    PARTITION BY RANGE (k) (PARTITION p0 VALUES LESS THAN (1000), PARTITION p1 VALUES LESS THAN (2000));
CREATE TABLE staged (id bigint NOT NULL, k int NOT NULL, PRIMARY KEY (id, k));
"""


@pytest.mark.parametrize("sql, flagged", [
    ("ALTER TABLE sales EXCHANGE PARTITION p1 WITH TABLE staged;", True),
    ("alter table `sales` exchange partition `p1` with table `staged` with validation;", True),
    ("ALTER TABLE sales EXCHANGE PARTITION p1 WITH TABLE staged WITHOUT VALIDATION;", False),
    ("CREATE TABLE fresh (id bigint NOT NULL, k int NOT NULL, PRIMARY KEY (id, k));\n"
     "ALTER TABLE sales EXCHANGE PARTITION p1 WITH TABLE fresh;", False),
])
def test_mysql_exchange_partition(tmp_path, sql, flagged):
    found = findings(tmp_path, sql.replace("SET lock_timeout", ""), history=MYSQL_HISTORY, dialect="mysql")
    assert ("attach-partition-scan" in {f.rule for f in found}) == flagged
    assert "not-analyzed" not in {f.rule for f in found}


@pytest.mark.parametrize("target, skips", [("8.4", True), ("mariadb-11.4", True), ("mariadb-10.11", False)])
def test_mysql_exchange_plan_per_version(tmp_path, target, skips):
    [f] = [f for f in findings(tmp_path, "ALTER TABLE sales EXCHANGE PARTITION p1 WITH TABLE staged;",
                               history=MYSQL_HISTORY, dialect="mysql", target_version=target)
           if f.rule == "attach-partition-scan"]
    assert ("WITHOUT VALIDATION;" in "".join(s.code for s in f.fix.steps)) == skips

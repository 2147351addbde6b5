"""Issue 20, transactions: lock-held-across-statements, transaction-nesting, enum-add-value,
concurrent-index-if-not-exists, and missing-lock-timeout on the statements it did not see.

Each case is a migration after a history that makes the tables; the findings are (rule, line).
The canonical examples are on the rules/*.md pages (tests/test_rule_docs.py); these are the
spellings and the edges.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from migsafe import engine
from migsafe.config import load_settings
from migsafe.rules import default_severities

HISTORY = """CREATE TABLE customers (id bigint PRIMARY KEY, email text);
CREATE SCHEMA shop;
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, total int, note text, status text);
CREATE TABLE shop."Orders" (id bigint PRIMARY KEY, total int);
CREATE INDEX orders_status_idx ON orders (status);
ALTER TABLE orders ADD CONSTRAINT orders_total_ck CHECK (total >= 0) NOT VALID;
CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE TYPE "Mood" AS ENUM ('ok');
CREATE TABLE people (id bigint PRIMARY KEY, m mood, label text);
CREATE VIEW order_totals AS SELECT id, total FROM orders;
CREATE MATERIALIZED VIEW order_stats AS SELECT count(*) AS n FROM orders;
CREATE SEQUENCE invoice_numbers;
CREATE TABLE events (id bigint, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
"""
TIMEOUT = "SET lock_timeout = '5s';\n"

ALEMBIC_HEADER = '''from alembic import op
import sqlalchemy as sa

revision = "r0001"
down_revision = None


'''
DJANGO_HISTORY = '''from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.RunSQL({history!r}, migrations.RunSQL.noop),
        migrations.CreateModel(name="Item", fields=[
            ("id", models.BigAutoField(primary_key=True, serialize=False)),
            ("customer_id", models.BigIntegerField()),
        ]),
    ]
'''
DJANGO_HEAD = '''from django.db import migrations, models
from django.contrib.postgres.operations import AddIndexConcurrently


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_history")]
'''


def lint(tmp_path: Path, code: str, source: str = "sql", **options) -> list[tuple[str, int]]:
    """Findings of `code` as the newest migration of `source` after HISTORY: (rule, line)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    if source == "django":
        migrations = tmp_path / "shop" / "migrations"
        migrations.mkdir(parents=True)
        for init in (tmp_path / "shop" / "__init__.py", migrations / "__init__.py"):
            init.write_text("")
        (migrations / "0001_history.py").write_text(DJANGO_HISTORY.format(history=HISTORY))
        (migrations / "0002_change.py").write_text(DJANGO_HEAD + code)
        start_after = {"django": {"shop": "0001_history"}}
    else:
        (tmp_path / "V1__history.sql").write_text(HISTORY)
        start_after = {"sql": "V1__history.sql"}
        if source == "alembic":
            (tmp_path / "versions").mkdir()
            (tmp_path / "versions" / "r0001.py").write_text(ALEMBIC_HEADER + code)
        else:
            (tmp_path / "V2__change.sql").write_text(code)
    options = {k.replace("_", "-"): v for k, v in options.items()} | {"start-after": start_after}
    settings = load_settings(None, options, set(default_severities()))
    return [(f.rule, f.span.line) for f in engine.check([tmp_path], settings, tmp_path).findings]


def of(findings: list[tuple[str, int]], rule: str) -> list[int]:
    return [line for r, line in findings if r == rule]


# --- lock-held-across-statements ----------------------------------------------------------

HELD = "lock-held-across-statements"


@pytest.mark.parametrize("sql, lines", [
    ("BEGIN;\nALTER TABLE orders ADD COLUMN x int;\nALTER TABLE orders VALIDATE CONSTRAINT orders_total_ck;\nCOMMIT;",
     [4]),
    ("begin;\nalter table public.orders add column x int;\ncreate index orders_c_idx on orders (customer_id);\ncommit;",
     [4]),
    ('BEGIN;\nALTER TABLE shop."Orders" ADD COLUMN x int;\nCREATE INDEX o_idx ON shop."Orders" (total);\nCOMMIT;', [4]),
    ("BEGIN;\nALTER TABLE orders ADD COLUMN x int;\nUPDATE orders SET x = 1 WHERE status = 'new';\nCOMMIT;", [4]),
    ("BEGIN;\nALTER TABLE orders ADD COLUMN x int;\nDELETE FROM orders WHERE total < 0;\nCOMMIT;", [4]),
    # INSERT ... SELECT: the locked table read, or written
    ("BEGIN;\nALTER TABLE orders ADD COLUMN x int;\n"
     "INSERT INTO customers (id) SELECT customer_id FROM orders;\nCOMMIT;", [4]),
    ("BEGIN;\nALTER TABLE customers ADD COLUMN x int;\n"
     "INSERT INTO customers (id) SELECT customer_id FROM orders;\nCOMMIT;", [4]),
    # the referenced table of a validating foreign key
    ("BEGIN;\nALTER TABLE customers ADD COLUMN x int;\n"
     "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (customer_id) REFERENCES customers (id);\nCOMMIT;", [4]),
    # DROP INDEX locks the index's table; LOCK TABLE takes the lock outright
    ("BEGIN;\nDROP INDEX orders_status_idx;\nCREATE INDEX orders_status2_idx ON orders (status, id);\nCOMMIT;", [4]),
    ("BEGIN;\nLOCK TABLE orders;\nUPDATE orders SET note = '' WHERE id < 10;\nCOMMIT;", [4]),
])
def test_work_after_an_exclusive_lock_in_the_transaction(tmp_path, sql, lines):
    assert of(lint(tmp_path, TIMEOUT + sql), HELD) == lines


def test_per_file_transaction(tmp_path):
    sql = TIMEOUT + "ALTER TABLE orders ADD COLUMN x int;\nCREATE INDEX orders_c_idx ON orders (customer_id);"
    assert of(lint(tmp_path, sql, sql_transaction="per-file"), HELD) == [3]
    assert of(lint(tmp_path / "plain", sql), HELD) == []  # each statement its own transaction


@pytest.mark.parametrize("sql", [
    # a COMMIT in between releases the lock
    "BEGIN;\nALTER TABLE orders ADD COLUMN x int;\nCOMMIT;\nBEGIN;\nCREATE INDEX i ON orders (customer_id);\nCOMMIT;",
    # another table, or a table made in the same migration
    "BEGIN;\nALTER TABLE customers ADD COLUMN x int;\nCREATE INDEX i ON orders (customer_id);\nCOMMIT;",
    "BEGIN;\nCREATE TABLE r (id int, o int);\nALTER TABLE r ADD COLUMN x int;\nCREATE INDEX i ON r (o);\nCOMMIT;",
    # work that takes no less than ACCESS EXCLUSIVE itself: its own rule says every read waits
    "BEGIN;\nALTER TABLE orders ADD COLUMN x int;\nALTER TABLE orders ALTER COLUMN status SET NOT NULL;\nCOMMIT;",
    # INSERT ... VALUES: a few rows, no query
    "BEGIN;\nALTER TABLE orders ADD COLUMN x int;\nINSERT INTO orders (id) VALUES (1);\nCOMMIT;",
    # the lock of a weaker statement (SHARE UPDATE EXCLUSIVE) is no reason
    "BEGIN;\nALTER TABLE orders VALIDATE CONSTRAINT orders_total_ck;\nCREATE INDEX i ON orders (customer_id);\nCOMMIT;",
])
def test_no_held_exclusive_lock(tmp_path, sql):
    assert of(lint(tmp_path, TIMEOUT + sql), HELD) == []


def test_said_once_where_another_rule_names_the_held_lock(tmp_path):
    whole = lint(tmp_path / "a", TIMEOUT + "BEGIN;\nALTER TABLE orders ADD COLUMN x int;\n"
                                          "UPDATE orders SET x = 1;\nCOMMIT;")
    assert of(whole, HELD) == [] and of(whole, "unbatched-backfill") == [4]
    validate = lint(tmp_path / "b", TIMEOUT + "BEGIN;\n"
                                              "ALTER TABLE orders ADD CONSTRAINT ck CHECK (total < 10) NOT VALID;\n"
                                              "ALTER TABLE orders VALIDATE CONSTRAINT ck;\nCOMMIT;")
    assert of(validate, HELD) == [] and of(validate, "validating-check-constraint") == [4]


def test_held_lock_in_alembic(tmp_path):
    code = ('def upgrade():\n    op.execute("SET lock_timeout = \'5s\'")\n'
            '    op.add_column("orders", sa.Column("x", sa.Integer()))\n'
            '    op.create_index("ix_c", "orders", ["customer_id"])\n\n\ndef downgrade():\n    pass\n')
    assert of(lint(tmp_path / "a", code, "alembic"), HELD) == [11]
    outside = code.replace('    op.create_index("ix_c", "orders", ["customer_id"])',
                           '    with op.get_context().autocommit_block():\n'
                           '        op.create_index("ix_c", "orders", ["customer_id"], postgresql_concurrently=True)')
    assert of(lint(tmp_path / "b", outside, "alembic"), HELD) == []


def test_held_lock_in_django(tmp_path):
    code = ('    operations = [\n'
            '        migrations.AddField(model_name="item", name="note", field=models.TextField(null=True)),\n'
            '        migrations.AddIndex(model_name="item", index=models.Index(fields=["customer_id"], name="i_c")),\n'
            '    ]\n')
    assert of(lint(tmp_path / "a", code, "django"), HELD) == [9]
    atomic_false = "    atomic = False\n" + code
    assert of(lint(tmp_path / "b", atomic_false, "django"), HELD) == []


def test_fix_moves_the_work_to_its_own_migration(tmp_path):
    (tmp_path / "V1__history.sql").write_text(HISTORY)
    (tmp_path / "V2__change.sql").write_text(
        TIMEOUT + "BEGIN;\nALTER TABLE orders ADD COLUMN x int;\nCREATE INDEX i ON orders (customer_id);\nCOMMIT;")
    settings = load_settings(None, {"start-after": {"sql": "V1__history.sql"}}, set(default_severities()))
    [finding] = [f for f in engine.check([tmp_path], settings, tmp_path).findings if f.rule == HELD]
    assert "line 3" in finding.message and finding.lock == "ACCESS EXCLUSIVE" and finding.table == "orders"
    assert "CREATE INDEX CONCURRENTLY i ON orders (customer_id);" in finding.fix.steps[0].code


# --- transaction-nesting -------------------------------------------------------------------

NEST = "transaction-nesting"


@pytest.mark.parametrize("sql, options, lines", [
    ("BEGIN;\nUPDATE orders SET note = '' WHERE id = 1;\nBEGIN;\nCOMMIT;", {}, [3]),
    ("START TRANSACTION;\nbegin work;\nCOMMIT;", {}, [2]),
    ("BEGIN;\nUPDATE orders SET note = '' WHERE id = 1;\nCOMMIT;", {"sql_transaction": "per-file"}, [1]),
    ("BEGIN;\nUPDATE orders SET note = '' WHERE id = 1;", {}, [1]),  # left open
    ("BEGIN;\nCOMMIT;\nBEGIN;\nROLLBACK;", {}, []),
    ("BEGIN;\nBEGIN TRANSACTION;\nCOMMIT;", {"dialect": "sqlite"}, [2]),
    ("BEGIN;\nUPDATE orders SET note = '' WHERE id = 1;\nSTART TRANSACTION;\nCOMMIT;", {"dialect": "mysql"}, [3]),
    # MySQL commits implicitly at DDL: the second BEGIN opens a new transaction
    ("BEGIN;\nALTER TABLE orders ADD COLUMN x int, ALGORITHM=INSTANT;\nBEGIN;\nCOMMIT;",
     {"dialect": "mysql"}, []),
])
def test_nesting_in_sql(tmp_path, sql, options, lines):
    assert of(lint(tmp_path, sql, **options), NEST) == lines


def test_nesting_in_alembic(tmp_path):
    code = ('def upgrade():\n    op.execute("BEGIN")\n    op.execute("UPDATE orders SET note = \'\' WHERE id = 1")\n'
            '    op.execute("COMMIT")\n\n\ndef downgrade():\n    pass\n')
    assert of(lint(tmp_path / "a", code, "alembic"), NEST) == [9]
    outside = code.replace('    op.execute("BEGIN")', '    with op.get_context().autocommit_block():\n'
                                                      '        op.execute("BEGIN")') \
        .replace("    op.execute(\"UPDATE", "        op.execute(\"UPDATE").replace('    op.execute("COMMIT")',
                                                                               '        op.execute("COMMIT")')
    assert of(lint(tmp_path / "b", outside, "alembic"), NEST) == []


def test_nesting_in_django(tmp_path):
    code = ('    operations = [migrations.RunSQL(["BEGIN", "UPDATE orders SET note = \'\' WHERE id = 1", "COMMIT"],\n'
            '                                    migrations.RunSQL.noop)]\n')
    assert of(lint(tmp_path / "a", code, "django"), NEST) == [7]
    assert of(lint(tmp_path / "b", "    atomic = False\n" + code, "django"), NEST) == []


# --- enum-add-value ------------------------------------------------------------------------

ENUM = "enum-add-value"


@pytest.mark.parametrize("use", [
    "UPDATE people SET m = 'meh' WHERE m = 'sad';",
    "INSERT INTO people (id, m) VALUES (1, 'meh');",
    "ALTER TABLE people ALTER COLUMN m SET DEFAULT 'meh';",
    "SELECT 'meh'::mood;",
    "SELECT CAST('meh' AS public.mood);",
])
def test_new_value_used_in_its_transaction(tmp_path, use):
    sql = f"BEGIN;\nALTER TYPE public.mood ADD VALUE IF NOT EXISTS 'meh';\n{use}\nCOMMIT;"
    assert of(lint(tmp_path, sql), ENUM) == [3]


@pytest.mark.parametrize("sql", [
    "BEGIN;\nALTER TYPE mood ADD VALUE 'meh';\nCOMMIT;\nUPDATE people SET m = 'meh' WHERE m = 'sad';",
    "ALTER TYPE mood ADD VALUE 'meh';\nUPDATE people SET m = 'meh' WHERE m = 'sad';",  # no transaction
    "BEGIN;\nALTER TYPE mood ADD VALUE 'meh';\nALTER TYPE mood ADD VALUE 'meh2' AFTER 'meh';\nCOMMIT;",
    "BEGIN;\nALTER TYPE mood ADD VALUE 'meh';\nUPDATE orders SET note = 'meh' WHERE id = 1;\nCOMMIT;",
])
def test_new_value_not_used_in_its_transaction(tmp_path, sql):
    assert of(lint(tmp_path, sql), ENUM) == []


def test_quoted_type(tmp_path):
    sql = 'BEGIN;\nALTER TYPE "Mood" ADD VALUE \'new\';\nSELECT \'new\'::"Mood";\nCOMMIT;'
    assert of(lint(tmp_path, sql), ENUM) == [3]


def test_add_value_in_a_transaction_before_12(tmp_path):
    sql = "BEGIN;\nALTER TYPE mood ADD VALUE 'meh';\nCOMMIT;"
    assert of(lint(tmp_path / "a", sql, target_version="11"), ENUM) == [2]
    assert of(lint(tmp_path / "b", sql, target_version="12"), ENUM) == []
    assert of(lint(tmp_path / "c", "ALTER TYPE mood ADD VALUE 'meh';", target_version="11"), ENUM) == []
    assert lint(tmp_path / "d", sql, target_version="11", select=["concurrently-in-transaction"]) == []


def test_enum_in_alembic(tmp_path):
    code = ('def upgrade():\n    op.execute("ALTER TYPE mood ADD VALUE \'meh\'")\n'
            '    op.execute("UPDATE people SET m = \'meh\' WHERE m = \'sad\'")\n\n\ndef downgrade():\n    pass\n')
    assert of(lint(tmp_path / "a", code, "alembic"), ENUM) == [10]
    add_only = ('def upgrade():\n    with op.get_context().autocommit_block():\n'
                '        op.execute("ALTER TYPE mood ADD VALUE \'meh\'")\n'
                '    op.execute("UPDATE people SET m = \'meh\' WHERE m = \'sad\'")\n\n\ndef downgrade():\n    pass\n')
    assert of(lint(tmp_path / "b", add_only, "alembic", target_version="11"), ENUM) == []


def test_enum_in_django(tmp_path):
    code = ('    operations = [\n'
            '        migrations.RunSQL("ALTER TYPE mood ADD VALUE \'meh\'", migrations.RunSQL.noop),\n'
            '        migrations.RunSQL("UPDATE people SET m = \'meh\' WHERE m = \'sad\'", migrations.RunSQL.noop),\n'
            '    ]\n')
    assert of(lint(tmp_path / "a", code, "django"), ENUM) == [9]
    assert of(lint(tmp_path / "b", code, "django", target_version="11"), ENUM) == [8]
    assert of(lint(tmp_path / "c", "    atomic = False\n" + code, "django", target_version="11"), ENUM) == []


# --- concurrent-index-if-not-exists --------------------------------------------------------

CIC = "concurrent-index-if-not-exists"


@pytest.mark.parametrize("sql, lines", [
    ("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON orders (customer_id);", [1]),
    ('create unique index concurrently if not exists "I" on shop."Orders" using btree (total);', [1]),
    ("CREATE INDEX CONCURRENTLY i ON orders (customer_id);", []),
    ("CREATE INDEX IF NOT EXISTS i ON orders (customer_id);", []),
    ("CREATE TABLE r (id int);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON r (id);", []),
])
def test_concurrent_if_not_exists(tmp_path, sql, lines):
    assert of(lint(tmp_path, sql), CIC) == lines


def test_concurrent_if_not_exists_in_alembic_and_django(tmp_path):
    code = ('def upgrade():\n    with op.get_context().autocommit_block():\n'
            '        op.create_index("ix_c", "orders", ["customer_id"], postgresql_concurrently=True,'
            ' if_not_exists=True)\n\n\ndef downgrade():\n    pass\n')
    assert of(lint(tmp_path / "a", code, "alembic"), CIC) == [10]
    django = ('    atomic = False\n    operations = [migrations.RunSQL(\n'
              '        "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON orders (customer_id)", migrations.RunSQL.noop)]\n')
    assert of(lint(tmp_path / "b", django, "django"), CIC) == [8]
    # Django's own operation writes no IF NOT EXISTS
    own = ('    atomic = False\n    operations = [AddIndexConcurrently(model_name="item",'
           ' index=models.Index(fields=["customer_id"], name="i_c"))]\n')
    assert of(lint(tmp_path / "c", own, "django"), CIC) == []


def test_fix_drops_the_leftover_first(tmp_path):
    (tmp_path / "V1__history.sql").write_text(HISTORY)
    (tmp_path / "V2__change.sql").write_text("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON orders (customer_id);")
    settings = load_settings(None, {"start-after": {"sql": "V1__history.sql"}}, set(default_severities()))
    [finding] = engine.check([tmp_path], settings, tmp_path).findings
    assert "DROP INDEX CONCURRENTLY IF EXISTS i;\nCREATE INDEX CONCURRENTLY i ON orders (customer_id);" \
        in finding.fix.steps[0].code


# --- missing-lock-timeout on the statements it did not see (issue point 9) -------------------

TIMEOUT_RULE = "missing-lock-timeout"


@pytest.mark.parametrize("sql, lines", [
    ("DROP VIEW order_totals;", [1]),
    ("DROP VIEW IF EXISTS public.order_totals;", [1]),
    ("DROP MATERIALIZED VIEW order_stats;", [1]),
    ("DROP SEQUENCE invoice_numbers;", [1]),
    ("DROP TRIGGER orders_audit ON orders;", [1]),
    ("CREATE OR REPLACE VIEW order_totals AS SELECT id, total FROM orders;", [1]),
    ("CREATE POLICY own ON orders USING (true);", [1]),
    ("DROP POLICY own ON orders;", [1]),
    ("ALTER TABLE events DETACH PARTITION events_2025;", [1]),
    # nothing that exists is locked: a new view, a view made by this migration, none at all
    ("CREATE OR REPLACE VIEW new_totals AS SELECT id FROM orders;", []),
    ("CREATE VIEW v AS SELECT id FROM orders;\nCREATE OR REPLACE VIEW v AS SELECT id, total FROM orders;\nDROP VIEW v;",
     []),
    ("DROP VIEW IF EXISTS never_made;", []),
    ("SET lock_timeout = '5s';\nDROP VIEW order_totals;", []),
])
def test_lock_timeout_on_other_exclusive_locks(tmp_path, sql, lines):
    assert of(lint(tmp_path, sql), TIMEOUT_RULE) == lines


def test_rules_keep_per_transaction_state_in_the_context(tmp_path):
    """ctx.transaction: one store per transaction (judge.py starts a new one with each), the same
    for every fact of it; the rules that need one keep nothing on themselves."""
    from migsafe import rules as R
    from migsafe.cache import Cache, Translations
    from migsafe.dialects import get_dialect
    from migsafe.judge import judge
    from migsafe.schema import Schema
    from migsafe.sources.sql.load import load_sql_migration
    from migsafe.sql import facts as F

    class Spy(R.Rule):
        id, facts = "spy", (F.Fact,)
        seen: list = []

        def check(self, fact, ctx):
            self.seen.append((ctx.statement.span.line, ctx.kept(self.id, object)))
            return iter(())

    (tmp_path / "1.sql").write_text("BEGIN;\nSELECT 1;\nSELECT 2;\nCOMMIT;\nBEGIN;\nSELECT 3;\nCOMMIT;\n")
    migration = load_sql_migration(tmp_path / "1.sql", tmp_path, "postgresql", False)
    judge(migration, 0, Schema(), get_dialect("postgresql", None), [Spy()], {},
          Translations(Cache(None), "postgresql", tmp_path))
    stores = {line: store for line, store in Spy.seen}
    assert stores[1] is stores[2] is stores[3] is stores[4] and stores[5] is stores[6] is not stores[1]
    for rule in R.all_rules():
        if rule.id in ("lock-held-across-statements", "enum-add-value"):
            assert vars(rule) == {}

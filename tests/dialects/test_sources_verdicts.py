"""Each rule whose verdict differs on MySQL/MariaDB or SQLite, through Alembic and Django: the
change written as an Alembic revision (op calls, rendered for the dialect) and as a Django
migration (operations, rendered by Django's own mysql/sqlite schema editor), after a history
that creates the tables, raises the same rules as the same change in SQL does
(tests/dialects/test_engine_verdicts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migsafe.config import load_settings
from migsafe.engine import check
from migsafe.rules import default_severities

from test_engine_verdicts import APP_WARNINGS  # (judged elsewhere: the engines' verdicts here)

# The tables of test_engine_verdicts.py's history, as both frameworks create them.
ALEMBIC_HISTORY = '''from alembic import op
import sqlalchemy as sa

revision = "r0001"
down_revision = None


def upgrade():
    op.create_table("p", sa.Column("id", sa.BigInteger(), primary_key=True))
    op.create_table("t", sa.Column("id", sa.BigInteger(), primary_key=True), sa.Column("v", sa.String(50)),
                    sa.Column("n", sa.Integer()), sa.Column("pid", sa.BigInteger()))
    op.create_index("t_n", "t", ["n"])
'''
ALEMBIC_CHANGE = '''from alembic import op
import sqlalchemy as sa

revision = "r0002"
down_revision = "r0001"


def upgrade():
{body}
'''
DJANGO_HISTORY = '''from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.CreateModel(name="P", fields=[("id", models.BigAutoField(primary_key=True))],
                               options={"db_table": "p"}),
        migrations.CreateModel(name="T", fields=[
            ("id", models.BigAutoField(primary_key=True)),
            ("v", models.CharField(max_length=50, null=True)),
            ("n", models.IntegerField(null=True, db_index=True)),
            ("pid", models.BigIntegerField(null=True)),
        ], options={"db_table": "t"}),
    ]
'''
DJANGO_CHANGE = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
{body}
    ]
'''
# Where the dialect has a lock timeout, the change sets it first, so the verdict is the change's own.
LOCK = {"mysql": ('op.execute("SET SESSION lock_wait_timeout = 5")',
                  'migrations.RunSQL("SET SESSION lock_wait_timeout = 5", migrations.RunSQL.noop)'),
        "sqlite": (None, None)}

# (dialect, target version, Alembic op calls, Django operations, rules raised by each): after each
# case, the same change in SQL and its verdict in test_engine_verdicts.py. Where Django writes other
# SQL than the plain ALTER (SQLite: it remakes the table), its verdict is that SQL's.
REMAKE = {"table-rewrite"}  # Django's SQLite editor: new__t, copy, drop, rename
MYSQL = [
    # MODIFY n bigint: COPY
    ('op.alter_column("t", "n", type_=sa.BigInteger(), existing_nullable=True)',
     'migrations.AlterField("t", "n", models.BigIntegerField(null=True, db_index=True))',
     {"change-column-type"}, {"change-column-type"}),
    # MODIFY v varchar(63): same 1-byte length prefix in utf8mb4, in place; varchar(64): COPY
    ('op.alter_column("t", "v", type_=sa.String(63), existing_nullable=True)',
     'migrations.AlterField("t", "v", models.CharField(max_length=63, null=True))', set(), set()),
    ('op.alter_column("t", "v", type_=sa.String(64), existing_nullable=True)',
     'migrations.AlterField("t", "v", models.CharField(max_length=64, null=True))',
     {"change-column-type"}, {"change-column-type"}),
    # MODIFY n int NOT NULL: rebuilt in place, writes continue
    ('op.alter_column("t", "n", nullable=False, existing_type=sa.Integer())',
     'migrations.AlterField("t", "n", models.IntegerField(db_index=True))', set(), set()),
    # ADD COLUMN c int NOT NULL
    ('op.add_column("t", sa.Column("c", sa.Integer(), nullable=False))',
     'migrations.AddField("t", "c", models.IntegerField())', {"not-null-without-default"}, {"not-null-without-default"}),
    # ADD COLUMN c int NOT NULL DEFAULT 0: instant
    ('op.add_column("t", sa.Column("c", sa.Integer(), nullable=False, server_default="0"))',
     'migrations.AddField("t", "c", models.IntegerField(db_default=0))', set(), set()),
    # ADD COLUMN c varchar(36) DEFAULT (uuid()): COPY
    ('op.add_column("t", sa.Column("c", sa.String(36), server_default=sa.text("(uuid())")))',
     'migrations.AddField("t", "c", models.CharField(max_length=36, null=True, db_default=models.Func(function="UUID")))',
     {"volatile-default"}, {"volatile-default"}),
    # CREATE INDEX / ADD UNIQUE KEY / DROP INDEX: InnoDB builds and drops indexes online
    ('op.create_index("t_v", "t", ["v"])', 'migrations.AddIndex("t", models.Index(fields=["v"], name="t_v"))',
     set(), set()),
    ('op.create_index("t_v", "t", ["v"], unique=True)',
     'migrations.AddConstraint("t", models.UniqueConstraint(fields=["v"], name="t_v"))', set(), set()),
    ('op.drop_index("t_n", table_name="t")', 'migrations.AlterField("t", "n", models.IntegerField(null=True))',
     set(), set()),
    # ADD FOREIGN KEY: COPY (in place only with foreign_key_checks=0)
    ('op.create_foreign_key("t_fk", "t", "p", ["pid"], ["id"])',
     'migrations.AlterField("t", "pid", models.ForeignKey("P", models.DO_NOTHING, null=True, db_column="pid"))',
     {"validating-foreign-key"}, {"validating-foreign-key"}),
    # backward compatibility does not depend on the engine
    ('op.drop_column("t", "n")', 'migrations.RemoveField("t", "n")', {"drop-column"}, {"drop-column"}),
    ('op.alter_column("t", "n", new_column_name="m", existing_type=sa.Integer())',
     'migrations.RenameField("t", "n", "m")', {"rename-column"}, {"rename-column"}),
    ('op.rename_table("t", "t2")', 'migrations.AlterModelTable("t", "t2")', {"rename-table"}, {"rename-table"}),
    ('op.drop_table("t")', 'migrations.DeleteModel("t")', {"drop-table"}, {"drop-table"}),
    ('op.execute("UPDATE t SET n = 0")', 'migrations.RunSQL("UPDATE t SET n = 0", migrations.RunSQL.noop)',
     {"unbatched-backfill"}, {"unbatched-backfill"}),
]
MARIADB = [
    # ADD CONSTRAINT t_ck CHECK (n > 0) on MariaDB 10.11: COPY
    ('op.create_check_constraint("t_ck", "t", "n > 0")',
     'migrations.AddConstraint("t", models.CheckConstraint(condition=models.Q(n__gt=0), name="t_ck"))',
     {"validating-check-constraint"}, {"validating-check-constraint"}),
]
# Alembic refuses constraint changes on SQLite outside batch mode (NotImplementedError when the
# revision runs): migsafe says it could not read the operation, an error like the failure itself.
ALEMBIC_REFUSES = {"not-analyzed"}
SQLITE = [
    ('op.add_column("t", sa.Column("c", sa.Integer()))',
     'migrations.AddField("t", "c", models.IntegerField(null=True))', set(), set()),
    ('op.add_column("t", sa.Column("c", sa.Integer(), nullable=False))',
     'migrations.AddField("t", "c", models.IntegerField())', {"not-null-without-default"}, REMAKE),
    ('op.add_column("t", sa.Column("c", sa.Integer(), nullable=False, server_default="0"))',
     'migrations.AddField("t", "c", models.IntegerField(db_default=0))', set(), REMAKE),
    ('op.add_column("t", sa.Column("c", sa.DateTime(), server_default=sa.func.current_timestamp()))',
     'migrations.AddField("t", "c", models.DateTimeField(null=True, db_default=models.functions.Now()))',
     {"volatile-default"}, REMAKE),
    ('op.add_column("t", sa.Column("c", sa.Integer(), unique=True))',
     'migrations.AddField("t", "c", models.IntegerField(null=True, unique=True))', ALEMBIC_REFUSES, REMAKE),
    # ALTER COLUMN n TYPE bigint: SQLite cannot; Alembic's batch mode and Django remake the table
    ('op.alter_column("t", "n", type_=sa.BigInteger())',
     'migrations.AlterField("t", "n", models.BigIntegerField(null=True, db_index=True))', {"change-column-type"}, REMAKE),
    ('with op.batch_alter_table("t") as batch:\n    batch.alter_column("n", type_=sa.BigInteger())', None, REMAKE, None),
    ('op.alter_column("t", "n", nullable=False, existing_type=sa.Integer())',
     'migrations.AlterField("t", "n", models.IntegerField(db_index=True))', {"set-not-null"}, REMAKE),
    ('op.alter_column("t", "n", server_default="1", existing_type=sa.Integer())',
     'migrations.AlterField("t", "n", models.IntegerField(null=True, db_index=True, db_default=1))',
     {"table-rewrite"}, REMAKE),
    ('op.create_check_constraint("t_ck", "t", "n > 0")',
     'migrations.AddConstraint("t", models.CheckConstraint(condition=models.Q(n__gt=0), name="t_ck"))',
     ALEMBIC_REFUSES, REMAKE),
    ('op.create_foreign_key("t_fk", "t", "p", ["pid"], ["id"])',
     'migrations.AlterField("t", "pid", models.ForeignKey("P", models.DO_NOTHING, null=True, db_column="pid"))',
     ALEMBIC_REFUSES, REMAKE),
    ('op.create_unique_constraint("t_uq", "t", ["v"])',
     'migrations.AddConstraint("t", models.UniqueConstraint(fields=["v"], name="t_uq"))', ALEMBIC_REFUSES, REMAKE),
    ('op.create_index("t_v", "t", ["v"], unique=True)', 'migrations.AddIndex("t", models.Index(fields=["v"], name="t_v"))',
     set(), set()),
    ('op.drop_index("t_n", table_name="t")', None, set(), None),
    ('op.alter_column("t", "n", new_column_name="m", existing_type=sa.Integer())',
     'migrations.RenameField("t", "n", "m")', {"rename-column"}, {"rename-column"}),
    ('op.drop_column("t", "v")', 'migrations.RemoveField("t", "v")', {"drop-column"}, {"drop-column"}),
    ('op.rename_table("t", "t2")', 'migrations.AlterModelTable("t", "t2")', {"rename-table"}, {"rename-table"}),
    ('op.drop_table("t")', 'migrations.DeleteModel("t")', {"drop-table"}, {"drop-table"}),
    ('op.execute("DELETE FROM t")', 'migrations.RunSQL("DELETE FROM t", migrations.RunSQL.noop)',
     {"unbatched-backfill"}, {"unbatched-backfill"}),
]
# Version gates: RENAME COLUMN needs 3.25, DROP COLUMN 3.35; before that the statement fails.
SQLITE_OLD = [
    ("3.24", 'op.alter_column("t", "n", new_column_name="m", existing_type=sa.Integer())',
     'migrations.RenameField("t", "n", "m")', {"rename-column", "table-rewrite"}),
    ("3.34", 'op.drop_column("t", "v")', 'migrations.RemoveField("t", "v")', {"drop-column", "table-rewrite"}),
]
CASES = ([("mysql", "8.4", *c) for c in MYSQL] + [("mysql", "mariadb-10.11", *c) for c in MARIADB]
         + [("sqlite", "3.45", *c) for c in SQLITE] + [("sqlite", v, a, d, e, e) for v, a, d, e in SQLITE_OLD])
PARAMS = [(dialect, version, source, change, expected)
          for dialect, version, alembic, django, on_alembic, on_django in CASES
          for source, change, expected in (("alembic", alembic, on_alembic), ("django", django, on_django))
          if change is not None]


def write(root: Path, source: str, dialect: str, change: str) -> dict:
    """The history and the change as migrations of `source`; returns the start-after setting."""
    lock = LOCK[dialect][source == "django"]
    lines = ([lock] if lock else []) + change.split("\n")
    if source == "alembic":
        versions = root / "versions"
        versions.mkdir(parents=True)
        (versions / "r0001.py").write_text(ALEMBIC_HISTORY)
        (versions / "r0002.py").write_text(ALEMBIC_CHANGE.format(body="\n".join("    " + ln for ln in lines)))
        return {"alembic": "r0001"}
    migrations = root / "shop" / "migrations"
    migrations.mkdir(parents=True)
    (root / "shop" / "__init__.py").write_text("")
    (migrations / "__init__.py").write_text("")
    (migrations / "0001_initial.py").write_text(DJANGO_HISTORY)
    (migrations / "0002_change.py").write_text(DJANGO_CHANGE.format(body="\n".join(f"        {ln}," for ln in lines)))
    return {"django": {"shop": "0001_initial"}}


@pytest.mark.parametrize("dialect, version, source, change, expected", PARAMS,
                         ids=[f"{d}-{v}-{s}: {c.splitlines()[-1].strip()[:60]}" for d, v, s, c, _ in PARAMS])
def test_source_verdict(tmp_path, dialect, version, source, change, expected):
    start_after = write(tmp_path, source, dialect, change)
    settings = load_settings(None, {"dialect": dialect, "target-version": version, "start-after": start_after,
                                    "ignore": APP_WARNINGS}, set(default_severities()))
    findings = check([tmp_path], settings, cwd=tmp_path).findings
    # irreversible-migration: the test revision has no downgrade(); it is about the file, not the change
    rules = {f.rule for f in findings} - {"irreversible-migration"}
    assert rules == expected, "\n".join(f"{f.rule}: {f.statement} | {f.message}" for f in findings)


def test_django_remake_is_a_rebuild_not_a_drop(tmp_path):
    """SQLite: the DROP TABLE inside Django's remake is reported as the rebuild of t."""
    write(tmp_path, "django", "sqlite", 'migrations.AlterField("t", "n", models.BigIntegerField(null=True, db_index=True))')
    settings = load_settings(None, {"dialect": "sqlite", "start-after": {"django": {"shop": "0001_initial"}}},
                             set(default_severities()))
    (hit,) = check([tmp_path], settings, cwd=tmp_path).findings
    assert hit.rule == "table-rewrite" and hit.table == "t" and "DROP TABLE" in hit.statement

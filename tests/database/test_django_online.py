"""Django migrations applied on a real PostgreSQL by Django's own executor (django_online.py):
what RunPython does is caught and judged at the RunPython's line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from migsafe.config import load_settings
from migsafe.database.django_online import run_django
from migsafe.judge import analyze
from migsafe.rules import default_severities

pytest.importorskip("django")

INITIAL = """
    from django.db import migrations, models


    class Migration(migrations.Migration):
        initial = True
        dependencies = []

        operations = [
            migrations.CreateModel(
                name="Customer",
                fields=[("id", models.AutoField(primary_key=True)), ("name", models.CharField(max_length=50))],
            ),
            migrations.CreateModel(
                name="Order",
                fields=[("id", models.AutoField(primary_key=True)), ("status", models.CharField(max_length=20)),
                        ("customer_id", models.IntegerField(null=True))],
            ),
        ]
"""

BACKFILL = """
    from django.db import migrations


    def backfill(apps, schema_editor):
        Order = apps.get_model("shop", "Order")
        Order.objects.update(status="new")


    class Migration(migrations.Migration):
        dependencies = [("shop", "0001_initial")]

        operations = [
            migrations.RunPython(backfill, migrations.RunPython.noop),
        ]
"""

CURSOR_FK = """
    from django.db import migrations


    def add_fk(apps, schema_editor):
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE shop_order ADD CONSTRAINT shop_order_customer_fk "
                "FOREIGN KEY (customer_id) REFERENCES shop_customer (id)"
            )


    class Migration(migrations.Migration):
        dependencies = [("shop", "0002_backfill")]

        operations = [
            migrations.RunPython(add_fk, migrations.RunPython.noop),
        ]
"""

OWNER = """
    import django.db.models.deletion
    from django.db import migrations, models


    class Migration(migrations.Migration):
        dependencies = [("shop", "0003_fk")]

        operations = [
            migrations.RunSQL("UPDATE shop_order SET status = 'old' WHERE id < 0", migrations.RunSQL.noop),
            migrations.AddField(
                model_name="order",
                name="owner",
                field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, to="shop.customer"),
            ),
        ]
"""


def app(tmp_path: Path, **migrations: str) -> Path:
    """An app `shop` below tmp_path with the given migrations (file stem -> text)."""
    folder = tmp_path / "shop" / "migrations"
    folder.mkdir(parents=True)
    (tmp_path / "shop" / "__init__.py").write_text("")
    (folder / "__init__.py").write_text("")
    for name, text in migrations.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(text).lstrip())
    return folder


def applied(folder: Path, scratch, cwd: Path, settings_module: str | None = None) -> dict:
    out = run_django([folder], cwd, "postgresql", (), scratch.django_database(), settings_module=settings_module)
    return {m.name: m for m, _ in out}


def findings(migrations: dict) -> list[tuple[str, str, int]]:
    settings = load_settings(None, {"ignore": ["missing-lock-timeout"]}, set(default_severities()))
    result = analyze(iter(migrations.values()), settings)
    return [(f.migration, f.rule, f.span.line) for f in result.findings]


def line_of(folder: Path, name: str, needle: str) -> int:
    lines = (folder / f"{name}.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


@pytest.mark.slow
def test_run_python_update_and_cursor_foreign_key_are_found(tmp_path, scratch):
    folder = app(tmp_path, **{"0001_initial": INITIAL, "0002_backfill": BACKFILL, "0003_fk": CURSOR_FK})
    migrations = applied(folder, scratch, tmp_path)
    backfill, fk = migrations["shop.0002_backfill"], migrations["shop.0003_fk"]
    assert [s.sql for s in backfill.statements] == ["UPDATE \"shop_order\" SET \"status\" = 'new'"]
    assert backfill.statements[0].in_transaction is True
    assert ("shop_order", "ROW EXCLUSIVE") in backfill.statements[0].evidence.locks
    assert [s.sql for s in fk.statements] == ["ALTER TABLE shop_order ADD CONSTRAINT shop_order_customer_fk "
                                              "FOREIGN KEY (customer_id) REFERENCES shop_customer (id)"]
    found = findings(migrations)
    backfill_line = line_of(folder, "0002_backfill", "migrations.RunPython")
    assert ("shop.0002_backfill", "unbatched-backfill", backfill_line) in found
    assert ("shop.0003_fk", "validating-foreign-key", line_of(folder, "0003_fk", "migrations.RunPython")) in found
    assert all(m.error is None for m in migrations.values())
    assert migrations["shop.0001_initial"].statements[0].sql.startswith('CREATE TABLE "shop_customer"')


@pytest.mark.slow
def test_deferred_sql_points_at_the_operation_that_queued_it(tmp_path, scratch):
    folder = app(tmp_path, **{"0001_initial": INITIAL, "0002_backfill": BACKFILL, "0003_fk": CURSOR_FK,
                              "0004_owner": OWNER})
    owner = applied(folder, scratch, tmp_path)["shop.0004_owner"]
    add_field = line_of(folder, "0004_owner", "migrations.AddField")
    assert [(s.sql.split(" (")[0].split('"owner_id"')[0], s.span.line) for s in owner.statements] == [
        ("UPDATE shop_order SET status = 'old' WHERE id < 0", line_of(folder, "0004_owner", "migrations.RunSQL")),
        ('ALTER TABLE "shop_order" ADD COLUMN ', add_field),
        ('SET CONSTRAINTS "shop_order_owner_id_220c6c20_fk_shop_customer_id" IMMEDIATE', add_field),  # (one execute)
        ('CREATE INDEX "shop_order_owner_id_220c6c20" ON "shop_order"', add_field),  # run as the migration ends
    ]


@pytest.mark.slow
def test_a_migration_the_server_refuses_stops_the_run(tmp_path, scratch):
    broken = CURSOR_FK.replace("REFERENCES shop_customer (id)", "REFERENCES no_such_table (id)")
    folder = app(tmp_path, **{"0001_initial": INITIAL, "0002_backfill": BACKFILL, "0003_fk": broken,
                              "0004_owner": OWNER})
    migrations = applied(folder, scratch, tmp_path)
    failed = migrations["shop.0003_fk"]
    assert failed.error == 'relation "no_such_table" does not exist'
    assert failed.error_line == line_of(folder, "0003_fk", "migrations.RunPython")
    assert migrations["shop.0004_owner"].error == "not run: shop.0003_fk failed on the database"
    assert ("shop.0003_fk", "not-analyzed", failed.error_line) in findings(migrations)


@pytest.mark.slow
def test_the_projects_settings_are_pointed_at_the_scratch_database(tmp_path, scratch):
    folder = app(tmp_path, **{"0001_initial": INITIAL, "0002_backfill": BACKFILL})
    (tmp_path / "proj_settings.py").write_text(textwrap.dedent("""
        SECRET_KEY = "x"
        INSTALLED_APPS = ["django.contrib.contenttypes"]  # shop's migrations are named: it is installed too
        DATABASES = {
            "default": {"ENGINE": "django.db.backends.postgresql", "NAME": "production", "HOST": "db.invalid"},
            "replica": {"ENGINE": "django.db.backends.postgresql", "NAME": "replica", "HOST": "db.invalid"},
        }
        DATABASE_ROUTERS = ["nowhere.Router"]
        USE_TZ = True
    """))
    migrations = applied(folder, scratch, tmp_path, settings_module="proj_settings")
    assert "proj_settings" not in migrations  # set up without a note
    assert migrations["shop.0002_backfill"].error is None
    assert [s.sql for s in migrations["shop.0002_backfill"].statements] == [
        "UPDATE \"shop_order\" SET \"status\" = 'new'"]
    assert migrations["shop.0002_backfill"].path == "shop/migrations/0002_backfill.py"
    assert migrations["shop.0002_backfill"].irreversible is None


NON_ATOMIC = """
    from django.db import migrations


    class Migration(migrations.Migration):
        atomic = False
        dependencies = [("shop", "0001_initial")]

        operations = [
            migrations.SeparateDatabaseAndState(
                database_operations=[
                    migrations.RunSQL(
                        "CREATE INDEX CONCURRENTLY shop_order_status ON shop_order (status)",
                        migrations.RunSQL.noop,
                    ),
                ],
            ),
        ]
"""


@pytest.mark.slow
def test_a_non_atomic_migration_runs_outside_a_transaction_at_the_nested_operation(tmp_path, scratch):
    folder = app(tmp_path, **{"0001_initial": INITIAL, "0002_index": NON_ATOMIC})
    index = applied(folder, scratch, tmp_path)["shop.0002_index"]
    assert index.error is None
    assert [(s.sql, s.span.line, s.in_transaction) for s in index.statements] == [
        ("CREATE INDEX CONCURRENTLY shop_order_status ON shop_order (status)",
         line_of(folder, "0002_index", "migrations.RunSQL("), False)]
    assert "concurrently-in-transaction" not in {rule for _, rule, _ in findings({"shop.0002_index": index})}


SQUASH = """
    from django.db import migrations, models


    class Migration(migrations.Migration):
        replaces = [("shop", "0001_initial"), ("shop", "0002_backfill")]
        initial = True
        dependencies = []

        operations = [
            migrations.CreateModel(
                name="Order",
                fields=[("id", models.AutoField(primary_key=True)), ("status", models.CharField(max_length=20))],
            ),
        ]
"""


@pytest.mark.slow
def test_the_migrations_a_squash_replaces_are_applied_not_the_squash(tmp_path, scratch):
    folder = app(tmp_path, **{"0001_initial": INITIAL, "0002_backfill": BACKFILL, "0001_squashed_0002": SQUASH})
    migrations = applied(folder, scratch, tmp_path)
    assert migrations["shop.0002_backfill"].statements[0].sql.startswith('UPDATE "shop_order"')
    squash = migrations["shop.0001_squashed_0002"]
    assert (squash.how, squash.report, squash.statements, squash.error) == ("replaced", False, [], None)


def test_run_order_is_the_plan_order_templates_are_keyed_in(tmp_path, scratch):
    """Django's leaves are the nodes with no child in their own app: m depends on b and c, so b's
    and c's migrations are leaves and run in name order before m's (a walk from m alone would run
    c before b). The template keys (load_plan's order) must be the order the executor runs."""
    from migsafe.sources.django.graph import load_plan

    def migration(label: str, deps: str) -> None:
        folder = tmp_path / label / "migrations"
        folder.mkdir(parents=True)
        (tmp_path / label / "__init__.py").write_text("")
        (folder / "__init__.py").write_text("")
        (folder / "0001_initial.py").write_text(
            "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n"
            f"    dependencies = {deps}\n    operations = [migrations.CreateModel('{label.upper()}', "
            "fields=[('id', models.AutoField(primary_key=True))])]\n")

    migration("b", "[]")
    migration("c", "[]")
    migration("m", "[('b', '0001_initial'), ('c', '0001_initial')]")
    folders = [tmp_path / label / "migrations" for label in "bcm"]
    planned = [f"{n.app.label}.{n.name}" for n in load_plan(folders, None, tmp_path).nodes]
    ran = [m.name for m, _ in run_django(folders, tmp_path, "postgresql", (), scratch.django_database())]
    assert ran == planned == ["b.0001_initial", "c.0001_initial", "m.0001_initial"]

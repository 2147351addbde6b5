"""Django migrations: the SQL Django emits, rendered in the worker with no database, each finding
on its operation's line. Each test writes a small migration project into tmp_path."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from fuzzgen import run_inprocess
from migsafe import engine
from migsafe.config import load_settings
from migsafe.errors import UsageError
from migsafe.rules import default_severities

pytest.importorskip("django")

HEAD = "from django.db import migrations, models\n\n\n"


def check(path: Path, cwd: Path, **overrides):
    settings = load_settings(None, {k.replace("_", "-"): v for k, v in overrides.items()}, set(default_severities()))
    return engine.check([path], settings, cwd)


def found(result, *ignore: str) -> list[tuple[str, str, int]]:
    return sorted((f.migration, f.rule, f.span.line) for f in result.findings if f.rule not in ignore)


def migration(app_dir: Path, name: str, body: str, deps: str = "[]", extra: str = "") -> Path:
    """<app>/migrations/<name>.py with `operations = [...]` taken from `body` (one per line)."""
    (app_dir / "migrations").mkdir(parents=True, exist_ok=True)
    (app_dir / "__init__.py").touch()
    (app_dir / "migrations" / "__init__.py").touch()
    path = app_dir / "migrations" / f"{name}.py"
    ops = textwrap.indent(textwrap.dedent(body).strip(), " " * 8)
    path.write_text(f"{HEAD}class Migration(migrations.Migration):\n{extra}    dependencies = {deps}\n\n"
                    f"    operations = [\n{ops}\n    ]\n")
    return path


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


INITIAL = """
migrations.CreateModel(
    name="Product",
    fields=[
        ("id", models.AutoField(primary_key=True)),
        ("name", models.CharField(max_length=100)),
    ],
),
"""


def shop(tmp_path: Path) -> Path:
    migration(tmp_path / "catalog", "0001_initial", INITIAL)
    return tmp_path / "catalog"


def test_operations_report_their_own_lines(tmp_path):
    app = shop(tmp_path)
    path = migration(app, "0002_changes", """
        migrations.AddField("product", "price", models.IntegerField(default=0)),
        migrations.AddField("product", "note", models.TextField(null=True)),
        migrations.RemoveField("product", "name"),
        migrations.AddIndex("product", models.Index(fields=["price"], name="product_price_idx")),
        migrations.RenameField("product", "note", "remark"),
        migrations.AlterField("product", "price", models.BigIntegerField(default=0)),
    """, deps='[("catalog", "0001_initial")]')
    result = check(tmp_path, tmp_path)
    name = "catalog.0002_changes"
    assert found(result, "missing-lock-timeout") == sorted([
        (name, "not-null-without-default", line_of(path, '"price", models.IntegerField')),
        (name, "drop-column", line_of(path, "RemoveField")),
        (name, "non-concurrent-index", line_of(path, "AddIndex")),
        # the index is built while the first AddField's ACCESS EXCLUSIVE lock still blocks its readers
        (name, "lock-held-across-statements", line_of(path, "AddIndex")),
        # (RenameField of `note`, which this migration added: no running app version knows it)
        (name, "change-column-type", line_of(path, "AlterField")),
    ])
    assert all(f.source == "django" and f.path == "catalog/migrations/0002_changes.py" for f in result.findings)


def test_db_default_is_safe_and_python_default_is_not(tmp_path):
    app = shop(tmp_path)
    migration(app, "0002_db_default", """
        migrations.AddField("product", "stock", models.IntegerField(db_default=0)),
    """, deps='[("catalog", "0001_initial")]')
    result = check(tmp_path, tmp_path)
    if not hasattr(__import__("django.db.models", fromlist=["Field"]).Field(), "db_default"):
        pytest.skip("db_default is Django 5+")
    assert found(result, "missing-lock-timeout") == []


def test_foreign_key_adds_index_and_validating_constraint(tmp_path):
    app = shop(tmp_path)
    path = migration(app, "0002_fk", """
        migrations.CreateModel("Category", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.AddField(
            "product", "category",
            models.ForeignKey(default=1, on_delete=models.deletion.CASCADE, to="catalog.category"),
        ),
    """, deps='[("catalog", "0001_initial")]')
    result = check(tmp_path, tmp_path)
    line = line_of(path, "migrations.AddField(")
    # default=1: existing rows get it, so the constraint is validated; the running app then
    # inserts without the column, which has no default any more
    assert found(result, "missing-lock-timeout") == [
        ("catalog.0002_fk", "non-concurrent-index", line), ("catalog.0002_fk", "not-null-without-default", line),
        ("catalog.0002_fk", "validating-foreign-key", line)]
    # the deferred FK statements run after the CreateModel, still at the AddField's line
    assert {f.statement.split(" (")[0][:11] for f in result.findings} <= {"CREATE INDE", "ALTER TABLE"}


def test_separate_database_and_state(tmp_path):
    app = shop(tmp_path)
    path = migration(app, "0002_split", """
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveField("product", "name")],
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL("ALTER TABLE catalog_product DROP COLUMN name", reverse_sql="SELECT 1"),
            ],
        ),
    """, deps='[("catalog", "0001_initial")]')
    result = check(tmp_path, tmp_path)
    # the state-only removal emits nothing; the RunSQL inside is judged at its own line
    assert found(result, "missing-lock-timeout") == [("catalog.0002_split", "drop-column", line_of(path, "RunSQL"))]


def test_run_sql_forms_and_irreversible_operations(tmp_path):
    app = shop(tmp_path)
    path = migration(app, "0002_sql", """
        migrations.RunSQL(["UPDATE catalog_product SET name = 'x'", ("DELETE FROM catalog_product WHERE id = %s", [1])]),
        migrations.RunPython(migrations.RunPython.noop),
        migrations.RunSQL("TRUNCATE catalog_product", reverse_sql=migrations.RunSQL.noop),
    """, deps='[("catalog", "0001_initial")]')
    result = check(tmp_path, tmp_path)
    first = line_of(path, "UPDATE catalog_product")
    assert found(result, "missing-lock-timeout") == sorted([
        ("catalog.0002_sql", "unbatched-backfill", first),
        ("catalog.0002_sql", "irreversible-migration", first),  # the first RunSQL without reverse_sql
        ("catalog.0002_sql", "truncate-table", line_of(path, "TRUNCATE")),
    ])
    statements = [f.statement for f in result.findings if f.rule == "unbatched-backfill"]
    assert statements == ["UPDATE catalog_product SET name = 'x'"]


def test_run_python_without_reverse_code_is_irreversible(tmp_path):
    app = shop(tmp_path)
    path = migration(app, "0002_py", """
        migrations.RunPython(lambda apps, schema_editor: None),
        migrations.AddField("product", "note", models.TextField(null=True)),
    """, deps='[("catalog", "0001_initial")]')
    result = check(tmp_path, tmp_path)
    assert found(result, "missing-lock-timeout") == [
        ("catalog.0002_py", "irreversible-migration", line_of(path, "RunPython"))]


CONCURRENT = """
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = {atomic}
    dependencies = [("catalog", "0001_initial")]

    operations = [
        AddIndexConcurrently("product", models.Index(fields=["name"], name="product_name_idx")),
    ]
"""


@pytest.mark.parametrize("atomic, expected", [(True, ["concurrently-in-transaction"]), (False, [])])
def test_add_index_concurrently_and_atomic(tmp_path, atomic, expected):
    app = shop(tmp_path)
    (app / "migrations" / "0002_idx.py").write_text(CONCURRENT.format(atomic=atomic))
    result = check(tmp_path, tmp_path)
    assert [f.rule for f in result.findings] == expected
    assert all(f.span.line == 11 for f in result.findings)


def test_order_across_apps_and_swappable_user(tmp_path):
    shop(tmp_path)
    orders = migration(tmp_path / "orders", "0001_initial", """
        migrations.CreateModel("Order", fields=[
            ("id", models.AutoField(primary_key=True)),
            ("product", models.ForeignKey(on_delete=models.deletion.CASCADE, to="catalog.product")),
            ("user", models.ForeignKey(on_delete=models.deletion.CASCADE, to=settings.AUTH_USER_MODEL)),
        ]),
    """, deps='[("catalog", "0001_initial"), migrations.swappable_dependency(settings.AUTH_USER_MODEL)]')
    orders.write_text("from django.conf import settings\n" + orders.read_text())
    # run_before: catalog's 0002 must run before orders' 0001, though it sorts later
    migration(tmp_path / "catalog", "0002_later", """
        migrations.AddField("product", "sku", models.TextField(null=True)),
    """, deps='[("catalog", "0001_initial")]', extra='    run_before = [("orders", "0001_initial")]\n')
    result = check(tmp_path, tmp_path)
    assert [f for f in result.findings if f.rule == "not-analyzed"] == []
    names = [name for _, name, _ in result.checked]
    assert names.index("catalog.0001_initial") < names.index("catalog.0002_later") < names.index("orders.0001_initial")
    assert "auth.0001_initial" not in names  # django.contrib.auth is replayed for the FK, not judged


def test_squashed_migration_with_all_replaced_present(tmp_path):
    app = shop(tmp_path)
    migration(app, "0002_a", 'migrations.AddField("product", "a", models.TextField(null=True)),',
              deps='[("catalog", "0001_initial")]')
    migration(app, "0001_squashed_0002_a", INITIAL + 'migrations.AddField("product", "a", models.TextField(null=True)),',
              extra='    replaces = [("catalog", "0001_initial"), ("catalog", "0002_a")]\n')
    migration(app, "0003_b", 'migrations.RemoveField("product", "a"),', deps='[("catalog", "0001_squashed_0002_a")]')
    result = check(tmp_path, tmp_path)
    assert [name for _, name, _ in result.checked] == ["catalog.0001_initial", "catalog.0002_a", "catalog.0003_b"]
    assert found(result, "missing-lock-timeout") == [("catalog.0003_b", "drop-column", 8)]


def test_squashed_migration_alone(tmp_path):
    app = tmp_path / "catalog"
    migration(app, "0001_squashed_0002_a", INITIAL + 'migrations.AddField("product", "a", models.TextField(null=True)),',
              extra='    replaces = [("catalog", "0001_initial"), ("catalog", "0002_a")]\n')
    migration(app, "0003_b", 'migrations.RemoveField("product", "a"),', deps='[("catalog", "0002_a")]')
    result = check(tmp_path, tmp_path)
    assert [name for _, name, _ in result.checked] == ["catalog.0001_squashed_0002_a", "catalog.0003_b"]
    assert found(result, "missing-lock-timeout") == [("catalog.0003_b", "drop-column", 8)]


def test_broken_graph_names_the_files(tmp_path):
    app = shop(tmp_path)
    migration(app, "0002_x", "", deps='[("catalog", "0009_missing")]')
    with pytest.raises(UsageError, match=r"catalog/migrations/0002_x.py depends on catalog.0009_missing"):
        check(tmp_path, tmp_path)
    code, out, err = run_inprocess(["check", "."], tmp_path)
    assert code == 2 and out == "" and "0002_x.py" in err and "Traceback" not in err


def test_cycle_is_an_error(tmp_path):
    migration(tmp_path / "a", "0001_initial", "", deps='[("b", "0001_initial")]')
    migration(tmp_path / "b", "0001_initial", "", deps='[("a", "0001_initial")]')
    with pytest.raises(UsageError, match=r"cycle: .*a/migrations/0001_initial.py.*b/migrations/0001_initial.py"):
        check(tmp_path, tmp_path)


def test_missing_third_party_module_gets_a_stand_in_and_the_rest_is_judged(tmp_path):
    # more cases in test_django_projects.py
    app = shop(tmp_path)
    path = migration(app, "0002_custom", 'migrations.AddField("product", "tags", tagfield.TagField()),',
                     deps='[("catalog", "0001_initial")]')
    path.write_text("import tagfield_not_installed as tagfield\n" + path.read_text())
    migration(app, "0003_drop", 'migrations.RemoveField("product", "name"),', deps='[("catalog", "0002_custom")]')
    result = check(tmp_path, tmp_path)
    assert found(result, "missing-lock-timeout") == [
        ("catalog.0002_custom", "not-null-without-default", line_of(path, "AddField")),
        ("catalog.0003_drop", "drop-column", 8)]


@pytest.mark.parametrize("code, reason", [
    ("import sys; sys.exit(3)", "sys.exit(3)"),
    ("import os; os._exit(5)", "exit code 5"),
    ("while True: pass", "did not finish within 1 s"),
])
def test_exit_crash_and_hang_are_contained(tmp_path, code, reason):
    app = shop(tmp_path)
    path = migration(app, "0002_bad", 'migrations.AddField("product", "note", models.TextField(null=True)),',
                     deps='[("catalog", "0001_initial")]')
    path.write_text(path.read_text() + f"\n{code}\n")
    migration(app, "0003_drop", 'migrations.RemoveField("product", "name"),', deps='[("catalog", "0002_bad")]')
    result = check(tmp_path, tmp_path, render_timeout=1)
    bad = [f for f in result.findings if f.migration == "catalog.0002_bad"]
    assert [f.rule for f in bad] == ["not-analyzed"] and reason in bad[0].message
    assert ("catalog.0003_drop", "drop-column", 8) in found(result)


def test_django_missing_is_not_analyzed_with_the_reason(tmp_path, monkeypatch):
    shop(tmp_path)
    for name in [m for m in sys.modules if m == "django" or m.startswith("django.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "django", None)  # the forked worker cannot import it
    result = check(tmp_path, tmp_path)
    assert [f.rule for f in result.findings] == ["not-analyzed"]
    assert "Django is not installed" in result.findings[0].message and "pip install" in result.findings[0].message


def test_no_exec_reads_statically(tmp_path):
    # more cases in test_django_projects.py
    app = shop(tmp_path)
    path = migration(app, "0002_drop", 'migrations.RemoveField("product", "name"),', deps='[("catalog", "0001_initial")]')
    result = check(tmp_path, tmp_path, no_exec=True)
    assert found(result, "missing-lock-timeout") == [("catalog.0002_drop", "drop-column", line_of(path, "RemoveField"))]


@pytest.mark.parametrize("dialect, drop", [
    ("postgresql", 'ALTER TABLE "catalog_product" DROP COLUMN "name" CASCADE'),
    ("mysql", "ALTER TABLE `catalog_product` DROP COLUMN `name`"),
    ("sqlite", 'ALTER TABLE "catalog_product" DROP COLUMN "name"'),
])
def test_three_dialects_render(tmp_path, dialect, drop):
    app = shop(tmp_path)
    migration(app, "0002_drop", 'migrations.RemoveField("product", "name"),', deps='[("catalog", "0001_initial")]')
    result = check(tmp_path, tmp_path, dialect=dialect)
    assert [f.statement for f in result.findings if f.rule == "drop-column"] == [drop]


def test_start_after_per_app_and_single_file(tmp_path):
    app = shop(tmp_path)
    migration(app, "0002_drop", 'migrations.RemoveField("product", "name"),', deps='[("catalog", "0001_initial")]')
    path = migration(app, "0003_note", 'migrations.AddField("product", "n", models.TextField(default="")),',
                     deps='[("catalog", "0002_drop")]')
    result = check(tmp_path, tmp_path, start_after={"django": {"catalog": "0002_drop"}})
    assert {f.migration for f in result.findings} == {"catalog.0003_note"}
    result = check(path, tmp_path)  # one file named: its history is replayed, it alone reported
    assert {f.migration for f in result.findings} == {"catalog.0003_note"}
    assert [name for _, name, _ in result.checked] == ["catalog.0003_note"]


def test_alter_unique_together_and_remove_fk_use_names_from_the_state(tmp_path):
    app = shop(tmp_path)
    migration(app, "0002_ut", """
        migrations.AddField("product", "parent", models.ForeignKey(null=True, on_delete=models.deletion.CASCADE,
                                                                   to="catalog.product")),
        migrations.AlterUniqueTogether("product", {("name", "parent")}),
    """, deps='[("catalog", "0001_initial")]')
    path = migration(app, "0003_undo", """
        migrations.AlterUniqueTogether("product", set()),
        migrations.RemoveField("product", "parent"),
    """, deps='[("catalog", "0002_ut")]')
    result = check(tmp_path, tmp_path)
    assert [f for f in result.findings if f.rule == "not-analyzed"] == []
    drops = [f.statement for f in result.findings if f.migration == "catalog.0003_undo"]
    assert any("DROP CONSTRAINT" in s and "_uniq" in s for s in drops), drops
    assert ("catalog.0003_undo", "drop-column", line_of(path, "RemoveField")) in found(result)


def test_start_after_naming_an_unknown_migration_is_a_config_error(tmp_path):
    shop(tmp_path)
    (tmp_path / "migsafe.toml").write_text('start-after = { django = { catalog = "0042_nope" } }\n')
    code, out, err = run_inprocess(["check", ".", "--config", "migsafe.toml"], tmp_path)
    assert code == 2 and '"0042_nope" in app "catalog"' in err and "Traceback" not in err


def test_run_python_alone_without_reverse_is_irreversible(tmp_path):
    app = shop(tmp_path)
    path = migration(app, "0002_data", "migrations.RunPython(print),", deps='[("catalog", "0001_initial")]')
    result = check(tmp_path, tmp_path)
    assert found(result) == [("catalog.0002_data", "irreversible-migration", line_of(path, "RunPython"))]


def test_module_in_a_migrations_package_that_is_no_migration_is_reported_not_skipped(tmp_path):
    """migrate loads every module of the package and stops on one it cannot read or that has no
    class Migration: such a file is not-analyzed, never silently left out."""
    app = shop(tmp_path)
    (app / "migrations" / "0002_latin1.py").write_bytes(b"# caf\xe9\nx = 1\n")
    (app / "migrations" / "0003_broken.py").write_text("x = (\n")
    (app / "migrations" / "0004_helpers.py").write_text("def helper():\n    pass\n")
    result = check(tmp_path, tmp_path)
    not_analyzed = {f.migration: f.message for f in result.findings if f.rule == "not-analyzed"}
    assert set(not_analyzed) == {"catalog.0002_latin1", "catalog.0003_broken", "catalog.0004_helpers"}
    assert "class Migration" in not_analyzed["catalog.0004_helpers"]


def test_dependency_beside_the_apps_checked_is_replayed_not_reported(tmp_path):
    """`migsafe check orders` where orders depends on catalog, a package next to it (as wagtail
    next to taggit in site-packages): catalog is found there and replayed, not `not found`."""
    shop(tmp_path)
    migration(tmp_path / "orders", "0001_initial", """
        migrations.CreateModel("Order", fields=[
            ("id", models.AutoField(primary_key=True)),
            ("product", models.ForeignKey(on_delete=models.deletion.CASCADE, to="catalog.product")),
        ]),
    """, deps='[("catalog", "0001_initial")]')
    result = check(tmp_path / "orders", tmp_path)
    assert [f.message for f in result.findings if f.rule == "not-analyzed"] == []
    assert [name for _, name, _ in result.checked] == ["orders.0001_initial"]


def test_values_defaults_make_up_are_the_same_every_run(tmp_path):
    """uuid4, timezone.now and ids a default makes up with uuid.uuid4() render the same each run."""
    app = shop(tmp_path)
    path = migration(app, "0002_stamps", """
        migrations.AddField("product", "key", models.UUIDField(default=uuid.uuid4)),
        migrations.AddField("product", "created", models.DateTimeField(default=timezone.now)),
        migrations.AddField("product", "tag", models.CharField(max_length=40, default=made_up)),
    """, deps='[("catalog", "0001_initial")]')
    path.write_text("import uuid\nfrom django.utils import timezone\n\n\ndef made_up():\n    return str(uuid.uuid4())\n\n\n"
                    + path.read_text())
    runs = [[f.statement for f in check(tmp_path, tmp_path).findings if f.statement] for _ in range(2)]
    added = list(dict.fromkeys(s for s in runs[0] if "ADD COLUMN" in s))
    assert runs[0] == runs[1] and len(added) == 3
    assert "00000000-0000-0000-0000-000000000000" in added[0] and "2000-01-01" in added[1]


def test_irreversible_run_python_points_at_the_whole_operation_with_a_fix(tmp_path):
    shop(tmp_path)
    path = migration(tmp_path / "catalog", "0002_fill", 'migrations.RunPython(lambda apps, schema_editor: None),',
                     deps="[('catalog', '0001_initial')]")
    [f] = [f for f in check(tmp_path, tmp_path).findings if f.rule == "irreversible-migration"]
    line = line_of(path, "RunPython")
    assert (f.span.line, f.span.column, f.span.end_line) == (line, 9, line)
    assert f.span.end_column > 40  # the whole RunPython(...) call, not one character
    assert "reverse_code" in f.fix.summary and "RunPython.noop" in f.fix.summary

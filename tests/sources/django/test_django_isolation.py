"""Django: a migration that cannot be rendered is not-analyzed alone. Its state changes are still
carried forward, so the migrations after it are judged, and the worker never replays the whole
history because of it. Each test writes a tiny project into tmp_path."""

from __future__ import annotations

import pytest

from test_django_source import check, found, line_of, migration, shop

pytest.importorskip("django")

# An operation Django cannot render offline (it wants the database), between two that it can.
NEEDS_DATABASE = """
class NeedsDatabase(migrations.RunSQL):
    def __init__(self):
        super().__init__("SELECT 1", reverse_sql="SELECT 1")

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        raise RuntimeError("needs a live database")


"""


def test_a_failing_operation_is_not_analyzed_alone(tmp_path):
    app = shop(tmp_path)
    failing = migration(app, "0002_mixed", """
        migrations.AddField("product", "price", models.IntegerField()),
        NeedsDatabase(),
        migrations.CreateModel("Order", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.AddField("product", "code", models.CharField(max_length=8, null=True)),
        migrations.AddField("product", "weight", models.IntegerField()),
    """, deps='[("catalog", "0001_initial")]')
    failing.write_text(failing.read_text().replace("class Migration", NEEDS_DATABASE + "class Migration"))
    later = migration(app, "0003_later", """
        migrations.RemoveField("product", "code"),
        migrations.AddField("order", "product", models.ForeignKey(
            on_delete=models.deletion.CASCADE, to="catalog.product", null=True)),
    """, deps='[("catalog", "0002_mixed")]')
    result = check(tmp_path, tmp_path)
    assert found(result, "missing-lock-timeout", "non-concurrent-index", "validating-foreign-key") == [
        # the operations before the failure and after it are judged; only the failing one is not
        ("catalog.0002_mixed", "not-analyzed", line_of(failing, "NeedsDatabase()")),
        ("catalog.0002_mixed", "not-null-without-default", line_of(failing, '"price"')),
        ("catalog.0002_mixed", "not-null-without-default", line_of(failing, '"weight"')),
        # and the model and the field they add are known to the next migration
        ("catalog.0003_later", "drop-column", line_of(later, "RemoveField")),
    ]
    failure = next(f for f in result.findings if f.rule == "not-analyzed")
    assert "needs a live database" in failure.message


def test_a_migration_that_cannot_even_be_read_still_carries_the_operations_it_can(tmp_path):
    app = shop(tmp_path)
    (app / "helpers.py").write_text("raise RuntimeError('needs the real settings')\n")
    broken = migration(app, "0002_unreadable", """
        migrations.CreateModel("Invoice", fields=[("id", models.AutoField(primary_key=True))]),
        special_operation(),
    """, deps='[("catalog", "0001_initial")]')
    broken.write_text("from catalog.helpers import *  # noqa\n" + broken.read_text())
    later = migration(app, "0003_note", 'migrations.AddField("invoice", "total", models.IntegerField()),',
                      deps='[("catalog", "0002_unreadable")]')
    result = check(tmp_path, tmp_path)
    assert found(result, "missing-lock-timeout") == [
        ("catalog.0002_unreadable", "not-analyzed", 1),
        ("catalog.0003_note", "not-null-without-default", line_of(later, "AddField")),
    ]
    assert "needs the real settings" in result.findings[0].message


def test_a_failure_does_not_replay_the_history(tmp_path):
    app = shop(tmp_path)
    log = tmp_path / "imports.log"
    first = app / "migrations" / "0001_initial.py"
    first.write_text(f"open({str(log)!r}, 'a').write('0001\\n')\n" + first.read_text())
    failing = migration(app, "0002_fails", "NeedsDatabase(),", deps='[("catalog", "0001_initial")]')
    failing.write_text(failing.read_text().replace("class Migration", NEEDS_DATABASE + "class Migration"))
    migration(app, "0003_drop", 'migrations.RemoveField("product", "name"),', deps='[("catalog", "0002_fails")]')
    result = check(tmp_path, tmp_path)
    assert ("catalog.0003_drop", "drop-column", 8) in found(result)
    assert log.read_text() == "0001\n"  # imported to render it, never again to rebuild the state


def test_a_migration_whose_parent_app_is_missing_still_carries_its_models(tmp_path):
    app = shop(tmp_path)
    migration(app, "0002_invoice", """
        migrations.CreateModel("Invoice", fields=[("id", models.AutoField(primary_key=True))]),
    """, deps='[("catalog", "0001_initial"), ("payments_not_here", "0001_initial")]')
    later = migration(app, "0003_total", 'migrations.AddField("invoice", "total", models.IntegerField()),',
                      deps='[("catalog", "0002_invoice")]')
    result = check(tmp_path, tmp_path)
    # (judged too: it renders, nothing of the missing app needed; test_django_standins has the case that needs it)
    assert found(result, "missing-lock-timeout") == [
        ("catalog.0003_total", "not-null-without-default", line_of(later, "AddField")),
    ]


def _gdal_loads() -> bool:
    try:
        import django.contrib.gis.gdal  # noqa: F401
    except Exception:  # noqa: BLE001 - ImproperlyConfigured without the GDAL library
        return False
    return True


@pytest.mark.skipif(_gdal_loads(), reason="the GDAL library is installed here: the geometry field imports")
def test_a_geometry_model_without_gdal_is_carried_forward(tmp_path):
    # openwisp's geo app where GDAL is not installed: its initial migration cannot be imported;
    # the model it makes is still read (its geometry field a stand-in), so later migrations are judged
    first = migration(tmp_path / "places", "0001_initial", """
        migrations.CreateModel("Place", fields=[("id", models.AutoField(primary_key=True)),
            ("point", django.contrib.gis.db.models.fields.PointField(srid=4326)),
            ("area", PolygonField(null=True)),
            ("parent", models.ForeignKey("places.Place", null=True, on_delete=django.db.models.deletion.CASCADE))]),
    """)
    first.write_text("import django.contrib.gis.db.models.fields\nimport django.db.models.deletion\n"
                     "from django.contrib.gis.db.models.fields import PolygonField\n" + first.read_text())
    second = migration(tmp_path / "places", "0002_name", """
        migrations.AddField("place", "name", models.CharField(max_length=10, null=True)),
        migrations.AlterField("place", "name", models.CharField(max_length=10)),
        migrations.RemoveField("place", "parent"),
    """, deps='[("places", "0001_initial")]')
    result = check(tmp_path, tmp_path)
    failed = [f for f in result.findings if f.rule == "not-analyzed"]
    assert [(f.migration, f.span.line) for f in failed] == [("places.0001_initial", 1)]
    assert "GDAL" in failed[0].message
    assert ("places.0002_name", "set-not-null", line_of(second, "AlterField")) in found(result)
    assert ("places.0002_name", "drop-column", line_of(second, "RemoveField")) in found(result)


def test_models_created_with_a_setting_only_the_project_defines_are_carried_forward(tmp_path):
    # weblate's `blank=not settings.WEBSITE_REQUIRED` in CreateModel: the migration was not even read
    # for its state changes, so every later migration touching its models was not-analyzed
    app = shop(tmp_path)
    creating = migration(app, "0002_site", """
        migrations.CreateModel("Site", fields=[
            ("id", models.AutoField(primary_key=True)),
            ("url", models.URLField(blank=not settings.ONLY_THE_PROJECT_HAS, default=settings.ALSO_ONLY_THERE)),
        ]),
    """, deps='[("catalog", "0001_initial")]')
    creating.write_text("from django.conf import settings\n" + creating.read_text())
    later = migration(app, "0003_total", 'migrations.AddField("site", "total", models.IntegerField()),',
                      deps='[("catalog", "0002_site")]')
    result = check(tmp_path, tmp_path)
    assert found(result, "missing-lock-timeout") == [
        ("catalog.0002_site", "not-analyzed", line_of(creating, "ONLY_THE_PROJECT_HAS")),
        ("catalog.0003_total", "not-null-without-default", line_of(later, "AddField")),
    ]
    assert "settings.ONLY_THE_PROJECT_HAS" in result.findings[0].message

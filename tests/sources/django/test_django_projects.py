"""Django migrations of real-world shapes: apps that cannot all be loaded, computed dependencies,
packages that are not installed where migsafe runs. Each test writes a tiny project into tmp_path."""

from __future__ import annotations

import pytest

from migsafe.sources.django.lanes import load_django_migrations

from test_django_source import check, found, line_of, migration, shop

pytest.importorskip("django")


def test_an_app_that_cannot_load_leaves_the_other_apps_loaded(tmp_path):
    # "broken"'s models import fails, "unimportable"'s AppConfig cannot be created: the other app still loads, and its migration that imports
    # its own models module (as real migrations do for defaults) is judged
    app = shop(tmp_path)
    (app / "models.py").write_text("from django.db import models\n\n\ndef default_name():\n    return 'x'\n")
    path = migration(app, "0002_remove", 'migrations.RemoveField("product", "name"),',
                     deps='[("catalog", "0001_initial")]')
    path.write_text("import catalog.models  # noqa\n" + path.read_text())
    migration(tmp_path / "broken", "0001_initial", INITIAL_OTHER)
    (tmp_path / "broken" / "models.py").write_text("raise RuntimeError('needs the real settings')\n")
    migration(tmp_path / "unimportable", "0001_initial", INITIAL_OTHER.replace("Thing", "Other"))
    (tmp_path / "unimportable" / "apps.py").write_text("raise ImportError('a broken install')\n")
    result = check(tmp_path, tmp_path)
    assert ("catalog.0002_remove", "drop-column", line_of(path, "RemoveField")) in found(result)
    assert "not-analyzed" not in {f.rule for f in result.findings}


def test_a_failing_ready_hook_does_not_stop_rendering(tmp_path):
    app = shop(tmp_path)
    (app / "apps.py").write_text("from django.apps import AppConfig\n\n\nclass CatalogConfig(AppConfig):\n"
                                 "    name = 'catalog'\n\n    def ready(self):\n"
                                 "        raise RuntimeError('MIDDLEWARE must list our middleware')\n")
    (app / "models.py").write_text("from django.db import models\n\n\nclass Product(models.Model):\n    pass\n")
    path = migration(app, "0002_remove", 'migrations.RemoveField("product", "name"),',
                     deps='[("catalog", "0001_initial")]')
    path.write_text("import catalog.models  # noqa: a model class: its app must be installed\n" + path.read_text())
    assert found(check(tmp_path, tmp_path), "missing-lock-timeout") == [
        ("catalog.0002_remove", "drop-column", line_of(path, "RemoveField"))]


def test_computed_dependencies_take_every_branch(tmp_path):
    app = shop(tmp_path)
    migration(tmp_path / "other", "0001_initial", INITIAL_OTHER)
    path = migration(app, "0002_remove", 'migrations.RemoveField("product", "name"),',
                     deps='([("other", "0001_initial")] if SITES else []) + [("catalog", "0001_initial")]')
    path.write_text(path.read_text().replace("class Migration", "SITES = False\n\n\nclass Migration"))
    assert ("catalog.0002_remove", "drop-column", line_of(path, "RemoveField")) in found(check(tmp_path, tmp_path))


INITIAL_OTHER = 'migrations.CreateModel("Thing", fields=[("id", models.AutoField(primary_key=True))]),'


def test_fields_of_packages_not_installed_get_stand_ins(tmp_path):
    app = shop(tmp_path)
    path = migration(app, "0002_third_party", """
        migrations.AddField("product", "phone", phone.PhoneField(max_length=20, region=None)),
        migrations.CreateModel("Photo", fields=[
            ("id", models.AutoField(primary_key=True)),
            ("product", cluster.ParentKey(on_delete=models.deletion.CASCADE, to="catalog.product")),
        ]),
        migrations.AddField("product", "tags", cluster.TagManager(blank=True, to="catalog.photo")),
    """, deps='[("catalog", "0001_initial")]')
    path.write_text("import phonelib_not_installed as phone\nimport cluster_not_installed.fields as cluster\n"
                    + path.read_text())
    changed = migration(app, "0003_longer", """
        migrations.AlterField("product", "phone", phone.PhoneField(max_length=30, region=None)),
    """, deps='[("catalog", "0002_third_party")]')
    changed.write_text("import phonelib_not_installed as phone\n" + changed.read_text())
    result = check(tmp_path, tmp_path)
    assert found(result, "missing-lock-timeout", "non-concurrent-index") == [
        # NOT NULL without default: judged whatever the column's type
        ("catalog.0002_third_party", "not-null-without-default", line_of(path, '"phone"')),
        # the column type is unknown: a change of the field's arguments is said as such (a warning),
        # never "no change" (more in test_django_standins.py)
        ("catalog.0003_longer", "unrecognized-statement", line_of(changed, "AlterField")),
    ]
    change = next(f for f in result.findings if f.rule == "unrecognized-statement")
    assert "(max_length) of its field class phonelib_not_installed.PhoneField, which is not installed" in change.message
    sql = [s.sql for m, _ in load_django_migrations([app / "migrations"], tmp_path, "postgresql", ())
           if m.name == "catalog.0002_third_party" for s in m.statements]
    # a relation field of a missing package is a foreign key at the database, with its index;
    # a many-to-many gets its table; the unknown type is named as such, never guessed
    assert any('FOREIGN KEY ("product_id") REFERENCES "catalog_product"' in s for s in sql)
    assert any(s.startswith('CREATE TABLE "catalog_product_tags"') for s in sql)
    assert any('"phone" unknown_phonefield_' in s for s in sql)


def test_a_stand_in_django_cannot_use_is_not_analyzed_naming_it(tmp_path):
    app = shop(tmp_path)
    path = migration(app, "0002_swapped", """
        migrations.AddField("product", "owner", models.ForeignKey(
            on_delete=models.deletion.CASCADE, to=swapping.get_model_name("catalog", "Product"), null=True)),
    """, deps='[("catalog", "0001_initial")]')
    path.write_text("import swapping_not_installed as swapping\n" + path.read_text())
    migration(app, "0003_drop", 'migrations.RemoveField("product", "name"),', deps='[("catalog", "0002_swapped")]')
    result = check(tmp_path, tmp_path)
    bad = [f for f in result.findings if f.migration == "catalog.0002_swapped"]
    assert [f.rule for f in bad] == ["not-analyzed"]
    assert "swapping_not_installed.get_model_name" in bad[0].message and "not installed" in bad[0].message
    assert ("catalog.0003_drop", "drop-column", 8) in found(result)


def test_no_exec_never_runs_project_code_and_judges_the_operations(tmp_path):
    app = shop(tmp_path)
    ran = tmp_path / "ran"
    (app / "fields.py").write_text(f"open({str(ran)!r}, 'w').close()\n")  # importing it leaves a mark
    path = migration(app, "0002_changes", """
        migrations.AddField("product", "code", catalog.fields.CodeField(max_length=8, null=True)),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AddField("product", "owner", models.ForeignKey(
            on_delete=models.deletion.CASCADE, to=settings.AUTH_USER_MODEL, null=True)),
        migrations.RemoveField("product", "name"),
    """, deps='[("catalog", "0001_initial"), migrations.swappable_dependency(settings.AUTH_USER_MODEL)]')
    path.write_text("import catalog.fields\nfrom django.conf import settings\n\n\ndef fill(apps, schema_editor):\n"
                    f"    open({str(ran)!r}, 'w').close()\n\n\n" + path.read_text())
    result = check(tmp_path, tmp_path, no_exec=True)
    assert not ran.exists()
    assert found(result, "missing-lock-timeout", "non-concurrent-index") == [
        ("catalog.0002_changes", "drop-column", line_of(path, "RemoveField")),
        ("catalog.0002_changes", "validating-foreign-key", line_of(path, '"owner"'))]


def test_no_exec_names_what_it_cannot_read(tmp_path):
    app = shop(tmp_path)
    path = migration(app, "0002_computed", "*make_operations(),", deps='[("catalog", "0001_initial")]')
    path.write_text(path.read_text().replace("class Migration", "from catalog.ops import make_operations\n\n\nclass Migration"))
    migration(app, "0003_drop", 'migrations.RemoveField("product", "name"),', deps='[("catalog", "0002_computed")]')
    result = check(tmp_path, tmp_path, no_exec=True)
    bad = [f for f in result.findings if f.migration == "catalog.0002_computed"]
    assert [f.rule for f in bad] == ["not-analyzed"] and "catalog.ops.make_operations" in bad[0].message
    assert ("catalog.0003_drop", "drop-column", 8) in found(result)


def test_a_default_computed_by_the_database_still_renders(tmp_path):
    app = shop(tmp_path)
    (app / "defaults.py").write_text("def root_id():\n    raise RuntimeError('queries the database')\n")
    path = migration(app, "0002_root", """
        migrations.AddField("product", "root", models.IntegerField(default=catalog.defaults.root_id)),
    """, deps='[("catalog", "0001_initial")]')
    path.write_text("import catalog.defaults\n" + path.read_text())
    assert found(check(tmp_path, tmp_path), "missing-lock-timeout") == [
        ("catalog.0002_root", "not-null-without-default", line_of(path, "AddField"))]


def test_a_migration_that_fails_to_import_is_read_statically(tmp_path):
    app = shop(tmp_path)
    (app / "fields.py").write_text("from django.conf import settings\nPREFIX = settings.ONLY_THE_PROJECT_HAS_IT\n")
    path = migration(app, "0002_changes", """
        migrations.AddField("product", "code", catalog.fields.CodeField(null=True)),
        migrations.RemoveField("product", "name"),
    """, deps='[("catalog", "0001_initial")]')
    path.write_text("import catalog.fields\n" + path.read_text())
    migration(app, "0003_more", 'migrations.AlterField("product", "code", models.TextField(null=True)),',
              deps='[("catalog", "0002_changes")]')
    result = check(tmp_path, tmp_path)
    assert found(result, "missing-lock-timeout") == [
        ("catalog.0002_changes", "drop-column", line_of(path, "RemoveField")),
        # the state carries the field on: changing its unknown type is said as such (a warning)
        ("catalog.0003_more", "unrecognized-statement", 8)]


def test_a_model_built_on_a_class_of_a_missing_package(tmp_path):
    app = shop(tmp_path)
    path = migration(app, "0002_page", """
        migrations.CreateModel("Page", fields=[("id", models.AutoField(primary_key=True))],
                               bases=(cluster.models.ClusterableModel, models.Model)),
        migrations.AddField("page", "title", models.CharField(max_length=10)),
    """, deps='[("catalog", "0001_initial")]')
    path.write_text("import cluster_not_installed.models\n" + path.read_text().replace("cluster.", "cluster_not_installed."))
    assert found(check(tmp_path, tmp_path), "missing-lock-timeout") == []  # a new table: nothing to flag
    assert "not-analyzed" not in {f.rule for f in check(tmp_path, tmp_path, no_exec=True).findings}


def test_removing_index_together_finds_the_index_to_drop(tmp_path):
    app = shop(tmp_path)
    path = migration(app, "0002_together", """
        migrations.AlterIndexTogether("product", {("id", "name")}),
        migrations.AlterIndexTogether("product", set()),
    """, deps='[("catalog", "0001_initial")]')
    result = check(tmp_path, tmp_path)
    assert "not-analyzed" not in {f.rule for f in result.findings}
    assert ("catalog.0002_together", "non-concurrent-drop-index", line_of(path, "set()")) in found(result)


def test_no_exec_reads_names_the_class_body_defines(tmp_path):
    app = shop(tmp_path)
    path = migration(app, "0002_split", """
        migrations.SeparateDatabaseAndState(state_operations=state_operations),
        migrations.RemoveField("product", "name"),
    """, deps='[("catalog", "0001_initial")]', extra='    state_operations = [migrations.AddField("product", "note", models.TextField(null=True))]\n')
    result = check(tmp_path, tmp_path, no_exec=True)
    assert found(result, "missing-lock-timeout") == [("catalog.0002_split", "drop-column", line_of(path, "RemoveField"))]


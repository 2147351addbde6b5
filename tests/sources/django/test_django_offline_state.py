"""What the offline connection answers from the project state carried forward, as the database
that ran the migrations so far would (sources/django/offline.py, the served introspection): the
tables it lists, and the constraints of a table an operation renamed or Django made for an M2M."""

from __future__ import annotations

from pathlib import Path

import pytest

from migsafe.sources.django.lanes import load_django_migrations

pytest.importorskip("django")

INITIAL = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = []

    operations = [
        migrations.CreateModel("Placeholder", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.CreateModel("Title", fields=[
            ("id", models.AutoField(primary_key=True)),
            ("placeholders", models.ManyToManyField(to="library.Placeholder")),
            ("parent", models.ForeignKey("library.Title", null=True, on_delete=models.CASCADE)),
        ]),
        migrations.CreateModel("Pick", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.CreateModel("Shadow", fields=[], options={"proxy": True}, bases=("library.pick",)),
        migrations.CreateModel("Outside", fields=[("id", models.AutoField(primary_key=True))],
                               options={"managed": False}),
    ]
'''

# wagtail search 0007: a table dropped only where the database lists it
DELETE_IF_EXISTS = '''from django.db import migrations


class DeleteModelIfExists(migrations.DeleteModel):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.name)
        if model._meta.db_table in schema_editor.connection.introspection.table_names():
            super().database_forwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("library", "0001_initial")]

    operations = [DeleteModelIfExists("Pick"), DeleteModelIfExists("Outside")]
'''

# django-cms 0032: Title renamed, its M2M table's foreign key to it re-made
RENAME = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("library", "0001_initial")]

    operations = [
        migrations.CreateModel("Page", fields=[
            ("id", models.AutoField(primary_key=True)),
            ("titles", models.ManyToManyField(to="library.Title")),
        ]),
        migrations.RenameModel("Title", "PageContent"),
    ]
'''


def _statements(root: Path, dialect: str, *migrations: tuple[str, str]) -> list[str]:
    folder = root / "library" / "migrations"
    folder.mkdir(parents=True)
    (root / "library" / "__init__.py").touch()
    (folder / "__init__.py").touch()
    for name, text in migrations:
        (folder / name).write_text(text)
    out = []
    for mig, _ in load_django_migrations([folder], root, dialect, ()):
        assert mig.error is None, mig.error
        out += [s.sql for s in mig.statements if mig.name != "library.0001_initial"]
    return out


def test_table_names_lists_the_tables_the_migrations_so_far_created(tmp_path):
    sql = _statements(tmp_path, "postgresql", ("0001_initial.py", INITIAL), ("0002_drop.py", DELETE_IF_EXISTS))

    assert sql == ['DROP TABLE "library_pick" CASCADE']  # an unmanaged model has no table to drop


LIST_TABLES = '''from django.db import migrations


class ListTables(migrations.RunSQL):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        names = schema_editor.connection.introspection.table_names()
        schema_editor.execute("SELECT " + ", ".join("'%s'" % name for name in names))


class Migration(migrations.Migration):
    dependencies = [("library", "0001_initial")]
    operations = [ListTables("")]
'''


def test_table_names_lists_auto_created_m2m_tables_and_no_proxy(tmp_path):
    sql = _statements(tmp_path, "postgresql", ("0001_initial.py", INITIAL), ("0002_list.py", LIST_TABLES))

    assert sql == ["SELECT 'library_pick', 'library_placeholder', 'library_title', 'library_title_placeholders'"]


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_renamed_model_remakes_the_foreign_keys_of_the_m2m_tables_pointing_at_it(tmp_path, dialect):
    sql = _statements(tmp_path, dialect, ("0001_initial.py", INITIAL), ("0002_rename.py", RENAME))
    q = '"' if dialect == "postgresql" else "`"
    added = [s for s in sql if "ADD CONSTRAINT" in s and "FOREIGN KEY" in s]
    # its own M2M table (renamed with it), and another model's M2M table pointing at it
    for table, column in (("library_pagecontent_placeholders", "pagecontent_id"), ("library_page_titles", "pagecontent_id")):
        assert any(s.startswith(f"ALTER TABLE {q}{table}{q} ADD CONSTRAINT") and f"({q}{column}{q})" in s
                   and f"REFERENCES {q}library_pagecontent{q}" in s for s in added), sql
    dropped = [s for s in sql if "DROP CONSTRAINT" in s or "DROP FOREIGN KEY" in s]
    # the foreign keys as the database names them: made when the model was Title
    assert any(f"ALTER TABLE {q}library_pagecontent_placeholders{q}" in s and "title_id" in s for s in dropped), sql
    assert any(f"ALTER TABLE {q}library_page_titles{q}" in s and "title_id" in s for s in dropped), sql
    # its own foreign key to itself: dropped by the name it was made with, in the renamed table
    assert any(f"ALTER TABLE {q}library_pagecontent{q}" in s and "library_title_parent_id_" in s for s in dropped), sql

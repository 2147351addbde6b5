"""Model classes rendered on demand (sources/django/state.py, on_demand) give the SQL Django's own
whole-project rendering gives, statement for statement, on the operations whose SQL depends on
other models: a referenced primary key changing type, renamed models and fields that foreign
keys point at, inheritance, proxies, custom `through` models, deleted models."""

from __future__ import annotations

from pathlib import Path

import pytest

from migsafe.sources.django.lanes import load_django_migrations

pytest.importorskip("django")

INITIAL = '''from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = []

    operations = [
        migrations.CreateModel("Author", fields=[("id", models.AutoField(primary_key=True)),
                                                 ("name", models.CharField(max_length=50))]),
        migrations.CreateModel("Tag", fields=[("id", models.AutoField(primary_key=True)),
                                              ("label", models.CharField(max_length=20, unique=True))]),
        migrations.CreateModel("Book", fields=[
            ("id", models.AutoField(primary_key=True)),
            ("author", models.ForeignKey("library.Author", on_delete=django.db.models.deletion.CASCADE)),
            ("title", models.CharField(max_length=100)),
        ]),
        migrations.CreateModel("BookTag", fields=[
            ("id", models.AutoField(primary_key=True)),
            ("book", models.ForeignKey("library.Book", on_delete=django.db.models.deletion.CASCADE)),
            ("tag", models.ForeignKey("library.Tag", to_field="label", on_delete=django.db.models.deletion.CASCADE)),
        ]),
        migrations.AddField("book", "tags", models.ManyToManyField("library.Tag", through="library.BookTag")),
        migrations.AddField("book", "readers", models.ManyToManyField("library.Author", related_name="read")),
        migrations.CreateModel("SpecialBook", fields=[
            ("book_ptr", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, parent_link=True,
                                              primary_key=True, serialize=False, to="library.Book")),
            ("edition", models.IntegerField()),
        ], bases=("library.book",)),
        migrations.CreateModel("Writer", fields=[], options={"proxy": True}, bases=("library.author",)),
        migrations.CreateModel("Review", fields=[
            ("id", models.AutoField(primary_key=True)),
            ("special", models.ForeignKey("library.SpecialBook", on_delete=django.db.models.deletion.CASCADE)),
            ("writer", models.ForeignKey("library.Writer", null=True, on_delete=django.db.models.deletion.SET_NULL)),
        ]),
    ]
'''

CHANGES = '''from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("library", "0001_initial")]

    operations = [
        migrations.AlterField("author", "id", models.BigAutoField(primary_key=True)),
        migrations.AlterField("tag", "label", models.CharField(max_length=40, unique=True)),
        migrations.AlterField("book", "id", models.BigAutoField(primary_key=True)),
        migrations.RenameModel("Tag", "Label"),
        migrations.RenameField("booktag", "tag", "label"),
        migrations.AlterField("book", "title", models.CharField(max_length=100, verbose_name="Title")),
        migrations.AlterField("review", "writer", models.ForeignKey(
            "library.Author", null=True, on_delete=django.db.models.deletion.SET_NULL)),
        migrations.AlterUniqueTogether("booktag", {("book", "label")}),
        migrations.AlterModelTable("author", "people"),
        migrations.RemoveField("book", "readers"),
        migrations.AddIndex("review", models.Index(fields=["special"], name="review_special_idx")),
        migrations.DeleteModel("Review"),
        migrations.RenameModel("SpecialBook", "RareBook"),
    ]
'''


def _library(root: Path, *migrations: tuple[str, str]) -> None:
    folder = root / "library" / "migrations"
    folder.mkdir(parents=True)
    (root / "library" / "__init__.py").touch()
    (folder / "__init__.py").touch()
    for name, text in migrations:
        (folder / name).write_text(text)


def _statements(root: Path, dialect: str) -> list[tuple[str, str, int]]:
    apps = [root / "library" / "migrations"]
    out = []
    for mig, _ in load_django_migrations(apps, root, dialect, ()):
        assert mig.error is None, mig.error
        out += [(mig.name, s.sql, s.span.line) for s in mig.statements]
    return out


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_on_demand_rendering_gives_djangos_sql(tmp_path, monkeypatch, dialect):
    _library(tmp_path, ("0001_initial.py", INITIAL), ("0002_changes.py", CHANGES))

    on_demand = _statements(tmp_path, dialect)
    monkeypatch.setenv("MIGSAFE_DJANGO_RENDER", "full")
    full = _statements(tmp_path, dialect)

    assert on_demand == full
    sql = "\n".join(s for name, s, _ in on_demand if name == "library.0002_changes").lower()
    if dialect == "postgresql":
        # the primary key's new type reaches the columns pointing at it, through the inheritance
        # and the M2M tables: what needs the models that point at it rendered too
        assert 'alter column "author_id" type bigint' in sql
        assert 'alter column "book_ptr_id" type bigint' in sql
        assert 'alter column "book_id" type bigint' in sql
        assert 'alter column "writer_id" type bigint' in sql  # a foreign key to a proxy of author
        assert 'alter column "tag_id" type varchar(40)' in sql


KEY_CHAIN = '''from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("library", "0001_initial")]

    operations = [
        migrations.AddField("review", "stars", models.IntegerField(null=True)),
        migrations.AlterField("book", "id", models.BigAutoField(primary_key=True)),
        migrations.AddField("review", "again", models.ForeignKey(
            "library.SpecialBook", null=True, on_delete=django.db.models.deletion.CASCADE)),
    ]
'''


def test_models_rendered_with_only_their_keys_follow_a_key_changed_further_along(tmp_path, monkeypatch):
    """Review points at SpecialBook, whose key is its link to Book. Rendered with only its keys,
    SpecialBook is reused by later operations while unchanged; Book's key changing type changes
    what SpecialBook's key column is, though nothing of SpecialBook's own state changed."""
    _library(tmp_path, ("0001_initial.py", INITIAL), ("0002_chain.py", KEY_CHAIN))

    on_demand = _statements(tmp_path, "postgresql")
    monkeypatch.setenv("MIGSAFE_DJANGO_RENDER", "full")
    assert on_demand == _statements(tmp_path, "postgresql")
    added = [s for name, s, _ in on_demand if name == "library.0002_chain" and '"again_id"' in s and "ADD COLUMN" in s]
    assert added and '"again_id" bigint' in added[0]


AFTER_RUNPYTHON = '''from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("library", "0001_initial")]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop),
        migrations.CreateModel("Note", fields=[
            ("id", models.AutoField(primary_key=True)),
            ("author", models.ForeignKey("library.Author", on_delete=django.db.models.deletion.CASCADE)),
        ]),
    ]
'''

KEY_TYPE = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("library", "0002_note")]

    operations = [migrations.AlterField("author", "id", models.BigAutoField(primary_key=True))]
'''


def test_a_model_added_right_after_python_code_is_known_to_point_at_its_target(tmp_path, monkeypatch):
    """The models pointing at Author include one created just after a RunPython (whose state
    change leaves no model classes behind): Author's key type change reaches its column."""
    _library(tmp_path, ("0001_initial.py", INITIAL), ("0002_note.py", AFTER_RUNPYTHON), ("0003_key.py", KEY_TYPE))

    on_demand = _statements(tmp_path, "postgresql")
    monkeypatch.setenv("MIGSAFE_DJANGO_RENDER", "full")
    assert on_demand == _statements(tmp_path, "postgresql")
    assert any('"library_note" ALTER COLUMN "author_id" TYPE bigint' in s for name, s, _ in on_demand
               if name == "library.0003_key")

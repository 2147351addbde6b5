"""Model classes rendered on demand (sources/django.py, _on_demand) give the SQL Django's own
whole-project rendering gives, statement for statement, on the operations whose SQL depends on
other models: a referenced primary key changing type, renamed models and fields that foreign
keys point at, inheritance, proxies, custom `through` models, deleted models."""

from __future__ import annotations

from pathlib import Path

import pytest

from migsafe.sources.django import load_django_migrations

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


def _statements(root: Path, dialect: str) -> list[tuple[str, str, int]]:
    apps = [root / "library" / "migrations"]
    out = []
    for mig, _ in load_django_migrations(apps, root, dialect, ()):
        assert mig.error is None, mig.error
        out += [(mig.name, s.sql, s.span.line) for s in mig.statements]
    return out


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_on_demand_rendering_gives_djangos_sql(tmp_path, monkeypatch, dialect):
    migrations = tmp_path / "library" / "migrations"
    migrations.mkdir(parents=True)
    (tmp_path / "library" / "__init__.py").touch()
    (migrations / "__init__.py").touch()
    (migrations / "0001_initial.py").write_text(INITIAL)
    (migrations / "0002_changes.py").write_text(CHANGES)

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

"""Django: every operation of django.contrib.postgres.operations and of Django's core set rendered
with no database connection, with and without the project's settings; values Django hands the
database (defaults, RunSQL parameters) written as the SQL literals the driver would send, the
same text every run, in every dialect. Each test writes a tiny project into tmp_path."""

from __future__ import annotations

import inspect
import socket
import sys
import textwrap
from pathlib import Path

import pytest

from migsafe.sources.django.lanes import load_django_migrations

from test_django_source import check, migration

django = pytest.importorskip("django")

from django.contrib.postgres import operations as postgres_operations  # noqa: E402
from django.db import migrations  # noqa: E402

HEAD = "import django.contrib.postgres.operations as pg\n"
CHECK = "condition" if django.VERSION >= (5, 1) else "check"  # (CheckConstraint's argument, renamed in 5.1)

# (operation, what its SQL starts with; None: no SQL), each a migration of its own, in this order
OPERATIONS = [
    ('migrations.CreateModel("Product", fields=[("id", models.AutoField(primary_key=True)),'
     ' ("name", models.CharField(max_length=100)), ("price", models.IntegerField(default=0))])',
     'CREATE TABLE "catalog_product"'),
    *[(f"pg.{name}()", f'CREATE EXTENSION IF NOT EXISTS "{extension}"') for name, extension in [
        ("BloomExtension", "bloom"), ("BtreeGinExtension", "btree_gin"), ("BtreeGistExtension", "btree_gist"),
        ("CITextExtension", "citext"), ("CryptoExtension", "pgcrypto"), ("HStoreExtension", "hstore"),
        ("TrigramExtension", "pg_trgm"), ("UnaccentExtension", "unaccent")]],
    ('pg.CreateExtension("ltree")', 'CREATE EXTENSION IF NOT EXISTS "ltree"'),
    ('pg.CreateCollation("nocase", provider="icu", locale="und-u-ks-level2", deterministic=False)',
     'CREATE COLLATION "nocase" (locale="und-u-ks-level2", provider="icu", deterministic=false)'),
    ('pg.RemoveCollation("nocase", provider="icu", locale="und-u-ks-level2", deterministic=False)',
     'DROP COLLATION "nocase"'),
    ('pg.AddIndexConcurrently("product", models.Index(fields=["name"], name="product_name_idx"))',
     'CREATE INDEX CONCURRENTLY "product_name_idx" ON "catalog_product" ("name")'),
    ('pg.RemoveIndexConcurrently("product", "product_name_idx")', 'DROP INDEX CONCURRENTLY IF EXISTS "product_name_idx"'),
    (f'pg.AddConstraintNotValid("product", models.CheckConstraint({CHECK}=models.Q(price__gte=0), name="price_gte_0"))',
     'ALTER TABLE "catalog_product" ADD CONSTRAINT "price_gte_0" CHECK ("price" >= 0) NOT VALID'),
    ('pg.ValidateConstraint("product", "price_gte_0")', 'ALTER TABLE "catalog_product" VALIDATE CONSTRAINT "price_gte_0"'),
    ('migrations.CreateModel("Tag", fields=[("id", models.AutoField(primary_key=True)),'
     ' ("label", models.CharField(max_length=20))])', 'CREATE TABLE "catalog_tag"'),
    ('migrations.AddField("product", "tags", models.ManyToManyField(to="catalog.tag"))',
     'CREATE TABLE "catalog_product_tags"'),
    ('migrations.AlterField("product", "name", models.CharField(max_length=200, db_comment="shown"))',
     'ALTER TABLE "catalog_product" ALTER COLUMN "name" TYPE varchar(200)'),
    ('migrations.RenameField("product", "name", "title")', 'ALTER TABLE "catalog_product" RENAME COLUMN "name" TO "title"'),
    ('migrations.AddIndex("product", models.Index(fields=["title"], name="product_title_idx"))',
     'CREATE INDEX "product_title_idx"'),
    ('migrations.RenameIndex("product", new_name="product_title_ix", old_name="product_title_idx")',
     'ALTER INDEX "product_title_idx" RENAME TO "product_title_ix"'),
    ('migrations.RemoveIndex("product", "product_title_ix")', 'DROP INDEX IF EXISTS "product_title_ix"'),
    ('migrations.AlterIndexTogether("tag", {("label",)})', 'CREATE INDEX "catalog_tag_label_'),
    ('migrations.RenameIndex("tag", new_name="tag_label_ix", old_fields=("label",))',
     'ALTER INDEX "catalog_tag_label_'),
    ('migrations.AddConstraint("product", models.UniqueConstraint(fields=["title"], name="title_uniq"))',
     'ALTER TABLE "catalog_product" ADD CONSTRAINT "title_uniq" UNIQUE ("title")'),
    *([('migrations.AlterConstraint("product", "title_uniq", models.UniqueConstraint(fields=["title"],'
        ' name="title_uniq", violation_error_message="taken"))', None)] if hasattr(migrations, "AlterConstraint") else []),
    ('migrations.RemoveConstraint("product", "title_uniq")', 'ALTER TABLE "catalog_product" DROP CONSTRAINT "title_uniq"'),
    ('migrations.AlterUniqueTogether("tag", {("label",)})', 'ALTER TABLE "catalog_tag" ADD CONSTRAINT'),
    ('migrations.AddField("tag", "product", models.ForeignKey(on_delete=models.CASCADE, to="catalog.product",'
     ' null=True))', 'ALTER TABLE "catalog_tag" ADD COLUMN "product_id" integer NULL'),
    ('migrations.AlterOrderWithRespectTo("tag", "product")', 'ALTER TABLE "catalog_tag" ADD COLUMN "_order" integer'),
    ('migrations.AlterModelOptions("tag", {"ordering": ["label"]})', None),
    ('migrations.AlterModelManagers("tag", [("objects", models.Manager())])', None),
    ('migrations.AlterModelTable("tag", "catalog_label")', 'ALTER TABLE "catalog_tag" RENAME TO "catalog_label"'),
    ('migrations.AlterModelTableComment("tag", "what products are labelled with")',
     "COMMENT ON TABLE \"catalog_label\" IS 'what products are labelled with'"),
    ('migrations.RenameModel("tag", "label")', 'ALTER TABLE "catalog_product_tags" RENAME COLUMN "tag_id" TO "label_id"'),
    ('migrations.RemoveField("product", "price")', 'ALTER TABLE "catalog_product" DROP COLUMN "price" CASCADE'),
    ('migrations.RunSQL([("UPDATE catalog_product SET title = %s", ["50% off"])], migrations.RunSQL.noop)',
     "UPDATE catalog_product SET title = '50% off'"),
    ('migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)', None),
    ('migrations.SeparateDatabaseAndState(database_operations=[migrations.RunSQL("SELECT 1", "SELECT 2")],'
     ' state_operations=[migrations.DeleteModel("label")])', "SELECT 1"),
    ('migrations.DeleteModel("product")', 'DROP TABLE "catalog_product" CASCADE'),
]


def operations_app(root: Path) -> None:
    """catalog: one migration per operation of OPERATIONS."""
    previous = "[]"
    for number, (operation, _) in enumerate(OPERATIONS, 1):
        name = f"{number:04d}_op"
        concurrently = "Concurrently" in operation
        path = migration(root / "catalog", name, operation + ",", deps=previous,
                         extra="    atomic = False\n" if concurrently else "")
        path.write_text(HEAD + path.read_text())
        previous = f'[("catalog", "{name}")]'


def test_the_operations_cover_every_operation_django_has():
    covered = {call.partition("(")[0].rpartition(".")[2] for call, _ in OPERATIONS}
    postgres = {name for name, cls in vars(postgres_operations).items() if inspect.isclass(cls)
                and cls.__module__ == postgres_operations.__name__ and "database_forwards" in vars(cls)}
    assert postgres | set(migrations.operations.__all__) <= covered


@pytest.mark.parametrize("settings", ["ad hoc", "the project's"])
def test_every_operation_renders_with_no_connection(tmp_path, monkeypatch, settings):
    # CreateExtension failed without settings (contrib.postgres asks django.db.connections for the
    # hstore type ids) and connected with them; in an initial migration that cascaded
    operations_app(tmp_path)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    if settings == "the project's":
        (tmp_path / "proj").mkdir()
        (tmp_path / "proj" / "__init__.py").touch()
        (tmp_path / "proj" / "settings.py").write_text(textwrap.dedent(f"""
            INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.postgres", "catalog"]
            DATABASES = {{"default": {{"ENGINE": "django.db.backends.postgresql", "NAME": "shop", "USER": "shop",
                                      "HOST": "127.0.0.1", "PORT": {server.getsockname()[1]}}}}}
            SECRET_KEY = "test"
        """))
        monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "proj.settings")
    try:
        rendered = list(load_django_migrations([tmp_path / "catalog" / "migrations"], tmp_path, "postgresql", ()))
        server.settimeout(0.1)
        with pytest.raises(socket.timeout):
            server.accept()[0].close()  # nobody connected
    finally:
        server.close()
    seen = {m.name: (m.error, [s.sql for s in m.statements]) for m, _ in rendered}
    for number, (operation, starts) in enumerate(OPERATIONS, 1):
        error, sql = seen[f"catalog.{number:04d}_op"]
        assert error is None, (operation, error)
        if starts is None:
            assert sql == [], operation
        else:
            assert any(s.startswith(starts) for s in sql), (operation, sql)


DEFAULTS = """
    migrations.AddField("product", "j1", models.JSONField(default=list)),
    migrations.AddField("product", "j2", models.JSONField(default={"a": [1, "x'y"], "b": None})),
    migrations.AddField("product", "a1", postgres.ArrayField(models.IntegerField(), default=list)),
    migrations.AddField("product", "a2", postgres.ArrayField(models.CharField(max_length=5), default=["a", "b'c"])),
    migrations.AddField("product", "h1", postgres.HStoreField(default={"k": 'v"', "n": None})),
    migrations.AddField("product", "r1", postgres.IntegerRangeField(default=(1, 10))),
    migrations.AddField("product", "r2", postgres.DateRangeField(default=(datetime.date(2020, 1, 1), None))),
    migrations.AddField("product", "r3", postgres.DecimalRangeField(default=(decimal.Decimal("1.5"), 2))),
    migrations.AddField("product", "ip", models.GenericIPAddressField(default="10.0.0.1")),
    migrations.AddField("product", "du", models.DurationField(default=datetime.timedelta(days=1, seconds=5))),
    migrations.AddField("product", "bi", models.BinaryField(default=b"ab")),
    migrations.AddField("product", "fl", models.FloatField(default=float("inf"))),
    migrations.AddField("product", "uu", models.UUIDField(default=uuid.UUID(int=1))),
"""
POSTGRES_LITERALS = [
    "'[]'::jsonb", """'{"a": [1, "x''y"], "b": null}'::jsonb""", "'{}'", "ARRAY['a', 'b''c']",
    """'"k"=>"v\\"", "n"=>NULL'""", "'[1,10)'", """'["2020-01-01",)'""", "'[1.5,2)'", "'10.0.0.1'::inet",
    "'1 days 5.000000 seconds'::interval", "'\\x6162'::bytea", "'Infinity'::float8",
    "'00000000-0000-0000-0000-000000000001'"]


def defaults_app(root: Path, body: str = DEFAULTS) -> None:
    migration(root / "catalog", "0001_initial", 'migrations.CreateModel("Product", fields=['
                                                '("id", models.AutoField(primary_key=True))]),')
    path = migration(root / "catalog", "0002_defaults", body, deps='[("catalog", "0001_initial")]')
    path.write_text("import datetime\nimport decimal\nimport uuid\n\nimport django.contrib.postgres.fields as postgres\n"
                    + path.read_text())


def defaults(root: Path, dialect: str) -> list[str]:
    """The DEFAULT of each column 0002_defaults adds, as rendered."""
    rendered = dict((m.name, m) for m, _ in load_django_migrations([root / "catalog" / "migrations"], root, dialect, ()))
    found = rendered["catalog.0002_defaults"]
    assert found.error is None
    return [s.sql.partition(" DEFAULT ")[2].rpartition(" NOT NULL")[0] for s in found.statements if " ADD COLUMN " in s.sql]


@pytest.mark.parametrize("driver", ["psycopg", "none installed"])
def test_defaults_are_the_literals_psycopg_sends(tmp_path, monkeypatch, driver):
    # JSONField(default=list) was DEFAULT '<...Jsonb object at 0x7f...>': wrong SQL, and a report
    # that differed run to run. The same text whichever driver Django wraps the value with.
    if driver == "psycopg":
        pytest.importorskip("psycopg")
    else:  # the forked worker cannot import either: migsafe's stand-in psycopg2 is used
        for name in [m for m in sys.modules if m.partition(".")[0] in ("psycopg", "psycopg2")
                     or m.startswith(("django.db.backends.postgresql", "django.contrib.postgres"))]:
            monkeypatch.delitem(sys.modules, name)
        monkeypatch.setitem(sys.modules, "psycopg", None)
        monkeypatch.setitem(sys.modules, "psycopg2", None)
    defaults_app(tmp_path)
    assert defaults(tmp_path, "postgresql") == POSTGRES_LITERALS


ANY_DIALECT = """
    migrations.AddField("product", "j1", models.JSONField(default=list)),
    migrations.AddField("product", "j2", models.JSONField(default=dict)),
    migrations.AddField("product", "bi", models.BinaryField(default=b"ab")),
    migrations.AddField("product", "uu", models.UUIDField(default=uuid.UUID(int=1))),
    migrations.AddField("product", "de", models.DecimalField(max_digits=5, decimal_places=2, default=decimal.Decimal("1.50"))),
    migrations.AddField("product", "da", models.DateField(default=datetime.date(2020, 1, 2))),
"""


@pytest.mark.parametrize("dialect, literals", [
    ("postgresql", ["'[]'::jsonb", "'{}'::jsonb", "'\\x6162'::bytea", "'00000000-0000-0000-0000-000000000001'", "1.50",
                    "'2020-01-02'"]),
    ("mysql", ["('[]')", "('{}')", "(X'6162')", "'00000000000000000000000000000001'", "1.50", "'2020-01-02'"]),
])
def test_defaults_are_sql_literals_in_every_dialect(tmp_path, dialect, literals):
    defaults_app(tmp_path, ANY_DIALECT)
    assert defaults(tmp_path, dialect) == literals


def test_sqlite_defaults_are_sql_literals(tmp_path):
    # SQLite remakes the table: the default is the value the copy fills existing rows with
    defaults_app(tmp_path, ANY_DIALECT)
    rendered = [m for m, _ in load_django_migrations([tmp_path / "catalog" / "migrations"], tmp_path, "sqlite", ())]
    copies = [s.sql for s in rendered[-1].statements if s.sql.startswith("INSERT INTO")]
    assert [c.rpartition(", ")[2].partition(" FROM")[0] for c in copies] == [
        "'[]'", "'{}'", "X'6162'", "'00000000000000000000000000000001'", "'1.50'", "'2020-01-02'"]
    result = check(tmp_path, tmp_path, dialect="sqlite")
    assert "not-analyzed" not in {f.rule for f in result.findings}


CUSTOM = '''
class AddFieldDynamicDefault(migrations.AddField):
    """mayan's: the default is read from the database, which is then introspected."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        product = from_state.apps.get_model("catalog", "Product")
        first = product.objects.using(schema_editor.connection.alias).order_by("pk").first()
        self.field.default = first.pk if first else 0
        with schema_editor.connection.cursor() as cursor:
            assert schema_editor.connection.introspection.get_table_description(cursor, "catalog_product") == []
        super().database_forwards(app_label, schema_editor, from_state, to_state)


'''


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])  # (SQLite's introspection raises for no rows)
def test_operations_that_query_the_database_get_no_rows(tmp_path, dialect):
    defaults_app(tmp_path, 'AddFieldDynamicDefault("product", "first", models.IntegerField()),')
    path = tmp_path / "catalog" / "migrations" / "0002_defaults.py"
    path.write_text(path.read_text().replace("\n\nclass Migration", CUSTOM + "class Migration"))
    assert defaults(tmp_path, dialect)[-1] == "0"


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_a_default_that_is_an_object_reads_the_same_every_run(tmp_path, dialect):
    # a project's default (here a class, called for each row) whose value is no value the database
    # knows: Django writes its text, with the object's address, a new one each run
    defaults_app(tmp_path, 'migrations.AddField("product", "token", models.CharField(max_length=60,'
                           ' default=catalog.values.Token)),')
    (tmp_path / "catalog" / "values.py").write_text("class Token:\n    pass\n")
    path = tmp_path / "catalog" / "migrations" / "0002_defaults.py"
    path.write_text("import catalog.values\n" + path.read_text())
    rendered = [m for m, _ in load_django_migrations([tmp_path / "catalog" / "migrations"], tmp_path, dialect, ())]
    sql = [s.sql for s in rendered[-1].statements]
    assert any("'<catalog.values.Token object>'" in s for s in sql) and not any(" at 0x" in s for s in sql)


def test_an_operator_class_on_a_column_indexes_the_column_without_the_settings(tmp_path):
    # contrib.postgres's ready() makes OpClass a wrapper of the column (Django renders an
    # expression otherwise, in parentheses PostgreSQL rejects): ad hoc settings install it too
    migration(tmp_path / "catalog", "0001_initial", """
        migrations.CreateModel("Product", fields=[("id", models.AutoField(primary_key=True)), ("name", models.TextField())]),
        migrations.AddIndex("product", django.contrib.postgres.indexes.GinIndex(
            django.contrib.postgres.indexes.OpClass("name", name="gin_trgm_ops"), name="product_name_trgm")),
    """)
    path = tmp_path / "catalog" / "migrations" / "0001_initial.py"
    path.write_text("import django.contrib.postgres.indexes\n" + path.read_text())
    rendered = [m for m, _ in load_django_migrations([path.parent], tmp_path, "postgresql", ())]
    assert rendered[0].statements[-1].sql == \
        'CREATE INDEX "product_name_trgm" ON "catalog_product" USING gin ("name" gin_trgm_ops)'
    assert "not-analyzed" not in {f.rule for f in check(tmp_path, tmp_path).findings}

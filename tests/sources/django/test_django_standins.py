"""Django: stand-ins for what is not installed where migsafe runs. Those the SQL does not depend on
(managers, validators, callables, choices, upload_to, ...) never fail a render; a field class
that is not installed keeps what its deconstruction and the project's own source tell, and a
change of its type is claimed only where arguments that may reach the database changed (then
said as a type migsafe does not know, a warning). Each test writes a tiny project into tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from migsafe.model import Severity
from migsafe.sources.django.lanes import load_django_migrations

from test_django_source import check, found, line_of, migration, shop

pytest.importorskip("django")

AFTER_INITIAL = '[("catalog", "0001_initial")]'


def with_imports(path: Path, *modules: str) -> Path:
    path.write_text("".join(f"import {m}\n" for m in modules) + path.read_text())
    return path


def sql_by_migration(root: Path, **kwargs) -> dict[str, list[str]]:
    return {m.name: [s.sql for s in m.statements]
            for m, _ in load_django_migrations(sorted(root.glob("*/migrations")), root, "postgresql", (), **kwargs)}


@pytest.mark.parametrize("no_exec", [False, True])
def test_managers_of_packages_not_installed_never_fail_the_render(tmp_path, no_exec):
    # the render failed with "not enough values to unpack (expected 5, got 4)": the manager's
    # stand-in deconstructed as a field
    app = shop(tmp_path)
    path = with_imports(migration(app, "0002_managers", """
        migrations.CreateModel("Photo", fields=[("id", models.AutoField(primary_key=True))], managers=[
            ("objects", managers.PhotoManager()), ("public", managers.PublicQuerySet.as_manager()),
        ]),
        migrations.AlterModelManagers("product", managers=[("objects", managers.ProductManager(active=True))]),
        migrations.AddField("product", "photo", models.ForeignKey(on_delete=models.CASCADE, to="catalog.photo",
                                                                  null=True)),
    """, deps=AFTER_INITIAL), "managers_not_installed as managers")
    result = check(tmp_path, tmp_path, no_exec=no_exec)
    line = line_of(path, '"photo", models.ForeignKey')
    assert found(result, "missing-lock-timeout") == [("catalog.0002_managers", "non-concurrent-index", line),
                                                     ("catalog.0002_managers", "validating-foreign-key", line)]
    sql = sql_by_migration(tmp_path, execute=not no_exec)["catalog.0002_managers"]
    assert sql[0].startswith('CREATE TABLE "catalog_photo"')


def test_stand_ins_the_sql_does_not_depend_on_never_fail_the_render(tmp_path):
    app = shop(tmp_path)
    with_imports(migration(app, "0002_columns", """
        migrations.AddField("product", "kind", models.CharField(
            max_length=10, default=extras.Kinds.A, choices=extras.Kinds.choices, help_text=extras.gettext("Kind"),
            validators=[extras.validate_kind, extras.LengthValidator(3), extras.RegexValidator(regex="^a")])),
        migrations.AddField("product", "size", models.CharField(
            max_length=4, null=True, choices=extras.SIZES, validators=[extras.Validator(to="x")])),
        migrations.AddField("product", "code", models.CharField(max_length=8, default=extras.make_code)),
        migrations.AddField("product", "image", models.FileField(
            upload_to=extras.FilePathGenerator(to="images/"), storage=extras.Storage(), null=True)),
        migrations.AddField("product", "scan", extras.get_image_field_class()(upload_to=extras.upload_to, null=True)),
        migrations.AlterField("product", "size", models.CharField(max_length=4, null=True, choices=extras.choices())),
    """, deps=AFTER_INITIAL), "extras_not_installed as extras")
    result = check(tmp_path, tmp_path)
    assert "not-analyzed" not in {f.rule for f in result.findings}
    sql = sql_by_migration(tmp_path)["catalog.0002_columns"]
    assert sql[0] == ('ALTER TABLE "catalog_product" ADD COLUMN "kind" varchar(10) DEFAULT'
                      " 'migsafe: a default computed by extras_not_installed.Kinds.A, which is not installed' NOT NULL")
    assert 'ALTER TABLE "catalog_product" ADD COLUMN "size" varchar(4) NULL' in sql
    assert 'ALTER TABLE "catalog_product" ADD COLUMN "image" varchar(100) NULL' in sql
    # a field made by a factory that is not installed: its type is not known, and said so
    assert any(s.startswith('ALTER TABLE "catalog_product" ADD COLUMN "scan" unknown_get_image_field_class_')
               for s in sql)
    assert not any('"size"' in s for s in sql[sql.index('ALTER TABLE "catalog_product" ADD COLUMN "size" varchar(4) NULL') + 1:])


def json_field(more: str = "", indent: int = 4, help_text: str = "Data") -> str:
    return (f'jsonlib.JSONField(null=True, help_text="{help_text}", dump_kwargs={{"cls": jsonlib.Encoder, "indent": {indent}}},'
            f' load_kwargs={{"object_pairs_hook": collections.OrderedDict}}{more})')


def test_changing_only_what_cannot_reach_the_database_claims_no_type_change(tmp_path):
    # jsonfield's JSONField, not installed: a change of its Python-side arguments was reported as
    # a change-column-type error
    app = shop(tmp_path)
    python_side = ', validators=[jsonlib.validate], decoder=jsonlib.Decoder, verbose_name=jsonlib.label("d"), extra={}'
    for name, deps, field in [
        ("0002_data", AFTER_INITIAL, json_field()),
        ("0003_python_side", '[("catalog", "0002_data")]', json_field(python_side, indent=2, help_text="JSON data")),
        ("0004_unique", '[("catalog", "0003_python_side")]', json_field(", unique=True")),
    ]:
        operation = f'migrations.{"AddField" if name == "0002_data" else "AlterField"}("product", "data", {field}),'
        with_imports(migration(app, name, operation, deps=deps), "collections", "jsonlib_not_installed as jsonlib")
    sql = sql_by_migration(tmp_path)
    assert sql["catalog.0003_python_side"] == []
    result = check(tmp_path, tmp_path)
    # the column's other properties are still Django's to render: unique is a constraint, not a type
    # (and the running app version may write a duplicate: a warning)
    assert found(result, "missing-lock-timeout") == [("catalog.0004_unique", "add-unique-constraint", 10),
                                                     ("catalog.0004_unique", "new-write-restriction", 10)]


def test_a_type_migsafe_does_not_know_is_said_so_as_a_warning(tmp_path):
    app = shop(tmp_path)
    vectors = with_imports(migration(app, "0002_vector", """
        migrations.AddField("product", "embedding", vectors.VectorField(dimensions=3, null=True)),
        migrations.AddField("product", "created", models.DateTimeField(auto_now_add=True, null=True)),
    """, deps=AFTER_INITIAL), "vectors_not_installed as vectors")
    changed = with_imports(migration(app, "0003_change", """
        migrations.AlterField("product", "embedding", vectors.VectorField(dimensions=4, null=True)),
        migrations.AlterField("product", "created", timestamps.AutoCreatedField(null=True, editable=False)),
    """, deps='[("catalog", "0002_vector")]'), "vectors_not_installed as vectors", "timestamps_not_installed as timestamps")
    result = check(tmp_path, tmp_path)
    said = [f for f in result.findings if f.migration == "catalog.0003_change" and f.rule != "missing-lock-timeout"]
    assert [(f.rule, f.span.line, f.severity) for f in said] == [
        ("unrecognized-statement", line_of(changed, '"embedding"'), Severity.WARNING),
        ("unrecognized-statement", line_of(changed, '"created"'), Severity.WARNING)]
    assert ("the type of column embedding after a change of the arguments (dimensions) of its field class"
            " vectors_not_installed.VectorField, which is not installed where migsafe runs") in said[0].message
    assert ("the change of column created from timestamp with time zone to timestamps_not_installed.AutoCreatedField"
            " (not installed where migsafe runs: its column type is not known)") in said[1].message
    assert vectors.exists()


FIELDS = """
    from django.conf import settings
    from django.db.models import CharField

    from catalog.base import Limited

    SITE = settings.SITE_KEY_ONLY_THE_PROJECT_HAS  # importing this module fails where migsafe runs


    class SlugField(Limited, CharField):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("max_length", 50)
            super().__init__(*args, **kwargs)


    class AutoSlugField(SlugField):
        pass
"""


@pytest.mark.parametrize("no_exec", [False, True])
def test_the_base_class_the_project_source_reveals_is_kept(tmp_path, no_exec):
    # tendenci's own SlugField(CharField), in a module that cannot be imported without the
    # project's settings: the migration is read statically, and its field is a varchar still
    app = shop(tmp_path)
    (app / "base.py").write_text("class Limited:\n    pass\n")
    (app / "fields.py").write_text(textwrap.dedent(FIELDS))
    added = with_imports(migration(app, "0002_slug", """
        migrations.AddField("product", "slug", catalog.fields.AutoSlugField(max_length=50, db_index=True,
                                                                            populate_from="name", null=True)),
    """, deps=AFTER_INITIAL), "catalog.fields")
    unique = with_imports(migration(app, "0003_unique", """
        migrations.AlterField("product", "slug", catalog.fields.AutoSlugField(max_length=50, unique=True,
                                                                              populate_from="title", null=True)),
    """, deps='[("catalog", "0002_slug")]'), "catalog.fields")
    sql = sql_by_migration(tmp_path, execute=not no_exec)
    assert sql["catalog.0002_slug"][0] == 'ALTER TABLE "catalog_product" ADD COLUMN "slug" varchar(50) NULL'
    assert any("varchar_pattern_ops" in s for s in sql["catalog.0002_slug"])  # what Django adds for a varchar
    result = check(tmp_path, tmp_path, no_exec=no_exec)
    # as Django's CharField: an index and a LIKE index, then a unique constraint and its LIKE index
    assert found(result, "missing-lock-timeout", "non-concurrent-drop-index") == [
        *[("catalog.0002_slug", "non-concurrent-index", line_of(added, "AddField"))] * 2,
        ("catalog.0003_unique", "add-unique-constraint", line_of(unique, "AlterField")),
        ("catalog.0003_unique", "new-write-restriction", line_of(unique, "AlterField")),  # a duplicate the app writes
        ("catalog.0003_unique", "non-concurrent-index", line_of(unique, "AlterField"))]


def test_what_a_module_that_cannot_be_imported_holds_is_no_obstacle(tmp_path):
    # mayan's `validators=getattr(mayan.apps.converter.models, "validators", [])`, in a module that
    # reads a setting only the project has: read statically, the stand-in is an empty list
    app = shop(tmp_path)
    (app / "helpers.py").write_text("from django.conf import settings\n\nKEY = settings.ONLY_THE_PROJECT_HAS\n")
    path = with_imports(migration(app, "0002_code", """
        migrations.AddField("product", "code", models.CharField(
            max_length=5, null=True, validators=getattr(catalog.helpers, "validators", []))),
        migrations.RemoveField("product", "name"),
    """, deps=AFTER_INITIAL), "catalog.helpers")
    assert found(check(tmp_path, tmp_path), "missing-lock-timeout") == [
        ("catalog.0002_code", "drop-column", line_of(path, "RemoveField"))]


def test_an_operation_of_a_package_not_installed_is_not_analyzed_alone(tmp_path):
    # allianceauth's sortedm2m AlterSortedManyToManyField: a stand-in in `operations` failed the
    # whole migration with "object has no attribute 'reversible'"
    app = shop(tmp_path)
    path = with_imports(migration(app, "0002_sorted", """
        migrations.AddField("product", "code", models.CharField(max_length=5, null=True)),
        AlterSortedManyToManyField(model_name="product", name="tags", field=models.IntegerField(null=True)),
        migrations.RemoveField("product", "name"),
    """, deps=AFTER_INITIAL), "sortedm2m_not_installed.operations")
    path.write_text(path.read_text().replace(
        "import sortedm2m_not_installed.operations\n",
        "from sortedm2m_not_installed.operations import AlterSortedManyToManyField\n"))
    result = check(tmp_path, tmp_path)
    assert found(result, "missing-lock-timeout") == [
        ("catalog.0002_sorted", "drop-column", line_of(path, "RemoveField")),
        ("catalog.0002_sorted", "not-analyzed", line_of(path, "AlterSortedManyToManyField(")),
    ]
    message = next(f.message for f in result.findings if f.rule == "not-analyzed")
    assert ("sortedm2m_not_installed.operations.AlterSortedManyToManyField is an operation migsafe has only a"
            " stand-in for (not installed where migsafe runs") in message


def test_no_exec_keeps_the_base_of_a_field_class_the_migration_file_defines(tmp_path):
    app = shop(tmp_path)
    path = migration(app, "0002_code", 'migrations.AddField("product", "code", CodeField(max_length=8, null=True)),',
                     deps=AFTER_INITIAL)
    path.write_text(path.read_text().replace(
        "\n\nclass Migration", "\n\nclass CodeField(models.CharField):\n    pass\n\n\nclass Migration"))
    sql = sql_by_migration(tmp_path, execute=False)["catalog.0002_code"]
    assert sql == ['ALTER TABLE "catalog_product" ADD COLUMN "code" varchar(8) NULL']


def test_a_decorator_of_a_package_not_installed_leaves_the_function(tmp_path):
    # openwisp's `@cache_memoize(timeout)`: the function it decorates was replaced by a stand-in
    app = shop(tmp_path)
    (app / "codes.py").write_text("from memoize_not_installed import cache_memoize\n\n\n@cache_memoize(60)\n"
                                  "def make_code():\n    return 'A-1'\n")
    with_imports(migration(app, "0002_code", """
        migrations.AddField("product", "code", models.CharField(max_length=8, default=catalog.codes.make_code)),
    """, deps=AFTER_INITIAL), "catalog.codes")
    assert sql_by_migration(tmp_path)["catalog.0002_code"][0] == (
        """ALTER TABLE "catalog_product" ADD COLUMN "code" varchar(8) DEFAULT 'A-1' NOT NULL""")


def test_no_exec_reads_the_base_of_a_field_class_of_an_installed_package(tmp_path, monkeypatch):
    # --no-exec runs no code of the package, but its source says what its field is at the database
    (tmp_path / "site" / "fancyfields").mkdir(parents=True)
    (tmp_path / "site" / "fancyfields" / "__init__.py").write_text("from .fields import ColorField\n")
    (tmp_path / "site" / "fancyfields" / "fields.py").write_text(
        "from django.db import models\n\nraise RuntimeError('never imported')\n\n\n"
        "class ColorField(models.CharField):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    app = shop(tmp_path / "project")
    with_imports(migration(app, "0002_color", 'migrations.AddField("product", "color", fancyfields.ColorField('
                                              'max_length=18, samples=["#fff"], null=True)),',
                           deps=AFTER_INITIAL), "fancyfields")
    root = tmp_path / "project"
    sql = sql_by_migration(root, execute=False)["catalog.0002_color"]
    assert sql == ['ALTER TABLE "catalog_product" ADD COLUMN "color" varchar(18) NULL']


def test_a_related_name_from_a_module_that_cannot_be_imported_is_no_obstacle(tmp_path):
    # wagtail's `related_name=COMMENTS_RELATION_NAME` from wagtail.models, which could not be
    # imported: Django's `related_name %= {...}` failed on the stand-in
    app = shop(tmp_path)
    (app / "names.py").write_text("from django.conf import settings\n\nKEY = settings.ONLY_THE_PROJECT_HAS\n"
                                  "COMMENTS = 'comments'\n")
    path = migration(app, "0002_comment", """
        migrations.CreateModel("Comment", fields=[
            ("id", models.AutoField(primary_key=True)),
            ("product", models.ForeignKey(on_delete=models.CASCADE, to="catalog.product", related_name=COMMENTS,
                                          related_query_name=COMMENTS)),
        ]),
        migrations.AddField("product", "note", models.TextField(null=True)),
        migrations.RemoveField("product", "name"),
    """, deps=AFTER_INITIAL)
    path.write_text("from catalog.names import COMMENTS\n" + path.read_text())
    assert found(check(tmp_path, tmp_path), "missing-lock-timeout") == [
        ("catalog.0002_comment", "drop-column", line_of(path, "RemoveField"))]


def test_a_star_import_of_a_package_not_installed_still_gives_its_names(tmp_path):
    # wagtail.search.queryset is `from modelsearch.queryset import *`; wagtail.models imports
    # SearchableQuerySetMixin from it: wagtail's apps and the migrations importing them failed
    app = shop(tmp_path)
    (app / "queryset.py").write_text("from search_not_installed.queryset import *  # noqa: F403\n")
    (app / "constants.py").write_text("from catalog.queryset import SearchableQuerySetMixin\n\n"
                                      "CODE_LENGTH = 12\n")
    path = with_imports(migration(app, "0002_code", """
        migrations.AddField("product", "code", models.CharField(max_length=catalog.constants.CODE_LENGTH, null=True)),
    """, deps=AFTER_INITIAL), "catalog.constants")
    assert sql_by_migration(tmp_path)["catalog.0002_code"] == [
        'ALTER TABLE "catalog_product" ADD COLUMN "code" varchar(12) NULL']
    assert path.exists()


def test_a_relation_to_an_app_neither_found_nor_installed_points_at_a_stand_in(tmp_path):
    # openwisp: models pointing at openwisp_users.Organization, with openwisp_users not installed
    # (its dependency computed from a default that names auth): the column's type is not known,
    # its table, constraint and index are rendered
    first = with_imports(migration(tmp_path / "catalog", "0001_initial", """
        migrations.CreateModel("Product", fields=[("id", models.AutoField(primary_key=True)),
            ("organization", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="accounts.Organization")),
            ("groups", models.ManyToManyField(to="accounts.Group"))]),
    """), "django.db.models.deletion")
    second = with_imports(migration(tmp_path / "catalog", "0002_owner", """
        migrations.AddField("product", "owner", models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE,
            to="accounts.Organization", to_field="uuid", related_name="+")),
        migrations.AddField("product", "maker", models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE,
            to="catalog.Maker")),
    """, deps='[("catalog", "0001_initial")]'), "django.db.models.deletion")
    sql = sql_by_migration(tmp_path)
    created = sql["catalog.0001_initial"]
    assert created[0].startswith('CREATE TABLE "catalog_product" ("id" integer NOT NULL PRIMARY KEY GENERATED BY'
                                 ' DEFAULT AS IDENTITY, "organization_id" unknown_organization_')
    assert any('FOREIGN KEY ("organization_id") REFERENCES "accounts_organization" ("id")' in s for s in created)
    assert any('"group_id" unknown_group_' in s for s in created if s.startswith('CREATE TABLE "catalog_product_groups"'))
    assert 'REFERENCES "accounts_organization"("uuid")' in sql["catalog.0002_owner"][0]
    result = check(tmp_path, tmp_path)
    # a model of the project's own app that no migration made is no stand-in: its migration fails
    assert [(f.migration, f.span.line) for f in result.findings if f.rule == "not-analyzed"] == \
        [("catalog.0002_owner", line_of(second, '"maker"'))]
    assert ("catalog.0002_owner", "non-concurrent-index", line_of(second, '"owner"')) in found(result)
    assert ("catalog.0001_initial", "not-analyzed", line_of(first, "CreateModel")) not in found(result)


def test_a_migration_depending_on_an_app_not_found_is_judged_where_it_renders(tmp_path):
    # openwisp's geo.0005 depends on openwisp_users, not installed in a pre-commit hook's environment:
    # what it points at there are stand-ins; one that needs more of that app names it as the cause
    with_imports(migration(tmp_path / "catalog", "0001_initial", """
        migrations.CreateModel("Product", fields=[("id", models.AutoField(primary_key=True)),
            ("organization", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="accounts.Organization"))]),
    """, deps='[("accounts", "0003_organization")]'), "django.db.models.deletion")
    path = migration(tmp_path / "catalog", "0002_alter", """
        migrations.AddField("organization", "slug", models.SlugField(null=True)),  # (not a model of catalog)
    """, deps='[("catalog", "0001_initial"), ("accounts", "0004_more")]')
    result = check(tmp_path, tmp_path)
    failed = [f for f in result.findings if f.rule == "not-analyzed"]
    # at the line that failed, with the real error (weblate's was hidden) and the app not found
    assert [(f.migration, f.span.line) for f in failed] == [("catalog.0002_alter", line_of(path, "AddField"))]
    assert "it depends on app 'accounts', whose migrations were not found" in failed[0].message
    assert "KeyError: ('catalog', 'organization')" in failed[0].message


def test_what_the_project_asks_of_a_call_of_a_class_not_installed_is_no_obstacle(tmp_path):
    # weblate's `app = Celery("weblate"); app.config_from_object(...)` (celery not installed) in a
    # module its migrations import: the call's stand-in was a field, which has no config_from_object,
    # so the migration could not be imported (its default below is then not known)
    app = shop(tmp_path)
    (app / "tasks.py").write_text("from celery_not_installed import Celery\n\napp = Celery('shop')\n"
                                  "app.config_from_object('django.conf:settings', namespace='CELERY')\n"
                                  "app.conf.beat_schedule = {}\n\n\n@app.task\ndef make_code():\n"
                                  "    return 'A-1'\n")
    with_imports(migration(app, "0002_code", """
        migrations.AddField("product", "code", models.CharField(max_length=8, default=catalog.tasks.make_code)),
        migrations.AddField("product", "stamp", stamps_not_installed.StampField(null=True)),
    """, deps=AFTER_INITIAL), "catalog.tasks", "stamps_not_installed")
    sql = sql_by_migration(tmp_path)["catalog.0002_code"]
    assert sql[0] == """ALTER TABLE "catalog_product" ADD COLUMN "code" varchar(8) DEFAULT 'A-1' NOT NULL"""
    # Django's own probes of a field get a field's answers, not stand-ins: no default, nullable
    assert sql[-1].startswith('ALTER TABLE "catalog_product" ADD COLUMN "stamp" unknown_stampfield_')
    assert sql[-1].endswith(" NULL") and "DEFAULT" not in sql[-1]


def test_a_class_not_installed_asked_of_by_isinstance_is_no_obstacle(tmp_path):
    # weblate's `isinstance(caches["default"], RedisCache)` (django_redis not installed), run at the
    # import of a module its migrations import: "isinstance() arg 2 must be a type"
    app = shop(tmp_path)
    (app / "codes.py").write_text(
        "from redis_not_installed import RedisCache, RedisError\n\n\nclass Cache(RedisCache):\n    pass\n\n\n"
        "assert not isinstance(object(), (RedisCache, int)) and not issubclass(dict, RedisError)\n"
        "assert isinstance(Cache(), RedisCache) and issubclass(Cache, RedisCache)\n\n\n"
        "def make_code():\n    return 'A-1'\n")
    with_imports(migration(app, "0002_code", """
        migrations.AddField("product", "code", models.CharField(max_length=8, default=catalog.codes.make_code)),
    """, deps=AFTER_INITIAL), "catalog.codes")
    assert sql_by_migration(tmp_path)["catalog.0002_code"][0] == (
        """ALTER TABLE "catalog_product" ADD COLUMN "code" varchar(8) DEFAULT 'A-1' NOT NULL""")

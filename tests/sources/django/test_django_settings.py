"""Django: the project's settings module (config django-settings, else DJANGO_SETTINGS_MODULE) is
used as Django would import it, never answered by a stand-in where the project guards its own
imports, never a silent fallback, never a database connection; dependency lists computed from
settings or by helpers are evaluated. Each test writes a tiny project into tmp_path."""

from __future__ import annotations

import logging
import socket
import textwrap
from pathlib import Path

import pytest

from migsafe.sources.django.lanes import load_django_migrations
from migsafe.sources.django.graph import load_plan

from test_django_source import check, found, line_of, migration

pytest.importorskip("django")

USER = 'migrations.CreateModel("User", fields=[("id", models.AutoField(primary_key=True))]),'
OWNED = """
migrations.CreateModel("Product", fields=[
    ("id", models.AutoField(primary_key=True)),
    ("owner", models.ForeignKey(on_delete=models.deletion.CASCADE, to=settings.AUTH_USER_MODEL)),
]),
"""


def owned_product(root: Path, deps: str) -> Path:
    """catalog.0001: a product whose owner is the settings' user model."""
    path = migration(root / "catalog", "0001_initial", OWNED, deps=deps)
    path.write_text("from django.conf import settings\n" + path.read_text())
    return path


def settings_module(root: Path, body: str) -> None:
    (root / "proj").mkdir()
    (root / "proj" / "__init__.py").touch()
    (root / "proj" / "settings.py").write_text(textwrap.dedent(body))


def sql_of(root: Path, **kwargs) -> str:
    dirs = sorted(root.glob("*/migrations"))
    return "\n".join(s.sql for m, _ in load_django_migrations(dirs, root, "postgresql", (), **kwargs)
                     for s in m.statements)


def test_the_settings_module_is_used_and_its_guarded_imports_are_its_own(tmp_path):
    # "users" sorts after "catalog": only the settings' AUTH_USER_MODEL orders it first
    migration(tmp_path / "users", "0001_initial", USER)
    owned_product(tmp_path, "[migrations.swappable_dependency(settings.AUTH_USER_MODEL)]")
    settings_module(tmp_path, """
        INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "users", "catalog"]
        try:
            import dj_database_url_not_installed as database_url
        except ImportError:
            DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "shop"}}
        else:
            DATABASES = {"default": database_url.config()}
        AUTH_USER_MODEL = "users.User"
        SECRET_KEY = "test"
    """)
    sql = sql_of(tmp_path, settings_module="proj.settings")
    assert 'REFERENCES "users_user" ("id")' in sql
    result = check(tmp_path, tmp_path, django_settings="proj.settings")
    assert "not-analyzed" not in {f.rule for f in result.findings}


def test_settings_that_cannot_be_set_up_are_said_so(tmp_path, monkeypatch, caplog):
    migration(tmp_path / "catalog", "0001_initial", 'migrations.CreateModel("Thing", fields=['
                                                    '("id", models.AutoField(primary_key=True))]),')
    drop = migration(tmp_path / "catalog", "0002_drop", 'migrations.DeleteModel("Thing"),',
                     deps='[("catalog", "0001_initial")]')
    settings_module(tmp_path, """
        import os

        DATABASE_URL = os.environ["DATABASE_URL_NOT_SET"]
    """)
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "proj.settings")
    with caplog.at_level(logging.WARNING, logger="migsafe"):
        result = check(tmp_path, tmp_path)
    assert found(result, "missing-lock-timeout") == [
        ("catalog.0002_drop", "drop-table", line_of(drop, "DeleteModel")),
        ("proj.settings", "not-analyzed", 4),  # at the line that failed, in the settings file
    ]
    note = next(f for f in result.findings if f.rule == "not-analyzed")
    assert note.path == "proj/settings.py" and "ad hoc settings" in note.message
    assert "DATABASE_URL_NOT_SET" in note.message
    assert [r.getMessage() for r in caplog.records if "proj.settings" in r.getMessage()] == [
        "migsafe: the Django settings module proj.settings could not be set up (KeyError: 'DATABASE_URL_NOT_SET');"
        " migrations were rendered with ad hoc settings"]


def test_a_setting_only_the_project_defines_is_said_where_it_is_read(tmp_path):
    # pulpcore's RequireVersion: an operation of the project reading its own setting, with no
    # settings module given; the migration's other operations are still judged
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "operations.py").write_text(textwrap.dedent("""
        from django.conf import settings
        from django.db.migrations.operations.base import Operation


        class RequireFreshWorkers(Operation):
            def state_forwards(self, app_label, state):
                pass

            def database_forwards(self, app_label, schema_editor, from_state, to_state):
                return settings.WORKER_TTL * 2
    """))
    path = migration(tmp_path / "catalog", "0001_initial", """
        migrations.RunSQL("DROP TABLE legacy", "SELECT 1"),
        catalog.operations.RequireFreshWorkers(),
    """)
    path.write_text("import catalog.operations\n" + path.read_text())
    result = check(tmp_path, tmp_path)
    note = next(f for f in result.findings if f.rule == "not-analyzed")
    assert note.span.line == line_of(path, "RequireFreshWorkers()")
    assert note.message.startswith("Could not analyse this migration: it reads settings.WORKER_TTL, a setting Django"
                                   " does not define, which only the project's settings can give: name them with"
                                   " DJANGO_SETTINGS_MODULE or the django-settings key")
    assert found(result, "missing-lock-timeout") == [("catalog.0001_initial", "drop-table", line_of(path, "RunSQL")),
                                                     ("catalog.0001_initial", "not-analyzed", note.span.line)]


def test_a_swappable_models_setting_names_the_model_when_no_settings_say(tmp_path):
    # openwisp (swapper): later migrations read settings.CONFIG_DEVICE_MODEL, which only the
    # project's settings define; the migration making the model declares it swappable by that name
    migration(tmp_path / "devices", "0001_initial", """
        migrations.CreateModel("Device", fields=[("id", models.AutoField(primary_key=True))],
                               options={"swappable": "DEVICES_DEVICE_MODEL"}),
    """)
    path = migration(tmp_path / "places", "0001_initial", """
        migrations.CreateModel("Place", fields=[("id", models.AutoField(primary_key=True)),
            ("device", models.ForeignKey(on_delete=models.deletion.CASCADE, to=settings.DEVICES_DEVICE_MODEL))]),
    """, deps='[("devices", "0001_initial")]')
    path.write_text("from django.conf import settings\n" + path.read_text())
    # swapper's own name for it, set when the model's class is made (an app that could not load never did)
    later = migration(tmp_path / "places", "0002_floor", """
        migrations.CreateModel("Floor", fields=[("id", models.AutoField(primary_key=True)),
            ("place", models.ForeignKey(on_delete=models.deletion.CASCADE, to=settings.PLACES_PLACE_MODEL))]),
    """, deps='[("places", "0001_initial")]')
    later.write_text("from django.conf import settings\n" + later.read_text())
    sql = sql_of(tmp_path)
    assert 'REFERENCES "devices_device" ("id")' in sql and 'REFERENCES "places_place" ("id")' in sql
    assert "not-analyzed" not in {f.rule for f in check(tmp_path, tmp_path).findings}


def test_no_database_connection_is_opened_whatever_the_settings_say(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    # A backend that connects like a real driver, an app whose ready() connects, a migration that
    # asks for a cursor at import: each would have reached the server.
    (tmp_path / "netdb").mkdir()
    (tmp_path / "netdb" / "__init__.py").touch()
    (tmp_path / "netdb" / "base.py").write_text(textwrap.dedent("""
        import socket

        from django.db.backends.sqlite3.base import DatabaseWrapper as SQLite


        class DatabaseWrapper(SQLite):
            def get_new_connection(self, conn_params):
                socket.create_connection((self.settings_dict["HOST"], int(self.settings_dict["PORT"]))).close()
                return super().get_new_connection(conn_params)
    """))
    drop = migration(tmp_path / "catalog", "0001_initial", 'migrations.RunSQL("DROP TABLE legacy", "SELECT 1"),')
    drop.write_text("from django.db import connection\n\nconnection.cursor()\n" + drop.read_text())
    (tmp_path / "catalog" / "apps.py").write_text(textwrap.dedent("""
        from django.apps import AppConfig
        from django.db import connection


        class CatalogConfig(AppConfig):
            name = "catalog"

            def ready(self):
                connection.ensure_connection()
    """))
    settings_module(tmp_path, f"""
        INSTALLED_APPS = ["catalog"]
        DATABASES = {{"default": {{"ENGINE": "netdb", "NAME": ":memory:", "HOST": "127.0.0.1", "PORT": {port}}}}}
    """)
    try:
        result = check(tmp_path, tmp_path, django_settings="proj.settings")
        server.settimeout(0.2)
        with pytest.raises(socket.timeout):
            server.accept()[0].close()  # nobody connected
    finally:
        server.close()
    assert found(result, "missing-lock-timeout") == [("catalog.0001_initial", "drop-table", line_of(drop, "RunSQL"))]


def test_swappable_dependencies_follow_the_settings_module(tmp_path):
    migration(tmp_path / "users", "0001_initial", USER)
    owned_product(tmp_path, "[migrations.swappable_dependency(settings.AUTH_USER_MODEL)]")
    settings_module(tmp_path, """
        from .base import *  # noqa

        DEBUG = True
    """)
    (tmp_path / "proj" / "base.py").write_text('AUTH_USER_MODEL = "users.User"\n')
    dirs = sorted(tmp_path.glob("*/migrations"))
    default = {n.key: n for n in load_plan(dirs, None, tmp_path).nodes}[("catalog", "0001_initial")]
    assert default.dependencies == [("auth", "__first__")]  # Django's default, auth.User
    plan = load_plan(dirs, "proj.settings", tmp_path)
    assert [n.key for n in plan.nodes] == [("users", "0001_initial"), ("catalog", "0001_initial")]


def test_settings_chosen_by_an_environment_test_follow_the_branch_django_takes(tmp_path, monkeypatch):
    # wagtail's test settings: `if os.environ.get(...): AUTH_USER_MODEL = ... else: ...`
    migration(tmp_path / "users", "0001_initial", USER)
    migration(tmp_path / "staff", "0001_initial", USER)
    owned_product(tmp_path, "[migrations.swappable_dependency(settings.AUTH_USER_MODEL)]")
    settings_module(tmp_path, """
        import os
        import sys
        INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "users", "staff", "catalog"]
        SECRET_KEY = "test"
        if os.environ.get("USE_STAFF_USER") and not "test" in sys.argv:  # the second test is not known here
            AUTH_USER_MODEL = "staff.User"
        else:
            AUTH_USER_MODEL = "users.User"
        if "test" in sys.argv:
            SECRET_KEY = "not known"
    """)
    monkeypatch.delenv("USE_STAFF_USER", raising=False)
    dirs = sorted(tmp_path.glob("*/migrations"))
    plan = load_plan(dirs, "proj.settings", tmp_path)
    assert plan.settings["AUTH_USER_MODEL"] == "users.User" and "SECRET_KEY" not in plan.settings
    order = [n.key for n in plan.nodes]
    assert order.index(("users", "0001_initial")) < order.index(("catalog", "0001_initial"))
    result = check(tmp_path, tmp_path, django_settings="proj.settings")
    assert "not-analyzed" not in {f.rule for f in result.findings}
    monkeypatch.setenv("USE_STAFF_USER", "1")  # now the sys.argv test decides: not known, nor the user model
    assert "AUTH_USER_MODEL" not in load_plan(dirs, "proj.settings", tmp_path).settings


def test_dependencies_computed_from_settings_or_by_a_helper_are_evaluated(tmp_path):
    migration(tmp_path / "users", "0001_initial", USER)
    migration(tmp_path / "users", "0002_more", 'migrations.AddField("user", "name", models.TextField(null=True)),',
              deps='[("users", "0001_initial")]')
    # a swappable model read with a fallback, through a module-level name
    owned = owned_product(tmp_path, "[migrations.swappable_dependency(USER_MODEL)]")
    owned.write_text(owned.read_text().replace("to=settings.AUTH_USER_MODEL", "to=USER_MODEL").replace(
        "class Migration", 'USER_MODEL = getattr(settings, "SHOP_OWNER_MODEL", "users.User")\n\n\nclass Migration'))
    # a helper building the list
    helper = migration(tmp_path / "catalog", "0002_drop", 'migrations.RemoveField("product", "owner"),',
                       deps="parents()")
    helper.write_text(helper.read_text().replace("class Migration", textwrap.dedent("""\
        def parents():
            found = [("catalog", "0001_initial")]
            if True:
                found.append(("users", "0002_more"))
            return found


        class Migration""")))
    plan = load_plan(sorted(tmp_path.glob("*/migrations")), "proj.settings", tmp_path)  # (no such module: defaults)
    by_key = {n.key: n for n in plan.nodes}
    assert by_key[("catalog", "0001_initial")].dependencies == [("users", "__first__")]
    assert by_key[("catalog", "0002_drop")].dependencies == [("catalog", "0001_initial"), ("users", "0002_more")]
    assert not any(n.error for n in plan.nodes)
    result = check(tmp_path, tmp_path, django_settings="proj.settings")
    assert ("catalog.0002_drop", "drop-column", line_of(helper, "RemoveField")) in found(result)


def test_settings_that_cannot_be_set_up_still_name_the_user_model(tmp_path):
    # The order and the rendering agree: both take the user model the settings module writes.
    migration(tmp_path / "users", "0001_initial", USER)
    owned_product(tmp_path, "[migrations.swappable_dependency(settings.AUTH_USER_MODEL)]")
    settings_module(tmp_path, """
        import environ_not_installed

        AUTH_USER_MODEL = "users.User"
        env = environ_not_installed.Env()
        DATABASES = {"default": env.db()}
    """)
    assert 'REFERENCES "users_user" ("id")' in sql_of(tmp_path, settings_module="proj.settings")


def test_apps_that_cannot_be_set_up_together_leave_django_set_up(tmp_path):
    # The project's "sessions" clashes with django.contrib.sessions of the ad hoc settings: no app
    # alone is to blame, so Django's own apps are set up and the migrations render from their state.
    total = 'migrations.AddField("visit", "total", models.IntegerField()),'
    migration(tmp_path / "sessions", "0001_initial",
              'migrations.CreateModel("Visit", fields=[("id", models.AutoField(primary_key=True))]),')
    path = migration(tmp_path / "sessions", "0002_total", total, deps='[("sessions", "0001_initial")]')
    assert found(check(tmp_path, tmp_path), "missing-lock-timeout") == [
        ("sessions.0002_total", "not-null-without-default", line_of(path, "AddField"))]


def test_swapper_dependencies_read_the_settings_with_their_defaults(tmp_path):
    migration(tmp_path / "users", "0001_initial", USER)
    migration(tmp_path / "users", "0002_more", 'migrations.AddField("user", "name", models.TextField(null=True)),',
              deps='[("users", "0001_initial")]')
    migration(tmp_path / "shop", "0001_initial", USER.replace("User", "Owner"))
    path = migration(tmp_path / "catalog", "0001_initial", "", deps="""[
        swapper.dependency(*swapper.split(settings.AUTH_USER_MODEL), version="0002_more"),
        swapper.dependency("shop", "Owner"),
    ]""")
    path.write_text("import swapper\nfrom django.conf import settings\n" + path.read_text())
    settings_module(tmp_path, 'AUTH_USER_MODEL = "users.User"\n')
    plan = load_plan(sorted(tmp_path.glob("*/migrations")), "proj.settings", tmp_path)
    catalog = next(n for n in plan.nodes if n.app.label == "catalog")
    assert catalog.dependencies == [("users", "0002_more"), ("shop", "__first__")]


def test_models_named_through_swapper_render_where_swapper_is_not_installed(tmp_path):
    migration(tmp_path / "shop", "0001_initial", USER.replace("User", "Owner"))
    path = migration(tmp_path / "catalog", "0001_initial", """
        migrations.CreateModel("Product", fields=[
            ("id", models.AutoField(primary_key=True)),
            ("owner", models.ForeignKey(on_delete=models.deletion.CASCADE, to=swapper.get_model_name("shop", "Owner"))),
        ]),
    """, deps='[swapper.dependency("shop", "Owner")]')
    path.write_text("import swapper\n" + path.read_text())
    later = migration(tmp_path / "catalog", "0002_drop", 'migrations.RemoveField("product", "owner"),',
                      deps='[("catalog", "0001_initial")]')
    assert 'REFERENCES "shop_owner" ("id")' in sql_of(tmp_path)
    assert found(check(tmp_path, tmp_path), "missing-lock-timeout") == [
        ("catalog.0002_drop", "drop-column", line_of(later, "RemoveField"))]


def test_a_parent_computed_from_a_default_that_does_not_exist_is_no_error(tmp_path):
    # openwisp: dependency(*split(settings.AUTH_USER_MODEL), version="0004_default_groups") means
    # its own users app; with Django's default auth.User there is no such migration in auth
    path = migration(tmp_path / "catalog", "0001_initial", USER.replace("User", "Thing"),
                     deps='[dependency(*split(settings.AUTH_USER_MODEL), version="0004_default_groups")]')
    path.write_text("from django.conf import settings\nfrom swapper import dependency, split\n" + path.read_text())
    plan = load_plan(sorted(tmp_path.glob("*/migrations")), None, tmp_path)
    catalog = next(n for n in plan.nodes if n.app.label == "catalog")
    assert catalog.dependencies == [("auth", "0004_default_groups")] and catalog.error is None


def test_the_settings_backend_extending_the_vendors_renders_its_fields(tmp_path):
    # contrib.gis's PostGIS: a geometry column's type comes from its backend's operations
    # (geo_db_type); Django's plain PostgreSQL backend has none.
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "__init__.py").touch()
    (tmp_path / "proj" / "vectordb").mkdir()
    (tmp_path / "proj" / "vectordb" / "__init__.py").touch()
    (tmp_path / "proj" / "vectordb" / "base.py").write_text(textwrap.dedent("""
        from django.db.backends.postgresql import base, operations


        class DatabaseOperations(operations.DatabaseOperations):
            def vector_db_type(self, field):
                return f"vector({field.dimensions})"


        class DatabaseWrapper(base.DatabaseWrapper):
            ops_class = DatabaseOperations
    """))
    (tmp_path / "proj" / "fields.py").write_text(textwrap.dedent("""
        from django.db import models


        class VectorField(models.Field):
            def __init__(self, *args, dimensions=None, **kwargs):
                self.dimensions = dimensions
                super().__init__(*args, **kwargs)

            def deconstruct(self):
                name, path, args, kwargs = super().deconstruct()
                return name, path, args, {**kwargs, "dimensions": self.dimensions}

            def db_type(self, connection):
                return connection.ops.vector_db_type(self)
    """))
    (tmp_path / "proj" / "settings.py").write_text(
        'INSTALLED_APPS = ["catalog"]\nDATABASES = {"default": {"ENGINE": "proj.vectordb", "NAME": "shop"}}\n')
    path = migration(tmp_path / "catalog", "0001_initial", """
        migrations.CreateModel("Item", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.AddField("item", "embedding", proj.fields.VectorField(dimensions=3, null=True)),
    """)
    path.write_text("import proj.fields\n" + path.read_text())
    assert 'ADD COLUMN "embedding" vector(3) NULL' in sql_of(tmp_path, settings_module="proj.settings")
    result = check(tmp_path, tmp_path, django_settings="proj.settings")
    assert "not-analyzed" not in {f.rule for f in result.findings}

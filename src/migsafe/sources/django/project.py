"""The Django project inside the worker: settings (the project's own, else ad hoc), the app
registry, stand-in database drivers, and the state kept from one migration to the next (PROJECT).

Django is imported inside the functions (the worker imports it once, in warm_up).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import json
import os
import sys
import traceback
import types
from collections import defaultdict

from migsafe.sources.core.tracing import describe
from migsafe.sources.django import swapper
from migsafe.sources.django.offline import BACKENDS, offline_engine
from migsafe.sources.django.stand_ins import MissingPackages
from migsafe.sources.django.step import DjangoStep


class Project:
    """What the worker keeps from one migration to the next: Django's setup and the state."""

    configured = False
    setup_error: str | None = None
    settings_error: tuple[str, int] | None = None  # why the project's settings module could not be used, its line
    state = None
    applied: list[tuple[str, str, str]] | None = None
    told: list[tuple[str, str, str]] = []  # the history migsafe last sent (DjangoStep.history_from)
    missing: MissingPackages | None = None
    labels: frozenset[str] = frozenset()  # the plan's app labels (DjangoStep.labels)


PROJECT = Project()


def failure(err: BaseException) -> str:
    """Why a migration could not be rendered, with what may have caused it."""
    message = f"the migration called sys.exit({err.code!r})" if isinstance(err, SystemExit) else describe(err)
    if isinstance(err, ImportError) and getattr(err, "name", None):
        message = f"it imports {err.name}, which is not installed where migsafe runs ({message})"
    if isinstance(err, AttributeError) and getattr(getattr(err, "obj", None), "__name__", "") == "django.conf.global_settings":
        # (ad hoc settings answer from Django's defaults alone)
        message = (f"it reads settings.{err.name}, a setting Django does not define, which only the project's settings"
                   " can give: " + ("they could not be set up" if PROJECT.settings_error else
                                    "name them with DJANGO_SETTINGS_MODULE or the django-settings key"))
    used = PROJECT.missing.used if PROJECT.missing is not None else []
    if used:
        message += (f"; stand-ins were used for what is not installed where migsafe runs:"
                    f" {', '.join(dict.fromkeys(used))}")
    if PROJECT.setup_error:
        message += f"; the project's apps could not be loaded either: {PROJECT.setup_error}"
    return message


def forward(operations: list, app_label: str, state) -> None:
    """The operations' state changes (no SQL), each on its own: one that fails loses only its own."""
    for operation in operations:
        with contextlib.suppress(Exception):
            operation.state_forwards(app_label, state)


def configure(step: DjangoStep, dialect: str) -> None:
    """Django set up once per worker: the project's settings module where it has one and it can be
    set up, else ad hoc settings (said in PROJECT.settings_error), stand-ins for what is missing."""
    if PROJECT.configured:
        return
    from django.conf import settings

    PROJECT.configured = True
    _install_stand_in_drivers()
    if "swapper" not in sys.modules and importlib.util.find_spec("swapper") is None:  # its API, not a stand-in
        sys.modules["swapper"] = swapper
    _stand_ins_never_fail()
    PROJECT.missing = MissingPackages(step.roots)
    if step.execute:
        sys.meta_path.append(PROJECT.missing)
    if step.execute and step.settings_module:
        try:
            _user_settings(step.settings_module, dialect)
            setup_django([], list(settings.INSTALLED_APPS))
            return
        except Exception as err:  # noqa: BLE001 - project code: ad hoc settings instead, and said so
            from django.utils.functional import empty

            why = describe(err)
            if PROJECT.missing.missing:  # (stood in for while they were imported)
                why += f"; not installed where migsafe runs: {', '.join(sorted(PROJECT.missing.missing))}"
            PROJECT.settings_error = why, line_in(err, step.settings_file)
            settings._wrapped = empty
            reset_registry()
    # The contrib apps projects commonly import models from (admin's LogEntry, sites' Site) are
    # installed even when no migration depends on them: the migration plan is graph.py's.
    contrib = {f"django.contrib.{a}" for a in ("contenttypes", "auth", "sessions", "messages", "sites")}
    contrib.update(a for a in step.apps if a.startswith("django.contrib.") and a != "django.contrib.postgres")
    if dialect == "postgresql":  # what a project using its indexes and operations installs: its ready()
        contrib.add("django.contrib.postgres")  # makes OpClass wrap an index's column, not an expression
    installed = sorted(contrib - {"django.contrib.admin"})
    installed.append("django.contrib.admin.apps.SimpleAdminConfig")  # no autodiscover of admin.py
    project = [a for a in step.apps if not a.startswith("django.")] if step.execute else []
    # STATIC_URL & co.: apps whose loading checks them (staticfiles) load without the real settings
    settings.configure(_SwapperDefaults(),
                       INSTALLED_APPS=installed + project, DATABASES={"default": {"ENGINE": offline_engine(dialect)}},
                       USE_TZ=True,
                       DEFAULT_AUTO_FIELD="django.db.models.AutoField", SECRET_KEY="migsafe",
                       STATIC_URL="static/", MEDIA_URL="media/", **dict(step.swappable))
    try:
        setup_django(installed, project)
    except Exception as err:  # noqa: BLE001 - not one app's failure (labels that clash, ...): Django's apps alone
        reset_registry()
        setup_django(installed, [])
        PROJECT.setup_error = f"{describe(err)}; {PROJECT.setup_error}" if PROJECT.setup_error else describe(err)


class _SwapperDefaults:
    """Ad hoc settings' defaults: Django's, and a swappable model's setting as swapper names it
    (`GEO_FLOORPLAN_MODEL` for geo.FloorPlan), for a model the project state has: swapper sets
    it, to that model, when the model's class is made, which the project's apps that could not
    be loaded never did (openwisp's migrations read settings.GEO_FLOORPLAN_MODEL)."""

    def __getattr__(self, name: str):
        from django.conf import global_settings

        try:
            return getattr(global_settings, name)
        except AttributeError as err:
            state = PROJECT.state
            for (label, _), model in dict.items(state.models) if name.endswith("_MODEL") and state else ():
                if f"{label}_{model.name}_MODEL".upper() == name:
                    return f"{label}.{model.name}"
            raise err


def setup_django(installed: list[str], project: list[str]) -> None:
    """django.setup() for INSTALLED_APPS = installed + project, leaving out an app of `project`
    whose module or AppConfig cannot be imported."""
    import django
    from django.apps import AppConfig, apps
    from django.conf import settings

    settings.INSTALLED_APPS = installed + project
    failed: list[str] = []
    import_models = AppConfig.import_models

    def import_models_or_note(config) -> None:
        # An app whose models module fails to import (a missing dependency, a setting only the
        # project has) stays installed: rendering uses the migrations' own state, not these models.
        try:
            import_models(config)
        except Exception as err:  # noqa: BLE001 - project code
            failed.append(f"{config.label}: {describe(err)}")

    AppConfig.import_models = import_models_or_note
    try:
        while True:
            try:
                django.setup()
                break
            except Exception as err:  # noqa: BLE001 - project code: leave out the app that failed, keep the rest
                if apps.models_ready:  # an AppConfig.ready() hook failed: every model is loaded, all we need
                    apps.ready, apps.loading = True, False
                    apps.ready_event.set()
                    failed.append(f"{describe(err)} (in a ready() hook)")
                    break
                culprit = _failing_app(err)  # the app's own module or AppConfig could not be imported
                if culprit not in project:
                    raise
                failed.append(f"{culprit}: {describe(err)}")
                reset_registry()
                project.remove(culprit)
                settings.INSTALLED_APPS = installed + project
    finally:
        AppConfig.import_models = import_models
    if failed:
        PROJECT.setup_error = "; ".join(failed[:3])


def line_in(err: BaseException, file: str | None) -> int:
    """The line of `file` that `err` was raised from (the innermost), else 1."""
    if not file:
        return 1
    where = os.path.realpath(file)
    lines = [f.lineno for f in traceback.extract_tb(err.__traceback__) if os.path.realpath(f.filename) == where]
    return (lines or [1])[-1] or 1


def _user_settings(module: str, dialect: str) -> None:
    """The project's settings module, imported as Django imports it (from the working directory,
    as `manage.py` there would, besides the apps' folders). Every database they name becomes one
    that never connects, of the same vendor (code that asks `connection.vendor` takes the same
    branch)."""
    from django.conf import settings
    from django.db import connections

    os.environ["DJANGO_SETTINGS_MODULE"] = module
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    databases = settings.DATABASES  # (imports the module)
    for alias in list(databases) or ["default"]:
        engine = str(databases.get(alias, {}).get("ENGINE", ""))
        vendor = next((v for v, names in _VENDORS.items() if any(n in engine for n in names)), dialect)
        if alias == "default" and vendor == dialect:
            BACKENDS[vendor] = engine  # (rendered with, where it loads)
        databases[alias] = {**databases.get(alias, {}), "ENGINE": offline_engine(vendor)}
    connections.__dict__.pop("settings", None)  # (read again from these, should anything have read them)


# What an ENGINE's name says about its vendor (django.db.backends.postgresql, contrib.gis's postgis,
# django_prometheus.db.backends.mysql, ...); any other: migsafe's dialect.
_VENDORS = {"postgresql": ("postgres", "postgis"), "mysql": ("mysql",), "sqlite": ("sqlite", "spatialite")}


def _failing_app(err: BaseException) -> str | None:
    """The INSTALLED_APPS entry whose AppConfig Django was creating when `err` was raised."""
    tb = err.__traceback__
    while tb is not None:
        local = tb.tb_frame.f_locals
        if tb.tb_frame.f_code.co_name == "create" and isinstance(local.get("entry"), str):
            return local["entry"]
        tb = tb.tb_next
    return None


def reset_registry() -> None:
    """Django's app registry emptied, for django.setup() to populate it again."""
    from django.apps import apps

    apps.app_configs = {}
    apps.all_models = defaultdict(dict)
    apps.apps_ready = apps.models_ready = apps.ready = apps.loading = False
    apps.clear_cache()


def _install_stand_in_drivers() -> None:
    """Django's PostgreSQL and MySQL backends import their driver at import time; rendering never
    uses it. Where the driver is missing, a stand-in module lets the backend import."""
    for name, version, extra in (("psycopg2", "2.9.9", ("extensions", "extras", "errors", "sql")),
                                 ("MySQLdb", "2.2.4", ("constants", "converters"))):
        try:
            importlib.import_module(name)
            continue
        except ImportError:
            pass
        top = _StandIn(name)
        top.__version__, top.version_info = version, tuple(int(p) for p in version.split("."))
        sys.modules[name] = top
        for sub in extra:
            module = _StandIn(f"{name}.{sub}")
            setattr(top, sub, module)
            sys.modules[module.__name__] = module
        if name == "psycopg2":  # psycopg2's values: Django builds an IntEnum of them
            for level, value in (("READ_UNCOMMITTED", 4), ("READ_COMMITTED", 1), ("REPEATABLE_READ", 2),
                                 ("SERIALIZABLE", 3)):
                setattr(top.extensions, f"ISOLATION_LEVEL_{level}", value)
            # the adapters Django wraps defaults in: kept whole, for quote() to write as SQL
            top.Binary, top.extras.Json, top.extras.Inet, top.extras.Range = _Binary, _Json, _Inet, _Range
            for kind in ("NumericRange", "DateRange", "DateTimeRange", "DateTimeTZRange"):
                setattr(top.extras, kind, type(kind, (_Range,), {"__module__": "psycopg2.extras"}))
        if name == "MySQLdb":
            top.converters.conversions, top.Binary = {}, bytes  # (BinaryField's values: bytes, as mysqlclient's)
            for sub in ("CLIENT", "FIELD_TYPE"):
                module = _StandIn(f"MySQLdb.constants.{sub}")
                setattr(top.constants, sub, module)
                sys.modules[module.__name__] = module
    # psycopg (3) is tried first: make sure a broken install of it does not shadow the stand-in
    if "psycopg" not in sys.modules:
        with contextlib.suppress(ImportError):
            importlib.import_module("psycopg")


def _stand_ins_never_fail() -> None:
    """What Django asks of a field's or model's Python-side parts where a stand-in cannot answer
    (a package not installed, a class deriving from one), though the SQL never depends on them:
    a manager that cannot be rebuilt as Django rebuilds managers when it renders a model becomes
    a plain Manager; a storage that is no Storage (django-storages' S3Boto3Storage, not installed)
    leaves a file field with the default storage."""
    from django.db import models
    from django.db.migrations.state import ModelState

    rebuild, file_field = ModelState.construct_managers, models.FileField.__init__
    if getattr(rebuild, "_migsafe", False):
        return

    def construct_managers(self):
        for name, manager in sorted(self.managers, key=lambda item: getattr(item[1], "creation_counter", 0)):
            try:  # (Django's own, one manager at a time)
                yield from rebuild(types.SimpleNamespace(managers=[(name, manager)]))
            except Exception:  # noqa: BLE001 - whatever the stand-in or the project's class raises
                yield name, models.Manager()

    @functools.wraps(file_field)  # (its signature: _field_parameters)
    def file_field_init(self, *args, storage=None, **kwargs):
        try:
            file_field(self, *args, storage=storage, **kwargs)
        except TypeError:  # "FileField.storage must be a subclass/instance of ...Storage"
            if storage is None:
                raise
            file_field(self, *args, **kwargs)

    construct_managers._migsafe = True
    ModelState.construct_managers, models.FileField.__init__ = construct_managers, file_field_init


class _StandIn(types.ModuleType):
    """A driver module whose every attribute is a do-nothing class (never used to connect)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        value = type(name, (_StandInValue,), {})
        setattr(self, name, value)
        return value


class _Json:
    """psycopg2.extras.Json where psycopg2 is not installed: the value and its dumps, as psycopg2 keeps them."""

    def __init__(self, adapted, dumps=None):
        self.adapted, self._dumps = adapted, dumps or json.dumps

    def dumps(self, obj):
        return self._dumps(obj)


class _Inet:
    """psycopg2.extras.Inet where psycopg2 is not installed."""

    def __init__(self, addr):
        self.addr = addr


class _Binary:
    """psycopg2.Binary where psycopg2 is not installed."""

    def __init__(self, adapted):
        self.adapted = adapted


class _Range:
    """psycopg2.extras.Range (and NumericRange, DateRange, ...) where psycopg2 is not installed."""

    def __init__(self, lower=None, upper=None, bounds="[)", empty=False):
        self._lower, self._upper, self._bounds = (None, None, None) if empty else (lower, upper, bounds)

    lower = property(lambda self: self._lower)
    upper = property(lambda self: self._upper)
    isempty = property(lambda self: self._bounds is None)


class _StandInValue:
    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        return _StandInValue()

    def __call__(self, *args, **kwargs):
        return _StandInValue()

"""Django migrations -> Migration objects: the SQL Django itself would run, with no database.

migsafe's process reads the migration graph statically (django_graph.py) and never imports
Django or project code. Each migration is rendered in the worker process (worker.py, the same
machinery and time limit as Alembic revisions) by Django's own code:

- Django is configured with the project's settings module (config django-settings, else
  DJANGO_SETTINGS_MODULE), else ad hoc (INSTALLED_APPS: the project's apps and the contrib apps
  the graph uses). Settings that cannot be set up are reported (a not-analyzed finding at the
  settings file, a line on stderr) and ad hoc settings used. Every database of either is one that
  never connects (_offline_engine).
- The project state is built once and carried forward from one migration to the next inside
  the worker (rebuilding it per migration, as `sqlmigrate` does, is what makes it slow); a fresh
  worker (after a crash or a time-out) replays the earlier migrations' state changes only. A
  migration that cannot be rendered carries its state changes forward all the same (each
  operation's state_forwards; a failing operation is not-analyzed, the others are rendered), so
  one failure never makes the migrations after it fail too, nor replays the history.
- SQL is collected with the backend's schema editor in collect_sql mode through a connection
  object that never connects: values are quoted here as the driver would send them (stock
  PostgreSQL and MySQL quote through a live driver connection; quote()), stand-in driver modules
  let the backends import without psycopg or MySQLdb, queries an operation makes get no rows, and
  the constraint names Django would read from the database are served from the replayed state
  (Django names them deterministically).
- Packages the project imports but that are not installed get stand-ins (_MissingPackages); a
  migration that still cannot be imported, and every migration under --no-exec, is read
  statically (django_static.py). An app whose models or ready() fail stays installed. Stand-ins
  the SQL does not depend on (managers, validators, storages, ...) never fail a render; a field
  class keeps what its deconstruction and the project's own source tell (_stand_in_field), and a
  change of a type migsafe cannot know is said as such (_unknown_type_change).
- Model classes are rendered on demand, per operation, only those its SQL needs (_on_demand);
  MIGSAFE_DJANGO_RENDER=full keeps Django's own whole-project rendering, the reference the
  tests compare with.
- Every statement points at the operation that produced it: the call's place is recorded when
  the operation object is created, so nested `SeparateDatabaseAndState` operations keep their
  own line; deferred SQL (foreign keys, indexes) keeps the line of the operation that queued it.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import importlib.util
import itertools
import json
import math
import os
import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from migsafe.cache import cpus as _cpus
from migsafe.errors import MigsafeError
from migsafe.model import Migration, Span, Statement
from migsafe.sources.alembic import Rendered, Tracer, _describe, _error_line, _statements
from migsafe.sources.worker import DEFAULT_TIMEOUT, RenderTimeout

NOT_INSTALLED = ("Django is not installed where migsafe runs: install it (pip install 'django>=4.2') in "
                 "migsafe's environment to check Django migrations")
ENGINES = {"postgresql": "django.db.backends.postgresql", "mysql": "django.db.backends.mysql",
           "sqlite": "django.db.backends.sqlite3"}
_ROLLBACK = "there is no way back if the deploy must be rolled back."


@dataclass(frozen=True)
class DjangoStep:
    """What the worker needs besides the file: where the migration sits in the project."""

    app: str  # app label
    name: str
    module: str  # dotted module name of the migration
    # (app, name, module) rendered before it, in order: those from `history_from` on (the worker
    # keeps what it was told before; a whole history per migration made the requests grow with it)
    history: tuple[tuple[str, str, str], ...]
    apps: tuple[str, ...]  # app modules, for INSTALLED_APPS
    roots: tuple[str, ...]  # folders the app modules import from
    target_version: str | None
    execute: bool = True  # False (--no-exec): read statically (django_static.py), no project code
    history_from: int = 0
    settings_module: str | None = None  # django-settings, else DJANGO_SETTINGS_MODULE; None: ad hoc settings
    settings_file: str | None = None  # its file, where found (for the line of a failure)
    # The swappable models it names literally (AUTH_USER_MODEL, ...): the ad hoc settings take them
    # when it cannot be set up, as the graph's order did (django_graph.read_settings)
    swappable: tuple[tuple[str, str], ...] = ()


@dataclass
class DjangoRendered(Rendered):
    irreversible: tuple[int, str] | None = None
    carried: bool = False  # its state changes are in the worker's state (even if it could not be rendered)
    settings_error: tuple[str, int] | None = None  # the project's settings could not be used: why, its line


# --- migsafe's side ------------------------------------------------------------------------------

def load_django_migrations(migration_dirs: list[Path], cwd: Path, dialect: str, start_after: tuple,
                           execute: bool = True, timeout: float = DEFAULT_TIMEOUT,
                           target_version: str | None = None,
                           settings_module: str | None = None) -> Iterator[tuple[Migration, Path]]:
    """Every migration of the apps below `migration_dirs` (and of the installed apps they depend
    on, as history), in the order migrate applies them. A broken graph raises UsageError (before
    the first migration). Each is yielded once the worker has been handed the next one, so that
    the caller judges it while the worker renders. `settings_module` (config django-settings),
    else DJANGO_SETTINGS_MODULE: the project's settings; neither: ad hoc settings."""
    from migsafe.errors import ConfigError
    from migsafe.sources.django_graph import load_plan
    from migsafe.sources.worker import Renderer

    renderer = Renderer(dialect, timeout, kind="django")
    renderer.start()  # the worker imports Django while the graph is read
    try:
        plan = load_plan(migration_dirs, settings_module or os.environ.get("DJANGO_SETTINGS_MODULE") or None, cwd)
        known = {n.key for n in plan.nodes} | {n.key for n in plan.squashed}
        for key in start_after:
            if key not in known:
                raise ConfigError(f'start-after: no Django migration "{key[1]}" in app "{key[0]}" was found under'
                                  " the given paths")
    except BaseException:
        renderer.close()
        raise
    rendering = _render_plan(plan, cwd, dialect, _history(plan, start_after), execute, timeout, target_version,
                             renderer)
    # The workers are handed their first migrations now (None: nothing rendered yet), and set up
    # Django and the project's apps while migsafe imports its judging.
    first = next(rendering, None)
    return rendering if first is None else itertools.chain([first], rendering)


def _render_plan(plan, cwd: Path, dialect: str, history: set, execute: bool, timeout: float,
                 target_version: str | None, renderer) -> Iterator[tuple[Migration, Path]]:
    from migsafe.sources.sql import relative_path
    from migsafe.sources.worker import Renderer

    def lane(renderer: Renderer, done: list, notes: bool = True) -> _Lane:
        return _Lane(renderer, done, plan, cwd, history,
                     tuple(dict.fromkeys(n.app.installed_as for n in plan.nodes)),
                     tuple(dict.fromkeys(str(n.app.import_root) for n in plan.nodes)), target_version, execute, notes)

    nodes = plan.nodes
    split = _second_lane_start(nodes, plan) if execute else len(nodes)
    with renderer:
        first, second = lane(renderer, []), None
        if split < len(nodes):
            assumed = [_key(n) for n in nodes[:split] if n.error is None]
            second = _SecondLane(lane(Renderer(dialect, timeout, kind="django", warm_here=False), assumed, notes=False),
                                 nodes[split:])
        try:
            yield from first.render(nodes[:split], announce=True)
            if second is not None and first.done == second.assumed:
                taken = 0
                try:
                    for item in second.results():
                        taken += 1
                        yield item
                except MigsafeError:  # its worker could not start or went away: the first renders the rest
                    second.stop()
                    yield from itertools.islice(first.render(nodes[split:]), taken, None)
            elif second is not None:  # a migration before the split failed: the state after it differs
                second.stop()
                yield from first.render(nodes[split:])
        finally:
            if second is not None:
                second.stop()
    for node in plan.squashed:  # replaced by the migrations it squashes, which were judged
        yield (Migration(source="django", name=f"{node.app.label}.{node.name}", report=False,
                         path=relative_path(node.path, cwd), how="replaced"), node.path)


# A second worker renders the later part of a long plan meanwhile, after replaying the state of the
# earlier part (which renders nothing). Its own set-up (Django's, the project's apps) costs about
# as much as rendering this many migrations.
_SECOND_LANE_FROM = 80


def _second_lane_start(nodes: list, plan) -> int:
    """Where a second worker takes over: the middle by size (it also replays the earlier part
    and imports Django itself, the first worker also meets the largest, first migrations), or
    len(nodes) when one worker is better."""
    sizes = []
    for node in nodes:
        with contextlib.suppress(OSError):
            if node.error is None:
                sizes.append(node.path.stat().st_size)
                continue
        sizes.append(0)
    if sum(1 for size in sizes if size) < _SECOND_LANE_FROM or _cpus() < 2:
        return len(nodes)
    total, running = sum(sizes), 0
    for index, size in enumerate(sizes):
        running += size
        if running >= total * 0.5:
            return index + 1
    return len(nodes)


def _key(node) -> tuple[str, str, str]:
    """(app label, migration name, module): a migration as the worker's history names it."""
    return node.app.label, node.name, f"{node.app.module}.{node.app.migrations_dir.name}.{node.name}"


class _Lane:
    """Migrations rendered in order by one worker, after those in `done` (its history)."""

    def __init__(self, renderer, done: list, plan, cwd: Path, history: set, apps: tuple, roots: tuple,
                 target_version: str | None, execute: bool, notes: bool = True) -> None:
        self.renderer, self.done, self.failed = renderer, list(done), []
        self.notes = notes  # whether this lane reports that the settings could not be used (one lane does)
        # DjangoStep's settings_module, settings_file and swappable
        self.settings = (plan.settings_module, str(plan.settings_file) if plan.settings_file else None,
                         tuple((k, v) for k, v in plan.settings.items()
                               if k.endswith("_MODEL") and isinstance(v, str) and v.count(".") == 1))
        self.told_worker, self.told = None, 0  # the worker last sent a history, and how long it was
        self.plan, self.cwd, self.history = plan, cwd, history
        self.apps, self.roots, self.target_version, self.execute = apps, roots, target_version, execute

    def render(self, nodes: list, announce: bool = False) -> Iterator[tuple[Migration, Path] | None]:
        """Each migration is yielded once the worker has been handed the next one: the caller
        judges it meanwhile. `announce`: None is yielded first, once the worker has its first."""
        from migsafe.sources.sql import relative_path

        ready: list[tuple[Migration, Path]] = []  # read or rendered, not yet yielded
        for node in nodes:
            mig = Migration(source="django", name=f"{node.app.label}.{node.name}", path=relative_path(node.path, self.cwd),
                            report=not node.app.external and node.key not in self.history)
            mig.text = node.path.read_text(encoding="utf-8-sig", errors="replace") if node.error is None else ""
            if node.error is not None:
                mig.error, mig.error_line = node.error, node.error_line
            else:
                worker = self.renderer._worker
                start = self.told if worker is not None and worker is self.told_worker else 0  # (a new worker: all)
                step = DjangoStep(*_key(node), tuple(self.done[start:]), self.apps, self.roots, self.target_version,
                                  self.execute, start, *self.settings)
                self.renderer.submit(node.path, mig.text, node.app.import_root, self.execute, django=step)
                self.told_worker, self.told = self.renderer._worker, len(self.done)
                if announce:
                    announce = False
                    yield None
                yield from ready
                ready.clear()
                rendered = self.renderer.result()
                if getattr(rendered, "settings_error", None) and self.notes:
                    self.notes = False
                    ready.append(self._settings_note(*rendered.settings_error))
                mig.statements, mig.how = rendered.statements, rendered.how
                mig.irreversible = getattr(rendered, "irreversible", None)
                if rendered.error is None or getattr(rendered, "carried", False):  # (a crash or time-out: not carried)
                    self.done.append(_key(node))
                if node.key in self.plan.missing:  # rendered all the same, for its state changes and what it shows
                    mig.error = self.plan.missing[node.key]
                    self.failed.append(mig.name)
                elif rendered.error is not None:
                    earlier = self.failed[-3:]
                    note = f" (earlier migrations that could not be analysed: {', '.join(earlier)})" if earlier else ""
                    mig.error, mig.error_line = rendered.error + note, rendered.error_line
                    self.failed.append(mig.name)
            ready.append((mig, node.path))
        yield from ready


    def _settings_note(self, why: str, line: int) -> tuple[Migration, Path]:
        """The project's settings module could not be set up: a line on stderr, and a not-analyzed
        finding at the settings file (the migrations were rendered with ad hoc settings)."""
        import logging

        from migsafe.sources.sql import relative_path

        module = self.plan.settings_module
        logging.getLogger("migsafe").warning(f"migsafe: the Django settings module {module} could not be set up"
                                             f" ({why}); migrations were rendered with ad hoc settings")
        path = self.plan.settings_file or self.cwd.joinpath(*module.split(".")).with_suffix(".py")
        note = Migration(source="django", name=module, path=relative_path(path, self.cwd), error_line=line,
                         error=f"the Django settings module {module} could not be set up ({why}), so every migration"
                               " was rendered with ad hoc settings (the project's apps, Django's defaults)")
        with contextlib.suppress(OSError):
            note.text = path.read_text(encoding="utf-8-sig", errors="replace")  # (its suppression comments)
        return note, path


class _SecondLane:
    """A lane rendering in a thread of its own (its worker is another process: the thread mostly
    waits), its results queued in order until the first lane is through."""

    def __init__(self, lane: _Lane, nodes: list) -> None:
        import queue
        import threading

        self.lane, self.assumed = lane, list(lane.done)
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.stopping = threading.Event()
        lane.renderer.start()  # forked here, not from the thread
        # Its thread needs the interpreter for a moment after each answer, while the main thread
        # judges: handed over within 0.5 ms rather than Python's 5 (its worker idles meanwhile).
        self.switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self.switch_interval, 0.0005))
        self.thread = threading.Thread(target=self._run, args=(nodes,), name="migsafe-second-lane", daemon=True)
        self.thread.start()

    def _run(self, nodes: list) -> None:
        try:
            with self.lane.renderer:
                for item in self.lane.render(nodes):
                    if self.stopping.is_set():
                        return
                    self.queue.put(item)
        except BaseException as err:  # noqa: BLE001 - raised again where the results are taken
            self.queue.put(err)
        finally:
            self.queue.put(None)

    def results(self) -> Iterator[tuple[Migration, Path]]:
        while (item := self.queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        """Ends the thread once its current migration is rendered, and its worker."""
        self.stopping.set()
        self.thread.join()
        sys.setswitchinterval(self.switch_interval)


def _history(plan, start_after: tuple) -> set[tuple[str, str]]:
    """start-after per app: the named migration and every migration it depends on, transitively."""
    by_key = {n.key: n for n in plan.nodes}
    todo = [k for k in start_after if k in by_key]
    seen: set[tuple[str, str]] = set()
    while todo:
        key = todo.pop()
        if key not in seen and key in by_key:
            seen.add(key)
            todo += by_key[key].dependencies + [k for k in by_key[key].replaces]
    return seen


# --- inside the worker ---------------------------------------------------------------------------

def warm_up_django(dialect: str) -> None:
    """What every Django rendering imports (worker.warm_up); settings stay unconfigured."""
    from migsafe.sql.split import split_sql

    split_sql("SELECT 1", dialect)
    with contextlib.suppress(ImportError):  # reported per migration by render_step
        import django.db.migrations.state  # noqa: F401


class _Project:
    """What the worker keeps from one migration to the next: Django's setup and the state."""

    configured = False
    setup_error: str | None = None
    settings_error: tuple[str, int] | None = None  # why the project's settings module could not be used, its line
    state = None
    applied: list[tuple[str, str, str]] | None = None
    told: list[tuple[str, str, str]] = []  # the history migsafe last sent (DjangoStep.history_from)
    missing: _MissingPackages | None = None


_project = _Project()


def render_step(path: Path, text: str, dialect: str, step: DjangoStep) -> DjangoRendered:
    """One migration as SQL, carrying the project state forward; never raises (but RenderTimeout).
    A migration that cannot be rendered still carries its state changes forward (each operation's
    state_forwards, which needs no SQL), so that the migrations after it are judged."""
    try:
        import django  # noqa: F401
    except ImportError:
        return DjangoRendered([], NOT_INSTALLED)
    sys.path[:0] = [r for r in step.roots if r not in sys.path]
    history, migration = None, None
    try:
        _configure(step, dialect)
        _project.missing.used = []
        if step.execute and _project.missing not in sys.meta_path:  # the worker puts back the import hooks
            sys.meta_path.append(_project.missing)
        if step.history_from > len(_project.told):
            raise RuntimeError("migsafe sent this worker part of a history it was never told")
        history = _project.told = [*_project.told[:step.history_from], *step.history]
        if _project.applied != history:
            _rebuild(step, history)
            _project.missing.used = []
        with _repeatable_uuid4(step.module):
            with _tracing(path, text):
                migration, how = _load(step, step.app, step.name, step.module, path, text)
            rendered = _render(migration, path, text, dialect, step.target_version)
        rendered.how = how
    except BaseException as err:  # noqa: BLE001 - project code may raise anything, even SystemExit
        if isinstance(err, (KeyboardInterrupt, RenderTimeout)):
            _project.applied = None  # the state may be half-way through this migration
            raise
        rendered = DjangoRendered([], _failure(err), getattr(err, "line", None) or _error_line(err, str(path)),
                                  settings_error=_project.settings_error)
        if history is None or _project.applied != history:  # no state to carry forward
            _project.applied = None
            return rendered
        # Not rendered: its state changes as far as they can be read (the import failed, or the
        # rendering did before its operations were reached; after them, they are carried)
        if migration is None:
            _forward(_readable_operations(step, step.app, step.name, path, text), step.app, _project.state)
        elif not getattr(migration, "_migsafe_forwarded", False):
            _forward(migration.operations, step.app, _project.state)
    rendered.carried, rendered.settings_error = True, _project.settings_error
    _project.applied = [*history, (step.app, step.name, step.module)]
    return rendered


def _failure(err: BaseException) -> str:
    """Why a migration could not be rendered, with what may have caused it."""
    message = f"the migration called sys.exit({err.code!r})" if isinstance(err, SystemExit) else _describe(err)
    if isinstance(err, ImportError) and getattr(err, "name", None):
        message = f"it imports {err.name}, which is not installed where migsafe runs ({message})"
    used = _project.missing.used if _project.missing is not None else []
    if used:
        message += (f"; stand-ins were used for what is not installed where migsafe runs:"
                    f" {', '.join(dict.fromkeys(used))}")
    if _project.setup_error:
        message += f"; the project's apps could not be loaded either: {_project.setup_error}"
    return message


def _forward(operations: list, app_label: str, state) -> None:
    """The operations' state changes (no SQL), each on its own: one that fails loses only its own."""
    for operation in operations:
        with contextlib.suppress(Exception):
            operation.state_forwards(app_label, state)


def _readable_operations(step: DjangoStep, app: str, name: str, path: Path, text: str) -> list:
    """The operations of a migration that cannot be loaded whole, one by one as far as static
    reading can evaluate them (for their state changes); [] when not even that."""
    from migsafe.sources.django_static import read_migration

    try:
        migration = read_migration(path, text, name, app, step.roots, lambda q: _Missing(q, _project.missing),
                                   skip_unreadable=True)
        return list(_classes_as_bases(migration).operations)
    except Exception:  # noqa: BLE001 - nothing readable: later migrations may miss its models
        return []


def _configure(step: DjangoStep, dialect: str) -> None:
    if _project.configured:
        return
    from django.conf import settings

    _project.configured = True
    _install_stand_in_drivers()
    if "swapper" not in sys.modules and importlib.util.find_spec("swapper") is None:  # its API, not a stand-in
        sys.modules["swapper"] = importlib.import_module("migsafe.sources.django_swapper")
    _stand_ins_never_fail()
    _project.missing = _MissingPackages(step.roots)
    if step.execute:
        sys.meta_path.append(_project.missing)
    if step.execute and step.settings_module:
        try:
            _user_settings(step.settings_module, dialect)
            _setup([], list(settings.INSTALLED_APPS))
            return
        except Exception as err:  # noqa: BLE001 - project code: ad hoc settings instead, and said so
            from django.utils.functional import empty

            why = _describe(err)
            if _project.missing.missing:  # (stood in for while they were imported)
                why += f"; not installed where migsafe runs: {', '.join(sorted(_project.missing.missing))}"
            _project.settings_error = why, _line_in(err, step.settings_file)
            settings._wrapped = empty
            _reset_registry()
    # The contrib apps projects commonly import models from (admin's LogEntry, sites' Site) are
    # installed even when no migration depends on them: the migration plan is django_graph's.
    contrib = {f"django.contrib.{a}" for a in ("contenttypes", "auth", "sessions", "messages", "sites")}
    contrib.update(a for a in step.apps if a.startswith("django.contrib.") and a != "django.contrib.postgres")
    installed = sorted(contrib - {"django.contrib.admin"})
    installed.append("django.contrib.admin.apps.SimpleAdminConfig")  # no autodiscover of admin.py
    project = [a for a in step.apps if not a.startswith("django.")] if step.execute else []
    # STATIC_URL & co.: apps whose loading checks them (staticfiles) load without the real settings
    settings.configure(INSTALLED_APPS=installed + project, DATABASES={"default": {"ENGINE": _offline_engine(dialect)}},
                       USE_TZ=True,
                       DEFAULT_AUTO_FIELD="django.db.models.AutoField", SECRET_KEY="migsafe",
                       STATIC_URL="static/", MEDIA_URL="media/", **dict(step.swappable))
    try:
        _setup(installed, project)
    except Exception as err:  # noqa: BLE001 - not one app's failure (labels that clash, ...): Django's apps alone
        _reset_registry()
        _setup(installed, [])
        _project.setup_error = f"{_describe(err)}; {_project.setup_error}" if _project.setup_error else _describe(err)


def _setup(installed: list[str], project: list[str]) -> None:
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
            failed.append(f"{config.label}: {_describe(err)}")

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
                    failed.append(f"{_describe(err)} (in a ready() hook)")
                    break
                culprit = _failing_app(err)  # the app's own module or AppConfig could not be imported
                if culprit not in project:
                    raise
                failed.append(f"{culprit}: {_describe(err)}")
                _reset_registry()
                project.remove(culprit)
                settings.INSTALLED_APPS = installed + project
    finally:
        AppConfig.import_models = import_models
    if failed:
        _project.setup_error = "; ".join(failed[:3])


def _line_in(err: BaseException, file: str | None) -> int:
    """The line of `file` that `err` was raised from (the innermost), else 1."""
    import traceback

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
        databases[alias] = {**databases.get(alias, {}), "ENGINE": _offline_engine(vendor)}
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


def _reset_registry() -> None:
    from collections import defaultdict

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


class _MissingPackages:
    """Last on sys.meta_path: a package the project imports that is not installed where migsafe
    runs (wagtail's modelcluster, oscar's phonenumber_field) gets a stand-in module, so that the
    project's apps and migrations still import. Only imports made by the project's own files are
    served (a library's `try: import x` keeps its fallback), and never one they guard themselves
    (`try: import x / except ImportError:` in a settings module). What a stand-in class becomes when a
    migration calls it is `_stand_in_field`'s business; `used` names what was stood in for."""

    def __init__(self, roots: tuple[str, ...]) -> None:
        self.folders = tuple(roots)  # (where the project's own sources are read: revealed_field_base)
        self.roots = tuple(str(Path(r).resolve()) + os.sep for r in roots)
        self.missing: set[str] = set()
        self.used: list[str] = []
        self.classes: dict[str, type] = {}  # _Missing.as_class

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top not in self.missing:
            if "." in name or top in sys.stdlib_module_names or not self._from_project():
                return None
            self.missing.add(top)
        return importlib.util.spec_from_loader(name, self, is_package=True)

    def _from_project(self) -> bool:
        frame = sys._getframe(2)
        while frame is not None and (frame.f_code.co_filename.startswith("<frozen")
                                     or "importlib" in frame.f_code.co_filename):
            frame = frame.f_back
        where = frame.f_code.co_filename if frame is not None else ""
        return (where.startswith(self.roots) and "-packages" + os.sep not in where
                and frame.f_lineno not in _guarded_lines(where))

    def create_module(self, spec):
        module = _MissingModule(spec.name)
        module.__path__, module._migsafe_finder = [], self
        return module

    def exec_module(self, module) -> None:
        pass


@functools.lru_cache(maxsize=256)
def _guarded_lines(filename: str) -> frozenset[int]:
    """The lines of a file inside a `try` whose handlers catch ImportError: the code there has
    its own answer to a package that is not installed."""
    try:
        tree = ast.parse(Path(filename).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h.type) for h in node.handlers):
            lines.update(range(node.body[0].lineno, node.body[-1].end_lineno + 1))
    return frozenset(lines)


def _catches_import_error(handler) -> bool:
    caught = handler.elts if isinstance(handler, ast.Tuple) else [handler]
    return handler is None or any(getattr(c, "id", getattr(c, "attr", None)) in _IMPORT_ERROR_CATCHERS for c in caught)


_IMPORT_ERROR_CATCHERS = ("ImportError", "ModuleNotFoundError", "Exception", "BaseException")


class _MissingModule(types.ModuleType):
    def __getattr__(self, name: str):
        if name == "__all__":  # `from missing import *` (wagtail.search.queryset's, of modelsearch)
            self._star_imported(sys._getframe(1))
        if name.startswith("__"):
            raise AttributeError(name)
        value = _Missing(f"{self.__name__}.{name}", self._migsafe_finder)
        setattr(self, name, value)
        return value

    def _star_imported(self, importer) -> None:
        """The project's module that star-imports this one gets the names it would have got, as
        stand-ins, through a module __getattr__ of its own (PEP 562): `from it import Name` works."""
        finder, source = self._migsafe_finder, self.__name__
        if importer.f_code.co_name != "<module>" or not importer.f_code.co_filename.startswith(finder.roots):
            return

        def __getattr__(name: str):
            if name.startswith("__"):
                raise AttributeError(name)
            return _Missing(f"{source}.{name}", finder)

        importer.f_globals.setdefault("__getattr__", __getattr__)


class _Missing:
    """Whatever a package that is not installed would have held (`pkg.name`, `pkg.name.attr`):
    called (a field in a migration), a stand-in field (or, where no field can be made of the call,
    a stand-in for what it returned); used as a base class, a plain mixin."""

    def __init__(self, qualname: str, finder: _MissingPackages) -> None:
        self._migsafe_missing, self._migsafe_finder = qualname, finder

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Missing(f"{self._migsafe_missing}.{name}", self._migsafe_finder)

    def __call__(self, *args, **kwargs):
        self._migsafe_finder.used.append(self._migsafe_missing)
        if _decorating(args, kwargs):  # @missing.decorator: the function stays as written
            return args[0]
        try:
            made = _stand_in_field(self._migsafe_missing, args, kwargs, self._migsafe_finder.folders)
        except Exception:  # noqa: BLE001 - not a field (a validator, a storage, ...): what it made stays unknown
            made = _Missing(f"{self._migsafe_missing}()", self._migsafe_finder)
        if _TRACERS:  # where it was made: an operation's place, should it be one (_classes_as_bases)
            made._migsafe_span = _TRACERS[-1].caller_span()
        return made

    def __iter__(self):  # (validators=getattr(missing_module, "validators", []): nothing)
        return iter(())

    def __mro_entries__(self, bases):
        return (self.as_class(),)

    def as_class(self) -> type:
        """A plain class standing in for it (one per name): a mixin of a model class."""
        classes = self._migsafe_finder.classes
        if self._migsafe_missing not in classes:
            classes[self._migsafe_missing] = type(self._migsafe_missing.rpartition(".")[2], (), {"__module__": __name__})
        return classes[self._migsafe_missing]

    def __repr__(self) -> str:
        return f"<{self._migsafe_missing}, not installed>"


def _stand_in_name(value) -> str | None:
    """What `value` stands in for (a _Missing or a stand-in field), else None."""
    if isinstance(value, _Missing):
        return value._migsafe_missing
    return vars(type(value)).get("_migsafe_stand_in")


def _decorating(args: tuple, kwargs: dict) -> bool:
    """A stand-in called with a function alone: a decorator (`@cache_memoize(60)` of a package not
    installed) over the project's function, which then stays as written."""
    import inspect

    return len(args) == 1 and not kwargs and inspect.isfunction(args[0])


def _stand_in_field(qualname: str, args: tuple, kwargs: dict, folders: tuple[str, ...]):
    """A field of a class that could not be imported, keeping what its deconstruction tells. Its
    class derives from the Django field class the project's own source derives it from, where
    that source says (django_static.revealed_field_base: `class SlugField(CharField)`); else,
    with `to` and `on_delete`, from ForeignKey, with `to` alone from ManyToManyField (what every
    relation field of a third-party package is at the database: the column follows the target's
    key); else from Field, with a column type migsafe does not know (_unknown_type)."""
    from django.db import models

    from migsafe.sources.django_static import revealed_field_base

    relation = (models.ForeignKey if "on_delete" in kwargs else models.ManyToManyField) if "to" in kwargs else None
    bases = [b for b in (revealed_field_base(qualname, folders), relation) if b is not None]
    for base in bases:
        with contextlib.suppress(Exception):  # (arguments that base does not take as given): the next
            return _stand_in_class(qualname, base, args, kwargs, folders)(*args, **kwargs)
    return _stand_in_class(qualname, models.Field, args, kwargs, folders)(*args, **kwargs)


def _stand_in_class(qualname: str, base: type, args: tuple, kwargs: dict, folders: tuple[str, ...]) -> type:
    """A subclass of `base` named as the missing class, taking the arguments `base` takes and
    deconstructing to what the migration gave. Arguments `base` does not take never reach the
    database through it: they join its non_db_attrs (changing them alone changes nothing). From
    Field, the column type is `unknown_<class>_<digest>` (_unknown_type)."""
    from django.db import models

    module, _, name = qualname.rpartition(".")
    accepted = _field_parameters(base)
    unknown = base is models.Field
    # From Field, an argument of the missing class that is data (dimensions=1536) may shape its
    # column type; code (upload_to=, encoder=, dump_kwargs={"cls": ...}) and objects do not.
    python_side = tuple(k for k, v in kwargs.items() if k not in accepted and not (unknown and _plain(v)))

    def __init__(self, *a, **kw):
        self._migsafe_args = (a, kw)
        base.__init__(self, **{k: v for k, v in kw.items() if k in accepted})

    def deconstruct(self):
        field_name = base.deconstruct(self)[0]
        return field_name, qualname, list(self._migsafe_args[0]), dict(self._migsafe_args[1])

    def __call__(self, *a, **kw):  # what a factory returned, called in turn: get_image_field_class()(...)
        return a[0] if _decorating(a, kw) else _stand_in_field(f"{qualname}()", a, kw, folders)

    body = {"__init__": __init__, "deconstruct": deconstruct, "__call__": __call__, "__module__": module,
            "_migsafe_stand_in": qualname, "non_db_attrs": (*models.Field.non_db_attrs, *python_side)}
    if unknown:
        # What may shape the type: `max_length`, and the class's own arguments that are data
        # (Field's others Django renders itself, null, unique, default, db_column, ..., or they never
        # reach the database, help_text, choices, ...). An empty value (None, "", {}, []) is taken
        # as the argument's default: as if not given.
        shaping = {k: v for k, v in kwargs.items()
                   if (k not in accepted or k == "max_length") and k not in python_side and (v or v is False or v == 0)}
        column_type = _unknown_type(qualname, args, shaping)
        body.update(db_type=lambda self, connection: column_type, _migsafe_type_arguments=frozenset(shaping))
    return type(name, (base,), body)


def _unknown_type(qualname: str, args: tuple, shaping: dict) -> str:
    """`unknown_<class>_<digest>`: the column type of a field class that is not installed, the
    digest over the class and what may shape its type (positional arguments that are data, the
    `shaping` keyword arguments)."""
    import hashlib

    described = repr((qualname, [a for a in args if _plain(a)], sorted(shaping.items())))
    name = re.sub(r"\W", "", qualname.rpartition(".")[2].lower())
    return f"unknown_{name}_{hashlib.sha1(described.encode()).hexdigest()[:8]}"


@functools.lru_cache(maxsize=None)
def _field_parameters(base: type) -> frozenset[str]:
    """The keyword arguments a field class's __init__ takes, its bases' included."""
    import inspect

    names = set()
    for klass in base.__mro__:
        if "__init__" in vars(klass) and klass is not object:
            names |= {p.name for p in inspect.signature(klass.__init__).parameters.values()
                      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return frozenset(names - {"self"})


def _plain(value) -> bool:
    """Data (None, numbers, strings, and lists, tuples and dicts of those), not code nor objects."""
    import decimal

    if isinstance(value, (list, tuple, set, frozenset)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    return value is None or isinstance(value, (bool, int, float, str, bytes, decimal.Decimal))


def _unknown_type_change(old_field, new_field, connection) -> str | None:
    """What a reviewer must judge by hand when a column's type changes to or from one migsafe
    does not know (a stand-in field's, _unknown_type); None for any other change. The source
    says it (an Unknown fact, reported as unrecognized-statement, a warning) rather than the
    change-column-type rule judging a change between types it cannot compare."""
    try:
        types_ = [str(f.db_parameters(connection)["type"]) for f in (old_field, new_field)]
    except Exception:  # noqa: BLE001 - a field that cannot say its type: nothing to add
        return None
    if types_[0] == types_[1] or not any(t.startswith("unknown_") for t in types_):
        return None
    classes = [getattr(f, "_migsafe_stand_in", None) for f in (old_field, new_field)]
    column = new_field.column
    if classes[0] is not None and classes[0] == classes[1]:
        old, new = old_field._migsafe_args[1], new_field._migsafe_args[1]
        shaping = {k for f in (old_field, new_field) for k in getattr(f, "_migsafe_type_arguments", ())}
        changed = sorted(k for k in shaping if k not in old or k not in new or old[k] != new[k])
        return (f"the type of column {column} after a change of the arguments ({', '.join(changed) or 'positional'})"
                f" of its field class {classes[1]}, which is not installed where migsafe runs,")

    def described(kind: str, field) -> str:
        stand_in = getattr(field, "_migsafe_stand_in", None)
        if kind.startswith("unknown_") and stand_in:
            return f"{stand_in} (not installed where migsafe runs: its column type is not known)"
        return kind

    return f"the change of column {column} from {described(types_[0], old_field)} to {described(types_[1], new_field)}"


def _load(step: DjangoStep, app: str, name: str, module_name: str, path: Path, text: str):
    """(the Migration instance, how): imported afresh ("rendered"), or read statically ("static")
    with --no-exec or when importing it fails (a package or setting only the project has)."""
    from migsafe.sources.django_static import read_migration

    def static():
        return read_migration(path, text, name, app, step.roots, lambda q: _Missing(q, _project.missing))

    if not step.execute:
        return _classes_as_bases(static()), "static"
    sys.modules.pop(module_name, None)
    try:
        return _classes_as_bases(importlib.import_module(module_name).Migration(name, app)), "rendered"
    except Exception as err:  # noqa: BLE001 - project code
        try:
            return _classes_as_bases(static()), "static"
        except Exception:  # noqa: BLE001 - the import's own error says more
            raise err from None


def _classes_as_bases(migration):
    """CreateModel(bases=(missing.Mixin, ...)): Django builds the model with type(), which needs
    classes. An operation of a package that is not installed: an _UnknownOperation. A relation's
    related_name that is a stand-in (wagtail's COMMENTS_RELATION_NAME, from a module that could not
    be imported): Django's default name, as the reverse accessor never reaches the SQL."""
    from django.db.migrations.operations.base import Operation

    todo = [migration.operations]
    while todo:
        operations = todo.pop()
        for index, operation in enumerate(operations):
            if not isinstance(operation, Operation) and _stand_in_name(operation):
                operations[index] = operation = _unknown_operation(_stand_in_name(operation),
                                                                   getattr(operation, "_migsafe_span", None))
            todo += [getattr(operation, "database_operations", []), getattr(operation, "state_operations", [])]
            if isinstance(getattr(operation, "bases", None), tuple):
                operation.bases = tuple(b.as_class() if isinstance(b, _Missing) else b for b in operation.bases)
            for field in [f for _, f in getattr(operation, "fields", None) or ()] + [getattr(operation, "field", None)]:
                for name in ("related_name", "related_query_name"):
                    if _stand_in_name(getattr(getattr(field, "remote_field", None), name, None)):
                        # (where Django keeps it, and where it rebuilds the field from: deconstruct())
                        setattr(field.remote_field, name, None)
                        setattr(field, f"_{name}", None)
                        getattr(field, "_migsafe_args", ((), {}))[1].pop(name, None)
    return migration


def _unknown_operation(qualname: str, span: Span | None):
    """An operation whose class migsafe has only a stand-in for (sortedm2m's AlterSortedManyToManyField,
    not installed; the project's own class under --no-exec): it changes no state migsafe knows of,
    and rendering it fails, which makes its migration not-analyzed at its line while the other
    operations are judged."""
    from django.db.migrations.operations.base import Operation

    class UnknownOperation(Operation):
        reduces_to_sql = True

        def state_forwards(self, app_label, state):
            pass

        def database_forwards(self, app_label, schema_editor, from_state, to_state):
            raise RuntimeError(f"{qualname} is an operation migsafe has only a stand-in for (not installed where"
                               " migsafe runs, or the project's own code under --no-exec): what it does to the"
                               " database is not known")

        def describe(self):
            return f"{qualname}, not installed"

    operation = UnknownOperation()
    operation._migsafe_span = span
    return operation


@contextlib.contextmanager
def _tracing(path: Path, text: str):
    """Remember where in `path` each operation object is created."""
    from django.db.migrations.operations.base import Operation

    tracer = Tracer(path, text)
    original = Operation.__dict__["__new__"]
    create = original.__func__ if isinstance(original, staticmethod) else original

    def new(cls, *args, **kwargs):
        self = create(cls, *args, **kwargs)
        self._migsafe_span = tracer.caller_span()
        return self

    Operation.__new__ = staticmethod(new)
    _TRACERS.append(tracer)  # (_Missing.__call__: a stand-in may stand for an operation)
    try:
        yield
    finally:
        Operation.__new__ = original
        _TRACERS.remove(tracer)


_TRACERS: list[Tracer] = []


@contextlib.contextmanager
def _repeatable_uuid4(seed: str):
    """uuid.uuid4() repeatable while a migration renders: ids that defaults make up (wagtail's
    StreamField block ids) then read the same in every run's report."""
    import random
    import uuid

    numbers, original = random.Random(seed), uuid.uuid4
    uuid.uuid4 = lambda: uuid.UUID(int=numbers.getrandbits(128), version=4)
    try:
        yield
    finally:
        uuid.uuid4 = original


def _rebuild(step: DjangoStep, history: list) -> None:
    """The state after `history`, from state changes only (a fresh worker)."""
    from django.db.migrations.state import ProjectState

    state = ProjectState()
    for app, name, module_name in history:
        path = next((p for r in step.roots if (p := Path(r, *module_name.split(".")).with_suffix(".py")).is_file()), None)
        if path is None:
            continue
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        try:
            operations = _load(step, app, name, module_name, path, text)[0].operations
        except Exception:  # noqa: BLE001 - as render_step carried it forward: what can be read
            operations = _readable_operations(step, app, name, path, text)
        _forward(operations, app, state)
    _project.state, _project.applied = state, list(history)


def _render(migration, path: Path, text: str, dialect: str, target_version: str | None) -> DjangoRendered:
    from django.db.migrations.state import ProjectState

    state = _on_demand(_project.state if _project.state is not None else ProjectState())
    connection = _offline_connection(dialect, target_version)
    atomic = bool(migration.atomic and connection.features.can_rollback_ddl)
    editor = _editor_class(connection.SchemaEditorClass)(connection, collect_sql=True, atomic=False)
    editor.in_transaction = atomic
    whole = Span(1, 1, 1, 1)
    irreversible = None
    _follow(migration.operations, editor)
    failed = []  # (why, line) of each operation that could not be rendered
    with editor:
        for operation in migration.operations:
            editor.current = getattr(operation, "_migsafe_span", None) or whole
            editor.in_transaction = atomic or bool(getattr(operation, "atomic", False))
            if not operation.reversible and irreversible is None:
                irreversible = (editor.current, f"{type(operation).__name__} has no reverse"
                                f" ({'reverse_sql' if hasattr(operation, 'reverse_sql') else 'reverse_code'});"
                                f" {_ROLLBACK}")
            if not operation.reduces_to_sql:  # RunPython: no SQL, and no guessing at what it does
                _forward([operation], migration.app_label, state)
                continue
            emitted, deferred = len(editor.emitted), len(editor.deferred_sql)
            try:
                before = editor.before = state.clone()
                operation.state_forwards(migration.app_label, state)
                state.reload_models(())  # whatever the operation changed: rendered afresh on demand
                state.apps.earlier = before.apps
                if not _schema_unchanged(operation, migration.app_label, before, state):
                    operation.database_forwards(migration.app_label, editor, before, state)
            except Exception as err:  # noqa: BLE001 - project code: the other operations are still rendered
                # (its state changes as far as they went; its half-rendered SQL is dropped)
                failed.append((_failure(err), editor.current.line))
                del editor.emitted[emitted:], editor.deferred_sql[deferred:]
        migration._migsafe_forwarded = True  # (render_step: nothing left to carry forward)
        editor.in_transaction = atomic  # deferred SQL runs when the migration ends
    _project.state = state
    statements, unknown_types = [], []
    for sql, span, in_tx, unknown_type in editor.emitted:
        for stmt in _statements(sql, span, dialect):
            stmt.in_transaction = in_tx
            statements.append(stmt)
            unknown_types.append(unknown_type)
    _net_defaults(statements, dialect)
    _remade_tables(statements, dialect)
    from migsafe.sql.translate import translate

    # parsed here, on the worker's core, not by the judging that waits for it
    for stmt, unknown_type in zip(statements, unknown_types):
        if stmt.facts is None:
            stmt.facts = translate(stmt.sql, dialect)
        if unknown_type is not None:
            _say_unknown_type(stmt, *unknown_type)
    if failed:
        why, line = failed[0]
        more = f"; {len(failed) - 1} more of its operations could not be rendered either" if len(failed) > 1 else ""
        return DjangoRendered(statements, why + more, line, irreversible=irreversible)
    return DjangoRendered(statements, irreversible=irreversible)


def _say_unknown_type(stmt: Statement, column: str, what: str) -> None:
    """A change of `column` to or from a type migsafe does not know: an Unknown fact beside the
    type change (which keeps the schema in step), so that a reviewer is told to judge it."""
    from migsafe.sql import facts as F

    changes = [f for f in stmt.facts if isinstance(f, F.AlterColumnType) and f.column == column]
    stmt.facts = [*stmt.facts, *(F.Unknown(what, f.table) for f in changes[:1])]


def _schema_unchanged(operation, app_label: str, before, after) -> bool:
    """An AlterField that changes only what the database never sees (verbose_name, choices,
    help_text, ...): the schema editor's alter_field returns at once (_field_should_be_altered),
    so the models need not be rendered to learn that. Compared as Django compares them."""
    from django.db.migrations.operations import AlterField

    if type(operation) is not AlterField or os.environ.get("MIGSAFE_DJANGO_RENDER") == "full":
        return False
    key = (app_label, operation.model_name_lower)
    try:
        old, new = before.models[key].fields[operation.name], after.models[key].fields[operation.name]
    except KeyError:
        return False
    described = []
    for field in (old, new):
        _, path, args, kwargs = field.deconstruct()
        for attr in getattr(field, "non_db_attrs", ()):
            kwargs.pop(attr, None)
        described.append((path, args, kwargs))
    return described[0] == described[1]


def _on_demand(state):
    """`state` as a project state whose model classes are rendered when the schema editor asks
    for them, not all at once. Django keeps every model of the project rendered and re-renders
    a model's whole related graph on most state changes: that was ~90% of the time on wagtail
    and oscar. The SQL of an operation needs only the models it names, what they point at or
    inherit from, and the models pointing at them (their reverse relations: a primary key's type
    change alters the foreign key columns too), so that is what `apps.get_model` renders."""
    if os.environ.get("MIGSAFE_DJANGO_RENDER") == "full":  # Django's own way: the reference in tests
        return state
    if not isinstance(state, _on_demand_classes()[0]):
        state.__class__ = _on_demand_classes()[0]
        state.refs = {}
        state.reload_models(list(state.models))
    return state


_ON_DEMAND: list[type] = []


class _FieldCopy:
    """A field of a model state, whose clone() (all ModelState.render asks of it) copies it as
    Django copies the fields a model inherits (Field.__deepcopy__) rather than rebuilding it from
    deconstruct(): that rebuilding was a sixth of the time. Only Django's own field classes are
    copied (their __init__ makes nothing the copy would share); any other is rebuilt."""

    __slots__ = ("field",)

    def __init__(self, field) -> None:
        self.field = field

    def clone(self):
        from django.db.models import Field

        field = self.field
        if not type(field).__module__.startswith("django."):
            return field.clone()
        new = field.__deepcopy__({})
        for name in _cached_properties(type(field)):  # (Django's state code caches related_model, unbound)
            new.__dict__.pop(name, None)
        if new.remote_field is not None:
            for name in _cached_properties(type(new.remote_field)):
                new.remote_field.__dict__.pop(name, None)
        if new.auto_created:  # a place in the model's field order, as a new field takes
            new.creation_counter, Field.auto_creation_counter = Field.auto_creation_counter, Field.auto_creation_counter - 1
        else:
            new.creation_counter, Field.creation_counter = Field.creation_counter, Field.creation_counter + 1
        return new


@functools.lru_cache(maxsize=None)
def _cached_properties(cls: type) -> tuple[str, ...]:
    return tuple({name for klass in cls.__mro__ for name, value in vars(klass).items()
                  if isinstance(value, functools.cached_property) or type(value).__name__ == "cached_property"})
# Keys-only renderings (OnDemandApps._render) by model: (what it was made from, the class, objects
# held). Reused by every later registry while the model's keys are unchanged: the SQL needs
# their tables and key columns only, and Django shares unchanged classes between registries too.
_KEYS_ONLY: dict = {}


def _on_demand_classes() -> list[type]:
    """[the ProjectState subclass, its StateApps subclass], made once Django is imported."""
    if _ON_DEMAND:
        return _ON_DEMAND
    from django.db.migrations.state import ProjectState, StateApps, _get_app_label_and_model_name
    from django.db.models.fields.related import RECURSIVE_RELATIONSHIP_CONSTANT

    class OnDemandState(ProjectState):
        """A project state whose `apps` render on demand. It keeps its own index of which models
        point at which (`refs`: {target: {referrer: {field name: field}}}), updated from the
        models each change reloads. (Django's `relations` would do, but once computed it changes
        how alter_field orders a model's fields, and so the column order of SQLite's remakes.)"""

        refs: dict

        def clone(self):
            # The copy holds this state's model states as they are; this state copies each one the
            # first time it is touched (_CopyOnAccess): an operation changes a few, not hundreds.
            models = dict(dict.items(self.models))
            new = OnDemandState(models=dict(models), real_apps=self.real_apps)
            self.models = _CopyOnAccess(models)
            new.refs = self.refs  # (never changed in place: index() replaces what it changes)
            new.is_delayed = self.is_delayed
            # The copy takes the models rendered so far (they are its models too) and this state
            # starts afresh: it is the one an operation changes next (before = state.clone()).
            if "apps" in self.__dict__:
                new.__dict__["apps"] = self.__dict__.pop("apps")
                new.apps._state, new.apps.earlier = new, None  # (else each registry keeps every earlier one alive)
            return new

        @functools.cached_property
        def apps(self):
            # Made when first asked for: an operation's state changes drop it again and again.
            return OnDemandApps(self)

        def alter_field(self, *args, **kwargs):
            # Django's lists the models only to ask whether any points at the field, and that
            # only decides whether to delay re-rendering: nothing is rendered ahead here, and
            # walking every field of every model on every AlterField was a twentieth of the time.
            models = self.models
            if isinstance(models, _CopyOnAccess):
                models.unlisted = True
            try:
                super().alter_field(*args, **kwargs)
            finally:
                if isinstance(models, _CopyOnAccess):
                    models.unlisted = False

        def add_model(self, model_state):
            super().add_model(model_state)  # (which reloads, and so indexes, only while apps exist)
            self.index((model_state.app_label, model_state.name_lower))

        def reload_model(self, app_label, model_name, delay=False):
            self.reload_models([(app_label, model_name)])

        def reload_models(self, models, delay=True):
            for key in models:
                self.index(key)
            self.__dict__.pop("apps", None)  # made afresh when asked for: nothing stale

        def remove_model(self, app_label, model_name):
            super().remove_model(app_label, model_name)
            self.index((app_label, model_name))

        def index(self, key) -> None:
            """(Re)enter what the model `key` points at into `refs`, replacing (never changing)
            the entries it touches, as clones share them."""
            refs = {target: by for target, by in self.refs.items() if key not in by}
            refs.update((target, {r: f for r, f in by.items() if r != key}) for target, by in self.refs.items() if key in by)
            model = dict.get(self.models, key)
            for name, field in model.fields.items() if model is not None else ():
                remote = getattr(field, "remote_field", None)
                target = getattr(remote, "model", None)
                if target is not None and target != RECURSIVE_RELATIONSHIP_CONSTANT:
                    label, target_name = _get_app_label_and_model_name(target, key[0])
                    target = (label, target_name.lower())
                    refs[target] = {**refs.get(target, {})}
                    refs[target][key] = {**refs[target].get(key, {}), name: field}
            self.refs = refs

    def _copy(model):
        """ModelState.clone without its checks (they held when the state was made), which were
        a tenth of the time: a state is copied before every operation."""
        copy = object.__new__(type(model))
        copy.__dict__.update(model.__dict__)
        copy.fields, copy.options, copy.managers = dict(model.fields), dict(model.options), list(model.managers)
        return copy

    def _for_rendering(model, keys_only: bool):
        """The model state ModelState.render makes the class from, its fields copied rather than
        rebuilt (_FieldCopy). `keys_only`: as the target of a relation: its primary key and unique
        fields (a `to_field` names one), the field `order_with_respect_to` names, its options."""
        keep = model.options.get("order_with_respect_to")
        copy = object.__new__(type(model))
        copy.__dict__.update(model.__dict__)
        copy.fields = {name: _FieldCopy(f) for name, f in model.fields.items()
                       if not keys_only or f.primary_key or f.unique or name == keep}
        return copy

    def _made_from(models: dict, key, depth: int = 0) -> tuple[tuple, list]:
        """What a keys-only rendering of `key` is made from, as object identities (model states
        share field and option objects until one is changed, and a changed one is a new object):
        its name, bases, options and key fields, and the same of what those point at or inherit
        from. Also the objects themselves, to be held while cached (an identity is then never
        reused by another object)."""
        model = models.get(key)
        if model is None or depth > 50:
            return (key,), []
        keep = model.options.get("order_with_respect_to")
        held: list = [model.bases, *model.options.values()]
        identity: list = [key, model.name, id(model.bases), tuple((k, id(v)) for k, v in model.options.items())]
        targets = [OnDemandApps._base_key(b, model.app_label) for b in model.bases]
        for name, field in model.fields.items():
            if field.primary_key or field.unique or name == keep:
                remote = getattr(field, "remote_field", None)
                held.append(field)
                identity.append((name, id(field), getattr(remote, "field_name", None), getattr(field, "to_fields", None)))
                target = getattr(remote, "model", None)
                if target is not None and target != RECURSIVE_RELATIONSHIP_CONSTANT:
                    targets.append(OnDemandApps._base_key(target, model.app_label))
        for target in targets:
            if target is not None and target != key:
                deeper, deeper_held = _made_from(models, target, depth + 1)
                identity.append(deeper)
                held += deeper_held
        return tuple(identity), held

    class _CopyOnAccess(dict):
        """Model states shared with a clone until first touched here: then copied (ModelState's
        own fields and options dicts are what Django changes in place)."""

        def __init__(self, models: dict):
            super().__init__(models)
            self.shared = set(models)
            self.unlisted = False  # items() lists nothing (alter_field, above)

        def _own(self, key) -> None:
            if key in self.shared:
                self.shared.discard(key)
                dict.__setitem__(self, key, _copy(dict.__getitem__(self, key)))

        def __getitem__(self, key):
            self._own(key)
            return dict.__getitem__(self, key)

        def get(self, key, default=None):
            return self[key] if key in self else default

        def values(self):
            for key in list(self.shared):
                self._own(key)
            return dict.values(self)

        def items(self):
            if self.unlisted:
                return {}.items()
            self.values()
            return dict.items(self)

        def __setitem__(self, key, value):
            self.shared.discard(key)
            dict.__setitem__(self, key, value)

        def __delitem__(self, key):
            self.shared.discard(key)
            dict.__delitem__(self, key)

        def pop(self, key, *default):
            self.shared.discard(key)
            return dict.pop(self, key, *default)

    class OnDemandApps(StateApps):
        def __init__(self, state):
            self._state, self._whole, self._rendering, self._listed = state, set(), False, {}
            self._pointed_at: set = set()  # models asked for whose referrers are not rendered yet
            self._keys_only: set = set()  # models rendered with only their keys (_for_rendering)
            # The registry of the state before the operation: a model renders there first, so
            # that its fields are older than the new ones, as Django's would be (SQLite's table
            # remake orders the columns by field creation).
            self.earlier = None
            super().__init__(state.real_apps, {})

        def get_model(self, app_label, model_name=None, require_ready=True):
            if not self._rendering:  # (ModelState.render looks its bases up here too)
                label, name = app_label.split(".") if model_name is None else (app_label, model_name)
                if self.earlier is not None:
                    self.earlier._render_around((label, name.lower()))
                self._render_around((label, name.lower()))
            return super().get_model(app_label, model_name, require_ready)

        def _render_around(self, key) -> None:
            """`key` and what it inherits from; what it points at, with what the keys of those point
            at (a foreign key's column type is its target's key's), as stand-ins with only their
            keys (_for_rendering): the SQL of `key` needs their table and key column, and rendering
            every field of the models most things point at (a user, a page) was most of the time.
            The models pointing at `key` wait until some model's reverse relations are asked for
            (get_models, below): the SQL of most operations never needs them."""
            models = self._models = dict(dict.items(self._state.models))  # read only: no copies made
            if key in self._whole or key not in models:
                return
            self._whole.add(key)
            self._pointed_at.add(key)
            whole = self._closure({key}, self._bases)
            targets = self._closure({k for k in self._references(models[key]) if k in models}, self._key_references)
            self._render(whole, targets - whole)

        def _render_referrers(self) -> None:
            """The models pointing at or inheriting from the models asked for, with what they inherit
            from (registered, so those models' reverse relations are whole)."""
            models = self._models = dict(dict.items(self._state.models))
            around = set()
            while self._pointed_at:
                key = self._pointed_at.pop()
                if key not in models:
                    continue
                children = {k for k, m in models.items() if key in (self._base_key(b, k[0]) for b in m.bases)}
                # (a relation to a proxy is one to its concrete model too: it is among that one's related objects)
                around |= children.union(*(self._referrers(k) for k in [key, *children]
                                            if k == key or models[k].options.get("proxy")))
            self._render(self._closure(around, self._bases))

        def _render(self, keys: set, keys_only: set = frozenset()) -> None:
            for key in keys & self._keys_only:  # met before as a target: rendered whole now
                self._keys_only.discard(key)
                self.unregister_model(*key)
            keys_only = {k for k in keys_only if k in self._models and not self._registered(k)}
            self._keys_only |= keys_only
            made = {}  # keys-only renderings made here: (what they are made from, what that holds)
            self._rendering = True
            try:
                for key in sorted(keys_only):
                    made[key] = _made_from(self._models, key)
                    cached = _KEYS_ONLY.get(key)
                    if cached is not None and cached[0] == made[key][0]:  # unchanged since: the class is reused
                        self.register_model(key[0], cached[1])
                        del made[key]
                self.render_multiple([_for_rendering(self._models[k], keys_only=k in keys_only)
                                      for k in sorted(keys | keys_only) if k in self._models and not self._registered(k)])
            finally:
                self._rendering = False
            for key, (identity, held) in made.items():
                _KEYS_ONLY[key] = (identity, self.all_models[key[0]][key[1]], held)

        def _closure(self, keys: set, step) -> set:
            found, todo = set(keys), list(keys)
            while todo:
                model = self._models.get(todo.pop())
                for k in step(model) if model is not None else ():
                    if k not in found and k in self._models:
                        found.add(k)
                        todo.append(k)
            return found

        def _referrers(self, key) -> set:
            """The models pointing at `key` and, where the field pointing is itself a primary key or
            unique (a parent link, a one-to-one key), the models pointing at those: a key's type
            change reaches along such chains (the schema editor's _related_non_m2m_objects)."""
            found, followed, todo = set(), {key}, [key]
            while todo:
                for referrer, fields in self._state.refs.get(todo.pop(), {}).items():
                    found.add(referrer)
                    if referrer not in followed and any(f.primary_key or f.unique for f in fields.values()):
                        followed.add(referrer)
                        todo.append(referrer)
            return found - {key}

        def _bases(self, model) -> list:
            return [self._base_key(b, model.app_label) for b in model.bases]

        def _references(self, model) -> list:
            """What a model state points at (relations, custom `through` models) or inherits from."""
            keys = self._bases(model)
            for field in model.fields.values():
                remote = getattr(field, "remote_field", None)
                for target in (getattr(remote, "model", None), getattr(remote, "through", None)):
                    if target is not None and target != RECURSIVE_RELATIONSHIP_CONSTANT:
                        keys.append(self._base_key(target, model.app_label))
            return keys

        def _key_references(self, model) -> list:
            """What a model inherits from, and what its primary key or unique fields (a `to_field`
            may name one) point at."""
            keys = self._bases(model)
            for field in model.fields.values():
                target = getattr(getattr(field, "remote_field", None), "model", None)
                if (field.primary_key or field.unique) and target is not None and target != RECURSIVE_RELATIONSHIP_CONSTANT:
                    keys.append(self._base_key(target, model.app_label))
            return keys

        def get_models(self, include_auto_created=False, include_swapped=False):
            # Apps.get_models and Apps.get_swappable_settings_name keep functools caches shared by
            # every registry, the project's own included, and Apps.clear_cache empties both: each
            # model rendered here made Django work out the project's swappable settings again (a
            # tenth of the time). This registry keeps its own list instead.
            if self._pointed_at and not self._rendering:  # reverse relations asked for (Options._relation_tree)
                self._render_referrers()
            key = (include_auto_created, include_swapped)
            if key not in self._listed:
                self._listed[key] = StateApps.get_models.__wrapped__(self, include_auto_created, include_swapped)
            return self._listed[key]

        def clear_cache(self):
            self._listed = {}
            if self.ready:
                for app_config in self.app_configs.values():
                    for model in app_config.get_models(include_auto_created=True):
                        model._meta._expire_cache()

        def _registered(self, key) -> bool:
            return key[1] in self.all_models.get(key[0], ())

        @staticmethod
        def _base_key(base, app_label: str):
            if isinstance(base, str):
                label, name = _get_app_label_and_model_name(base, app_label)
                return label, name.lower()
            meta = getattr(base, "_meta", None)  # a model class (a base, or a relation's resolved target)
            return (meta.app_label, meta.model_name) if meta is not None and not meta.abstract else None

    _ON_DEMAND[:] = [OnDemandState, OnDemandApps]
    return _ON_DEMAND


def _net_defaults(statements: list[Statement], dialect: str) -> None:
    """AddField of a NOT NULL field with a Python `default`: Django adds the column with that
    default as a DB default and drops it again in the same operation. What the running app
    version meets is a NOT NULL column without default, so the ADD COLUMN's facts say that."""
    import dataclasses

    from migsafe.sql import facts as F
    from migsafe.sql.translate import translate

    for i, stmt in enumerate(statements):
        if "DROP DEFAULT" not in stmt.sql.upper():
            continue
        for drop in (f for f in translate(stmt.sql, dialect) if isinstance(f, F.DropDefault)):
            for earlier in statements[:i]:
                if earlier.span != stmt.span or "ADD" not in earlier.sql.upper():
                    continue
                facts = earlier.facts if earlier.facts is not None else translate(earlier.sql, dialect)
                earlier.facts = [g for f in facts for g in _without_default(f, drop)]


def _remade_tables(statements: list[Statement], dialect: str) -> None:
    """Django's SQLite editor changes most columns and constraints by remaking the table: CREATE
    TABLE "new__t", INSERT ... SELECT, DROP TABLE "t", ALTER TABLE "new__t" RENAME TO "t". That
    DROP is no drop but a rebuild of t, as Alembic's batch recreate is: a TableRewrite of t (the
    RENAME then puts the new definition in t's place)."""
    from migsafe.sql import facts as F
    from migsafe.sql.translate import translate

    if dialect != "sqlite":
        return
    facts = [s.facts if s.facts is not None else translate(s.sql, dialect) for s in statements]
    renamed = {f.new_name for fs in facts for f in fs if isinstance(f, F.RenameTable) and f.table == f"new__{f.new_name}"}
    for stmt, fs in zip(statements, facts):
        if any(isinstance(f, F.DropTable) and f.table in renamed for f in fs):
            stmt.facts = [F.TableRewrite(f.table, "Django's SQLite schema editor, remaking the table,")
                          if isinstance(f, F.DropTable) and f.table in renamed else f for f in fs]


def _without_default(fact, drop) -> list:
    """The AddColumn `drop` takes the default from, as its net effect: no default, and its inline
    foreign key as a constraint of its own (the default filled existing rows: it is validated)."""
    import dataclasses

    from migsafe.sql import facts as F

    if not (isinstance(fact, F.AddColumn) and fact.table == drop.table and fact.column.name == drop.column):
        return [fact]
    foreign = [c for c in fact.column.constraints if c.kind == "foreign_key"]
    column = dataclasses.replace(fact.column, default=None, dropped_default=fact.column.default,
                                 constraints=[c for c in fact.column.constraints if c not in foreign])
    return [dataclasses.replace(fact, column=column)] + [F.AddConstraint(table=fact.table, constraint=c) for c in foreign]


def _follow(operations: list, editor) -> None:
    """SQL of an operation nested in SeparateDatabaseAndState points at that operation."""
    for operation in operations:
        inner = getattr(operation, "database_operations", None) or []
        for sub in inner:
            span = getattr(sub, "_migsafe_span", None)
            if span is not None:
                def forwards(*args, _original=sub.database_forwards, _span=span, **kwargs):
                    outer, editor.current = editor.current, _span
                    try:
                        return _original(*args, **kwargs)
                    finally:
                        editor.current = outer

                sub.database_forwards = forwards
        _follow(inner, editor)


_EDITORS: dict[type, type] = {}


def _editor_class(base: type) -> type:
    """The backend's schema editor, collecting each statement with the operation that made it."""
    if base in _EDITORS:
        return _EDITORS[base]
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor

    class Offline(base):
        def __init__(self, *args, **kwargs):
            # spans: id(deferred statement) -> (it, the span of the operation that queued it)
            self.spans, self.emitted, self.current, self.in_transaction = {}, [], Span(1, 1, 1, 1), False
            self.before = None  # the project state before the current operation: what the database holds
            self.unknown_type = None  # (column, what): alter_field changing a type migsafe does not know
            super().__init__(*args, **kwargs)

        @property
        def deferred_sql(self):
            return self._deferred

        @deferred_sql.setter
        def deferred_sql(self, value):
            self._deferred = _Queued(self, value)

        def execute(self, sql, params=()):
            if params:
                sql = str(sql) % tuple(self.quote_value(p) for p in params)
            # The line of the operation that queued it (deferred SQL runs when the migration ends).
            span = self.spans.get(id(sql), (None, self.current))[1]
            self.emitted.append((str(sql), span, self.in_transaction, self.unknown_type))

        def alter_field(self, model, old_field, new_field, strict=False):
            what = _unknown_type_change(old_field, new_field, self.connection)
            self.unknown_type = (new_field.column, what) if what else None
            try:
                super().alter_field(model, old_field, new_field, strict)
            finally:
                self.unknown_type = None

        def effective_default(self, field):
            missing = _stand_in_name(field.default)
            if missing:  # (calling a stand-in makes a stand-in field, not a value)
                return f"migsafe: a default computed by {missing}, which is not installed"
            try:
                value = self._effective_default(field)
                if not field.has_default() or callable(field.default):
                    # uuid4, timezone.now, auto_now: a new value each run would make the report
                    # differ run to run; which value it is does not change a verdict.
                    value = _stable(value)
                return field.get_db_prep_save(value, self.connection)
            except Exception:  # noqa: BLE001 - a default callable that queries the database
                # Which value it is does not change the verdict: that the column gets one does.
                return "migsafe: a default only the database can compute"

        def quote_value(self, value):
            if self.connection.vendor == "sqlite":
                quoted = base.quote_value(self, value)
            else:
                quoted = quote(value, self.connection.vendor)
            # An object's default repr (a project's default that is no value the database knows)
            # has its address in it: a new one each run, and so a report that differs run to run.
            return _OBJECT_ADDRESS.sub(r"\1>", quoted)

        def _constraint_names(self, model, *args, **kwargs):
            self.connection.introspection.served = (self, model)
            return BaseDatabaseSchemaEditor._constraint_names(self, model, *args, **kwargs)

    _EDITORS[base] = Offline
    return Offline


_OBJECT_ADDRESS = re.compile(r"(<[\w.]+ object) at 0x[0-9a-fA-F]+>")


def _stable(value):
    """A callable default's value with its per-call part fixed: uuid4() -> the nil UUID, now() ->
    2000-01-01 (in the value's own time zone)."""
    import datetime
    import uuid

    if isinstance(value, uuid.UUID):
        return uuid.UUID(int=0)
    if isinstance(value, datetime.datetime):
        return datetime.datetime(2000, 1, 1, tzinfo=value.tzinfo)
    if isinstance(value, datetime.date):
        return datetime.date(2000, 1, 1)
    if isinstance(value, datetime.time):
        return datetime.time(0, tzinfo=value.tzinfo)
    return value


class _Queued(list):
    """deferred_sql: remembers which operation queued each statement."""

    def __init__(self, editor, items=()):
        super().__init__()
        self.editor = editor
        self.extend(items)

    def append(self, item):
        self.editor.spans.setdefault(id(item), (item, self.editor.current))
        super().append(item)

    def extend(self, items):
        for item in items:
            self.append(item)


def quote(value, vendor: str) -> str:
    """A literal as the driver would send it (psycopg for PostgreSQL, mysqlclient for MySQL),
    the same text every run: the adapters Django wraps values in for psycopg (Jsonb, ranges,
    Inet) as the SQL they stand for, never as an object's repr."""
    import decimal

    if value is None:
        return "NULL"
    if vendor == "postgresql" and (adapted := _postgres_literal(value)) is not None:
        return adapted
    if isinstance(value, bool):
        return ("true" if value else "false") if vendor == "postgresql" else ("1" if value else "0")
    if isinstance(value, (float, decimal.Decimal)) and not math.isfinite(value):
        special = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
        cast = ("::float8" if isinstance(value, float) else "::numeric") if vendor == "postgresql" else ""
        return f"'{special}'{cast}"
    if isinstance(value, (int, float, decimal.Decimal)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value).hex()
        return f"'\\x{data}'::bytea" if vendor == "postgresql" else f"X'{data}'"
    # dates, UUIDs, ...: their text; a dict (a JSON value where no adapter wrapped it): JSON
    text = (json.dumps(value) if isinstance(value, dict) else str(value)).replace("'", "''")
    if vendor == "mysql":
        text = text.replace("\\", "\\\\")
    return f"'{text}'"


def _postgres_literal(value) -> str | None:
    """What psycopg sends for the values Django adapts for PostgreSQL (JSONField's Jsonb, range
    fields' ranges, GenericIPAddressField's Inet, BinaryField's Binary, HStoreField's dict,
    ArrayField's list, DurationField's timedelta); None for the others. Jsonb and ranges as psycopg 3 writes them,
    whichever driver (or psycopg2's stand-in) Django wrapped them with."""
    import datetime
    import ipaddress

    from django.db.backends.postgresql import psycopg_any as driver
    from django.db.backends.postgresql.base import Database

    def text(string: str) -> str:
        return "'" + string.replace("'", "''") + "'"

    if isinstance(value, Database.Binary):  # BinaryField's; psycopg 3: .obj, psycopg2: .adapted
        value = bytes(value.obj if hasattr(value, "obj") else value.adapted)
        return f"'\\x{value.hex()}'::bytea"
    if isinstance(value, (driver.Jsonb, getattr(driver, "Json", driver.Jsonb))):
        # psycopg 3: .obj and .dumps (None: json.dumps); psycopg2: .adapted and a dumps() method
        data = (value.dumps or json.dumps)(value.obj) if hasattr(value, "obj") else value.dumps(value.adapted)
        return text(data) + ("::jsonb" if isinstance(value, driver.Jsonb) else "::json")
    if isinstance(value, driver.RANGE_TYPES):
        if value.isempty:
            return "'empty'"
        bounds = [_range_bound(b) for b in (value.lower, value.upper)]
        return text(f"{value._bounds[0]}{bounds[0]},{bounds[1]}{value._bounds[1]}")
    if isinstance(driver.Inet, type) and isinstance(value, driver.Inet):  # psycopg2's; psycopg 3's is ip_address
        return text(str(value.addr)) + "::inet"
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Interface,
                          ipaddress.IPv6Interface)):
        return text(str(value)) + "::inet"
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return text(str(value)) + "::cidr"
    if isinstance(value, datetime.timedelta):
        seconds = value.seconds + value.microseconds / 1_000_000
        return text(f"{value.days} days {seconds:.6f} seconds") + "::interval"
    if isinstance(value, dict):  # hstore
        pairs = (f"{_hstore_item(k)}=>{'NULL' if v is None else _hstore_item(v)}" for k, v in value.items())
        return text(", ".join(pairs))
    if isinstance(value, (list, tuple)):
        return "ARRAY[" + ", ".join(quote(v, "postgresql") for v in value) + "]" if value else "'{}'"
    return None


def _range_bound(bound) -> str:
    """A bound inside a range literal: a number as it is, anything else double-quoted."""
    import decimal

    if bound is None:
        return ""
    if isinstance(bound, (int, float, decimal.Decimal)) and not isinstance(bound, bool):
        return str(bound)
    return '"' + str(bound).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _hstore_item(item) -> str:
    return '"' + str(item).replace("\\", "\\\\").replace('"', '\\"') + '"'


@functools.lru_cache(maxsize=None)
def _offline_wrapper(dialect: str) -> type:
    """The DatabaseWrapper class of the dialect's backend that can render SQL but never connects."""
    from django.db.utils import load_backend

    backend = load_backend(ENGINES[dialect])
    base = backend.DatabaseWrapper
    introspection = type("OfflineIntrospection", (base.introspection_class,), {
        "served": None, "get_constraints": _served_constraints, "get_sequences": _served_sequences})

    def no_connection(self, *args, **kwargs):
        raise RuntimeError("the operation needs a database connection, which migsafe never opens")

    return type("OfflineWrapper", (base,), {
        "introspection_class": introspection, "connect": no_connection, "ensure_connection": no_connection,
        "get_new_connection": no_connection,
        "cursor": lambda self: _NullCursor(self), "_cursor": lambda self, name=None: _NullCursor(self),
        # SQLite's editor turns foreign key checks off and on around a migration: nothing to do offline
        "disable_constraint_checking": lambda self: True, "enable_constraint_checking": lambda self: None,
        "check_constraints": lambda self, table_names=None: None})


def _offline_engine(vendor: str) -> str:
    """An ENGINE for DATABASES: the vendor's backend that never connects (_offline_wrapper), as
    a module of its own, which is all Django's load_backend asks of an ENGINE."""
    name = f"migsafe_offline_{vendor}"
    if f"{name}.base" not in sys.modules:
        package, base = types.ModuleType(name), types.ModuleType(f"{name}.base")
        package.__path__, package.base, base.DatabaseWrapper = [], base, _offline_wrapper(vendor)
        sys.modules[name], sys.modules[base.__name__] = package, base
    return name


def _offline_connection(dialect: str, target_version: str | None):
    """A DatabaseWrapper of the dialect's backend that can render SQL but never connects."""
    connection = _offline_wrapper(dialect)({"ENGINE": ENGINES[dialect], "NAME": "migsafe", "USER": "", "PASSWORD": "", "HOST": "",
                          "PORT": "", "OPTIONS": {}, "TIME_ZONE": None, "CONN_MAX_AGE": 0,
                          "CONN_HEALTH_CHECKS": False, "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False, "TEST": {}})
    if dialect == "postgresql":
        major = int(float(target_version)) if target_version else None
        connection.__dict__["pg_version"] = (major or 15) * 10000
    elif dialect == "mysql":
        from migsafe.dialects.mysql import MySQL

        server = MySQL(target_version)  # "mariadb-11.4": Django tells MariaDB by "-MariaDB" in the version
        version = ".".join(map(str, (*server.version, 0, 0, 0)[:3])) + ("-MariaDB" if server.mariadb else "")
        connection.__dict__["mysql_server_data"] = {
            "version": version, "sql_mode": "STRICT_TRANS_TABLES", "default_storage_engine": "InnoDB",
            "sql_auto_is_null": False, "lower_case_table_names": False, "has_zoneinfo_database": True}
    return connection


class _NullCursor:
    """Queries a migration's operations make offline (does an extension exist? the ORM's
    .first(), a table's description): no rows, no columns."""

    rowcount = 0
    description = ()

    def __init__(self, connection=None):
        # (what the ORM takes for the end of the rows: [] or, MySQL's, ())
        self.no_rows = connection.features.empty_fetchmany_value if connection is not None else []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, *args, **kwargs):
        return None

    executemany = execute

    def fetchone(self):
        return None

    def fetchall(self):
        return []

    def fetchmany(self, size=None):
        return self.no_rows

    def __iter__(self):  # (contrib.postgres reads the hstore and citext type ids this way)
        return iter(())

    def close(self):
        pass


def _served_model(introspection, table_name: str):
    """(editor, the model of `table_name` as the database has it: before the operation) or None."""
    if introspection.served is None:
        return None
    editor, model = introspection.served
    before = getattr(editor, "before", None)
    for key, state in before.models.items() if before is not None else ():
        name = state.options.get("db_table") or f"{key[0]}_{key[1]}"
        if name != table_name and not (len(name) > len(table_name) > 8 and name.startswith(table_name[:-8])):
            continue  # (a long name may be truncated and hashed: the rendered model says)
        candidate = before.apps.get_model(*key)
        if candidate._meta.db_table == table_name and not candidate._meta.proxy:  # a proxy shares the table
            return editor, candidate
    return (editor, model) if model._meta.db_table == table_name else None


def _served_constraints(introspection, cursor, table_name) -> dict:
    """What the database would list for a table, named as Django names what it creates."""
    served = _served_model(introspection, table_name)
    if served is None:
        return {}
    editor, model = served
    vendor = editor.connection.vendor
    meta = model._meta
    table = meta.db_table
    out: dict[str, dict] = {}

    def add(name, columns, **kinds):
        info = {"columns": list(columns), "primary_key": False, "unique": False, "foreign_key": None,
                "check": False, "index": False, "type": None, "orders": []}
        info.update(kinds)
        out[str(name)] = info

    for field in meta.local_concrete_fields:
        column = field.column
        if field.primary_key:
            add("PRIMARY" if vendor == "mysql" else f"{table}_pkey", [column], primary_key=True, unique=True,
                index=vendor == "mysql")
        elif field.unique:
            add(column if vendor == "mysql" else f"{table}_{column}_key", [column], unique=True, index=vendor == "mysql")
        if field.remote_field is not None and getattr(field, "db_constraint", False):
            to = field.target_field
            to_table = to.model._meta.db_table  # as BaseDatabaseSchemaEditor._fk_constraint_name
            add(editor._create_index_name(table, [column], suffix=f"_fk_{to_table}_{to.column}"),
                [column], foreign_key=(to_table, to.column))
        if field.db_index and not field.unique and not field.primary_key:
            add(editor._create_index_name(table, [column]), [column], index=True, type="idx")
            if vendor == "postgresql" and field.db_type(editor.connection) and \
                    field.db_type(editor.connection).startswith(("varchar", "text")):
                add(editor._create_index_name(table, [column], suffix="_like"), [column], index=True, type="idx")
        check = field.db_check(editor.connection)
        if check:
            add(f"{table}_{column}_check", [column], check=True)
    for fields in meta.unique_together:
        columns = [meta.get_field(f).column for f in fields]
        add(editor._create_index_name(table, columns, suffix="_uniq"), columns, unique=True, index=vendor == "mysql")
    # Django 5.1+ models no longer carry index_together, but the migration state still does
    state = editor.before.models.get((meta.app_label, meta.model_name)) if editor.before is not None else None
    for fields in getattr(meta, "index_together", None) or (state.options.get("index_together", ()) if state else ()):
        columns = [meta.get_field(f).column for f in fields]
        add(editor._create_index_name(table, columns, suffix="_idx"), columns, index=True, type="idx")
    for index in meta.indexes:
        columns = [meta.get_field(f.lstrip("-")).column for f in index.fields]
        add(index.name, columns, index=True, type=index.suffix)
    for constraint in meta.constraints:
        columns = [meta.get_field(f).column for f in getattr(constraint, "fields", ())]
        unique = type(constraint).__name__ == "UniqueConstraint"
        add(constraint.name, columns, unique=unique, check=not unique, index=unique and vendor == "mysql")
    return out


def _served_sequences(introspection, cursor, table_name, table_fields=()) -> list:
    served = _served_model(introspection, table_name)
    if served is None:
        return []
    pk = served[1]._meta.pk
    return [{"name": f"{table_name}_{pk.column}_seq", "table": table_name, "column": pk.column}]

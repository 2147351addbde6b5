"""Django's side of the rendering worker (core/worker.py): what it imports ahead, how it renders one
migration (carrying the project state forward from one to the next), and which of Django's modules
a migration must not change for the next one.

Django itself is imported inside the functions: this module is imported in migsafe's own process
too (worker hooks), where Django may not be installed and must not cost its import time.
"""

from __future__ import annotations

import contextlib
import importlib
import random
import sys
import uuid
from pathlib import Path

from migsafe.sources.core.tracing import Tracer, error_line
from migsafe.sources.core.worker import RenderTimeout
from migsafe.sources.django.project import PROJECT, configure, failure, forward
from migsafe.sources.django.render import render_migration
from migsafe.sources.django.stand_ins import TRACERS, classes_as_bases
from migsafe.sources.django.static import read_migration
from migsafe.sources.django.step import DjangoRendered, DjangoStep
from migsafe.sql.split import split_sql

NOT_INSTALLED = ("Django is not installed where migsafe runs: install it (pip install 'django>=4.2') in "
                 "migsafe's environment to check Django migrations")
LIBRARIES = ("django",)
CLASSES_OF = ()  # (Django's classes' own dicts are not watched: its modules' namespaces are)
# Of Django, the worker watches what the SQL of a migration is made by (the ORM, migrations,
# schema editors, settings, app registry, utilities, contrib.postgres), not the web framework
# around it (templates, forms, views, admin, sessions, ...): each module watched is compared
# after every migration. Migration modules never are: they are imported afresh each time.
WATCHED = ("django.db", "django.apps", "django.conf", "django.utils", "django.core.exceptions",
           "django.contrib.postgres")


def watches(name: str) -> bool:
    """Whether the worker compares the library module `name` (Django's, migsafe's, the standard
    ones the worker relies on) after every migration."""
    if ".migrations." in f"{name}.":
        return False
    return not name.startswith("django.") or name.startswith(WATCHED)


def render(job) -> DjangoRendered:
    """One migration (a worker.Job whose `step` is a DjangoStep)."""
    return render_step(job.path, job.text, job.dialect, job.step)


def warm_up(dialect: str) -> None:
    """What every Django rendering imports (worker.warm_up); settings stay unconfigured."""
    split_sql("SELECT 1", dialect)
    with contextlib.suppress(ImportError):  # reported per migration by render_step
        import django.db.migrations.state  # noqa: F401


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
        configure(step, dialect)
        PROJECT.missing.used, PROJECT.labels = [], step.labels
        if step.execute and PROJECT.missing not in sys.meta_path:  # the worker puts back the import hooks
            sys.meta_path.append(PROJECT.missing)
        if step.history_from > len(PROJECT.told):
            raise RuntimeError("migsafe sent this worker part of a history it was never told")
        history = PROJECT.told = [*PROJECT.told[:step.history_from], *step.history]
        if PROJECT.applied != history:
            _rebuild(step, history)
            PROJECT.missing.used = []
        with _repeatable_uuid4(step.module):
            with _tracing(path, text):
                migration, how = _load(step, step.app, step.name, step.module, path, text)
            rendered = render_migration(migration, path, text, dialect, step.target_version)
        rendered.how = how
    except BaseException as err:  # noqa: BLE001 - project code may raise anything, even SystemExit
        if isinstance(err, (KeyboardInterrupt, RenderTimeout)):
            PROJECT.applied = None  # the state may be half-way through this migration
            raise
        rendered = DjangoRendered([], failure(err), getattr(err, "line", None) or error_line(err, str(path)),
                                  settings_error=PROJECT.settings_error)
        if history is None or PROJECT.applied != history:  # no state to carry forward
            PROJECT.applied = None
            return rendered
        # Not rendered: its state changes as far as they can be read (the import failed, or the
        # rendering did before its operations were reached; after them, they are carried)
        if migration is None:
            forward(_readable_operations(step, step.app, step.name, path, text), step.app, PROJECT.state)
        elif not getattr(migration, "_migsafe_forwarded", False):
            forward(migration.operations, step.app, PROJECT.state)
    rendered.carried, rendered.settings_error = True, PROJECT.settings_error
    PROJECT.applied = [*history, (step.app, step.name, step.module)]
    return rendered


def _readable_operations(step: DjangoStep, app: str, name: str, path: Path, text: str) -> list:
    """The operations of a migration that cannot be loaded whole, one by one as far as static
    reading can evaluate them (for their state changes); [] when not even that."""
    try:
        migration = read_migration(path, text, name, app, step.roots, lambda q: PROJECT.missing.stand_in(q),
                                   skip_unreadable=True)
        return list(classes_as_bases(migration).operations)
    except Exception:  # noqa: BLE001 - nothing readable: later migrations may miss its models
        return []


def _load(step: DjangoStep, app: str, name: str, module_name: str, path: Path, text: str):
    """(the Migration instance, how): imported afresh ("rendered"), or read statically ("static")
    with --no-exec or when importing it fails (a package or setting only the project has)."""

    def static():
        return read_migration(path, text, name, app, step.roots, lambda q: PROJECT.missing.stand_in(q))

    if not step.execute:
        return classes_as_bases(static()), "static"
    sys.modules.pop(module_name, None)
    try:
        return classes_as_bases(importlib.import_module(module_name).Migration(name, app)), "rendered"
    except Exception as err:  # noqa: BLE001 - project code
        try:
            return classes_as_bases(static()), "static"
        except Exception:  # noqa: BLE001 - the import's own error says more
            raise err from None


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
    TRACERS.append(tracer)  # (stand_ins._Missing.__call__: a stand-in may stand for an operation)
    try:
        yield
    finally:
        Operation.__new__ = original
        TRACERS.remove(tracer)


@contextlib.contextmanager
def _repeatable_uuid4(seed: str):
    """uuid.uuid4() repeatable while a migration renders: ids that defaults make up (wagtail's
    StreamField block ids) then read the same in every run's report."""
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
        forward(operations, app, state)
    PROJECT.state, PROJECT.applied = state, list(history)

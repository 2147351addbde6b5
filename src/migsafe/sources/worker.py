"""Run migration code where its failures stay contained.

Rendering an Alembic revision imports it and runs its `upgrade()`: project code that may hang,
call `os._exit`, crash the interpreter, print, `chdir`, change `sys.path` or monkeypatch the
libraries. None of that may reach migsafe's own process or its report, so revisions are rendered
in a worker process, one after another, and migsafe's own process never imports Alembic:

- The worker is forked (where `os.fork` exists; a "spawn" process elsewhere) as soon as an
  Alembic project is found, and imports Alembic while migsafe reads the revision graph. Static
  reading (--no-exec) runs there too, under the same time limit.
- Its fd 0 reads from /dev/null and its fds 1 and 2 write to it, so neither `print()` nor a
  C-level write or a subprocess it starts reaches migsafe's stdout.
- Between revisions it puts back what a revision may change: the working directory, `sys.path`
  and the import hooks, the environment, the standard streams, signal handlers, the recursion
  limit, trace hooks. The project's own modules stay imported (real revisions import the
  application, often slowly, and the next revision imports the same one; `alembic upgrade`
  does the same).
- What cannot be put back replaces the worker before the next revision: a replaced or deleted
  function or class in a library module or class (sqlalchemy, alembic, migsafe, builtins, os,
  sys, ...: a monkeypatch), a library module replaced in `sys.modules`, a thread the revision
  left running, a revision stopped by the time limit. A change the application makes each time
  it is imported is taken, the second time, as the application's own state (see Renderer.render).
- A worker nothing was left in (no project module, no change) is kept for the next project of
  the same process (tests, library use); one that holds a project's modules never is.

Django migrations are rendered by the same machinery (a worker of kind "django"): the
worker then keeps the Django project state from one migration to the next (see django.py), so
such a worker serves one project and is never kept for another.

Requests (path, text, dialect, project root, ...) and results (a `Rendered` of plain
dataclasses) go through pipes as length-prefixed pickles; migsafe writes and drains them without
blocking, so a large result never deadlocks and nothing waits past a deadline. Results are
unpickled accepting only migsafe's own dataclasses.

The time limit (`render-timeout`, per revision) is kept twice. The worker raises RenderTimeout in
itself when the time is up (SIGALRM, where it exists), so the report names the line it was stuck
on; if that does not stop it (a C loop, a revision that swallows the exception or resets the
alarm), migsafe asks its faulthandler where it is stuck and kills the worker's process group
with SIGKILL, which cannot be ignored, a grace second later. A worker that dies (os._exit, a
segfault, the OOM killer) is reported with its exit code or signal, and faulthandler's dump of
the dying stack gives the line. Either way that revision is `not-analyzed`, never silently
passed, and the next one gets a fresh worker. On Linux a worker also dies with migsafe.

This keeps accidents out of the report; it is no sandbox (a revision runs with the user's
permissions). Untrusted code: --no-exec.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import faulthandler
import gc
import importlib
import io
import os
import pickle
import re
import selectors
import signal
import struct
import sys
import threading
import time
import types
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from migsafe.errors import MigsafeError

if TYPE_CHECKING:
    from migsafe.sources.alembic import Rendered

DEFAULT_TIMEOUT = 30.0
GRACE = 1.0  # seconds between the worker's own time limit and the parent's SIGKILL
STARTUP_LIMIT = 120.0  # seconds for a worker to import Alembic on a slow, busy machine
MAX_FRAME = 1 << 30  # bytes; a larger result is refused, not read into memory
MAX_DIAGNOSTICS = 1 << 16  # bytes of faulthandler output kept per revision
_HEADER = struct.Struct("!Q")
_READY = b"ready"
# The only classes a result may contain (besides str, int, list, tuple, ...): these modules'
# dataclasses. Unpickling anything else could run code in migsafe's own process.
_RESULT_MODULES = ("migsafe.model", "migsafe.sql.facts", "migsafe.sources.alembic", "migsafe.sources.worker",
                   "migsafe.sources.django")
# Modules whose functions and classes (and whose classes' methods) a revision must not replace
# for the next one: the libraries that turn op.* calls into SQL, and the standard modules the
# worker itself relies on. Not watched, to keep the check near a millisecond: SQLAlchemy's ORM,
# events, pool and utilities, and Alembic's command-line side, none of which render DDL. (A
# replacement there that breaks rendering still shows, as an error: fails closed.)
LIBRARIES = frozenset({
    "sqlalchemy", "alembic", "migsafe", "sqlmodel", "builtins", "os", "posixpath", "ntpath", "sys",
    "io", "importlib", "contextlib", "pickle", "django",
})
_NOT_WATCHED = ("sqlalchemy.orm", "sqlalchemy.ext", "sqlalchemy.util", "sqlalchemy.event", "sqlalchemy.pool",
                "sqlalchemy.testing", "sqlalchemy.connectors", "sqlalchemy.future", "alembic.testing",
                "alembic.autogenerate", "alembic.script", "alembic.command", "alembic.config", "importlib.metadata",
                "importlib.resources")
_CLASSES_OF = ("sqlalchemy", "alembic", "migsafe", "sqlmodel")  # whose classes' own dicts are watched too
# Of Django, a Django worker watches what the SQL of a migration is made by (the ORM, migrations,
# schema editors, settings, app registry, utilities, contrib.postgres), not the web framework
# around it (templates, forms, views, admin, sessions, ...): each module watched is compared
# after every migration.
_DJANGO_WATCHED = ("django.db", "django.apps", "django.conf", "django.utils", "django.core.exceptions",
                   "django.contrib.postgres")


class RenderTimeout(BaseException):
    """Raised inside the worker when a revision's time is up. A BaseException, so that a
    revision's `except Exception` does not swallow it; the renderer lets it through."""


@dataclasses.dataclass(frozen=True)
class Job:
    path: Path
    text: str
    dialect: str
    project_root: Path
    execute: bool
    timeout: float
    cwd: str  # migsafe's working directory and environment: revisions run with them, as they
    environ: dict  # would in migsafe's own process, whenever the worker was started
    django: object = None  # a django.DjangoStep for a Django migration, None for an Alembic revision
    # Alembic: the statements of the revisions before this one that this worker has not been sent
    # (they start at index `history_start` of the whole history), for reflection to answer from
    # (alembic.ReplayedSchema); `history_whole`: every revision before was read whole.
    history: tuple = ()
    history_start: int = 0
    history_whole: bool = True


def timeout_message(timeout: float) -> str:
    return (f"rendering did not finish within {timeout:g} s (render-timeout): the revision hangs "
            f"or imports something slow")


def crash_message(exitcode: int | None) -> str:
    """`exitcode` as multiprocessing gives it: negative for a signal; None if unknown."""
    if exitcode is None:
        return "the renderer process stopped answering while rendering the revision"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        hint = "; killed from outside, perhaps for lack of memory" if name == "SIGKILL" else ""
        return f"the revision crashed the renderer process (signal {-exitcode}, {name}{hint})"
    return f"the revision ended the renderer process before it finished (exit code {exitcode}, e.g. os._exit)"


_forked_before = False  # whether this process has started a fork worker already
_idle: list = []  # a worker kept between Renderers of one process (tests, several projects, library use)
_idle_cleanup: list = []  # [True] once the atexit hook that ends it is registered
_parent_fds: set[int] = set()  # migsafe's ends of the pipes of its live fork workers


def _park(worker) -> bool:
    """Keep a worker that nothing has been left in (no project module imported, nothing
    changed) for the next Renderer of this process, which then starts at once. Projects never
    share a worker that holds one's modules."""
    if _idle or worker.kind == "django" or not worker.reusable():
        return False
    if not _idle_cleanup:
        atexit.register(_stop_idle)
        _idle_cleanup.append(True)
    _idle.append(worker)
    return True


def _take_idle(method: str, kind: str):
    while _idle:
        worker = _idle.pop()
        if worker.method == method and worker.kind == kind and worker.clean and worker.alive():
            return worker  # (one started ahead may still be importing: it says ready when done)
        worker.stop()
    return None


def start_ahead(kind: str, dialect: str = "postgresql") -> None:
    """Fork the worker now, before migsafe imports its own modules, and keep it for the first
    Renderer: it imports Alembic (or Django) on the other core meanwhile. For pre-commit, which
    passes the staged files: one edited revision is checked in about the time that import takes.
    (The dialect only decides what is imported ahead; each job names its own.)"""
    global _forked_before
    if _idle or _forked_before or not hasattr(os, "fork"):
        return
    _forked_before = True
    if not _idle_cleanup:
        atexit.register(_stop_idle)
        _idle_cleanup.append(True)
    _idle.append(_ForkedWorker(dialect, kind))


def _stop_idle() -> None:
    while _idle:
        _idle.pop().stop()



class Renderer:
    """Renders revisions one after another in a worker process. Use as a context manager; the
    worker starts (and imports Alembic) at once, in the background.

    `method`: "fork" (the default where os.fork exists) or "spawn" (the default elsewhere).
    `recycled` lists why a worker was replaced, one reason per replacement (for tests).
    `kind`: "alembic" or "django", what the worker imports ahead and renders.
    """

    def __init__(self, dialect: str, timeout: float = DEFAULT_TIMEOUT, method: str | None = None,
                 kind: str = "alembic", warm_here: bool = True):
        """`warm_here=False`: a worker forked while another is starting imports on its own (on
        another core), never migsafe first."""
        self.warm_here = warm_here
        if method is None:
            method = "fork" if hasattr(os, "fork") else "spawn"
        if method not in ("fork", "spawn"):
            raise ValueError(f"unknown start method {method!r}")
        self.dialect, self.timeout, self.method, self.kind = dialect, timeout, method, kind
        self.recycled: list[str] = []
        self._seen: set[str] = set()
        self._worker: _ForkedWorker | _SpawnedWorker | None = None
        self._outstanding = False  # a job submitted whose result was not taken
        self._history: list = []  # statements of the revisions so far, in run order (see remember)
        self._history_whole = True
        self._sent: tuple[object, int] = (None, 0)  # (worker, how many of them it was sent)

    def __enter__(self) -> Renderer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        global _forked_before
        if self._worker is None:
            self._worker = _take_idle(self.method, self.kind)
        if self._worker is None:
            if self.method == "fork":
                # One project per run (the CLI's usual case): the worker imports Alembic while
                # migsafe reads the graph. From the second on (more projects, tests, library
                # use), migsafe imports it once itself and every later worker starts warm.
                if _forked_before and self.warm_here:
                    warm_up(self.dialect, self.kind)
                _forked_before = True
                self._worker = _ForkedWorker(self.dialect, self.kind)
            else:
                self._worker = _SpawnedWorker(self.dialect, self.kind)

    def close(self) -> None:
        """Ends the worker, or keeps it for the next Renderer of this process if no revision
        left anything in it (no project module, no change; see _park)."""
        worker, self._worker = self._worker, None
        if worker is not None and (self._outstanding or not _park(worker)):  # (its answer would be read as the next one's)
            worker.stop()

    def render(self, path: Path, text: str, project_root: Path, execute: bool = True, django=None) -> Rendered:
        """`upgrade()` as SQL (see alembic.render_revision), or the reason it could not be had.
        `django`: a django.DjangoStep, to render a Django migration instead."""
        self.submit(path, text, project_root, execute, django)
        return self.result()

    def submit(self, path: Path, text: str, project_root: Path, execute: bool = True, django=None) -> None:
        """Start rendering; result() waits for it. Meanwhile migsafe may judge the one before."""
        self.start()
        self._outstanding = True
        sent = self._sent[1] if self._sent[0] is self._worker else 0
        self._sent = self._worker, len(self._history)
        self._worker.send(Job(path, text, self.dialect, project_root, execute, self.timeout, os.getcwd(),
                              dict(os.environ), django, tuple(self._history[sent:]), sent, self._history_whole))

    def remember(self, statements: list, whole: bool) -> None:
        """A revision's statements (rendered, or taken from the cache), in run order: the next
        revisions' reflection answers from them. `whole`: the revision was read whole."""
        self._history.extend(statements)
        self._history_whole = self._history_whole and whole

    def result(self) -> Rendered:
        rendered, taint = self._worker.receive()
        self._outstanding = False
        if taint is not None:
            # A change the project makes whenever it is imported (say, a compiler hook it
            # registers) would otherwise replace every fresh worker again: the second time it
            # comes with the project's import, it is taken as the project's own state.
            if taint.key is None or not (taint.importing and taint.key in self._seen):
                self.recycled.append(taint.reason)
                self._worker.stop()
                self._worker = None
            if taint.key is not None:
                self._seen.add(taint.key)
        return rendered


def warm_up(dialect: str, kind: str = "alembic") -> None:
    """Import what rendering needs, once per worker."""
    if kind == "django":
        from migsafe.sources.django import warm_up_django

        warm_up_django(dialect)
        return
    # Alembic's Mako imports pygments when it is installed, only to highlight template errors.
    blocked = "pygments" not in sys.modules
    if blocked:
        sys.modules["pygments"] = None  # type: ignore[assignment]  (import pygments -> ImportError)
    try:
        import alembic.operations  # noqa: F401
        import alembic.operations.batch  # noqa: F401
    finally:
        if blocked and sys.modules.get("pygments", 0) is None:
            del sys.modules["pygments"]  # the project may import it
    from alembic.runtime.migration import MigrationContext

    import sqlalchemy.orm  # noqa: F401  (revisions and the helpers they import often use the ORM)

    from migsafe.sources import alembic_static  # noqa: F401
    from migsafe.sources.alembic import ALEMBIC_DIALECT, _register_offline_inspection
    from migsafe.sql import facts, translate  # noqa: F401
    from migsafe.sql.split import split_sql

    _register_offline_inspection()
    # Loads the dialect's SQLAlchemy and Alembic modules, and the SQL splitter's tokenizer.
    MigrationContext.configure(dialect_name=ALEMBIC_DIALECT.get(dialect, dialect),
                               opts={"as_sql": True, "output_buffer": io.StringIO()})
    split_sql("SELECT 1", dialect)


# --- inside the worker ---------------------------------------------------------------------------

def render_contained(job: Job) -> tuple[Rendered, bool]:
    """alembic.render_revision under the worker's own time limit (where SIGALRM exists).
    Returns the result and whether the time limit went off."""
    from migsafe.sources.alembic import REPLAYED, Rendered, _error_line, render_revision

    alarm = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    fired: list[int] = []

    def on_alarm(signum, frame):
        fired.append(signum)
        raise RenderTimeout()

    try:
        try:
            if alarm:
                previous = signal.signal(signal.SIGALRM, on_alarm)
                signal.setitimer(signal.ITIMER_REAL, job.timeout)
            if job.django is not None:
                from migsafe.sources.django import render_step

                rendered = render_step(job.path, job.text, job.dialect, job.django)
            else:
                REPLAYED.extend(job.history_start, job.history, job.history_whole)
                rendered = render_revision(job.path, job.text, job.dialect, job.project_root, job.execute)
        finally:
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
    except RenderTimeout as err:
        return Rendered([], timeout_message(job.timeout), _error_line(err, str(job.path))), True
    if fired:  # the revision caught RenderTimeout and went on: what it rendered is not the truth
        return Rendered([], timeout_message(job.timeout), 1), True
    return rendered, False


def _silence() -> None:
    """fd 0 from /dev/null, fds 1 and 2 to it: nothing the revision writes reaches migsafe's
    output, not even from C code or a subprocess it starts."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115


def _is_library(module_name: object) -> bool:
    return isinstance(module_name, str) and module_name.partition(".")[0] in LIBRARIES


def _installed_paths() -> tuple[str, ...]:
    import sysconfig

    paths = {sysconfig.get_paths().get(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(os.path.realpath(p) + os.sep for p in paths if p)


_INSTALLED: tuple[str, ...] = ()


def _of_project(name: str) -> bool:
    """A module the project brought (its application, a helper next to the revisions), rather
    than the standard library, an installed package or the revision module itself."""
    global _INSTALLED
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    if not isinstance(file, str) or name.startswith("migsafe_revision_") or _is_library(name):
        return False
    if not _INSTALLED:
        _INSTALLED = _installed_paths()
    return not os.path.realpath(file).startswith(_INSTALLED)


def _behaviour(value: object) -> bool:
    """A value whose replacement changes what code does: a function, class, module, descriptor
    or any callable (what monkeypatches replace), rather than data such as a counter."""
    return callable(value) or isinstance(value, types.ModuleType) or hasattr(type(value), "__get__")


# Signal handlers a revision may set that would change how the worker behaves later.
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGALRM", "SIGVTALRM", "SIGPROF", "SIGCHLD", "SIGPIPE",
                                                    "SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGXFSZ",
                                                    "SIGBREAK") if hasattr(signal, name))
# On this signal the worker's faulthandler writes where it is stuck (the parent sends it before
# killing a worker that ignored its own time limit).
_DUMP_SIGNAL = getattr(signal, "SIGUSR2", None)


@dataclasses.dataclass
class Taint:
    """Why the worker should be replaced after a revision. `key` names the change; None for
    what always ends a worker (the time limit). `importing` is true when the revision imported
    project modules: a change the project makes each time it is imported is its own state."""

    reason: str
    key: str | None
    importing: bool = False


class _Guard:
    """What one revision may change in the worker: put back afterwards, or, where that cannot
    be done safely, named (a Taint) so that the worker is replaced."""

    def __init__(self, diagnostics: int | None = None, kind: str = "alembic") -> None:
        self.diagnostics, self.kind = diagnostics, kind
        self.imported = False  # whether a revision imported modules of the project (they stay)
        self.streams = sys.stdin, sys.stdout, sys.stderr
        self.signals = {}
        for signum in _SIGNALS:
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                self.signals[signum] = signal.getsignal(signum)
        if diagnostics is not None and _DUMP_SIGNAL is not None:
            faulthandler.register(_DUMP_SIGNAL, file=diagnostics, all_threads=True)
        self.recursion_limit = sys.getrecursionlimit()
        self.gc_enabled = gc.isenabled()
        self.known: set[str] = set()
        self.counted = 0  # len(sys.modules) when last watched
        self.arrived: set[str] = set()  # modules the last revision imported
        self._environ: tuple[dict, dict] = ({}, {})  # the last environ found equal, and os.environ's data then
        self.modules: dict[str, object] = {}  # library module name -> module object
        self.watched: list[tuple[str, types.MappingProxyType | dict, dict]] = []  # (owner, live, copy)
        self._watch_new_modules()

    def _watch_new_modules(self) -> None:
        self.counted = len(sys.modules)
        seen_classes: set[int] = set()
        for name in sys.modules.keys() - self.known:
            self.known.add(name)
            module = sys.modules[name]
            if (not _is_library(name) or not isinstance(module, types.ModuleType) or name.startswith(_NOT_WATCHED)
                    or ".migrations." in f"{name}."):  # Django migration modules: migsafe itself imports them afresh
                continue
            if self.kind == "django" and name.startswith("django.") and not name.startswith(_DJANGO_WATCHED):
                continue
            self.modules[name] = module
            namespace = vars(module)
            self.watched.append((name, namespace, dict(namespace)))
            if name.partition(".")[0] not in _CLASSES_OF:
                continue
            for value in list(namespace.values()):
                if (isinstance(value, type) and id(value) not in seen_classes
                        and getattr(value, "__module__", None) == name):
                    seen_classes.add(id(value))
                    self.watched.append((f"{name}.{value.__qualname__}", value.__dict__, dict(value.__dict__)))

    @contextlib.contextmanager
    def revision(self, cwd: str, environ: dict):
        with contextlib.suppress(OSError):
            os.chdir(cwd)
        if not self._environ_is(environ):
            os.environ.clear()
            os.environ.update(environ)
        path, meta_path, path_hooks = list(sys.path), list(sys.meta_path), list(sys.path_hooks)
        threads = set(threading.enumerate())
        modules = set(sys.modules)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.chdir(cwd)
            if sys.path != path or sys.meta_path != meta_path or sys.path_hooks != path_hooks:
                if sys.path_hooks != path_hooks:  # finders made by a hook put back: made afresh
                    sys.path_importer_cache.clear()
                # (a folder's finder, the import system's cached listing of it, stays valid: each
                # Django migration adds its apps' folders and import hook, which are taken out here)
                sys.path[:], sys.meta_path[:], sys.path_hooks[:] = path, meta_path, path_hooks
            if not self._environ_is(environ):
                os.environ.clear()
                os.environ.update(environ)
            sys.stdin, sys.stdout, sys.stderr = self.streams
            for signum, handler in self.signals.items():
                with contextlib.suppress(OSError, ValueError, RuntimeError, TypeError):
                    if signal.getsignal(signum) is not handler and handler is not None:
                        signal.signal(signum, handler)
            if self.diagnostics is not None and _DUMP_SIGNAL is not None and signal.getsignal(_DUMP_SIGNAL):
                faulthandler.register(_DUMP_SIGNAL, file=self.diagnostics, all_threads=True)
            sys.setrecursionlimit(self.recursion_limit)
            if sys.gettrace() is not None:
                sys.settrace(None)
            if sys.getprofile() is not None:
                sys.setprofile(None)
            (gc.enable if self.gc_enabled else gc.disable)()
            self.left_threads = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
            self.arrived = sys.modules.keys() - modules
            self.importing = any(_of_project(name) for name in self.arrived)
            self.imported = self.imported or self.importing

    def _environ_is(self, environ: dict) -> bool:
        """os.environ == environ; at once when both are as they were the last time it held (the
        comparison itself decodes every variable: a tenth of the guard's time)."""
        data = getattr(os.environ, "_data", None)
        if data is not None and environ == self._environ[0] and data == self._environ[1]:
            return True
        same = os.environ == environ
        if same and data is not None:
            self._environ = dict(environ), dict(data)
        return same

    def tainted(self) -> Taint | None:
        """What the last revision changed that cannot be put back, or None. The change is
        taken as the new state either way (the parent decides whether to replace the worker)."""
        taint = None
        if self.left_threads:
            taint = Taint(f"the revision left a thread running ({self.left_threads[0].name})", "a thread")
        if list(map(id, map(sys.modules.get, self.modules))) != list(map(id, self.modules.values())):  # (in C)
            for name, module in self.modules.items():
                if taint is None and sys.modules.get(name) is not module:
                    taint = Taint(f"the revision replaced or removed sys.modules[{name!r}]", f"sys.modules[{name!r}]")
            self.modules = {name: sys.modules[name] for name in self.modules if name in sys.modules}
        try:  # one pass in C per mapping: identical values compare without calling their __eq__
            changed = [entry for entry in self.watched if entry[1] != entry[2]]
        except Exception:  # noqa: BLE001 - a changed value whose __eq__ raises: look one by one
            changed = [entry for entry in self.watched if not self._same(entry[1], entry[2])]
        for owner, live, copy in changed:
            if taint is None:
                taint = self._replaced(owner, live, copy)
            copy.clear()
            copy.update(live)
        if len(sys.modules) != self.counted or not self.known.issuperset(self.arrived):
            self._watch_new_modules()  # (a Django migration module imported afresh again is not new)
        if taint is not None:
            taint.importing = self.importing
        return taint

    @staticmethod
    def _replaced(owner: str, live, copy: dict) -> Taint | None:
        """A function, class or descriptor replaced or deleted, or a public or special method
        added to a class (overriding what it inherits). New data values (a counter), new
        module attributes (a submodule imported) and private lazily made helpers are the
        libraries' own business."""
        for key, value in copy.items():
            if _behaviour(value) and (key not in live or live[key] is not value):
                return Taint(f"the revision {'changed' if key in live else 'deleted'} {owner}.{key}", f"{owner}.{key}")
        if isinstance(live, types.MappingProxyType):  # a class
            for key in live.keys() - copy.keys():
                if (not key.startswith("_") or key.startswith("__") and key.endswith("__")) and _behaviour(live[key]):
                    return Taint(f"the revision changed {owner}.{key}", f"{owner}.{key}")
        return None

    @staticmethod
    def _same(live, copy) -> bool:
        try:
            return live == copy
        except Exception:  # noqa: BLE001
            return False


def serve(receive: Callable[[], bytes | None], send: Callable[[bytes], None], dialect: str,
          diagnostics: int | None = None, kind: str = "alembic") -> None:
    """The worker: import Alembic, say ready, then a pickled Job in and a pickled (Rendered,
    Taint or None) out, until the requests end (or migsafe kills the worker)."""
    _silence()
    if diagnostics is not None:
        faulthandler.enable(file=diagnostics, all_threads=True)  # where a crash happened
    warm_up(dialect, kind)
    guard = _Guard(diagnostics, kind)
    worker = os.getpid()
    send(_READY)
    while (request := receive()) is not None:
        job: Job = pickle.loads(request)
        with guard.revision(job.cwd, job.environ):
            try:
                rendered, timed_out = render_contained(job)
            except RenderTimeout:  # went off between render_revision and its cancellation
                from migsafe.sources.alembic import Rendered

                rendered, timed_out = Rendered([], timeout_message(job.timeout), 1), True
        if os.getpid() != worker:  # a revision forked, and this is its child coming back: it must not answer
            os._exit(0)
        taint = guard.tainted()
        if timed_out:
            taint = Taint("the revision was stopped by the time limit", None)
        send(_dumps((rendered, taint, guard.imported)))


def _dumps(result: tuple[Rendered, Taint | None, bool]) -> bytes:
    from migsafe.sources.alembic import Rendered

    try:
        return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as err:  # noqa: BLE001 - should not happen: results are plain dataclasses
        failed = Rendered([], f"migsafe could not send the rendered result back ({type(err).__name__})")
        return pickle.dumps((failed, Taint("the result could not be sent", None), True),
                            protocol=pickle.HIGHEST_PROTOCOL)


def _read_frame(fd: int) -> bytes | None:
    """One length-prefixed frame from a blocking fd; None at end of file."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    return _read_exactly(fd, _HEADER.unpack(header)[0])


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload)) + payload


# --- migsafe's side ------------------------------------------------------------------------------

class _ResultUnpickler(pickle.Unpickler):
    """Rebuilds only migsafe's own result dataclasses: what a worker sends cannot run code here."""

    def find_class(self, module: str, name: str):
        if module in _RESULT_MODULES:
            obj = getattr(importlib.import_module(module), name, None)
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == module:
                return obj
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a rendered result")


def _loads(payload: bytes) -> tuple[Rendered, Taint | None, bool]:
    """(the result, why the worker should be replaced or None, whether it holds project modules)"""
    from migsafe.sources.alembic import Rendered

    try:
        rendered, taint, imported = _ResultUnpickler(io.BytesIO(payload)).load()
        if isinstance(rendered, Rendered) and (taint is None or isinstance(taint, Taint)):
            return rendered, taint, bool(imported)
    except Exception:  # noqa: BLE001 - a revision wrote into the result pipe, or worse
        pass
    return (Rendered([], "the renderer process sent back something that is not a result"),
            Taint("the worker sent back something that is not a result", None), True)


class _ForkedWorker:
    """A forked worker; requests and results through pipes that migsafe never blocks on."""

    def __init__(self, dialect: str, kind: str = "alembic") -> None:
        self.kind = kind
        request_r, self.request_w = os.pipe()
        self.result_r, result_w = os.pipe()
        self.diag_r, diag_w = os.pipe()
        parent = os.getpid()
        frozen = gc.get_freeze_count()
        gc.freeze()  # the worker's collections then leave the inherited objects (and their pages) alone
        try:
            pid = os.fork()
        except OSError as err:
            if not frozen:
                gc.unfreeze()
            for fd in (request_r, self.request_w, self.result_r, result_w, self.diag_r, diag_w):
                os.close(fd)
            raise MigsafeError(f"cannot start a process to render migrations: {err.strerror or err}") from None
        if pid == 0:  # the worker; it never returns from here
            code = 0
            try:
                for fd in (self.request_w, self.result_r, self.diag_r, *_parent_fds):
                    with contextlib.suppress(OSError):
                        os.close(fd)  # its parent's ends, and those of other workers (an idle one)
                with contextlib.suppress(OSError):
                    os.setpgid(0, 0)  # its own process group: killing it kills what a revision started too
                _die_with_parent(parent)
                serve(lambda: _read_frame(request_r), lambda data: _write_all(result_w, _frame(data)), dialect, diag_w,
                      kind)
            except BaseException:  # noqa: BLE001 - migsafe reports a worker that ended without a result
                code = 70
            finally:
                os._exit(code)
        if not frozen:
            gc.unfreeze()
        self.pid: int | None = pid
        self.status: int | None = None
        self.ready = False
        self.clean = True  # no revision has left anything in it
        os.close(request_r)
        os.close(result_w)
        os.close(diag_w)
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # also done by the worker; whichever runs first
        for fd in (self.request_w, self.result_r, self.diag_r):
            os.set_blocking(fd, False)
        _parent_fds.update((self.request_w, self.result_r, self.diag_r))
        self.pending = bytearray()  # result bytes read but not yet a whole frame

    def send(self, job: Job) -> None:
        """Hand the job over (as much of it as the pipe takes now; receive() writes the rest)."""
        self.diagnostics = bytearray()
        try:
            if not self.ready:
                outcome, payload = self._exchange(b"", time.monotonic() + STARTUP_LIMIT, self.diagnostics)
                if outcome != "answer" or payload != _READY:
                    self.stop()
                    code = None if self.status is None else os.waitstatus_to_exitcode(self.status)
                    raise MigsafeError("the process that renders migrations did not start"
                                       f" ({'no answer' if outcome == 'timeout' else f'exit code {code}'})")
                self.ready = True
            self.job, self.unsent = job, memoryview(_frame(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)))
            with contextlib.suppress(BlockingIOError, OSError):  # (a worker gone shows in receive())
                self.unsent = self.unsent[os.write(self.request_w, self.unsent):]
        except BaseException:
            self.stop()
            raise

    def receive(self) -> tuple[Rendered, Taint | None]:
        """The answer to the job sent, within its time limit (counted from now: the worker keeps
        its own, from when it started the job)."""
        from migsafe.sources.alembic import Rendered

        job, diagnostics = self.job, self.diagnostics
        try:
            outcome, payload = self._exchange(self.unsent, time.monotonic() + job.timeout + GRACE, diagnostics)
            if outcome == "timeout" and _DUMP_SIGNAL is not None:
                # It ignored its own time limit: ask its faulthandler where it is stuck.
                with contextlib.suppress(OSError):
                    os.kill(self.pid, _DUMP_SIGNAL)
                self._await(diagnostics, 0.2)
        except BaseException:
            self.stop()
            raise
        if outcome == "answer":
            rendered, taint, imported = _loads(payload)
            self.clean = self.clean and taint is None and not imported
            return rendered, taint
        self.stop(diagnostics)  # stuck, gone or garbled: kill it, and learn how it ended
        if outcome == "too large":
            return (Rendered([], f"the rendered SQL is larger than {MAX_FRAME >> 20} MB"),
                    Taint("the worker sent back too much", None))
        line = _dying_line(bytes(diagnostics), job.path)
        if outcome == "timeout":
            return Rendered([], timeout_message(job.timeout), line), Taint("the revision did not finish in time", None)
        exitcode = None if self.status is None else os.waitstatus_to_exitcode(self.status)
        return Rendered([], crash_message(exitcode), line), Taint(f"the worker ended (exit code {exitcode})", None)

    def _exchange(self, request: bytes, deadline: float, diagnostics: bytearray) -> tuple[str, bytes]:
        """Send the request and read the answer, both before `deadline`. Returns ("answer",
        payload), or ("timeout" | "gone" | "too large", b"")."""
        out = memoryview(request)
        with selectors.DefaultSelector() as selector:
            selector.register(self.result_r, selectors.EVENT_READ)
            selector.register(self.diag_r, selectors.EVENT_READ)
            if out:
                selector.register(self.request_w, selectors.EVENT_WRITE)
            while True:
                if len(self.pending) >= _HEADER.size:
                    size = _HEADER.unpack_from(self.pending)[0]
                    if size > MAX_FRAME:
                        return "too large", b""
                    if len(self.pending) >= _HEADER.size + size:
                        payload = bytes(self.pending[_HEADER.size:_HEADER.size + size])
                        del self.pending[:_HEADER.size + size]
                        return "answer", payload
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "timeout", b""
                events = selector.select(min(remaining, 0.25))
                for key, _ in events:
                    if key.fd == self.request_w:
                        try:
                            out = out[os.write(self.request_w, out):]
                        except BlockingIOError:
                            continue
                        except OSError:  # the worker is gone (EPIPE); its end shows at the result pipe
                            out = out[len(out):]
                        if not out:
                            selector.unregister(self.request_w)
                        continue
                    try:
                        chunk = os.read(key.fd, 1 << 16)
                    except BlockingIOError:
                        continue
                    if key.fd == self.diag_r:
                        if not chunk:
                            selector.unregister(self.diag_r)
                        elif len(diagnostics) < MAX_DIAGNOSTICS:
                            diagnostics += chunk
                    elif not chunk:
                        return "gone", b""
                    else:
                        self.pending += chunk
                if not events and self._exited():
                    return "gone", b""  # something it started holds the pipe open

    def _await(self, diagnostics: bytearray, limit: float) -> None:
        """Read the diagnostics pipe until it has been quiet for a moment, at most `limit` s."""
        deadline = time.monotonic() + limit
        with selectors.DefaultSelector() as selector:
            selector.register(self.diag_r, selectors.EVENT_READ)
            while (remaining := deadline - time.monotonic()) > 0:
                if not selector.select(min(remaining, 0.05) if diagnostics else remaining):
                    if diagnostics:
                        return
                    continue
                try:
                    chunk = os.read(self.diag_r, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    return
                diagnostics += chunk[:max(0, MAX_DIAGNOSTICS - len(diagnostics))]

    method = "fork"

    def reusable(self) -> bool:
        return self.ready and self.clean and self.alive()

    def alive(self) -> bool:
        return self.pid is not None and not self._exited()

    def _exited(self) -> bool:
        if self.status is None and self.pid is not None:
            with contextlib.suppress(ChildProcessError):
                done, status = os.waitpid(self.pid, os.WNOHANG)
                if done:
                    self.status = status
        return self.status is not None

    def stop(self, diagnostics: bytearray | None = None) -> None:
        """Kill the worker and whatever it started (SIGKILL cannot be ignored) and reap it,
        waiting a bounded time (a process stuck in the kernel is left behind, not waited for).
        What it wrote to the diagnostics pipe before it died goes into `diagnostics`."""
        if self.pid is None:
            return
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while not self._exited() and time.monotonic() < deadline:
            time.sleep(0.002)
        if diagnostics is not None:
            with contextlib.suppress(OSError):
                while len(diagnostics) < MAX_DIAGNOSTICS and (chunk := os.read(self.diag_r, 1 << 16)):
                    diagnostics += chunk
        for fd in (self.request_w, self.result_r, self.diag_r):
            _parent_fds.discard(fd)
            with contextlib.suppress(OSError):
                os.close(fd)
        self.pid = None

    def __del__(self) -> None:
        if getattr(self, "pid", None) is not None:
            self.stop()


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL the worker when migsafe's process dies (killed itself), so that a revision
    stuck in a loop does not outlive it. Elsewhere a worker notices at its next request."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # it died before that took effect
            os._exit(0)


def _dying_line(diagnostics: bytes, path: Path) -> int:
    """The innermost line of the revision file in faulthandler's dump, else 1. faulthandler
    writes non-ASCII characters as \\x.., \\u.. escapes, as backslashreplace does."""
    name = str(path).encode("ascii", "backslashreplace")
    match = re.search(rb'File "' + re.escape(name) + rb'", line (\d+)', diagnostics)
    return int(match.group(1)) if match else 1


# --- without fork --------------------------------------------------------------------------------

class _SpawnedWorker:
    """A "spawn" worker (where there is no fork), through a multiprocessing pipe. migsafe waits
    at most the time limit for each answer; a worker stuck in the middle of sending one (which
    only a revision's leftover thread could cause) is not guarded against here."""

    def __init__(self, dialect: str, kind: str = "alembic") -> None:
        import multiprocessing

        self.kind = kind
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve_spawned, args=(child, dialect, kind), name="migsafe-renderer",
                                       daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.clean = True

    method = "spawn"

    def reusable(self) -> bool:
        return self.ready and self.clean and self.alive()

    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def send(self, job: Job) -> None:
        if not self.ready:
            try:
                self.ready = self.conn.poll(STARTUP_LIMIT) and self.conn.recv_bytes() == _READY
            except (EOFError, OSError):
                pass
            if not self.ready:
                code = self.stop()
                raise MigsafeError(f"the process that renders migrations did not start (exit code {code})")
        self.job = job
        self.unsent = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)

    def receive(self) -> tuple[Rendered, Taint | None]:
        from migsafe.sources.alembic import Rendered

        job = self.job
        try:
            self.conn.send_bytes(self.unsent)
            data = self.conn.recv_bytes(MAX_FRAME) if self.conn.poll(job.timeout + GRACE) else None
        except (EOFError, OSError):
            code = self.stop()
            return Rendered([], crash_message(code)), Taint(f"the worker ended (exit code {code})", None)
        if data is None:
            self.stop()
            return Rendered([], timeout_message(job.timeout)), Taint("the revision did not finish in time", None)
        rendered, taint, imported = _loads(data)
        self.clean = self.clean and taint is None and not imported
        return rendered, taint

    def stop(self) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        with contextlib.suppress(OSError):
            self.conn.close()
        if process.is_alive():
            if hasattr(os, "killpg"):
                with contextlib.suppress(OSError):
                    os.killpg(process.pid, signal.SIGKILL)
            process.kill()
        process.join(5)
        return process.exitcode


def serve_spawned(conn, dialect: str, kind: str = "alembic") -> None:
    """The spawn worker's entry point."""
    if hasattr(os, "setpgid"):
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)

    def receive() -> bytes | None:
        try:
            return conn.recv_bytes()
        except (EOFError, OSError):
            return None

    serve(receive, conn.send_bytes, dialect, kind=kind)

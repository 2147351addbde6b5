"""What one job may change in the worker process (core/worker.py): put back after it, or, where
that cannot be done safely, named (a Taint) so that the worker is replaced before the next job.
Runs inside the worker."""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import gc
import os
import signal
import sys
import threading
import types

# Modules whose functions and classes (and whose classes' methods) a job must not replace for
# the next one: migsafe and the standard modules the worker itself relies on, and the source's
# LIBRARIES (those that turn its operations into SQL; see the module doc).
LIBRARIES = frozenset({"migsafe", "builtins", "os", "posixpath", "ntpath", "sys", "io", "importlib", "contextlib",
                       "pickle"})
_NOT_WATCHED = ("importlib.metadata", "importlib.resources")
_CLASSES_OF = ("migsafe",)  # whose classes' own dicts are watched too (and the source's CLASSES_OF)


def _is_library(module_name: object, libraries: frozenset[str] = LIBRARIES) -> bool:
    return isinstance(module_name, str) and module_name.partition(".")[0] in libraries


def _installed_paths() -> tuple[str, ...]:
    import sysconfig  # (once per worker, on the first module asked about)

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
DUMP_SIGNAL = getattr(signal, "SIGUSR2", None)


@dataclasses.dataclass
class Taint:
    """Why the worker should be replaced after a revision. `key` names the change; None for
    what always ends a worker (the time limit). `importing` is true when the revision imported
    project modules: a change the project makes each time it is imported is its own state."""

    reason: str
    key: str | None
    importing: bool = False


class Guard:
    """What one revision may change in the worker: put back afterwards, or, where that cannot
    be done safely, named (a Taint) so that the worker is replaced."""

    def __init__(self, source: types.ModuleType, diagnostics: int | None = None) -> None:
        """`source`: the source's side of the worker (worker.hooks), whose LIBRARIES are watched too."""
        self.diagnostics = diagnostics
        self.source = source
        self.libraries = LIBRARIES | frozenset(self.source.LIBRARIES)
        self.classes_of = _CLASSES_OF + tuple(self.source.CLASSES_OF)
        self.imported = False  # whether a revision imported modules of the project (they stay)
        self.streams = sys.stdin, sys.stdout, sys.stderr
        self.signals = {}
        for signum in _SIGNALS:
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                self.signals[signum] = signal.getsignal(signum)
        if diagnostics is not None and DUMP_SIGNAL is not None:
            faulthandler.register(DUMP_SIGNAL, file=diagnostics, all_threads=True)
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
            if (not _is_library(name, self.libraries) or not isinstance(module, types.ModuleType)
                    or name.startswith(_NOT_WATCHED) or not self.source.watches(name)):
                continue
            self.modules[name] = module
            namespace = vars(module)
            self.watched.append((name, namespace, dict(namespace)))
            if name.partition(".")[0] not in self.classes_of:
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
            if self.diagnostics is not None and DUMP_SIGNAL is not None and signal.getsignal(DUMP_SIGNAL):
                faulthandler.register(DUMP_SIGNAL, file=self.diagnostics, all_threads=True)
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

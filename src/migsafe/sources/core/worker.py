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

Every source that runs project code renders through this machinery, which knows no framework.
A worker's `kind` names the source's side of it, the module `migsafe.sources.<kind>.in_worker`
(or `kind` itself, a dotted module path, for a source outside the package): `warm_up(dialect)`
imports what rendering needs, `render(job)` renders one job into a `Rendered`, `LIBRARIES` (its
top-level packages), `CLASSES_OF` (those whose classes' own dicts are watched too) and
`watches(name)` (which of their modules are compared after every job) say what a job must not
change. A source whose worker keeps state from one job to the next (Django's project state) asks
for `Renderer(..., keeps_state=True)`: such a worker serves one project and is never kept for
another.

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
from typing import Callable

from migsafe.errors import MigsafeError
from migsafe.sources.core.contain import DUMP_SIGNAL, Guard, Taint

from migsafe.sources.core.tracing import Rendered, error_line

DEFAULT_TIMEOUT = 30.0
GRACE = 1.0  # seconds between the worker's own time limit and the parent's SIGKILL
STARTUP_LIMIT = 120.0  # seconds for a worker to import Alembic on a slow, busy machine
MAX_FRAME = 1 << 30  # bytes; a larger result is refused, not read into memory
MAX_DIAGNOSTICS = 1 << 16  # bytes of faulthandler output kept per revision
_HEADER = struct.Struct("!Q")
_READY = b"ready"
# The only classes a result may contain (besides str, int, list, tuple, ...): the dataclasses of
# these modules (and of packages, ending in "."). Unpickling anything else could run code in
# migsafe's own process.
_RESULT_MODULES = ("migsafe.model", "migsafe.sql.facts", "migsafe.sources.")


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
    step: object = None  # what else the source's side needs (Django: a DjangoStep), pickled with the job
    # The statements of the migrations before this one that this worker has not been sent (they
    # start at index `history_start` of the whole history; Renderer.remember), for the source's
    # side to answer reflection from; `history_whole`: every migration before was read whole.
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


def hooks(kind: str) -> types.ModuleType:
    """The source's side of a worker of `kind` (see the module doc). Imported inside the worker,
    and in migsafe's own process only to warm it up there."""
    return importlib.import_module(kind if "." in kind else f"migsafe.sources.{kind}.in_worker")


def _park(worker, keeps_state: bool) -> bool:
    """Keep a worker that nothing has been left in (no project module imported, nothing
    changed) for the next Renderer of this process, which then starts at once. Projects never
    share a worker that holds one's modules, or state (`keeps_state`)."""
    if _idle or keeps_state or not worker.reusable():
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
    `kind`: the source whose side of the worker (`hooks`) imports ahead and renders.
    `keeps_state`: the worker keeps state between jobs (never kept for another Renderer).
    """

    def __init__(self, dialect: str, timeout: float = DEFAULT_TIMEOUT, method: str | None = None,
                 kind: str = "alembic", warm_here: bool = True, keeps_state: bool = False):
        """`warm_here=False`: a worker forked while another is starting imports on its own (on
        another core), never migsafe first."""
        self.warm_here = warm_here
        if method is None:
            method = "fork" if hasattr(os, "fork") else "spawn"
        if method not in ("fork", "spawn"):
            raise ValueError(f"unknown start method {method!r}")
        self.dialect, self.timeout, self.method, self.kind = dialect, timeout, method, kind
        self.keeps_state = keeps_state
        self.recycled: list[str] = []
        self._seen: set[str] = set()
        self._worker: _ForkedWorker | _SpawnedWorker | None = None
        self._outstanding = False  # a job submitted whose result was not taken
        self._history: list = []  # statements of the revisions so far, in run order (see remember)
        self._history_whole = True
        self._sent: tuple[object, int] = (None, 0)  # (worker, how many of them it was sent)

    @property
    def worker(self):
        """The worker serving now (None before the first job, or after one was replaced): a new one
        has been sent no history yet (see remember)."""
        return self._worker

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
        if worker is not None and (self._outstanding or not _park(worker, self.keeps_state)):  # (its answer would be read as the next one's)
            worker.stop()

    def render(self, path: Path, text: str, project_root: Path, execute: bool = True, step=None) -> Rendered:
        """The migration as SQL (the source's hooks.render), or the reason it could not be had.
        `step`: what else the source's side needs for this job (see Job.step)."""
        self.submit(path, text, project_root, execute, step)
        return self.result()

    def submit(self, path: Path, text: str, project_root: Path, execute: bool = True, step=None) -> None:
        """Start rendering; result() waits for it. Meanwhile migsafe may judge the one before."""
        self.start()
        self._outstanding = True
        sent = self._sent[1] if self._sent[0] is self._worker else 0
        self._sent = self._worker, len(self._history)
        self._worker.send(Job(path, text, self.dialect, project_root, execute, self.timeout, os.getcwd(),
                              dict(os.environ), step, tuple(self._history[sent:]), sent, self._history_whole))

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
    hooks(kind).warm_up(dialect)


# --- inside the worker ---------------------------------------------------------------------------

def render_contained(job: Job, kind: str = "alembic") -> tuple[Rendered, bool]:
    """The source's hooks.render under the worker's own time limit (where SIGALRM exists).
    Returns the result and whether the time limit went off."""
    render = hooks(kind).render

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
            rendered = render(job)
        finally:
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
    except RenderTimeout as err:
        return Rendered([], timeout_message(job.timeout), error_line(err, str(job.path))), True
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


def serve(receive: Callable[[], bytes | None], send: Callable[[bytes], None], dialect: str,
          diagnostics: int | None = None, kind: str = "alembic") -> None:
    """The worker: import Alembic, say ready, then a pickled Job in and a pickled (Rendered,
    Taint or None) out, until the requests end (or migsafe kills the worker)."""
    _silence()
    if diagnostics is not None:
        faulthandler.enable(file=diagnostics, all_threads=True)  # where a crash happened
    warm_up(dialect, kind)
    guard = Guard(hooks(kind), diagnostics)
    worker = os.getpid()
    send(_READY)
    while (request := receive()) is not None:
        job: Job = pickle.loads(request)
        with guard.revision(job.cwd, job.environ):
            try:
                rendered, timed_out = render_contained(job, kind)
            except RenderTimeout:  # went off between the render and its cancellation
                rendered, timed_out = Rendered([], timeout_message(job.timeout), 1), True
        if os.getpid() != worker:  # a revision forked, and this is its child coming back: it must not answer
            os._exit(0)
        taint = guard.tainted()
        if timed_out:
            taint = Taint("the revision was stopped by the time limit", None)
        send(_dumps((rendered, taint, guard.imported)))


def _dumps(result: tuple[Rendered, Taint | None, bool]) -> bytes:
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
        if module.startswith(_RESULT_MODULES):
            obj = getattr(importlib.import_module(module), name, None)
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == module:
                return obj
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a rendered result")


def _loads(payload: bytes) -> tuple[Rendered, Taint | None, bool]:
    """(the result, why the worker should be replaced or None, whether it holds project modules)"""
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
        job, diagnostics = self.job, self.diagnostics
        try:
            outcome, payload = self._exchange(self.unsent, time.monotonic() + job.timeout + GRACE, diagnostics)
            if outcome == "timeout" and DUMP_SIGNAL is not None:
                # It ignored its own time limit: ask its faulthandler where it is stuck.
                with contextlib.suppress(OSError):
                    os.kill(self.pid, DUMP_SIGNAL)
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
        import ctypes  # (Linux only)

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
        import multiprocessing  # (only where there is no fork)

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

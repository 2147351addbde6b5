"""migsafe's side of Django: the migration plan (graph.py) handed to the worker in order, one
migration at a time, by one lane, or by two where a long plan gains from a second worker
(lanes.py never imports Django nor project code: the worker does, in_worker.py)."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from migsafe.cache import cpus
from migsafe.errors import ConfigError, MigsafeError
from migsafe.model import Migration
from migsafe.sources.core.worker import DEFAULT_TIMEOUT, Renderer
from migsafe.sources.django.graph import load_plan
from migsafe.sources.django.step import DjangoStep
from migsafe.sources.files import relative_path


def load_django_migrations(migration_dirs: list[Path], cwd: Path, dialect: str, start_after: tuple,
                           execute: bool = True, timeout: float = DEFAULT_TIMEOUT,
                           target_version: str | None = None,
                           settings_module: str | None = None) -> Iterator[tuple[Migration, Path]]:
    """Every migration of the apps below `migration_dirs` (and of the installed apps they depend
    on, as history), in the order migrate applies them. A broken graph raises UsageError (before
    the first migration). Each is yielded once the worker has been handed the next one, so that
    the caller judges it while the worker renders. `settings_module` (config django-settings),
    else DJANGO_SETTINGS_MODULE: the project's settings; neither: ad hoc settings."""
    renderer = Renderer(dialect, timeout, kind="django", keeps_state=True)
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
    rendering = _render_plan(plan, cwd, dialect, history_keys(plan, start_after), execute, timeout, target_version,
                             renderer)
    # The workers are handed their first migrations now (None: nothing rendered yet), and set up
    # Django and the project's apps while migsafe imports its judging.
    first = next(rendering, None)
    return rendering if first is None else itertools.chain([first], rendering)


def _render_plan(plan, cwd: Path, dialect: str, history: set, execute: bool, timeout: float,
                 target_version: str | None, renderer) -> Iterator[tuple[Migration, Path]]:
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
            worker = Renderer(dialect, timeout, kind="django", warm_here=False, keeps_state=True)
            second = _SecondLane(lane(worker, assumed, notes=False), nodes[split:])
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
    if sum(1 for size in sizes if size) < _SECOND_LANE_FROM or cpus() < 2:
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
        # (a swappable model's setting the settings do not give: the model its migration declares swappable)
        declared = {k: v for n in plan.nodes for k, v in n.swappable.items()}
        self.settings = (plan.settings_module, str(plan.settings_file) if plan.settings_file else None,
                         tuple({**declared, **{k: v for k, v in plan.settings.items()
                                               if k.endswith("_MODEL") and isinstance(v, str) and v.count(".") == 1}
                                }.items()))
        self.told_worker, self.told = None, 0  # the worker last sent a history, and how long it was
        self.labels = frozenset(n.app.label for n in plan.nodes)
        self.plan, self.cwd, self.history = plan, cwd, history
        self.apps, self.roots, self.target_version, self.execute = apps, roots, target_version, execute

    def render(self, nodes: list, announce: bool = False) -> Iterator[tuple[Migration, Path] | None]:
        """Each migration is yielded once the worker has been handed the next one: the caller
        judges it meanwhile. `announce`: None is yielded first, once the worker has its first."""
        ready: list[tuple[Migration, Path]] = []  # read or rendered, not yet yielded
        for node in nodes:
            mig = Migration(source="django", name=f"{node.app.label}.{node.name}", path=relative_path(node.path, self.cwd),
                            report=not node.app.external and node.key not in self.history)
            mig.text = node.path.read_text(encoding="utf-8-sig", errors="replace") if node.error is None else ""
            if node.error is not None:
                mig.error, mig.error_line = node.error, node.error_line
            else:
                worker = self.renderer.worker
                start = self.told if worker is not None and worker is self.told_worker else 0  # (a new worker: all)
                step = DjangoStep(*_key(node), tuple(self.done[start:]), self.apps, self.roots, self.target_version,
                                  self.execute, start, *self.settings, labels=self.labels)
                self.renderer.submit(node.path, mig.text, node.app.import_root, self.execute, step=step)
                self.told_worker, self.told = self.renderer.worker, len(self.done)
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
                if node.key in self.plan.missing and rendered.error is not None:
                    # (rendered all the same: what it points at in that app are stand-ins, stand_in_targets;
                    # what failed there may have needed the app itself: both are said)
                    mig.error = f"{rendered.error} ({self.plan.missing[node.key]}, which what failed may need)"
                    mig.error_line = rendered.error_line
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
        self.lane, self.assumed = lane, list(lane.done)
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.stopping = threading.Event()
        lane.renderer.start()  # forked here, not from the thread
        # A worker replacing it later is started from the thread: spawned, as a fork there copies
        # the locks the main thread holds at that moment (a module it is importing) into a child
        # with no thread to release them: it hung until the time limit (pulpcore's settings).
        lane.renderer.method = "spawn"
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


def history_keys(plan, start_after: tuple) -> set[tuple[str, str]]:
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

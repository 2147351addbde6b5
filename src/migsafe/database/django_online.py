"""Django migrations applied for real on the scratch database by Django's own executor, each
statement sent caught with what the server showed for it.

In a child process (capture.run_child), because Django's settings and app registry are
process-global and configured once, and because the project's code runs: the project's
settings module (config django-settings, else DJANGO_SETTINGS_MODULE) with DATABASES["default"]
pointed at the scratch database, every other database and router removed; where there is none
or it cannot be set up, ad hoc settings as offline rendering makes them (the project's apps and
the contrib apps; sources/django.py's set-up, an app that fails to load left out).

Then as `migrate` does, one migration at a time in its plan order: MigrationExecutor.apply_migration,
in one transaction per migration where Django makes one (atomic migrations on a backend that can
roll back DDL). The plan is Django's own, except that where a squash and all the migrations it
replaces are on disk the replaced ones are applied, as offline judging does (that is what existing
databases ran).

Each statement goes through `connection.execute_wrapper` and is attributed to the operation
being applied (its line recorded where the migration module creates it; a nested
SeparateDatabaseAndState operation keeps its own), a RunPython's statements to the RunPython,
deferred SQL (indexes, foreign keys run when the migration ends) to the operation that queued it.
The Probe's own queries use the raw driver connection, so the wrapper never sees them; Django's
bookkeeping (django_migrations) runs outside any operation and is not the migration's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from migsafe.database.capture import (FullOrder, autocommit, in_full_order, inline_all, reads_only, run_child,
                                      server_message, statements)
from migsafe.model import Migration, Span, Statement
from migsafe.sources.core.worker import DEFAULT_TIMEOUT


@dataclass(frozen=True)
class DjangoJob:
    database: dict  # DATABASES["default"] for the scratch database (password included: only the child reads it)
    dialect: str
    settings_module: str | None
    settings_file: str | None
    apps: tuple[tuple[str, str], ...]  # (label, INSTALLED_APPS entry) of each app of the plan
    roots: tuple[str, ...]  # folders the apps import from
    swappable: tuple[tuple[str, str], ...]  # AUTH_USER_MODEL & co. the settings name literally
    files: tuple[str, ...]  # the migration files of the plan (for attribution)
    timeout: float  # seconds per migration
    rows: int = 0  # trace --rows N: each table filled with N rows before each migration


@dataclass
class DjangoApplied:
    app: str
    name: str
    statements: list[Statement] = field(default_factory=list)
    error: str | None = None
    error_line: int = 1
    irreversible: tuple[Span, str] | None = None
    notes: list[str] = field(default_factory=list)  # rows.fill_tables': tables it left empty, why


@dataclass
class SettingsNote:
    why: str
    line: int


def run_django(migration_dirs: list[Path], cwd: Path, dialect: str, start_after: tuple, database: dict, *,
               settings_module: str | None = None, timeout: float = DEFAULT_TIMEOUT,
               target_version: str | None = None, rows: int = 0, plan=None) -> list[tuple[Migration, Path]]:
    """Every migration of the apps below `migration_dirs` (and the installed apps they depend on,
    as history) applied to the (empty) scratch database `database` (a DATABASES entry), in
    migrate's order, as Migration objects like load_django_migrations' holding the statements
    executed with their evidence. `target_version` is not used: the server is the truth. `rows`
    > 0: every table gets that many generated rows before each migration (rows.py). `plan`: their
    load_plan, where the caller has it already."""
    from migsafe.sources.django.lanes import history_keys
    from migsafe.sources.django.graph import load_plan
    from migsafe.sources.files import relative_path

    del target_version
    plan = plan or load_plan(migration_dirs, settings_module or os.environ.get("DJANGO_SETTINGS_MODULE") or None, cwd)
    history = history_keys(plan, start_after)
    job = DjangoJob(
        database=dict(database), dialect=dialect, settings_module=plan.settings_module,
        settings_file=str(plan.settings_file) if plan.settings_file else None,
        apps=tuple(dict.fromkeys((n.app.label, n.app.installed_as) for n in plan.nodes)),
        roots=tuple(dict.fromkeys(str(n.app.import_root) for n in plan.nodes)),
        swappable=tuple((k, v) for k, v in plan.settings.items()
                        if k.endswith("_MODEL") and isinstance(v, str) and v.count(".") == 1),
        files=tuple(str(n.path) for n in plan.nodes + plan.squashed), timeout=timeout, rows=rows)
    items, stopped = run_child("migsafe.database.django_online:_apply", job,
                               timeout * (len(plan.nodes) + 4) + 120, cwd)
    by_key = {n.key: n for n in plan.nodes + plan.squashed}
    squashed = {n.key for n in plan.squashed}

    def migration(node) -> Migration:
        mig = Migration(source="django", name=f"{node.app.label}.{node.name}", path=relative_path(node.path, cwd),
                        report=not node.app.external and node.key not in history and node.key not in squashed,
                        how="executed")
        mig.text = node.path.read_text(encoding="utf-8-sig", errors="replace") if node.error is None else ""
        if node.error is not None:
            mig.error, mig.error_line = node.error, node.error_line
        return mig

    out: list[tuple[Migration, Path]] = []
    done: dict[tuple[str, str], Migration] = {}
    failed = None
    order = next((item for item in items if isinstance(item, FullOrder)), None)
    for item in items:
        if isinstance(item, SettingsNote):
            out.append(_settings_note(plan, cwd, item))
            continue
        if isinstance(item, FullOrder):
            continue
        node = by_key.get((item.app, item.name))
        if node is None:  # a migration Django ran that is not below the paths (an app the settings install)
            continue
        mig = done.get(node.key) or migration(node)
        mig.statements, mig.irreversible, mig.notes = item.statements, item.irreversible, item.notes
        if item.error is not None:
            mig.error, mig.error_line = item.error, item.error_line
            failed = mig.name
        if node.key not in done:
            done[node.key] = mig
            out.append((mig, node.path))
    if stopped and done:
        last = list(done.values())[-1]
        if last.error is None:
            last.error, failed = stopped, last.name
    for node in plan.nodes + plan.squashed:
        if node.key in done:
            continue
        mig = migration(node)
        if node.key in squashed:
            mig.how = "replaced"  # replaced by the migrations it squashes, which were applied
        elif mig.error is None:
            mig.error = (f"not run: {failed} failed on the database" if failed
                         else f"not run: {stopped}" if stopped
                         else "not run: Django's migrate did not apply it (is its app in INSTALLED_APPS?)")
        out.append((mig, node.path))
    return in_full_order(out, order, sum(isinstance(item, SettingsNote) for item in items))


def _settings_note(plan, cwd: Path, note: SettingsNote) -> tuple[Migration, Path]:
    """The project's settings could not be set up: said at the settings file, as offline."""
    from migsafe.sources.files import relative_path

    module = plan.settings_module
    path = plan.settings_file or cwd.joinpath(*module.split(".")).with_suffix(".py")
    mig = Migration(source="django", name=module, path=relative_path(path, cwd), error_line=note.line,
                    error=f"the Django settings module {module} could not be set up ({note.why}), so the"
                          " migrations were applied with ad hoc settings (the project's apps, Django's defaults)")
    with contextlib.suppress(OSError):
        mig.text = path.read_text(encoding="utf-8-sig", errors="replace")
    return mig, path


# --- in the child --------------------------------------------------------------------------------

class _TimeUp(BaseException):
    """A migration's time is up (a BaseException: project code's `except Exception` lets it by)."""


def _time_up(signum, frame):
    raise _TimeUp()


def _settings(job: DjangoJob, emit) -> None:
    """Django configured: the project's settings on the scratch database, else ad hoc ones."""
    from django.conf import settings
    from django.utils.functional import empty

    from migsafe.sources.core.tracing import describe
    from migsafe.sources.django.project import line_in, reset_registry, setup_django

    if job.settings_module:
        try:
            os.environ["DJANGO_SETTINGS_MODULE"] = job.settings_module
            if os.getcwd() not in sys.path:
                sys.path.append(os.getcwd())
            settings.DATABASES.clear()  # (imports the module) nothing but the scratch database
            settings.DATABASES["default"] = dict(job.database)
            settings.DATABASE_ROUTERS = []
            installed = list(settings.INSTALLED_APPS)
            labels = {_label(entry) for entry in installed}
            # Apps whose migrations were named but that these settings do not install (a project
            # template's app) are installed too: what was named is applied and judged, as offline.
            named = [entry for label, entry in job.apps if label not in labels and not entry.startswith("django.")]
            setup_django([], installed + named)
            return
        except Exception as err:  # noqa: BLE001 - project code: ad hoc settings instead, and said so
            emit(SettingsNote(describe(err), line_in(err, job.settings_file)))
            settings._wrapped = empty
            reset_registry()
    contrib = {f"django.contrib.{a}" for a in ("contenttypes", "auth", "sessions", "messages", "sites")}
    entries = [entry for _, entry in job.apps]
    contrib.update(a for a in entries if a.startswith("django.contrib.") and a != "django.contrib.postgres")
    installed = sorted(contrib - {"django.contrib.admin"})
    installed.append("django.contrib.admin.apps.SimpleAdminConfig")  # no autodiscover of admin.py
    if "django.contrib.postgres" in entries:
        installed.append("django.contrib.postgres")
    project = [a for a in entries if not a.startswith("django.")]
    settings.configure(INSTALLED_APPS=installed + project, DATABASES={"default": dict(job.database)}, USE_TZ=True,
                       DEFAULT_AUTO_FIELD="django.db.models.AutoField", SECRET_KEY="migsafe",
                       STATIC_URL="static/", MEDIA_URL="media/", **dict(job.swappable))
    setup_django(installed, project)


def _label(entry: str) -> str | None:
    """The app label an INSTALLED_APPS entry gives (an AppConfig may rename it), as Django makes it."""
    from django.apps import AppConfig

    try:
        return AppConfig.create(entry).label
    except Exception:  # noqa: BLE001 - the project's app: Django's own set-up says why
        return None


class _Run:
    """The operation being applied (its span) and the statements caught for the migration."""

    def __init__(self, job: DjangoJob) -> None:
        self.job = job
        self.spans: list[Span] = []  # operations being applied, innermost last
        self.failed_at: Span | None = None  # the innermost operation an exception came out of
        self.applied: DjangoApplied | None = None
        self.probe = None
        self.tracers: dict[str, object] = {}  # file name as Python has it -> Tracer, or None: not a migration
        self.files = {os.path.realpath(f) for f in job.files}

    def span_of_caller(self) -> Span | None:
        """Where in a migration file the operation being created is written."""
        from migsafe.sources.core.tracing import Tracer

        frame = sys._getframe(2)
        while frame is not None:
            name = frame.f_code.co_filename
            if name not in self.tracers:
                real = os.path.realpath(name)
                self.tracers[name] = Tracer(Path(name), Path(real).read_text(encoding="utf-8-sig", errors="replace")) \
                    if real in self.files else None
            if self.tracers[name] is not None:
                return self.tracers[name]._span(frame)
            frame = frame.f_back
        return None

    def wrapper(self, execute, sql, params, many, context):
        from django.db import connection

        if self.applied is None or not self.spans or reads_only(sql):
            return execute(sql, params, many, context)
        dbapi = connection.connection
        sent = statements(inline_all(sql, params, self.job.dialect, many), self.spans[-1], self.job.dialect,
                          connection.in_atomic_block and connection.features.can_rollback_ddl and not autocommit(dbapi))
        if not sent:
            return execute(sql, params, many, context)
        self.applied.statements += sent
        if self.probe is None:
            from migsafe.database.probe import Probe

            self.probe = Probe(dbapi, self.job.dialect)
        self.probe.before()
        result = execute(sql, params, many, context)
        sent[0].evidence = self.probe.after(f"{self.applied.app}.{self.applied.name} line {sent[0].span.line}")
        return result

    def follow(self, operations: list) -> None:
        """Each operation's database_forwards (nested ones too) marks its span while it runs."""
        for operation in operations:
            span = getattr(operation, "_migsafe_span", None) or (self.spans[-1] if self.spans else Span(1, 1, 1, 1))

            def forwards(*args, _original=operation.database_forwards, _span=span, **kwargs):
                self.spans.append(_span)
                try:
                    return _original(*args, **kwargs)
                except BaseException:
                    self.failed_at = self.failed_at or _span
                    raise
                finally:
                    self.spans.pop()

            operation.database_forwards = forwards
            self.follow(getattr(operation, "database_operations", None) or [])


@contextlib.contextmanager
def _instrumented(run: _Run):
    """Operations remember where they are created; a schema editor's deferred SQL remembers the
    operation that queued it and runs under its span."""
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor
    from django.db.migrations.operations.base import Operation

    original_new = Operation.__dict__["__new__"]
    create = original_new.__func__ if isinstance(original_new, staticmethod) else original_new

    def new(cls, *args, **kwargs):
        self = create(cls, *args, **kwargs)
        self._migsafe_span = run.span_of_caller()
        return self

    original_enter = BaseDatabaseSchemaEditor.__enter__

    def enter(editor):
        result = original_enter(editor)
        queued: dict[int, tuple[object, Span]] = {}

        class Deferred(list):
            def append(self, item):
                if run.spans:
                    queued[id(item)] = (item, run.spans[-1])
                super().append(item)

            def extend(self, items):
                for item in items:
                    self.append(item)

        editor.deferred_sql = Deferred(editor.deferred_sql)
        execute = editor.execute

        def execute_deferred(sql, params=()):
            pinned = queued.get(id(sql))
            if pinned is None or pinned[0] is not sql:
                return execute(sql, params)
            run.spans.append(pinned[1])
            try:
                return execute(sql, params)
            except BaseException:
                run.failed_at = run.failed_at or pinned[1]
                raise
            finally:
                run.spans.pop()

        editor.execute = execute_deferred
        return result

    Operation.__new__ = staticmethod(new)
    BaseDatabaseSchemaEditor.__enter__ = enter
    try:
        yield
    finally:
        Operation.__new__ = original_new
        BaseDatabaseSchemaEditor.__enter__ = original_enter


def _url(job: DjangoJob):
    """The scratch database's DATABASES entry as a SQLAlchemy URL."""
    from sqlalchemy.engine import URL

    db = job.database
    host = str(db.get("HOST") or "")
    from migsafe.database.scratch import POSTGRES_DRIVER

    driver = {"postgresql": POSTGRES_DRIVER, "mysql": "mysql+pymysql", "sqlite": "sqlite"}[job.dialect]
    return URL.create(driver, username=db.get("USER") or None, password=db.get("PASSWORD") or None,
                      host=None if host.startswith("/") else host or None,
                      port=int(db["PORT"]) if db.get("PORT") else None, database=db.get("NAME"),
                      query={"host": host} if host.startswith("/") else {})


def _fill(job: DjangoJob) -> list[str]:
    """Each table filled with job.rows rows (rows.py), between two migrations (no transaction open)."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    from migsafe.database.rows import fill_tables

    engine = sa.create_engine(_url(job), poolclass=NullPool, future=True)  # (rows.py: 2.0 API)
    try:
        with engine.connect() as connection:
            return fill_tables(connection, job.dialect, job.rows)
    finally:
        engine.dispose()


def _irreversible(migration) -> tuple[Span, str] | None:
    from migsafe.sources.core.tracing import NO_WAY_BACK

    for operation in migration.operations:
        if not operation.reversible:
            what = "reverse_sql" if hasattr(operation, "reverse_sql") else "reverse_code"
            return (getattr(operation, "_migsafe_span", None) or Span(1, 1, 1, 1),
                    f"{type(operation).__name__} has no reverse ({what}); {NO_WAY_BACK}")
    return None


def _apply(job: DjangoJob, emit) -> None:
    """Child: set Django up, then apply the plan one migration at a time, emitting a
    DjangoApplied as each begins and when it ends."""
    import django  # noqa: F401

    from migsafe.sources.core.tracing import describe, error_line

    sys.path[:0] = [r for r in job.roots if r not in sys.path]
    _settings(job, emit)
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    run = _Run(job)
    with _instrumented(run):
        executor = MigrationExecutor(connection)  # (loads every migration module)
        loader = executor.loader
        if loader.replacements:  # the replaced migrations are applied, not the squash (see above)
            loader.replace_migrations = False
            loader.build_graph()
            for key, squash in loader.replacements.items():
                if all(r in loader.graph.nodes for r in squash.replaces):
                    loader.graph.remove_replacement_node(key, squash.replaces)
        emit(FullOrder(tuple(f"{m.app_label}.{m.name}" for m, _ in
                             executor.migration_plan(loader.graph.leaf_nodes(), clean_start=True))))
        plan = executor.migration_plan(loader.graph.leaf_nodes())  # (on a template's clone: what it lacks)
        state = executor._create_project_state(with_applied_migrations=True)
        signal.signal(signal.SIGALRM, _time_up)
        with connection.execute_wrapper(run.wrapper):
            for migration, _ in plan:
                emit(DjangoApplied(migration.app_label, migration.name))  # begun
                run.applied = applied = DjangoApplied(migration.app_label, migration.name,
                                                      notes=_fill(job) if job.rows > 0 else [])
                applied.irreversible = _irreversible(migration)
                run.follow(migration.operations)
                if "apps" not in state.__dict__:
                    state.apps  # noqa: B018 - rendered once before the first, as migrate does
                signal.setitimer(signal.ITIMER_REAL, job.timeout)
                try:
                    state = executor.apply_migration(state, migration)
                except BaseException as err:  # noqa: BLE001 - the server's refusal, or the project's code
                    if isinstance(err, KeyboardInterrupt):
                        raise
                    message = server_message(err, _url(job))
                    applied.error = message if message else (
                        f"the migration took longer than {job.timeout:.0f} s" if isinstance(err, _TimeUp)
                        else describe(err))
                    applied.error_line = run.failed_at.line if run.failed_at else error_line(
                        err, getattr(sys.modules.get(migration.__module__), "__file__", "") or "")
                    emit(applied)
                    return
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                run.applied = None
                emit(applied)

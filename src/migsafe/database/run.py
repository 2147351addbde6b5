"""`check --database` and `trace`: each history applied on a scratch database of its own, and
what was executed judged by the same rules, with the same replayed schema, as offline.

One scratch database per history (the .sql files; each Alembic project; all Django apps), since
each applies its history from nothing, or from the template of its longest prefix that an earlier
run kept (templates.py: embedded server only). Where the fact table's lock for a finding differs
from the lock the server showed for its statement, the observation wins and the message says so.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from migsafe.cache import Cache, cache_dir
from migsafe.config import Settings
from migsafe.database import templates
from migsafe.database.probe import rank
from migsafe.database.scratch import Scratch, open_scratch
from migsafe.discover import Discovered
from migsafe.errors import UsageError
from migsafe.model import Finding, Migration, Result


@dataclasses.dataclass
class History:
    """One history: `run(scratch, start)` applies it (from `start`'s template where not None) and
    gives its migrations as (Migration, file) in run order; `keys()` what its templates are keyed
    by, or None where it is never kept."""

    run: Callable[[Scratch, templates.Start | None], Iterable[tuple[Migration, Path]]]
    keys: Callable[[], templates.Keyed | None] = lambda: None


def check_on_database(found: Discovered, settings: Settings, cwd: Path, only: set[Path] | None,
                      rows: int = 0, keep: list[Migration] | None = None, cache: Cache | None = None) -> Result:
    """The Result of `check` in --database mode. `rows`: trace --rows; `keep`: collects every
    migration run (trace's table), in order; `cache`: where templates' migrations are kept (and
    statements' facts), None: no templates."""
    from migsafe.judge import merged
    from migsafe.judge import analyze
    from migsafe.sources.files import real_path

    if settings.no_exec and (found.of("alembic") or found.of("django")):
        raise UsageError("--database runs the project's Alembic and Django migrations: it cannot be combined "
                         "with no-exec")
    report_only = found.report_only
    if only is not None:
        report_only = only if report_only is None else report_only & only
    django_timeout = bool(found.of("django")) and _django_sets_lock_timeout(settings, found)

    def reported(items: Iterable[tuple[Migration, Path]]) -> Iterator[Migration]:
        for m, path in items:
            if report_only is not None:
                m.report = m.report and real_path(path) in report_only
            m.runner_lock_timeout = m.runner_lock_timeout or (django_timeout and m.source == "django")
            if keep is not None:
                keep.append(m)
            yield m

    cache = cache or Cache(None)
    templated = settings.database == "embedded" and cache.directory is not None and rows == 0
    results = []
    for history in _histories(found, settings, cwd, rows, cache):
        keyed = history.keys() if templated else None
        start: list[templates.Start | None] = [None]

        def choose(existing: set[str], keyed=keyed, start=start) -> str | None:
            start[0] = templates.find_start(keyed, cache, existing)
            return start[0].template if start[0] else None

        with open_scratch(settings.database, cache_dir(), choose if keyed else None) as scratch:
            if settings.dialect and settings.dialect != scratch.dialect:
                raise UsageError(f"--dialect {settings.dialect} does not match the --database server, "
                                 f"which is {scratch.dialect}")
            scratch.rows = rows
            ran: list[Migration] = []  # every migration of the history, as run: a template's cache entry
            items = _collected(history.run(scratch, start[0] if scratch.template else None), ran)
            result = analyze(reported(items), dataclasses.replace(settings, dialect=scratch.dialect), cache=cache)
            if keyed and templates.keepable(ran, list(keyed.members)):
                scratch.keep_as(templates.keep(keyed, ran, cache))
        for f in result.findings:
            reconcile(f)
        results.append(result)
    return merged(results) if results else Result([], 0, 0, 0, settings.dialect or "postgresql", "")


def _collected(items: Iterable[tuple[Migration, Path]], into: list[Migration]) -> Iterator[tuple[Migration, Path]]:
    for migration, path in items:
        into.append(migration)
        yield migration, path


def reconcile(finding: Finding) -> None:
    """Observation wins: where the server held another lock on the finding's table than the
    fact table predicted, the finding says the observed one, and that it differs."""
    evidence = finding.evidence
    if evidence is None or not finding.lock or not finding.table:
        return
    observed = evidence.new_lock(finding.table)
    if observed is None and (held := evidence.held_before(finding.table)) is not None:
        mode, where = held  # (the statement's lock cannot be seen: an earlier one of its transaction had it)
        finding.message += (f" (on the server, its transaction already held {mode} on {finding.table}, since "
                            f"{where or 'an earlier statement'}: the statement took no lock of its own there)")
        return
    if observed is None or observed == finding.lock:
        return  # (nothing new: a statement run outside a transaction)
    if rank(observed) < rank(finding.lock) and evidence.holds(finding.table, finding.lock):
        return  # the predicted lock was held already (an earlier statement took it): not a difference
    finding.message += (f" (observed on the server: {observed} on {finding.table}, "
                        f"where migsafe's lock table predicted {finding.lock})")
    finding.lock = observed


def _histories(found: Discovered, settings: Settings, cwd: Path, rows: int, cache: Cache) -> list[History]:
    histories: list[History] = []
    if found.of("sql"):
        histories.append(History(lambda scratch, start: _sql_history(found, settings, cwd, scratch, start),
                                 lambda: _sql_keys(found, settings, cwd)))
    for project in found.of("alembic"):
        histories.append(History(
            lambda scratch, start, project=project: _alembic_history(project, settings, cwd, scratch, rows, start),
            lambda project=project: _alembic_keys(project, cwd, cache)))
    if found.of("django"):
        plan = functools.cache(lambda: _django_plan(found, settings, cwd))  # (the keys and the run read it)
        histories.append(History(lambda scratch, start: _django_history(found, settings, cwd, scratch, rows, start,
                                                                        plan()),
                                 lambda: _django_keys(plan(), cwd)))
    return histories


def _sql_history(found: Discovered, settings: Settings, cwd: Path, scratch: Scratch, start: templates.Start | None):
    from migsafe.database.sql_files import run_sql_files
    from migsafe.sources.sql.load import mark_history
    from migsafe.sources.sql.load import load_sql_migrations

    migrations = load_sql_migrations(found.of("sql"), cwd, scratch.dialect, settings.sql_transaction == "per-file")
    mark_history(migrations, settings.start_after.get("sql"))
    done = [templates.restore(m, ran) for m, ran in zip(migrations, start.ran)] if start else []
    return zip(itertools.chain(done, run_sql_files(migrations[len(done):], scratch)), found.of("sql"))


def _sql_keys(found: Discovered, settings: Settings, cwd: Path) -> templates.Keyed | None:
    """Each file runs after the one before it: a template holds a first part of the files. Never
    where two files have one migration name."""
    from migsafe.sources.sql.load import migration_name

    names = [migration_name(f) for f in found.of("sql")]
    if len(set(names)) != len(names):
        return None
    base = ("sql", cwd, settings.sql_transaction)
    return templates.keyed(repr(base), zip(names, found.of("sql")),
                           {name: set(names[:n][-1:]) for n, name in enumerate(names)})


def _alembic_history(project, settings: Settings, cwd: Path, scratch: Scratch, rows: int,
                     start: templates.Start | None):
    from migsafe.database.alembic_online import run_alembic

    items = run_alembic(project.version_dirs, project.root, cwd, scratch.dialect, settings.start_after.get("alembic"),
                        scratch.url.render_as_string(hide_password=False), sourceless=project.sourceless,
                        timeout=settings.render_timeout, rows=rows)
    return list(templates.in_order(items, start)) if start else items


def _alembic_keys(project, cwd: Path, cache: Cache) -> templates.Keyed | None:
    """Keyed as rendering keys a revision (alembic_chain: the project's other files, env.py
    included), then each revision; never for an upgrade run in one transaction."""
    from migsafe.database.alembic_online import transaction_per_migration
    from migsafe.sources.alembic.cache_keys import alembic_chain, revision_reader
    from migsafe.sources.alembic.graph import load_revisions, read_revision

    read = revision_reader(cache, project.version_dirs, project.root, read_revision)
    graph = load_revisions(project.version_dirs, read=read, sourceless=project.sourceless)
    if hasattr(read, "save"):
        read.save()
    if graph.broken_files or not transaction_per_migration(project.version_dirs[0].parent / "env.py"):
        return None
    revisions = [rev.path for rev in graph.revisions]
    base = alembic_chain(cache, project.version_dirs, project.root, revisions, cwd, "postgresql", True)
    return templates.keyed(base, ((rev.id, rev.path) for rev in graph.revisions),
                           {rev.id: graph.ancestors(rev.id) - {rev.id} for rev in graph.revisions})


def _django_plan(found: Discovered, settings: Settings, cwd: Path):
    from migsafe.sources.django.graph import load_plan

    return load_plan(found.of("django"), settings.django_settings or os.environ.get("DJANGO_SETTINGS_MODULE") or None,
                     cwd)


def _django_history(found: Discovered, settings: Settings, cwd: Path, scratch: Scratch, rows: int,
                    start: templates.Start | None, plan):
    from migsafe.database.django_online import run_django

    items = run_django(found.of("django"), cwd, scratch.dialect, settings.start_after.get("django"),
                       scratch.django_database(), settings_module=settings.django_settings,
                       timeout=settings.render_timeout, target_version=settings.target_version, rows=rows, plan=plan)
    return list(templates.in_order(items, start)) if start else items


def _django_keys(plan, cwd: Path) -> templates.Keyed | None:
    """Keyed by the settings and each migration in migrate's order, each with the project files it
    imports (transitively): not by the models it does not import, which change with every new
    migration. Never for a plan with squashed migrations or a migration that cannot be read."""
    from migsafe.cache import import_path_state

    if plan.squashed or plan.missing or any(n.error for n in plan.nodes):
        return None
    # The project's own folders: installed packages are in import_path_state (and walking Django's
    # imports from site-packages would take longer than the run).
    roots = [root for root in dict.fromkeys(n.app.import_root for n in plan.nodes)
             if not {"site-packages", "dist-packages"} & set(root.parts)]
    setup = [plan.settings_file] if plan.settings_file else []
    base = repr(("django", cwd, import_path_state(), plan.settings_module,
                 [(str(f), templates.digest_of(f)) for f in templates.imported_files(setup, roots)]))
    name = {n.key: f"{n.app.label}.{n.name}" for n in plan.nodes}
    imports = templates.Imports(roots)
    return templates.keyed(base, ((name[n.key], n.path, imports.closure([n.path])) for n in plan.nodes),
                           {name[k]: {name[p] for p in parents} for k, parents in plan.parents.items() if k in name})


def _django_sets_lock_timeout(settings: Settings, found: Discovered) -> bool:
    from migsafe.sources.django.runner import django_sets_lock_timeout

    return django_sets_lock_timeout(settings.django_settings or os.environ.get("DJANGO_SETTINGS_MODULE"),
                                    found.of("django"))

"""Django migrations -> Migration objects: the SQL Django itself would run, with no database.

migsafe's process reads the migration graph statically (graph.py) and never imports Django or
project code; lanes.py hands each migration in order to the worker (core/worker.py, the same
machinery and time limit as Alembic revisions), where Django's own code renders it (in_worker.py):

- Django is configured with the project's settings module (config django-settings, else
  DJANGO_SETTINGS_MODULE), else ad hoc (INSTALLED_APPS: the project's apps and the contrib apps
  the graph uses). Settings that cannot be set up are reported (a not-analyzed finding at the
  settings file, a line on stderr) and ad hoc settings used. Every database of either is one that
  never connects (offline.py). (project.py)
- The project state is built once and carried forward from one migration to the next inside
  the worker (rebuilding it per migration, as `sqlmigrate` does, is what makes it slow); a fresh
  worker (after a crash or a time-out) replays the earlier migrations' state changes only. A
  migration that cannot be rendered carries its state changes forward all the same (each
  operation's state_forwards; a failing operation is not-analyzed, the others are rendered), so
  one failure never makes the migrations after it fail too, nor replays the history. (in_worker.py)
- SQL is collected with the backend's schema editor in collect_sql mode through a connection
  object that never connects: values are quoted here as the driver would send them (stock
  PostgreSQL and MySQL quote through a live driver connection; offline.quote), stand-in driver
  modules let the backends import without psycopg or MySQLdb (project.py), queries an operation
  makes get no rows, and the constraint names Django would read from the database are served from
  the replayed state (Django names them deterministically). (render.py, offline.py, facts.py)
- Packages the project imports but that are not installed get stand-ins (stand_ins.py); a
  migration that still cannot be imported, and every migration under --no-exec, is read
  statically (static.py). An app whose models or ready() fail stays installed. Stand-ins the SQL
  does not depend on (managers, validators, storages, ...) never fail a render; a field class
  keeps what its deconstruction and the project's own source tell, and a change of a type
  migsafe cannot know is said as such (stand_ins.unknown_type_change).
- Model classes are rendered on demand, per operation, only those its SQL needs (state.py);
  MIGSAFE_DJANGO_RENDER=full keeps Django's own whole-project rendering, the reference the
  tests compare with.
- Every statement points at the operation that produced it: the call's place is recorded when
  the operation object is created, so nested `SeparateDatabaseAndState` operations keep their
  own line; deferred SQL (foreign keys, indexes) keeps the line of the operation that queued it.
"""

from __future__ import annotations

import os

from migsafe.sources.django import find
from migsafe.sources.django.runner import django_sets_lock_timeout
from migsafe.sources.registry import Source


def _load(found, settings, cwd, cache, default: str) -> list:
    roots = found.of("django")
    if not roots:
        return []
    from migsafe.sources.django.lanes import load_django_migrations  # (only when a run is not cached)

    runner_timeout = django_sets_lock_timeout(settings.django_settings or os.environ.get("DJANGO_SETTINGS_MODULE"),
                                              roots)
    # Yields each migration as the worker starts on the next: judged meanwhile.
    loaded = load_django_migrations(roots, cwd, default, settings.start_after.get("django"),
                                    execute=not settings.no_exec, timeout=settings.render_timeout,
                                    target_version=settings.target_version, settings_module=settings.django_settings)

    def with_runner(items):
        for m, path in items:
            m.runner_lock_timeout = m.runner_lock_timeout or runner_timeout
            yield m, path

    return [(default, with_runner(loaded))]


def _key_parts(found, cache) -> list:
    return [part for root in found.of("django")
            for part in [root] + [item for pair in sorted(cache.py_files([root]).items()) for item in pair]]


SOURCE = Source(
    name="django", load=_load, key_parts=_key_parts, language="python", fixes="migsafe.fixes.django",
    way_back="Give each RunPython a reverse_code and each RunSQL a reverse_sql that undo it"
             " (migrations.RunPython.noop / migrations.RunSQL.noop where there is nothing to undo).",
    start_after="per-app", irreversible_alone=True, libraries=("django",), wants=find.wants, owns=find.owns,
    find=find.find, looks_for="Django migrations packages", renders_in_worker=True,
)

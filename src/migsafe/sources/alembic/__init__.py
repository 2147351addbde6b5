"""Alembic revisions: the graph read with ast (graph.py), each revision rendered offline in the
worker (in_worker.py -> render.py, offline.py) or read without running it (static.py)."""

from __future__ import annotations

from migsafe.sources.alembic import find
from migsafe.sources.registry import Source


def _load(found, settings, cwd, cache, default: str) -> list:
    # The user's dialect applies to everything; where none is set, each project runs on the
    # database its alembic.ini names, never lent to what is beside it.
    from migsafe.sources.alembic.load import load_alembic_migrations  # (only when a run is not cached)

    return [(settings.dialect or project.dialect or default, load_alembic_migrations(
        project.version_dirs, project.root, cwd, settings.dialect or project.dialect or default,
        settings.start_after.get("alembic"), execute=not settings.no_exec, timeout=settings.render_timeout,
        cache=cache, sourceless=project.sourceless)) for project in found.of("alembic")]


def _key_parts(found, cache) -> list:
    from migsafe.sources.alembic.cache_keys import key_parts  # (keeps the registry's import light)

    return key_parts(found, cache)


SOURCE = Source(
    name="alembic", load=_load, key_parts=_key_parts, language="python", fixes="migsafe.fixes.alembic",
    way_back="Write downgrade() so that it undoes what upgrade() does, in reverse order.",
    libraries=("alembic", "sqlalchemy"), wants=find.wants, owns=find.owns, find=find.find,
    looks_for="Alembic projects", renders_in_worker=True,
)

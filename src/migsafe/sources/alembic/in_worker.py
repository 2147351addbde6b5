"""Alembic's side of the rendering worker (core/worker.py): what it imports ahead, how it renders
one revision, and which of its libraries a revision must not change for the next one.

Imported in the worker only (and by migsafe's own process to warm itself up, see
worker.Renderer.start): Alembic and SQLAlchemy are imported inside the functions.
"""

from __future__ import annotations

import io
import sys

# The libraries that turn op.* calls into SQL: a revision must not replace their functions and
# classes (and their classes' methods) for the next one.
LIBRARIES = ("sqlalchemy", "alembic", "sqlmodel")
CLASSES_OF = LIBRARIES  # whose classes' own dicts are watched too
# Not watched, to keep the check near a millisecond: SQLAlchemy's ORM, events, pool and utilities,
# and Alembic's command-line side, none of which render DDL. (A replacement there that breaks
# rendering still shows, as an error: fails closed.)
NOT_WATCHED = ("sqlalchemy.orm", "sqlalchemy.ext", "sqlalchemy.util", "sqlalchemy.event", "sqlalchemy.pool",
               "sqlalchemy.testing", "sqlalchemy.connectors", "sqlalchemy.future", "alembic.testing",
               "alembic.autogenerate", "alembic.script", "alembic.command", "alembic.config")


def watches(name: str) -> bool:
    """Whether the worker compares the library module `name` after every revision."""
    return not name.startswith(NOT_WATCHED)


def warm_up(dialect: str) -> None:
    """Import what rendering needs, once per worker."""
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

    from migsafe.sources.alembic import static  # noqa: F401
    from migsafe.sources.alembic.offline import ALEMBIC_DIALECT, register_offline_inspection
    from migsafe.sql import facts, translate  # noqa: F401
    from migsafe.sql.split import split_sql

    register_offline_inspection()
    # Loads the dialect's SQLAlchemy and Alembic modules, and the SQL splitter's tokenizer.
    MigrationContext.configure(dialect_name=ALEMBIC_DIALECT.get(dialect, dialect),
                               opts={"as_sql": True, "output_buffer": io.StringIO()})
    split_sql("SELECT 1", dialect)


def render(job):
    """One revision (a worker.Job), rendered offline (or read statically), after the history the
    job brings for reflection to answer from."""
    from migsafe.sources.alembic.offline import REPLAYED
    from migsafe.sources.alembic.render import render_revision

    REPLAYED.extend(job.history_start, job.history, job.history_whole)
    return render_revision(job.path, job.text, job.dialect, job.project_root, job.execute)

"""An Alembic project -> Migration objects, in run order: the graph read here (never run), each
revision rendered in the worker (in_worker.py -> render.py), renderings reused from the cache.
Runs in migsafe's own process: imports neither Alembic nor SQLAlchemy."""

from __future__ import annotations

from pathlib import Path

from migsafe.cache import Cache, digest
from migsafe.model import Migration
from migsafe.sources.alembic.cache_keys import alembic_chain, revision_reader
from migsafe.sources.alembic.graph import load_revisions, read_revision
from migsafe.sources.alembic.runner import alembic_sets_lock_timeout
from migsafe.sources.core.tracing import Rendered
from migsafe.sources.core.worker import DEFAULT_TIMEOUT, Renderer
from migsafe.sources.files import relative_path


def load_alembic_migrations(version_dirs: list[Path], root: Path, cwd: Path, dialect: str,
                            start_after: str | None, execute: bool = True,
                            timeout: float = DEFAULT_TIMEOUT, cache: Cache | None = None,
                            sourceless: bool = False) -> list[tuple[Migration, Path]]:
    """Every revision of one graph, in run order, rendered (or read statically). Revisions at or
    before `start_after` (it and its ancestors) are history: replayed, not reported. A rendering
    the cache holds is taken from it (keyed by a chain over the revisions, see cache_keys.py).

    Each revision is rendered in a worker process (core/worker.py) within `timeout` seconds
    (render-timeout). So is static reading (execute=False, --no-exec): it runs no project code,
    but a hostile file can still make it loop or allocate without end, and the worker costs no
    more than rendering in this process would (this process then never imports Alembic)."""
    out = []
    cache = cache or Cache(None)
    runner_timeout = alembic_sets_lock_timeout(version_dirs)
    with Renderer(dialect, timeout) as renderer:  # the worker imports Alembic while the graph is read
        read = revision_reader(cache, version_dirs, root, read_revision)
        graph = load_revisions(version_dirs, read=read, sourceless=sourceless)  # (alembic.ini's sourceless)
        if read is not read_revision:
            read.save()
        history = graph.ancestors(start_after) if start_after else set()
        chain = alembic_chain(cache, version_dirs, root, [r.path for r in graph.revisions], cwd, dialect, execute)
        for rev in graph.broken_files + graph.revisions:
            mig = Migration(source="alembic", name=rev.id or rev.path.stem, path=relative_path(rev.path, cwd),
                            report=rev.id not in history, irreversible=rev.irreversible)
            if rev.error is not None:
                mig.error, mig.error_line = rev.error, rev.error_line
                renderer.remember([], whole=False)
            else:
                mig.text = rev.path.read_text(encoding="utf-8-sig", errors="replace")
                chain = digest(chain, rev.path, mig.text)
                rendered = cache.get(chain, Rendered)
                if rendered is None:
                    rendered = renderer.render(rev.path, mig.text, root, execute)
                    if rendered.error is None:  # a failure may be the machine's (time limit, memory)
                        cache.put(chain, rendered)
                mig.statements, mig.how, mig.unreadable = rendered.statements, rendered.how, rendered.unreadable
                renderer.remember(rendered.statements, whole=rendered.error is None and not rendered.unreadable)
                if rendered.error is not None:
                    mig.error, mig.error_line = rendered.error, rendered.error_line
            mig.runner_lock_timeout = runner_timeout
            out.append((mig, rev.path))
    return out

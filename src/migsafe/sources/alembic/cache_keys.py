"""What an Alembic project's cache entries are keyed by (see cache.py): the chain over its
revisions, the memo of its revision files read, and its part of a whole run's key."""

from __future__ import annotations

from pathlib import Path

from migsafe.cache import Cache, Memo, digest, import_path_state, salt
from migsafe.sources.alembic.graph import import_roots


def alembic_import_roots(version_dirs: list[Path], root: Path) -> list[Path]:
    """Where the revisions of these folders import from (as rendering puts them on sys.path)."""
    return list(dict.fromkeys(r for d in version_dirs for r in import_roots(d / "revision.py", root)))


def alembic_chain(cache: Cache, version_dirs: list[Path], root: Path, revisions: list[Path], cwd: Path,
                  dialect: str, execute: bool) -> str:
    """The start of a project's revision chain (see cache.py's doc): everything a revision's
    rendering reads except the revision files themselves."""
    if cache.directory is None:
        return ""
    roots = alembic_import_roots(version_dirs, root)
    own = {str(p) for p in revisions}  # as the walk spells them: folder + name
    others = [item for pair in sorted(cache.py_files(roots).items()) if pair[0] not in own for item in pair]
    return digest(salt(), "alembic", cwd, import_path_state(), dialect, execute, root, roots, *others)


def revision_reader(cache: Cache, version_dirs: list[Path], root: Path, read):
    """`read` (graph.read_revision) memoised across runs by each file's content, all of a
    project's in one entry: a pre-commit run then parses only the edited revision."""
    if cache.directory is None:
        return read
    return Memo(cache, digest(salt(), "revisions", root, *version_dirs),
                cache.py_files(alembic_import_roots(version_dirs, root)), read)


def key_parts(found, cache: Cache) -> list:
    """The Alembic projects' part of a whole run's key: each project's folders and dialect, and
    every file its revisions could import."""
    parts: list[object] = []
    for project in found.of("alembic"):
        roots = alembic_import_roots(project.version_dirs, project.root)
        parts += [project.version_dirs, project.root, project.dialect, roots]
        parts += [item for pair in sorted(cache.py_files(roots).items()) for item in pair]
    return parts

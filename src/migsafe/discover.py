"""PATHs given on the command line -> the migration files of each source kind."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from migsafe.errors import UsageError
from migsafe.sources.sql import order_sql_files, relative_path

# Never migrations, and often huge: not walked (any other dot-folder is skipped too).
_SKIP_DIRS = {"venv", "node_modules", "__pycache__", "site-packages"}


@dataclass
class Discovered:
    sql_files: list[Path] = field(default_factory=list)  # ordered by order_sql_files
    # Alembic and Django plug in here: script folders / migration packages found while walking.
    # Not filled yet.
    alembic_roots: list[Path] = field(default_factory=list)
    django_roots: list[Path] = field(default_factory=list)
    # Resolved paths of the migrations to report, when a PATH named single files (pre-commit,
    # --diff): their folder is still replayed for the schema. None: report everything found.
    report_only: set[Path] | None = None


def discover(paths: list[Path], exclude: list[str], cwd: Path) -> Discovered:
    sql: list[Path] = []
    seen_files: set[Path] = set()
    seen_dirs: set[Path] = set()  # resolved; shared so overlapping PATHs are walked once
    reported: set[Path] = set()
    named_files = False
    for given in paths:
        full = Path(os.path.abspath(cwd / given))  # an absolute `given` stays; "a/../b" -> "b"
        if not full.exists():
            raise UsageError(f"path does not exist: {given}")
        if full.is_dir():
            found = _walk(full, exclude, cwd, seen_dirs)
            reported.update(f.resolve() for f in found)
        elif _is_sql(full):
            # A file named on the command line is reported as is (exclude does not apply); the
            # folder it belongs to is replayed first, so the schema before it is known.
            named_files = True
            reported.add(full.resolve())
            found = _walk(history_root(full), exclude, cwd, set()) + [full]
        else:
            found = []
        for f in found:
            if f.resolve() not in seen_files:  # also a symlink to a file already found
                seen_files.add(f.resolve())
                sql.append(f)
    return Discovered(sql_files=order_sql_files(sql), report_only=reported if named_files else None)


def history_root(path: Path) -> Path:
    """The folder whose migrations come before `path`: <root>/<name>/up.sql lives in <root>."""
    return path.parent.parent if path.name.lower() == "up.sql" else path.parent


def is_excluded(rel: str, patterns: list[str]) -> bool:
    """Does a cwd-relative "/" path match an exclude glob?

    `legacy/**` and `legacy` exclude the folder's whole tree (the path or any of its parent
    folders matches); `**/x/**` also matches a top-level x; a pattern without "/" matches a
    file or folder name at any depth (as ruff and .gitignore do). fnmatch's `*` also matches "/".
    """
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        pattern = pattern.strip().rstrip("/")
        if pattern.startswith("./"):
            pattern = pattern[2:]
        if "/" not in pattern:
            if any(fnmatchcase(part, pattern) for part in parts):
                return True
            continue
        variants = [pattern, pattern[3:]] if pattern.startswith("**/") else [pattern]
        if any(fnmatchcase(p, v) for p in prefixes for v in variants):
            return True
    return False


def _walk(folder: Path, exclude: list[str], cwd: Path, seen_dirs: set[Path]) -> list[Path]:
    real = folder.resolve()
    if real in seen_dirs:  # a symlink loop, or a folder reached twice
        return []
    seen_dirs.add(real)
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        # Unreadable folders (e.g. a database volume owned by another user) hold nothing we
        # could check; failing the whole run for them would be worse.
        return []
    found: list[Path] = []
    for entry in entries:
        path = folder / entry.name
        if is_excluded(relative_path(path, cwd), exclude):
            continue
        if entry.is_dir():  # follows symlinks; loops are stopped by seen_dirs
            if not (entry.name.startswith(".") or entry.name in _SKIP_DIRS):
                found += _walk(path, exclude, cwd, seen_dirs)
        elif _is_sql(path):
            found.append(path)
    return found


def _is_sql(path: Path) -> bool:
    return path.suffix.lower() == ".sql"

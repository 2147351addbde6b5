"""PATHs given on the command line -> the migration files of each source kind."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from migsafe.errors import UsageError
from migsafe.sources import alembic_graph as AG
from migsafe.sources import django_graph as DG
from migsafe.sources.sql import forget_real_paths, order_sql_files, real_path, relative_path

# Never migrations, and often huge: not walked (any other dot-folder is skipped too).
_SKIP_DIRS = {"venv", "node_modules", "__pycache__", "site-packages"}


@dataclass
class AlembicProject:
    """One Alembic revision graph: its version folders, where its code runs from, its dialect."""

    version_dirs: list[Path]
    root: Path  # put on sys.path while rendering, as running alembic from the project would
    dialect: str | None = None  # from sqlalchemy.url in alembic.ini, when it says


@dataclass
class Discovered:
    sql_files: list[Path] = field(default_factory=list)  # ordered by order_sql_files
    alembic: list[AlembicProject] = field(default_factory=list)
    # Django migration packages (folders), each once; their apps' graph is read by django_graph.
    django_roots: list[Path] = field(default_factory=list)
    # Resolved paths of the migrations to report, when a PATH named single files (pre-commit,
    # --diff): their folder is still replayed for the schema. None: report everything found.
    report_only: set[Path] | None = None


def discover(paths: list[Path], exclude: list[str], cwd: Path) -> Discovered:
    forget_real_paths()  # a run starts here
    sql: list[Path] = []
    seen_files: set[Path] = set()
    seen_dirs: set[tuple[int, int]] = set()  # (device, inode): overlapping PATHs are walked once
    reported: set[Path] = set()
    named_files = False
    alembic_markers: list[Path] = []  # alembic.ini files and versions folders met while walking
    django: list[Path] = []  # Django migrations packages met while walking
    for given in paths:
        full = Path(os.path.abspath(cwd / given))  # an absolute `given` stays; "a/../b" -> "b"
        if not full.exists():
            if os.path.islink(full):
                raise UsageError(f"path is a symbolic link to nothing (dangling, or a loop): {given}")
            raise UsageError(f"path does not exist: {given}")
        if full.is_dir():
            if not os.access(full, os.R_OK | os.X_OK):
                # Nothing below it can be checked: never report that as "no migrations found".
                raise UsageError(f"path cannot be read (permission denied): {given}")
            markers_before, django_before = len(alembic_markers), len(django)  # (what this PATH adds)
            alembic_markers.append(full)  # the folder itself may be a versions folder
            if DG.is_migrations_package(full):  # or a Django migrations package given by any name
                django.append(full)
            found = _walk(full, exclude, cwd, seen_dirs, alembic_markers, django)
            reported.update(real_path(f) for f in found)
            reported.update(real_path(f) for f in _revision_files(alembic_markers[markers_before:]))
            reported.update(real_path(f) for d in django[django_before:] for f in DG.migration_files(d))
        elif _is_sql(full):
            # A file named on the command line is reported as is (exclude does not apply); the
            # folder it belongs to is replayed first, so the schema before it is known.
            named_files = True
            reported.add(real_path(full))
            found = _walk(history_root(full), exclude, cwd, set()) + [full]
        elif AG.is_revision_file(full):
            named_files = True  # its versions folder is replayed, only this revision reported
            reported.add(real_path(full))
            alembic_markers.append(full.parent)
            found = []
        elif DG.is_migration_file(full):
            # Its app's history is replayed, and the apps next to it (the folder its app package
            # imports from) for dependencies across apps; only this migration is reported.
            named_files = True
            reported.add(real_path(full))
            django.append(full.parent)
            _walk(DG.app_of(full.parent).import_root, exclude, cwd, set(), None, django)
            found = []
        else:
            found = []
        for f in found:
            real = real_path(f)
            if real not in seen_files:  # also a symlink to a file already found
                seen_files.add(real)
                sql.append(f)
    return Discovered(sql_files=order_sql_files(sql), report_only=reported if named_files else None,
                      alembic=alembic_projects(alembic_markers),
                      django_roots=sorted({real_path(d): d for d in django}.values()))


def alembic_projects(markers: list[Path]) -> list[AlembicProject]:
    """Group what the walk met into revision graphs: an alembic.ini claims its version
    locations; any other versions folder is a project of its own."""
    projects: list[AlembicProject] = []
    claimed: set[Path] = set()
    for ini in sorted(m for m in markers if m.name == "alembic.ini"):
        config = AG.read_alembic_ini(ini)
        dirs = [d for d in config.version_locations if d.is_dir()]
        if dirs and not claimed.intersection(real_path(d) for d in dirs):
            claimed.update(real_path(d) for d in dirs)
            projects.append(AlembicProject(dirs, ini.parent, config.dialect))
    for folder in sorted({m for m in markers if m.name != "alembic.ini"}):
        if real_path(folder) not in claimed and AG.is_versions_dir(folder):
            claimed.add(real_path(folder))
            # <project>/<script dir>/versions: code runs from the project folder
            root = folder.parent.parent if AG.is_script_dir(folder.parent) else folder.parent
            projects.append(AlembicProject([folder], root))
    return projects


def _revision_files(markers: list[Path]) -> list[Path]:
    return [p for m in markers if m.is_dir() for p in sorted(m.glob("*.py")) if AG.is_revision_file(p, quick=True)]


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


def _walk(folder: Path, exclude: list[str], cwd: Path, seen_dirs: set,
          alembic_markers: list[Path] | None = None, django: list[Path] | None = None) -> list[Path]:
    found: list[Path] = []
    _walk_into(os.fspath(folder), exclude, cwd, seen_dirs, alembic_markers, django, found)
    return found


def _walk_into(folder: str, exclude: list[str], cwd: Path, seen_dirs: set,
               alembic_markers: list[Path] | None, django: list[Path] | None, found: list[Path]) -> None:
    # A folder is known by its device and inode: a symlink loop, or a folder reached twice by
    # overlapping PATHs, is walked once (cheaper than resolving each folder's real path).
    try:
        info = os.stat(folder)
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        # Unreadable folders (e.g. a database volume owned by another user) hold nothing we
        # could check; failing the whole run for them would be worse.
        return
    if (info.st_dev, info.st_ino) in seen_dirs:
        return
    seen_dirs.add((info.st_dev, info.st_ino))
    for entry in entries:
        name = entry.name
        if exclude and is_excluded(relative_path(Path(entry.path), cwd), exclude):
            continue
        if _entry_is(entry, "is_dir"):  # follows symlinks; loops are stopped by seen_dirs
            if not (name.startswith(".") or name in _SKIP_DIRS):
                if alembic_markers is not None and name == "versions":
                    alembic_markers.append(Path(entry.path))
                if django is not None and name == "migrations" and DG.is_migrations_package(Path(entry.path)):
                    django.append(Path(entry.path))
                _walk_into(entry.path, exclude, cwd, seen_dirs, alembic_markers, django, found)
        elif alembic_markers is not None and name == "alembic.ini" and _entry_is(entry, "is_file"):
            alembic_markers.append(Path(entry.path))
        elif _is_sql(name):
            found.append(Path(entry.path))


def _entry_is(entry: os.DirEntry, kind: str) -> bool:
    """entry.is_dir() / is_file() that is False where the answer is an error (a symlink loop
    raises ELOOP); a FIFO named alembic.ini is not a file, so it is never opened."""
    try:
        return getattr(entry, kind)()
    except OSError:
        return False


def _is_sql(path: Path | str) -> bool:
    return os.path.splitext(path)[1].lower() == ".sql"

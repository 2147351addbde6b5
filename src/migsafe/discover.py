"""PATHs given on the command line -> the migration files of each source kind."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from migsafe.errors import UsageError
from migsafe.sources.alembic import graph as AG
from migsafe.sources.django import graph as DG
from migsafe.sources.files import SKIP_DIRS, forget_real_paths, real_path, relative_path
from migsafe.sources.registry import sources
from migsafe.sources.sql.load import order_sql_files



@dataclass
class AlembicProject:
    """One Alembic revision graph: its version folders, where its code runs from, its dialect."""

    version_dirs: list[Path]
    root: Path  # put on sys.path while rendering, as running alembic from the project would
    dialect: str | None = None  # from sqlalchemy.url in alembic.ini, when it says
    sourceless: bool = False  # alembic.ini's sourceless: compiled revisions are loaded too
    origin: Path | None = None  # its alembic.ini, else its versions folder

    def files(self) -> list[Path]:
        """Every file Alembic loads from the version folders (AG.revision_paths)."""
        return [p for d in self.version_dirs for p in AG.revision_paths(d, self.sourceless)]


@dataclass
class Discovered:
    sql_files: list[Path] = field(default_factory=list)  # ordered by order_sql_files
    alembic: list[AlembicProject] = field(default_factory=list)
    # Django migration packages (folders), each once; their apps' graph is read by sources/django/graph.py.
    django_roots: list[Path] = field(default_factory=list)
    # Resolved paths of the migrations to report, when a PATH named single files (pre-commit,
    # --diff) or a part of an Alembic project: the rest is still replayed for the schema.
    # None: report everything found.
    report_only: set[Path] | None = None
    # A source's own files, for a source with a `find` of its own (registry.Source.find).
    by_source: dict[str, list[Path]] = field(default_factory=dict)


def discover(paths: list[Path], exclude: list[str], cwd: Path) -> Discovered:
    forget_real_paths()  # a run starts here
    sql: list[Path] = []
    seen_files: set[Path] = set()
    seen_dirs: set[tuple[int, int]] = set()  # (device, inode): overlapping PATHs are walked once
    reported: set[Path] = set()
    folders: list[Path] = []  # the PATHs that are folders
    bare: dict[Path, str] = {}  # those whose walk found no .sql file or Django package -> as given
    named_files = False
    alembic_markers: list[Path] = []  # alembic.ini files and versions folders met while walking
    django: list[Path] = []  # Django migrations packages met while walking
    configs = _Configs()
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
            folders.append(full)
            django_before = len(django)  # (what this PATH adds)
            alembic_markers.append(full)  # the folder itself may be a versions folder,
            alembic_markers += _alembic_above(full, configs)  # or a part of a project above it
            if _is_django_package(full):  # or a Django migrations package given by any name
                django.append(full)
            found = _walk(full, exclude, cwd, seen_dirs, alembic_markers, django)
            reported.update(real_path(f) for f in found)
            reported.update(real_path(f) for d in django[django_before:] for f in DG.migration_files(d))
            if not found and len(django) == django_before:
                bare[full] = str(given)  # unless it holds (part of) an Alembic project
        elif _is_sql(full):
            # A file named on the command line is reported as is (exclude does not apply); the
            # folder it belongs to is replayed first, so the schema before it is known.
            named_files = True
            reported.add(real_path(full))
            found = _walk(history_root(full), exclude, cwd, set()) + [full]
        elif AG.loads_name(full.name) and (owner := _alembic_above(full, configs)):
            named_files = True  # its project is replayed, only this file reported
            reported.add(real_path(full))
            alembic_markers += owner
            found = []
        elif _is_django_migration(full):
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
    projects = alembic_projects(alembic_markers, configs)
    # A project found below a folder PATH is reported whole; one found above a PATH (from a
    # revision file, or a sub-folder of its versions) is replayed whole, reported below the PATH.
    inside = tuple(os.path.join(real_path(f), "") for f in folders)
    whole = True
    kept = []
    for project in projects:
        below = os.path.join(real_path(project.origin), "").startswith(inside)
        files = list(map(real_path, project.files()))
        mine = {f for f in files if below or str(f).startswith(inside) or f in reported}
        if not mine and files and not below:
            continue  # another history beside the one named (prefect's sqlite folder): not this database's
        kept.append(project)
        reported |= mine
        whole = whole and all(f in reported for f in files)
    projects = kept
    by_source = {s.name: s.find(paths, exclude, cwd) for s in sources() if s.find is not None}
    reported.update(real_path(f) for files in by_source.values() for f in files)
    _require_migrations(bare, reported | {real_path(p.origin) for p in projects})  # (an alembic.ini there)
    return Discovered(sql_files=order_sql_files(sql), alembic=projects,
                      report_only=reported if named_files or not whole else None,
                      django_roots=sorted({real_path(d): d for d in django}.values()), by_source=by_source)


def _require_migrations(folders: dict[Path, str], found: set[Path]) -> None:
    """A folder PATH (-> as given) holding none of the `found` (real paths) is a mistake (a typo
    in CI would check nothing and pass): UsageError. Files named one by one (pre-commit) may be anything."""
    empty = [given for folder, given in folders.items()
             if not any(str(f).startswith(os.path.join(real_path(folder), "")) for f in found)]
    if empty:
        raise UsageError(f"no migrations found under {', '.join(empty)} (looked for .sql files, "
                         "Alembic projects and Django migrations packages)")


def _is_django_package(folder: Path) -> bool:
    """A Django migrations package: named migrations, or (MIGRATION_MODULES may name it
    anything) holding numbered migration modules. Never a package whose models.py defines a
    model named Migration (nova.db.main)."""
    return DG.is_migrations_package(folder) and (
        folder.name == "migrations" or any(map(_is_django_migration, DG.migration_files(folder))))


def _is_django_migration(path: Path) -> bool:
    """A module of a Django migrations package: in a folder named migrations, or numbered
    (0002_add_field.py) as makemigrations names them."""
    return (path.parent.name == "migrations" or path.name[:1].isdigit()) and DG.is_migration_file(path)


class _Configs(dict):
    """alembic.ini -> AlembicConfig, each file read once per run."""

    def __missing__(self, ini: Path) -> AG.AlembicConfig:
        self[ini] = AG.read_alembic_ini(ini)
        return self[ini]


def alembic_projects(markers: list[Path], configs: dict | None = None) -> list[AlembicProject]:
    """Group what the walk met into revision graphs: an alembic.ini claims its version
    locations and everything below them; any other versions folder is a project of its own."""
    configs = _Configs() if configs is None else configs
    projects: list[AlembicProject] = []
    claimed: set[Path] = set()  # real paths of the version folders taken

    def taken(folder: Path) -> bool:
        real = real_path(folder)
        return real in claimed or not claimed.isdisjoint(real.parents)

    for ini in sorted({m for m in markers if m.name == "alembic.ini"}):
        config = configs[ini]
        dirs = [d for d in config.version_locations if d.is_dir()]  # Alembic passes over missing ones
        if dirs and not any(map(taken, dirs)):
            claimed.update(real_path(d) for d in dirs)
            for history, dialect in _histories(dirs, config.recursive):
                projects.append(AlembicProject(history, ini.parent, dialect or config.dialect, config.sourceless, ini))
    for folder in sorted({m for m in markers if m.name != "alembic.ini"}):
        if not taken(folder) and AG.is_versions_dir(folder, nested=folder.name == "versions"):
            claimed.add(real_path(folder))
            # <project>/<script dir>/versions: code runs from the project folder
            root = folder.parent.parent if AG.is_script_dir(folder.parent) else folder.parent
            for history, dialect in _histories([folder], False):
                projects.append(AlembicProject(history, root, dialect, origin=folder))
    return projects


def _histories(dirs: list[Path], recursive: bool) -> list[tuple[list[Path], str | None]]:
    """The revision graphs of a project's version locations, each with the dialect its folder
    names. Sub-folders belong to their location's graph (AG.revision_paths) but in one layout:
    a single location holding no revision itself whose sub-folders define the same revision ids
    keeps one history per database, chosen at run time (prefect: versions/postgresql/ and
    versions/sqlite/); each is then a graph of its own."""
    if recursive or len(dirs) != 1 or AG.is_versions_dir(dirs[0]):
        return [(dirs, None)]
    subs = [d for d in sorted(dirs[0].iterdir()) if d.is_dir() and not d.name.startswith(".")
            and not d.name.endswith("__pycache__") and AG.is_versions_dir(d, nested=True)]
    ids = [AG.read_revision(p).id for d in subs for p in AG.revision_paths(d)]
    ids = [i for i in ids if i is not None]
    if len(set(ids)) == len(ids):
        return [(dirs, None)]
    return [([d], AG.dialect_named(d.name)) for d in subs]


def _alembic_above(path: Path, configs: _Configs) -> list[Path]:
    """The project a file or a folder belongs to, looked for in the folders above it up to the
    repository's root: the nearest alembic.ini whose version locations hold `path` (or, for a
    folder, lie below it), else the nearest folder named versions that holds revisions, else,
    for a file, its own folder if that holds revisions. [] when there is none."""
    start = path if path.is_dir() else path.parent
    above = [start, *start.parents]
    above = above[: next((i + 1 for i, f in enumerate(above) if (f / ".git").exists()), len(above))]
    above = above[1:] if path.is_dir() else above  # (a folder's own alembic.ini is met by the walk)
    real = real_path(path)
    for folder in above:
        ini = folder / "alembic.ini"
        if ini.is_file():
            config = configs[ini]
            for location in map(real_path, config.version_locations):
                if location == real or location in real.parents or (path.is_dir() and real in location.parents):
                    return [ini]
            if real_path(config.script_location) in real.parents:
                return []  # in the project's script folder, but none of its version locations
    for folder in above:
        if AG.is_script_dir(folder):  # its revisions are in its versions/, not above `path`
            break
        if folder.name == "versions" and AG.is_versions_dir(folder, nested=True):
            return [folder]
    alone = path.is_file() and not AG.is_script_dir(path.parent) and AG.is_versions_dir(path.parent)
    return [path.parent] if alone else []


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
            if not (name.startswith(".") or name in SKIP_DIRS):
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

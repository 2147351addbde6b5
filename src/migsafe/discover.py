"""PATHs given on the command line -> what each registered source finds there.

discover knows no framework: it checks the PATHs, walks each folder PATH once for every source
(hidden and tool folders skipped, exclude globs applied, each folder once however it is reached),
hands each source's `find` what it wants of that walk and the file PATHs it owns, and merges what
they found (registry.Source.find)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from migsafe.errors import UsageError
from migsafe.sources.files import SKIP_DIRS, forget_real_paths, real_path, relative_path
from migsafe.sources.registry import Found, Given, Source, sources


@dataclass
class Discovered:
    # What each source found (Found.migrations: what its load reads), by source name; only the
    # sources that found some.
    by_source: dict[str, list] = field(default_factory=dict)
    # Resolved paths of the migrations to report, when a PATH named single files (pre-commit,
    # --diff) or a part of an Alembic project: the rest is still replayed for the schema.
    # None: report everything found.
    report_only: set[Path] | None = None

    def of(self, name: str) -> list:
        """What source `name` found ([]: nothing)."""
        return self.by_source.get(name, [])


def discover(paths: list[Path], exclude: list[str], cwd: Path) -> Discovered:
    forget_real_paths()  # a run starts here
    finders = [s for s in sources() if s.find is not None]
    wants = {s.name: s.wants for s in finders}
    # Each PATH, absolute, with its text as the user wrote it and, for a folder, what its walk
    # met for each source (None: a file).
    given: list[tuple[Path, str, dict[str, list[Path]] | None]] = []
    seen_dirs: set[tuple[int, int]] = set()  # (device, inode): overlapping PATHs are walked once
    for path in paths:
        full = Path(os.path.abspath(cwd / path))  # an absolute `path` stays; "a/../b" -> "b"
        if not full.exists():
            if os.path.islink(full):
                raise UsageError(f"path is a symbolic link to nothing (dangling, or a loop): {path}")
            raise UsageError(f"path does not exist: {path}")
        if full.is_dir():
            if not os.access(full, os.R_OK | os.X_OK):
                # Nothing below it can be checked: never report that as "no migrations found".
                raise UsageError(f"path cannot be read (permission denied): {path}")
            given.append((full, str(path), _walk(full, wants, exclude, cwd, seen_dirs)))
        else:
            given.append((full, str(path), None))
    # A file PATH is the first source's that owns it (in registry order); one no source owns
    # (a settings.py that pre-commit passes along) is nobody's.
    owner = {full: next((s.name for s in finders if s.owns(full)), None) for full, _, met in given if met is None}
    found: dict[str, Found] = {}
    for s in finders:
        def walk(folder: Path, name: str = s.name) -> list[Path]:
            return _walk(folder, {name: wants[name]}, exclude, cwd, set())[name]

        found[s.name] = s.find([Given(full, None if met is None else met[s.name])
                                for full, _, met in given if met is not None or owner[full] == s.name], walk)
    reported = {f for one in found.values() for f in one.reported}
    _require_migrations({full: text for full, text, met in given if met is not None}, found.values(), finders)
    return Discovered({name: one.migrations for name, one in found.items() if one.migrations},
                      reported if any(one.partial for one in found.values()) else None)


def _require_migrations(folders: dict[Path, str], found, finders: list[Source]) -> None:
    """A folder PATH (-> as given) holding nothing any source found (its reported files and
    what it `holds`) is a mistake (a typo in CI would check nothing and pass): UsageError.
    Files named one by one (pre-commit) may be anything."""
    held = [p for one in found for p in (*one.reported, *one.holds)]
    empty = [text for folder, text in folders.items() if not _holds(folder, held)]
    if empty:
        kinds = [s.looks_for for s in finders if s.looks_for]
        said = " and ".join([", ".join(kinds[:-1]), kinds[-1]] if len(kinds) > 1 else kinds)
        raise UsageError(f"no migrations found under {', '.join(empty)} (looked for {said})")


def _holds(folder: Path, found: list[Path]) -> bool:
    """Is one of `found` at or below `folder`, as met by its walk or resolved?"""
    inside, real_inside = os.path.join(folder, ""), os.path.join(real_path(folder), "")
    return any(p == folder or str(p).startswith(inside) or str(real_path(p)).startswith(real_inside)
               for p in found)


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


Wants = dict[str, Callable[[str, bool], bool]]  # source name -> Source.wants


def _walk(folder: Path, wants: Wants, exclude: list[str], cwd: Path, seen_dirs: set) -> dict[str, list[Path]]:
    """What each source wants of the entries below `folder`, in walk order (sorted by name, depth first)."""
    met: dict[str, list[Path]] = {name: [] for name in wants}
    _walk_into(os.fspath(folder), list(wants.items()), exclude, cwd, seen_dirs, met)
    return met


def _walk_into(folder: str, wants: list, exclude: list[str], cwd: Path, seen_dirs: set,
               met: dict[str, list[Path]]) -> None:
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
        is_folder = _entry_is_dir(entry)  # follows symlinks; loops are stopped by seen_dirs
        if is_folder and (name.startswith(".") or name in SKIP_DIRS):
            continue
        for source, wanted in wants:
            if wanted(name, is_folder):
                met[source].append(Path(entry.path))
        if is_folder:
            _walk_into(entry.path, wants, exclude, cwd, seen_dirs, met)


def _entry_is_dir(entry: os.DirEntry) -> bool:
    """entry.is_dir(), False where the answer is an error (a symlink loop raises ELOOP)."""
    try:
        return entry.is_dir()
    except OSError:
        return False

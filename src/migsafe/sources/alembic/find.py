"""The Alembic projects the PATHs hold (registry.Source.find, asked by discover.py): alembic.ini
files and versions folders met by discover's walk, or found above a revision file or a sub-folder
of a project; a dialect per project."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from migsafe.sources.alembic import graph as AG
from migsafe.sources.files import real_path
from migsafe.sources.registry import Found


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


def wants(name: str, is_folder: bool) -> bool:
    """What discover's walk hands find: versions folders and alembic.ini files."""
    return name == ("versions" if is_folder else "alembic.ini")


def owns(path: Path) -> bool:
    """A revision file named alone: a file Alembic loads, in a project found above it."""
    return AG.loads_name(path.name) and bool(_project_above(path, _Configs()))


def find(given: list, walk) -> Found:
    """A project found below a folder PATH is reported whole; one found above a PATH (from a
    revision file, or a sub-folder of its versions) is replayed whole, reported below the PATH."""
    configs = _Configs()
    markers: list[Path] = []  # alembic.ini files and versions folders met
    named: set[Path] = set()  # real paths of the revision files named alone
    for g in given:
        if g.below is not None:
            markers.append(g.path)  # the folder itself may be a versions folder,
            markers += _project_above(g.path, configs)  # or a part of a project above it
            markers += [p for p in g.below if p.name == "versions" or p.is_file()]  # (no FIFO named alembic.ini)
        else:
            named.add(real_path(g.path))
            markers += _project_above(g.path, configs)
    inside = tuple(os.path.join(real_path(g.path), "") for g in given if g.below is not None)
    reported = set(named)
    whole = True
    kept = []
    for project in alembic_projects(markers, configs):
        below = os.path.join(real_path(project.origin), "").startswith(inside)
        files = list(map(real_path, project.files()))
        mine = {f for f in files if below or str(f).startswith(inside) or f in named}
        if not mine and files and not below:
            continue  # another history beside the one named (prefect's sqlite folder): not this database's
        kept.append(project)
        reported |= mine
        whole = whole and all(f in reported for f in files)
    return Found(kept, reported, partial=bool(named) or not whole, holds=[real_path(p.origin) for p in kept])


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


def _project_above(path: Path, configs: _Configs) -> list[Path]:
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

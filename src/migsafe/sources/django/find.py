"""The Django migrations packages the PATHs hold (registry.Source.find, asked by discover.py)."""

from __future__ import annotations

from pathlib import Path

from migsafe.sources.django import graph as DG
from migsafe.sources.files import real_path
from migsafe.sources.registry import Found


def wants(name: str, is_folder: bool) -> bool:
    """What discover's walk hands find: folders named migrations."""
    return is_folder and name == "migrations"


def owns(path: Path) -> bool:
    """A module of a Django migrations package: in a folder named migrations, or numbered
    (0002_add_field.py) as makemigrations names them."""
    return (path.parent.name == "migrations" or path.name[:1].isdigit()) and DG.is_migration_file(path)


def find(given: list, walk) -> Found:
    """The packages at or below a folder PATH, reported whole. A migration named alone is
    reported alone; its app's history is replayed, and the apps next to it (the folder its app
    package imports from) for dependencies across apps."""
    roots: list[Path] = []
    reported: set[Path] = set()
    holds: list[Path] = []  # the packages of the folder PATHs
    for g in given:
        if g.below is not None:
            mine = [g.path] if is_package(g.path) else []  # a package given by any name,
            mine += [p for p in g.below if DG.is_migrations_package(p)]  # or those named migrations below
            reported.update(real_path(f) for d in mine for f in DG.migration_files(d))
            holds += mine
        else:
            reported.add(real_path(g.path))
            mine = [g.path.parent] + [p for p in walk(DG.app_of(g.path.parent).import_root) if DG.is_migrations_package(p)]
        roots += mine
    return Found(sorted({real_path(d): d for d in roots}.values()), reported,
                 partial=any(g.below is None for g in given), holds=holds)


def is_package(folder: Path) -> bool:
    """A Django migrations package: named migrations, or (MIGRATION_MODULES may name it
    anything) holding numbered migration modules. Never a package whose models.py defines a
    model named Migration (nova.db.main)."""
    return DG.is_migrations_package(folder) and (
        folder.name == "migrations" or any(map(owns, DG.migration_files(folder))))

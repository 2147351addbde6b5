"""The .sql files the PATHs hold (registry.Source.find, asked by discover.py)."""

from __future__ import annotations

import os
from pathlib import Path

from migsafe.sources.files import real_path
from migsafe.sources.registry import Found
from migsafe.sources.sql.load import order_sql_files


def is_sql(name: str | Path) -> bool:
    """A .sql file by its name (any case)."""
    return os.path.splitext(name)[1].lower() == ".sql"


def find(given: list, walk) -> Found:
    """Every .sql file below a folder PATH; a file PATH is reported as is (exclude does not
    apply) after the files of its folder, replayed first so that the schema before it is known.
    Each file once (a symbolic link to a file already found is no other migration)."""
    found: list[Path] = []
    reported: set[Path] = set()
    named = False
    for g in given:
        if g.below is not None:
            files = g.below
            reported.update(map(real_path, files))
        else:
            named = True
            reported.add(real_path(g.path))
            files = walk(history_root(g.path)) + [g.path]
        found += files
    unique: dict[Path, Path] = {}  # real path -> the first path it was found as
    for f in found:
        unique.setdefault(real_path(f), f)
    return Found(order_sql_files(list(unique.values())), reported, partial=named,
                 holds=[f for g in given if g.below is not None for f in g.below])


def history_root(path: Path) -> Path:
    """The folder whose migrations come before `path`: <root>/<name>/up.sql lives in <root>."""
    return path.parent.parent if path.name.lower() == "up.sql" else path.parent

"""Plain .sql migrations (Flyway, dbmate, goose, golang-migrate, numbered files): the file is the SQL."""

from __future__ import annotations

from migsafe.sources.registry import Source
from migsafe.sources.sql import find


def _load(found, settings, cwd, cache, default: str) -> list:
    from migsafe.sources.sql.load import load_sql_migrations, mark_history  # (only when a run is not cached)

    files = found.of("sql")
    migrations = load_sql_migrations(files, cwd, default, settings.sql_transaction == "per-file")
    mark_history(migrations, settings.start_after.get("sql"))
    return [(default, list(zip(migrations, files)))]


def _key_parts(found, cache) -> list:
    from migsafe.cache import content  # (keeps the registry's import light)

    return [part for path in found.of("sql") for part in (path, content(path))]


SOURCE = Source(
    name="sql", load=_load, key_parts=_key_parts, language="sql", fixes="migsafe.fixes.sql",
    way_back="Add the down migration that undoes this one (down.sql, or the runner's undo file).",
    sql_text=True, wants=lambda name, is_folder: not is_folder and find.is_sql(name), owns=find.is_sql,
    find=find.find, looks_for=".sql files",
)

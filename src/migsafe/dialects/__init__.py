"""Database knowledge, keyed by dialect name. Rules ask these objects; they never hard-code
versions or lock modes themselves."""

from __future__ import annotations

from migsafe.dialects.postgresql import Dialect, PostgreSQL
from migsafe.dialects.mysql import MySQL
from migsafe.dialects.sqlite import SQLite

DIALECTS: dict[str, type[Dialect]] = {"postgresql": PostgreSQL, "mysql": MySQL, "sqlite": SQLite}


def get_dialect(name: str, version: str | None) -> Dialect:
    cls = DIALECTS.get(name, Dialect)
    return cls(version)

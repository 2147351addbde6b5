"""Database knowledge, keyed by dialect name. Rules ask these objects; they never hard-code
versions or lock modes themselves."""

from __future__ import annotations

from migsafe.dialects.postgresql import Dialect, PostgreSQL
from migsafe.dialects.mysql import MySQL
from migsafe.dialects.sqlite import SQLite

DIALECTS: dict[str, type[Dialect]] = {"postgresql": PostgreSQL, "mysql": MySQL, "sqlite": SQLite}


def get_dialect(name: str, version: str | None) -> Dialect:
    # MySQL/MariaDB and SQLite get their own knowledge in a later change; until then they are
    # judged with the generic (PostgreSQL-shaped) facts, which is conservative.
    cls = DIALECTS.get(name, Dialect)
    return cls(version)

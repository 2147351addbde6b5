"""SQLite: the whole database file is locked for writing during any ALTER; most changes rebuild
the table (ddl-facts.md, SQLite part). Only what differs from the generic facts is here; the
full version-aware knowledge is still to come."""

from __future__ import annotations

from migsafe.dialects.postgresql import Dialect


class SQLite(Dialect):
    name = "sqlite"
    default_version = "3.45"
    rewrite_lock = "database write"
    lock_timeout_setting = "busy_timeout"

    def at_least(self, *version: int) -> bool:
        return True  # the generic facts' version gates are PostgreSQL's; they do not apply here

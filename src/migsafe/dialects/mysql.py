"""MySQL and MariaDB: only what differs from the generic facts so far (the setting that bounds
lock waits, the SQL spelling); the algorithm-aware knowledge (INSTANT/INPLACE/COPY) is still to
come."""

from __future__ import annotations

from migsafe.dialects.postgresql import Dialect


class MySQL(Dialect):
    name = "mysql"
    default_version = "8.4"
    transactional_ddl = False
    lock_timeout_setting = "lock_wait_timeout"

    def at_least(self, *version: int) -> bool:
        return True  # the generic facts' version gates are PostgreSQL's; they do not apply here

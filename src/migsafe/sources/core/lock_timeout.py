"""Whether the migration runner sets a lock timeout itself, so that no migration needs to.

Projects often set it once where migrations run rather than in each migration: Alembic's env.py
(`SET lock_timeout` on the connection, `connect_args={"options": "-c lock_timeout=5s"}`), Django's
`DATABASES[...]["OPTIONS"]`, the django-pg-zero-downtime-migrations backend
(`ZERO_DOWNTIME_MIGRATIONS_LOCK_TIMEOUT`), MySQL's `init_command`. Those files are read as text,
never run. The config key `runner-sets-lock-timeout = true` says so for any other runner.
"""

from __future__ import annotations

import re
from pathlib import Path

_SETS_TIMEOUT = re.compile(
    r"""SET\s+(?:SESSION\s+|LOCAL\s+|GLOBAL\s+)?(?:lock_timeout|lock_wait_timeout|innodb_lock_wait_timeout)\s*(?:=|TO)"""
    r"""|-c\s*lock_timeout\s*="""  # libpq options
    r"""|set_config\(\s*'lock_timeout'"""
    r"""|ZERO_DOWNTIME_MIGRATIONS_LOCK_TIMEOUT\s*=\s*(?!None\b)\S""",
    re.IGNORECASE)


def sets_lock_timeout(text: str) -> bool:
    """Python or SQL text that sets a lock timeout outside comments."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("#", "--")))
    return bool(_SETS_TIMEOUT.search(code))


def read_text(path: Path) -> str:
    """The text of a file, "" when it cannot be read (a runner file that is not there sets nothing)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""

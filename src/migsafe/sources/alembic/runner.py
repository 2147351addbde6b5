"""Whether an Alembic project's runner sets a lock timeout itself (core/lock_timeout.py)."""

from __future__ import annotations

from pathlib import Path

from migsafe.sources.alembic.graph import script_env_py
from migsafe.sources.core.lock_timeout import read_text, sets_lock_timeout


def alembic_sets_lock_timeout(version_dirs: list[Path]) -> bool:
    """The env.py of the script folder above the version folders sets it."""
    return any(sets_lock_timeout(read_text(env_py)) for d in version_dirs
               if (env_py := script_env_py(d / "revision.py")) is not None)

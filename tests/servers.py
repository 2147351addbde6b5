"""Throwaway database servers for the tests and benchmarks/bench.py: one place each.

Each runs in a temporary folder on a private socket (no network), is stopped and removed at the
end, and where it cannot be had the context gives a string instead: why (the caller skips, with it).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def throwaway_postgres(prefix: str = "migsafe-pg-") -> Iterator[Path | str]:
    """The socket folder of a fresh PostgreSQL cluster (the installed initdb and pg_ctl: Debian's;
    as root the server runs as the `postgres` OS user, since it refuses root), user `postgres`
    trusted; or why there is none."""
    initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
    if not initdb:
        yield "no PostgreSQL server installed (initdb not found)"
        return
    bindir = Path(initdb).parent
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            yield "running as root and there is no 'postgres' OS user to run the server as"
            return
        as_user = ["runuser", "-u", "postgres", "--"]
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    if as_user:
        shutil.chown(tmp, "postgres")
    data = tmp / "data"
    try:
        for cmd in ([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
                    [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(tmp / "log"), "-o",
                     f"-k {tmp} -c listen_addresses='' -c fsync=off", "start"]):
            subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        yield f"could not start a throwaway PostgreSQL cluster: {err.stderr.strip()[-200:]}"
        return
    try:
        yield tmp
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def throwaway_mariadb(prefix: str = "migsafe-mariadb-") -> Iterator[Path | str]:
    """The socket of a fresh MariaDB server (Debian's mariadb-server: mariadbd and
    mariadb-install-db), user root without a password; or why there is none."""
    mariadbd, install_db = shutil.which("mariadbd"), shutil.which("mariadb-install-db")
    if not (mariadbd and install_db):
        yield "no MariaDB server installed (mariadbd, mariadb-install-db; Debian: apt-get install mariadb-server)"
        return
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    sock = tmp / "sock"
    common = ["--no-defaults", f"--datadir={tmp / 'data'}", "--user=root"]
    try:
        subprocess.run([install_db, *common, "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True, text=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        yield f"could not create a throwaway MariaDB data folder: {str(getattr(err, 'stderr', err))[-200:]}"
        return
    server = subprocess.Popen([mariadbd, *common, f"--socket={sock}", "--skip-networking",
                               f"--pid-file={tmp / 'pid'}", f"--log-error={tmp / 'err.log'}",
                               "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _accepts(sock):
            if server.poll() is not None or time.monotonic() > deadline:
                log = (tmp / "err.log").read_text(errors="replace")[-300:] if (tmp / "err.log").exists() else ""
                yield f"the throwaway MariaDB server did not start: {log}"
                return
            time.sleep(0.2)
        yield sock
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def _accepts(sock: Path) -> bool:
    """Does a server listen on the socket yet? (It makes the socket once it takes connections.)"""
    with socket.socket(socket.AF_UNIX) as client:
        try:
            client.connect(str(sock))
            return True
        except OSError:
            return False


@contextlib.contextmanager
def migsafe_waiting(args: list[str], cwd: Path, waits, what: str) -> Iterator[subprocess.Popen]:
    """`migsafe <args>` in a process of its own, given once `waits()` says it is inside a
    statement that waits on the server (a sleep), so a test can interrupt or kill it there; killed
    at the end whatever happened."""
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "migsafe", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not waits():
            assert proc.poll() is None and time.monotonic() < deadline, f"migsafe never reached {what}"
            time.sleep(0.1)
        yield proc
    finally:
        proc.kill()

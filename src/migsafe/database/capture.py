"""What the framework runners (alembic_online.py, django_online.py) share: the SQL a driver was
sent, made readable for judging, and the process the migrations run in.

A driver gets SQL with placeholders and the values apart; the rules read SQL, so the values are
written back in as literals (`inline`). Queries that only read (a revision's inspector, Django's
introspection, a RunPython's `.filter()`) change nothing and are not statements of the migration
(`reads_only`), as offline rendering does not see them either.

The migrations run in a child process (`run_child`): they import the project and run its code,
which may print, exit, hang or monkeypatch, and Django's settings are process-global. The child
streams one result per migration into a file as it goes, so a child that dies or hangs still
leaves what it did before; the migration it was on is then reported as such.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import signal
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from migsafe.sql.placeholders import fill

_HEADER = struct.Struct("!Q")


def inline_all(sql: str, params, vendor: str, many: bool) -> str:
    """What one execute() or executemany() sent, one statement per set of values (an
    executemany of three rows is three INSERTs, as offline rendering writes op.bulk_insert)."""
    if many and isinstance(params, (list, tuple)) and params:
        return ";\n".join(inline(sql, row, vendor) for row in params)
    return inline(sql, params, vendor)


def inline(sql: str, params, vendor: str) -> str:
    """`sql` with the values the driver was given written in as SQL literals."""
    from migsafe.sources.django.offline import quote  # the literals a driver sends, the same every run

    def literal(value) -> str:
        try:
            return quote(value, vendor)
        except Exception:  # noqa: BLE001 - a driver-side adapter object: its text
            return "'" + str(value).replace("'", "''") + "'"

    if params is not None and not params and vendor in ("postgresql", "mysql"):
        # Given values, even none ({} from SQLAlchemy for op.execute), psycopg and PyMySQL read the
        # SQL as a format string: `%%` reaches the server as `%`
        return sql.replace("%%", "%")
    return fill(sql, params, literal)


def statements(sql: str, span, dialect: str, in_transaction: bool) -> list:
    """The Statements of what one execute() sent: Django sends `ALTER TABLE ... ADD COLUMN ...;
    SET CONSTRAINTS ... IMMEDIATE` in one call. Split as offline rendering splits (so both are
    judged alike); the caller puts the server's evidence for the call on the first."""
    from migsafe.sources.core.tracing import statements_in

    parts = statements_in(sql, span, dialect)
    for part in parts:
        part.in_transaction = in_transaction
    return parts


_WRITES = re.compile(r"\b(insert|update|delete|merge|create|alter|drop|truncate|lock|call|copy|set|grant|revoke)\b",
                     re.IGNORECASE)


def reads_only(sql: str) -> bool:
    """A query that changes nothing: SELECT (but `SELECT ... INTO` or a function a reviewer would
    want to see, such as setval, is kept), SHOW, PRAGMA, EXPLAIN, a WITH that only selects."""
    head = re.sub(r"^(\s|--[^\n]*\n|/\*.*?\*/)+", "", sql, flags=re.DOTALL).lower()
    word = re.match(r"[a-z]*", head).group(0)
    if word in ("show", "pragma", "explain", "describe", "values"):
        return True
    if word == "select":
        return not re.search(r"\binto\b|\bsetval\s*\(|\bnextval\s*\(|\bpg_advisory", head)
    if word == "with":
        return not _WRITES.search(head)
    return False


def server_message(err: BaseException, url=None) -> str | None:
    """What the database said, where `err` is (or wraps: SQLAlchemy's DBAPIError, Django's
    DatabaseError) an error the driver raised: one line, passwords hidden (scratch.server_message).
    None where the project's own code failed."""
    from migsafe.database.server_errors import server_message as one_line

    driver = next((e for e in (err, getattr(err, "orig", None), err.__cause__) if _is_driver_error(e)), None)
    return None if driver is None else one_line(driver, url)


def _is_driver_error(err) -> bool:
    if err is None:
        return False
    return type(err).__module__.startswith(("psycopg", "pymysql", "MySQLdb", "sqlite3"))  # (psycopg2 too)


def autocommit(dbapi_connection) -> bool:
    """Whether the driver connection runs each statement on its own (outside a transaction)."""
    value = getattr(dbapi_connection, "autocommit", None)  # psycopg, psycopg2, sqlite3 (3.12+)
    if isinstance(value, bool):
        return value
    get = getattr(dbapi_connection, "get_autocommit", None)  # PyMySQL, mysqlclient
    if callable(get):
        return bool(get())
    if hasattr(dbapi_connection, "isolation_level"):  # sqlite3: None is autocommit
        return dbapi_connection.isolation_level is None
    return False


# --- the child process ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FullOrder:
    """Emitted by a runner's child before the first migration: the names of all migrations in the
    order the framework applies them to an empty database. On a template's clone (templates.py)
    it applies only what the clone lacks; its answer is still given in this order, a full run's."""

    names: tuple[str, ...]


def in_full_order(items: list, order: FullOrder | None, first: int = 0) -> list:
    """`items` ((Migration, file)) in `order` from index `first` on (those before stay first:
    notes about the run); a migration the order does not name after those it names."""
    if order is None:
        return items
    position = {name: n for n, name in enumerate(order.names)}
    return items[:first] + sorted(items[first:], key=lambda item: position.get(item[0].name, len(position)))


def run_child(target: str, job, timeout: float, cwd: Path) -> tuple[list, str | None]:
    """Run `target` ("module:function", called as function(job, emit)) in a child process;
    returns (everything it emitted, in order; None, or why it stopped early). Ctrl-C stops the
    child and is raised again. `timeout` bounds the whole run."""
    with tempfile.TemporaryDirectory(prefix="migsafe-run-") as tmp:
        job_file, out_file, log_file = Path(tmp, "job"), Path(tmp, "out"), Path(tmp, "log")
        job_file.write_bytes(pickle.dumps((target, job)))
        out_file.touch()
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])  # migsafe importable as here
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        with open(log_file, "wb") as log:
            # -c, not -m, and the working directory taken off sys.path: a folder there named like a
            # standard module (Django's own `http`) would shadow it for the whole run.
            script = ("import sys; del sys.path[0]; from migsafe.database.capture import _child_main;"
                      " _child_main(*sys.argv[1:])")
            proc = subprocess.Popen([sys.executable, "-c", script, str(job_file), str(out_file)],
                                    cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True)
            why = None
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                why = f"the migrations took longer than {timeout:.0f} s and were stopped"
            except BaseException:
                _kill(proc)
                raise
            finally:
                _kill(proc)
        items, finished = _read_frames(out_file)
        if why is None and not finished:
            tail = log_file.read_text(errors="replace").strip().splitlines()[-1:] or [""]
            code = proc.returncode
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            why = f"the process running the migrations ended early ({how}){': ' + tail[0] if tail[0] else ''}"
        return items, why


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


_DONE = "migsafe-child-done"


def _read_frames(path: Path) -> tuple[list, bool]:
    data, items, at, finished = path.read_bytes(), [], 0, False
    while at + _HEADER.size <= len(data):
        (size,) = _HEADER.unpack_from(data, at)
        chunk = data[at + _HEADER.size:at + _HEADER.size + size]
        if len(chunk) < size:
            break
        at += _HEADER.size + size
        item = pickle.loads(chunk)
        if item == _DONE:
            finished = True
        else:
            items.append(item)
    return items, finished


def _child_main(job_path: str, out_path: str) -> None:
    import importlib

    target, job = pickle.loads(Path(job_path).read_bytes())
    module, function = target.split(":")
    with open(out_path, "ab", buffering=0) as out:
        def emit(item) -> None:
            payload = pickle.dumps(item)
            out.write(_HEADER.pack(len(payload)) + payload)

        getattr(importlib.import_module(module), function)(job, emit)
        emit(_DONE)
    os._exit(0)  # the project's atexit hooks and threads are not migsafe's to wait for


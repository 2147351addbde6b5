"""`--database mysql://...`: the scratch database on a MariaDB server through PyMySQL, created and
dropped, nothing else written, findings judged on what ran (the time is the evidence there)."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy

from servers import migsafe_waiting, throwaway_mariadb

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mariadb_url():
    pytest.importorskip("pymysql", reason="PyMySQL (migsafe[database]) is not installed")
    with throwaway_mariadb("migsafe-mariadb-url-") as sock:
        if isinstance(sock, str):  # why there is none
            pytest.skip(sock)
        yield f"mysql://root@localhost/mysql?unix_socket={sock}"


def databases(url: str) -> set[str]:
    engine = sqlalchemy.create_engine(url.replace("mysql://", "mysql+pymysql://"), poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as c:
        return {r[0] for r in c.exec_driver_sql("SHOW DATABASES")}


def test_mysql_url_scratch_database(mariadb_url, tmp_path, run_cli):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "001.sql").write_text("CREATE TABLE users (id int PRIMARY KEY, email varchar(50));\n")
    (folder / "002.sql").write_text("ALTER TABLE users DROP COLUMN email;\n")
    (folder / "003.sql").write_text("ALTER TABLE nope ADD COLUMN x int;\n")
    before = databases(mariadb_url)
    code, out, err = run_cli(["check", "--database", mariadb_url, "--format", "json", "m"], cwd=tmp_path)
    assert code == 1, err
    findings = json.loads(out)
    assert findings["dialect"] == "mysql"
    by_rule = {f["rule"]: f for f in findings["findings"]}
    assert by_rule["drop-column"]["evidence"]["locks"] == [] and by_rule["drop-column"]["evidence"]["ms"] >= 0
    assert "nope" in by_rule["not-analyzed"]["message"] and by_rule["not-analyzed"]["path"] == "m/003.sql"
    assert databases(mariadb_url) == before


def test_a_killed_run_s_database_is_swept_by_a_later_run_never_a_live_one(mariadb_url, tmp_path, run_cli):
    for name, sql in (("m", "SELECT SLEEP(60);\n"), ("ok", "CREATE TABLE b (id int);\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "001.sql").write_text(sql)
    before = databases(mariadb_url)
    with migsafe_waiting(["check", "--database", mariadb_url, "m"], tmp_path,
                         lambda: _running(mariadb_url, "SELECT SLEEP"), "SLEEP") as proc:
        (killed,) = databases(mariadb_url) - before
        assert run_cli(["check", "--database", mariadb_url, "ok"], cwd=tmp_path)[0] == 0
        assert killed in databases(mariadb_url)  # the live run's database: kept
        proc.kill()
        proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _scalar(mariadb_url, f"SELECT IS_FREE_LOCK('{killed}')") != 1:  # the server saw the client go
        assert time.monotonic() < deadline, "the killed run's lock was never released"
        time.sleep(0.1)
    assert run_cli(["check", "--database", mariadb_url, "ok"], cwd=tmp_path)[0] == 0
    assert databases(mariadb_url) == before


def _scalar(url: str, sql: str):
    engine = sqlalchemy.create_engine(url.replace("mysql://", "mysql+pymysql://"), poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as c:
        return c.exec_driver_sql(sql).scalar()


def _running(url: str, prefix: str) -> bool:
    return bool(_scalar(url, f"SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE '{prefix}%%'"))

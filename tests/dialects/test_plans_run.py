"""The MySQL and SQLite steps of every plan run on the engine itself: each rule's finding on the
dialect, its steps written as the next migrations (tests/fixes/test_plans_self_check.py checks
them with migsafe), then run in order after the same history and a few rows. MySQL's on the
throwaway MariaDB of tests/test_mysql_truth.py, SQLite's on Python's sqlite3."""

from __future__ import annotations

import sqlite3

import pytest

from tests.fixes.conftest import SETUP
from tests.fixes.test_plans_self_check import ENGINE_CASES, engine_steps
from tests.test_mysql_truth import mariadb  # noqa: F401  (the module's throwaway server)

ROWS = ("INSERT INTO users VALUES (1, 'a@x', 'Ann', 30), (2, 'b@x', 'Bob', 40);"
        " INSERT INTO orders VALUES (1, 1, 'new', 2), (2, 2, 'paid', 3);")


class MariaDB:
    def __init__(self, query):
        self.query = query
        self.run("DROP DATABASE IF EXISTS plan; CREATE DATABASE plan;", "mysql")
        # MariaDB indexes no TEXT column without a prefix length; the plans do not depend on the type.
        self.run(SETUP.replace(" text", " varchar(100)") + ";\n" + ROWS)

    def run(self, sql: str, database: str = "plan") -> None:
        proc = self.query(sql, database)
        assert proc.returncode == 0, f"{sql}\n\n{proc.stderr}"

    def rows(self, sql: str) -> list[tuple[str, ...]]:
        return [tuple(line.split("\t")) for line in self.query(sql, "plan").stdout.splitlines()]


class SQLite:
    def __init__(self):
        if sqlite3.sqlite_version_info < (3, 35):
            pytest.skip(f"SQLite {sqlite3.sqlite_version} has no DROP COLUMN (3.35), which the plans use")
        self.con = sqlite3.connect(":memory:", isolation_level=None)
        self.run(SETUP + ";\n" + ROWS)

    def run(self, sql: str) -> None:
        self.con.executescript(sql)

    def rows(self, sql: str) -> list[tuple[str, ...]]:
        return [tuple(map(str, row)) for row in self.con.execute(sql).fetchall()]


@pytest.fixture
def engine(request):
    return SQLite() if request.param == "sqlite" else MariaDB(request.getfixturevalue("mariadb"))


PARAMS = [(d, r) for d in ("mysql", "sqlite") for r in sorted(ENGINE_CASES[d])]


@pytest.mark.parametrize("engine, rule", PARAMS, indirect=["engine"])
def test_steps_run_on_the_engine(tmp_path, engine, rule):
    dialect = "sqlite" if isinstance(engine, SQLite) else "mysql"
    for code in engine_steps(tmp_path, dialect, rule):
        engine.run(code)


@pytest.mark.parametrize("engine", ["mysql", "sqlite"], indirect=True)
def test_sync_triggers_keep_both_columns_in_step(tmp_path, engine):
    dialect = "sqlite" if isinstance(engine, SQLite) else "mysql"
    expand, backfill, contract = engine_steps(tmp_path, dialect, "rename-column")
    engine.run(expand)
    engine.run(backfill)
    engine.run("INSERT INTO users (id, email, name) VALUES (3, 'c@x', 'Cy');"  # the old app version
               " INSERT INTO users (id, email, full_name) VALUES (4, 'd@x', 'Di');"  # the new one
               " UPDATE users SET name = 'Anna' WHERE id = 1; UPDATE users SET full_name = 'Bobby' WHERE id = 2;")
    assert engine.rows("SELECT id, name, full_name FROM users ORDER BY id") == [
        ("1", "Anna", "Anna"), ("2", "Bobby", "Bobby"), ("3", "Cy", "Cy"), ("4", "Di", "Di")]
    engine.run(contract)
    triggers = "SHOW TRIGGERS" if dialect == "mysql" else "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    assert engine.rows(triggers) == []

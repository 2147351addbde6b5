"""What every --format shares, through the command line: --output, exit codes, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sample_findings import validate

from migsafe.report import FORMAT_NAMES, FORMATS

REPO_ROOT = Path(__file__).resolve().parents[2]
NEW_FORMATS = ["sarif", "github", "junit", "gitlab", "rdjson"]

UNSAFE = "ALTER TABLE users DROP COLUMN email;\n"
HISTORY = "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n"


def test_every_contract_format_is_available():
    assert set(FORMATS) == set(FORMAT_NAMES)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    sub = tmp_path / "db migrations"  # a space in the path
    sub.mkdir()
    (sub / "V1__users.sql").write_text(HISTORY)
    (sub / "V2__drop.sql").write_text(UNSAFE)
    return tmp_path


@pytest.mark.parametrize("fmt", NEW_FORMATS)
def test_output_file_has_the_stdout_bytes_and_the_same_exit_code(fmt, project, run_cli):
    code, out, err = run_cli(["check", ".", "--format", fmt], cwd=project)
    assert (code, err) == (1, "")
    assert "db migrations/V2__drop.sql" in out or "db%20migrations/V2__drop.sql" in out
    # '/' separators only (rule help text may hold a backslash of its own: psql's \\dp in access-change)
    assert "\\V2__drop.sql" not in out and "%5CV2__drop.sql" not in out
    code2, out2, err2 = run_cli(["check", ".", "--format", fmt, "--output", "report.out"], cwd=project)
    assert (code2, out2, err2) == (1, "", "")
    assert (project / "report.out").read_bytes() == out.encode("utf-8")
    # Byte-identical on rerun.
    assert run_cli(["check", ".", "--format", fmt], cwd=project)[1] == out


@pytest.mark.parametrize("fmt", NEW_FORMATS)
def test_exit_zero_and_fail_on(fmt, project, run_cli):
    assert run_cli(["check", ".", "--format", fmt, "--exit-zero"], cwd=project)[0] == 0
    (project / "db migrations" / "V2__drop.sql").write_text(
        "SET lock_timeout = '2s';\n-- migsafe: ignore[drop-column] unused since release 41\n" + UNSAFE
    )
    assert run_cli(["check", ".", "--format", fmt], cwd=project)[0] == 0
    (project / "db migrations" / "V2__drop.sql").write_text("DROP INDEX users_email_idx;\n")
    assert run_cli(["check", ".", "--format", fmt], cwd=project)[0] == 0  # warnings only
    assert run_cli(["check", ".", "--format", fmt, "--fail-on", "warning"], cwd=project)[0] == 1


@pytest.mark.parametrize("fmt", NEW_FORMATS)
def test_bad_path_is_exit_2_with_no_report(fmt, tmp_path, run_cli):
    code, out, err = run_cli(["check", "missing", "--format", fmt], cwd=tmp_path)
    assert code == 2 and out == "" and err.count("\n") == 1


@pytest.mark.parametrize(
    ("fmt", "schema"),
    [
        ("sarif", "sarif-2.1.0-rtm.5.json"),
        ("sarif", "sarif-2.1.0.json"),
        ("gitlab", "gitlab-codequality.schema.json"),
        ("rdjson", "rdjson.schema.json"),
        ("rdjson", "rdformat-validator.schema.json"),
    ],
)
def test_demo_run_is_valid(fmt, schema, run_cli):
    code, out, _ = run_cli(["check", "fixtures/demo", "--format", fmt], cwd=REPO_ROOT)
    assert code == 1
    validate(json.loads(out), schema)

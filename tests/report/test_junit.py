"""--format junit: read back with junitparser, as a JUnit consumer would, with the counts expected."""

from __future__ import annotations

from pathlib import Path

from junitparser import Failure, JUnitXml
from sample_findings import drop_email, index_finding, lock_timeout, render, result

from migsafe.model import Severity

REPO_ROOT = Path(__file__).resolve().parents[2]

CHECKED = [
    ("sql", "V2__create.sql", "migrations/V2__create.sql"),  # passes
    ("sql", "V3__drop_email.sql", "migrations/V3__drop_email.sql"),
    ("sql", "V4__ünïcode.sql", "migrations/V4__ünïcode.sql"),
    ("alembic", "3f2a9c1d", "alembic/versions/3f2a_add.py"),  # passes
]


def parse(text: str) -> JUnitXml:
    xml = JUnitXml.fromstring(text.encode("utf-8"))
    return xml


def stated(element) -> tuple[int, int, int, int]:
    return (element.tests, element.failures, element.errors, element.skipped)


def test_suites_cases_failures_and_counts():
    text = render("junit", result(drop_email(), index_finding(), lock_timeout(), checked=CHECKED))
    xml = parse(text)
    suites = {s.name: s for s in xml}
    assert list(suites) == ["migsafe.alembic", "migsafe.sql"]  # one per source kind, sorted

    sql = suites["migsafe.sql"]
    cases = {c.name: c for c in sql}
    assert list(cases) == ["V2__create.sql", "V3__drop_email.sql", "V4__ünïcode.sql"]  # run order
    assert cases["V2__create.sql"].is_passed
    v3 = cases["V3__drop_email.sql"]
    assert v3.classname == "migrations/V3__drop_email.sql"
    assert v3._elem.get("file") == "migrations/V3__drop_email.sql"
    failures = [r for r in v3.result if isinstance(r, Failure)]  # one per failing migration, listing its findings
    assert [(f.type, f.message) for f in failures] == [
        ("drop-column, non-concurrent-index", "2 findings: line 4 drop-column; line 5 non-concurrent-index")]
    body = failures[0].text
    assert "error[non-concurrent-index] CREATE INDEX without CONCURRENTLY blocks writes to orders." in body
    assert body.splitlines()[:4] == [
        "migrations/V3__drop_email.sql:4:1: error[drop-column] Dropping column users.email breaks the "
        "running app version that still reads it.",
        "statement: ALTER TABLE users DROP COLUMN email",
        "lock: ACCESS EXCLUSIVE on users",
        "fix: Stop using the column first; drop it in a later deploy.",
    ]
    assert "  2. contract: Drop it in a later deploy\n     ALTER TABLE users DROP COLUMN email;" in body
    # A warning under --fail-on error: shown, not failing.
    v4 = cases["V4__ünïcode.sql"]
    assert v4.is_passed
    assert "warning[missing-lock-timeout] No lock_timeout before ALTER TABLE ünïcode." in v4.system_out

    assert stated(sql) == (3, 1, 0, 0)
    assert stated(suites["migsafe.alembic"]) == (1, 0, 0, 0)
    assert stated(xml) == (4, 1, 0, 0)
    # The stated counts are what a reader computes from the cases.
    for element in (sql, suites["migsafe.alembic"], xml):
        before = stated(element)
        element.update_statistics()
        assert stated(element) == before


def test_fail_on_warning_makes_warnings_failures():
    res = result(drop_email(), lock_timeout(), checked=CHECKED)
    xml = parse(render("junit", res, fail_on=Severity.WARNING))
    assert stated(xml) == (4, 2, 0, 0)
    v4 = next(c for s in xml for c in s if c.name == "V4__ünïcode.sql")
    assert [r.type for r in v4.result] == ["missing-lock-timeout"]
    assert not v4.system_out


def test_without_the_list_of_checked_migrations_only_those_with_findings_appear():
    xml = parse(render("junit", result(drop_email(), lock_timeout())))
    assert [c.name for s in xml for c in s] == ["V3__drop_email.sql", "V4__ünïcode.sql"]
    assert stated(xml) == (2, 1, 0, 0)


def test_no_migrations():
    text = render("junit", result(checked=[]))
    assert text == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<testsuites name="migsafe" tests="0" failures="0" errors="0" skipped="0" />\n'
    )
    assert stated(parse(text)) == (0, 0, 0, 0)


def test_hostile_text_stays_well_formed():
    f = drop_email(
        message='quote " and <tag> & \x00nul \x1b[31m\nnew line',
        path="dir/a&b <c>.sql",
        migration="a&b <c>.sql",
        statement="SELECT ']]>' \x08",
    )
    xml = parse(render("junit", result(f)))
    case = next(c for s in xml for c in s)
    assert case.name == "a&b <c>.sql" and case.classname == "dir/a&b <c>.sql"
    failure = case.result[0]
    assert failure.message == 'quote " and <tag> & \ufffdnul \ufffd[31m\nnew line'  # newline kept in the attribute
    assert "SELECT ']]>' \ufffd" in failure.text


def test_deterministic():
    res = result(drop_email(), index_finding(), lock_timeout(), checked=CHECKED)
    assert render("junit", res) == render("junit", res)


def test_cli_passes_fail_on(run_cli, tmp_path):
    (tmp_path / "V1__drop_index.sql").write_text("SET lock_timeout = '2s';\nDROP INDEX users_email_idx;\n")
    code, out, err = run_cli(["check", ".", "--format", "junit"], cwd=tmp_path)
    assert (code, err) == (0, "")  # a warning only
    xml = parse(out)
    assert stated(xml)[1] == 0
    assert "warning[non-concurrent-drop-index]" in next(c for s in xml for c in s).system_out
    code, out, _ = run_cli(["check", ".", "--format", "junit", "--fail-on", "warning"], cwd=tmp_path)
    assert code == 1
    xml = parse(out)
    assert stated(xml)[1] == 1
    assert [r.type for s in xml for c in s for r in c.result] == ["non-concurrent-drop-index"]

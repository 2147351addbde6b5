import io
import json

from migsafe.model import Edit, Finding, Fix, FixStep, Result, Severity, Span
from migsafe.report import FORMATS, ReportContext


def drop_email() -> Finding:
    return Finding(
        rule="drop-column",
        severity=Severity.ERROR,
        message="Dropping column users.email breaks the running app version that still reads it.",
        path="migrations/V3__drop_email.sql",
        span=Span(4, 1, 4, 36),
        source="sql",
        migration="V3__drop_email.sql",
        statement="ALTER TABLE users DROP COLUMN email",
        table="users",
        column="email",
        lock="ACCESS EXCLUSIVE",
        fix=Fix(
            summary="Stop using the column first; drop it in a later deploy.",
            steps=[
                FixStep("expand", "stop reading users.email", "sql", "-- nothing in the database"),
                FixStep("contract", "drop it in a later deploy", "sql", "ALTER TABLE users DROP COLUMN email;"),
            ],
            edits=[Edit("migrations/V3__drop_email.sql", 4, 1, 4, 36, "-- moved")],
        ),
    )


def lock_timeout() -> Finding:
    # Knows neither table, column, lock, statement nor a fix.
    return Finding(
        rule="missing-lock-timeout",
        severity=Severity.WARNING,
        message="No lock_timeout before ALTER TABLE ünïcode.",
        path="migrations/V3__drop_email.sql",
        span=Span(4, 1, 4, 36),
        source="sql",
        migration="V3__drop_email.sql",
    )


def result(*findings: Finding) -> Result:
    return Result(list(findings), files=5, migrations=5, statements=14, dialect="postgresql", target_version="15")


def render(res: Result) -> str:
    out = io.StringIO()
    FORMATS["json"](res, out, ReportContext(version="9.9.9"))
    return out.getvalue()


def test_top_level_and_finding_key_order():
    text = render(result(drop_email(), lock_timeout()))
    data = json.loads(text)
    assert list(data) == ["schema_version", "migsafe_version", "dialect", "target_version", "findings", "summary"]
    assert data["schema_version"] == 1
    assert data["migsafe_version"] == "9.9.9"
    assert (data["dialect"], data["target_version"]) == ("postgresql", "15")
    assert list(data["findings"][0]) == [
        "rule", "severity", "message", "path", "line", "column", "end_line", "end_column",
        "source", "migration", "statement", "table", "column_name", "lock", "fix", "doc",
    ]
    assert list(data["summary"]) == ["files", "migrations", "statements", "findings", "by_rule"]


def test_full_finding_values():
    f = json.loads(render(result(drop_email())))["findings"][0]
    assert f["severity"] == "error"
    assert (f["line"], f["column"], f["end_line"], f["end_column"]) == (4, 1, 4, 36)
    assert (f["table"], f["column_name"], f["lock"]) == ("users", "email", "ACCESS EXCLUSIVE")
    assert f["doc"] == "rules/drop-column.md"
    assert f["fix"]["steps"][1] == {
        "phase": "contract",
        "title": "drop it in a later deploy",
        "language": "sql",
        "code": "ALTER TABLE users DROP COLUMN email;",
    }
    assert list(f["fix"]["edits"][0]) == ["path", "line", "column", "end_line", "end_column", "replacement"]


def test_unknown_fields_are_omitted_and_fix_is_always_present():
    f = json.loads(render(result(lock_timeout())))["findings"][0]
    for key in ("statement", "table", "column_name", "lock"):
        assert key not in f
    assert f["fix"] == {"summary": "", "steps": [], "edits": []}


def test_findings_keep_engine_order_and_summary_counts_by_rule_sorted():
    data = json.loads(render(result(lock_timeout(), drop_email(), lock_timeout())))
    assert [f["rule"] for f in data["findings"]] == ["missing-lock-timeout", "drop-column", "missing-lock-timeout"]
    assert data["summary"] == {
        "files": 5,
        "migrations": 5,
        "statements": 14,
        "findings": 3,
        "by_rule": {"drop-column": 1, "missing-lock-timeout": 2},
    }
    assert list(data["summary"]["by_rule"]) == ["drop-column", "missing-lock-timeout"]


def test_exact_bytes_for_no_findings():
    assert render(result()) == (
        "{\n"
        '  "schema_version": 1,\n'
        '  "migsafe_version": "9.9.9",\n'
        '  "dialect": "postgresql",\n'
        '  "target_version": "15",\n'
        '  "findings": [],\n'
        '  "summary": {\n'
        '    "files": 5,\n'
        '    "migrations": 5,\n'
        '    "statements": 14,\n'
        '    "findings": 0,\n'
        '    "by_rule": {}\n'
        "  }\n"
        "}\n"
    )


def test_utf8_not_escaped_and_deterministic():
    res = result(drop_email(), lock_timeout())
    text = render(res)
    assert "ünïcode" in text
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert render(res) == text

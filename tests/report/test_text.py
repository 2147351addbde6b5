import io

from migsafe.model import Finding, Fix, FixStep, Result, Severity, Span
from migsafe.report import FORMATS, ReportContext

SOURCE = {
    "migrations/V3__drop_email.sql": [
        "-- V3",
        "",
        "SET lock_timeout = '2s';",
        "ALTER TABLE users DROP COLUMN email;",
        "CREATE INDEX idx ON orders",
        "\t(user_id);",
        "",
    ],
    "migrations/versions/3f2a.py": ["def upgrade():", '    op.drop_column("users", "email")'],
}


def finding(**kw) -> Finding:
    base = dict(
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
    )
    return Finding(**{**base, **kw})


def result(*findings: Finding, migrations: int = 5) -> Result:
    return Result(list(findings), files=5, migrations=migrations, statements=14, dialect="postgresql", target_version="15")


def render(res: Result, color: bool = False, sources: bool = True) -> str:
    out = io.StringIO()
    ctx = ReportContext(color=color, source_lines=(lambda p: SOURCE.get(p, [])) if sources else None)
    FORMATS["text"](res, out, ctx)
    return out.getvalue()


FIX = Fix(
    summary="Stop using the column first; drop it in a later deploy.",
    steps=[
        FixStep("expand", "Stop reading users.email in the app", "python", "# remove email from the model\nclass User:\n\n    name = Column(String)"),
        FixStep("contract", "Drop the column in a later deploy", "sql", "ALTER TABLE users DROP COLUMN email;"),
    ],
)


def test_full_block_and_summary():
    res = result(
        finding(fix=FIX),
        finding(
            rule="non-concurrent-index",
            message="CREATE INDEX without CONCURRENTLY blocks writes to orders.",
            span=Span(5, 1, 6, 11),
            table="orders",
            column=None,
            lock="SHARE",
            statement="CREATE INDEX idx ON orders (user_id)",
        ),
        finding(
            rule="missing-lock-timeout",
            severity=Severity.WARNING,
            message="No lock_timeout is set before this statement.",
            path="migrations/versions/3f2a.py",
            span=Span(2, 5, 2, 37),
            source="alembic",
            migration="3f2a",
            lock=None,
        ),
    )
    assert render(res) == """\
migrations/V3__drop_email.sql:4:1: error[drop-column] Dropping column users.email breaks the running app version that still reads it.
   4 | ALTER TABLE users DROP COLUMN email;
     | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  lock: ACCESS EXCLUSIVE on users
  fix: Stop using the column first; drop it in a later deploy.
    1. expand: Stop reading users.email in the app
       # remove email from the model
       class User:

           name = Column(String)
    2. contract: Drop the column in a later deploy
       ALTER TABLE users DROP COLUMN email;

migrations/V3__drop_email.sql:5:1: error[non-concurrent-index] CREATE INDEX without CONCURRENTLY blocks writes to orders.
   5 | CREATE INDEX idx ON orders
     | ^^^^^^^^^^^^^^^^^^^^^^^^^^
  lock: SHARE on orders

migrations/versions/3f2a.py:2:5: warning[missing-lock-timeout] No lock_timeout is set before this statement.
   2 |     op.drop_column("users", "email")
     |     ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  sql: ALTER TABLE users DROP COLUMN email

Found 2 errors and 1 warning in 2 of 5 migrations (5 files, 14 statements).
"""


def test_no_findings():
    assert render(result()) == "All checks passed: 5 migrations, 14 statements.\n"
    assert render(Result([], 1, 1, 1, "postgresql", "15")) == "All checks passed: 1 migration, 1 statement.\n"


def test_summary_wording():
    warning = finding(severity=Severity.WARNING, lock=None)
    assert render(result(warning), sources=False).splitlines()[-1] == (
        "Found 1 warning in 1 of 5 migrations (5 files, 14 statements)."
    )
    assert render(result(finding(lock=None), migrations=1), sources=False).splitlines()[-1] == (
        "Found 1 error in 1 of 1 migration (5 files, 14 statements)."
    )


def test_without_source_or_out_of_range_line_shows_no_excerpt():
    out = render(result(finding(lock=None)), sources=False)
    assert "|" not in out
    out = render(result(finding(lock=None, span=Span(99, 1, 99, 2))))
    assert "|" not in out


def test_tab_expanded_and_caret_clamped_to_line():
    f = finding(span=Span(6, 2, 6, 500), lock=None)
    lines = render(result(f)).splitlines()
    assert lines[1:3] == ["   6 |     (user_id);", "     |     ^^^^^^^^^^"]


def test_no_trailing_spaces_and_deterministic():
    res = result(finding(fix=FIX), finding(span=Span(2, 1, 2, 1), lock=None))
    out = render(res)
    assert all(line == line.rstrip() for line in out.splitlines())
    assert render(res) == out


def test_color_only_when_asked():
    res = result(finding())
    assert "\x1b[" not in render(res)
    colored = render(res, color=True)
    assert "\x1b[1;31merror[drop-column]\x1b[0m" in colored
    assert all(line == line.rstrip() for line in colored.splitlines())

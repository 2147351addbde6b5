"""Findings and a tiny source tree shared by the report-format tests (not a test module)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
from jsonschema import validators

from migsafe.model import Edit, Finding, Fix, FixStep, Result, Severity, Span
from migsafe.report import FORMATS, ReportContext

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"

SOURCE = {
    "migrations/V3__drop_email.sql": [
        "-- V3",
        "",
        "SET lock_timeout = '2s';",
        "ALTER TABLE users DROP COLUMN email;",
        "CREATE INDEX idx ON orders",
        "  (user_id);",
        "",
    ],
    # Non-ASCII before the span: character and UTF-8 byte columns differ.
    "migrations/V4__ünïcode.sql": ["ALTER TABLE \"ünï\" DROP COLUMN \"çol\";", ""],
}


def drop_email(**kw) -> Finding:
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
        fix=Fix(
            summary="Stop using the column first; drop it in a later deploy.",
            steps=[
                FixStep("expand", "Stop reading users.email", "sql", "-- application change"),
                FixStep("contract", "Drop it in a later deploy", "sql", "ALTER TABLE users DROP COLUMN email;"),
            ],
        ),
    )
    return Finding(**{**base, **kw})


def index_finding(**kw) -> Finding:
    base = dict(
        rule="non-concurrent-index",
        severity=Severity.ERROR,
        message="CREATE INDEX without CONCURRENTLY blocks writes to orders.",
        path="migrations/V3__drop_email.sql",
        span=Span(5, 1, 6, 12),  # two lines
        source="sql",
        migration="V3__drop_email.sql",
        statement="CREATE INDEX idx ON orders\n  (user_id)",
        table="orders",
        lock="SHARE",
        fix=Fix(
            summary="Build the index with CONCURRENTLY.",
            steps=[FixStep("single", "Build it without blocking writes", "sql", "CREATE INDEX CONCURRENTLY idx ON orders (user_id);")],
            edits=[Edit("migrations/V3__drop_email.sql", 5, 7, 5, 7, "CONCURRENTLY ")],
        ),
    )
    return Finding(**{**base, **kw})


def lock_timeout(**kw) -> Finding:
    # A warning that knows no statement, table, lock or fix.
    base = dict(
        rule="missing-lock-timeout",
        severity=Severity.WARNING,
        message="No lock_timeout before ALTER TABLE ünïcode.",
        path="migrations/V4__ünïcode.sql",
        span=Span(1, 19, 1, 36),  # DROP COLUMN "çol"
        source="sql",
        migration="V4__ünïcode.sql",
    )
    return Finding(**{**base, **kw})


def result(*findings: Finding, checked=None) -> Result:
    return Result(list(findings), files=3, migrations=3, statements=9, dialect="postgresql",
                  target_version="15", checked=checked)


def render(fmt: str, res: Result, sources: bool = True, **ctx) -> str:
    out = io.StringIO()
    lines = (lambda p: SOURCE.get(p, [])) if sources else None
    FORMATS[fmt](res, out, ReportContext(source_lines=lines, version="9.9.9", **ctx))
    return out.getvalue()


def validate(instance: object, schema_file: str) -> None:
    """Validate with the validator the schema names ($schema), formats checked where possible."""
    schema = json.loads((SCHEMAS / schema_file).read_text(encoding="utf-8"))
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    errors = sorted(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(instance), key=str)
    if errors:
        raise jsonschema.ValidationError(
            f"{len(errors)} error(s) against {schema_file}; first: {errors[0].message} at "
            f"{'/'.join(map(str, errors[0].absolute_path))}"
        )

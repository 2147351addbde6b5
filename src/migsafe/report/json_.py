"""--format json: the contract's schema version 1. Key order is part of the output (snapshots)."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any, TextIO

from migsafe.model import Finding, Fix, Result

if TYPE_CHECKING:
    from migsafe.report.context import ReportContext

SCHEMA_VERSION = 1

# The contract's example uses "column" twice (position and database column); a JSON object
# cannot hold both, so the database column is "column_name". See the report to the lead.
COLUMN_NAME_KEY = "column_name"


def render(result: Result, out: TextIO, ctx: ReportContext) -> None:
    out.write(dumps(report(result, ctx.version)))


def dumps(document: dict[str, Any]) -> str:
    """The report with one finding per line. json.dumps with `indent` runs in pure Python, and
    on a large report took a tenth of the run; each finding here is encoded in C."""
    def one(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines = []
    for key, value in document.items():
        if isinstance(value, list) and value:
            lines.append(f"  {one(key)}: [\n" + ",\n".join(f"    {one(item)}" for item in value) + "\n  ]")
        else:  # (the summary, small: as json.dumps indents it)
            lines.append(f"  {one(key)}: " + json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  "))
    return "{\n" + ",\n".join(lines) + "\n}\n"


def report(result: Result, version: str) -> dict[str, Any]:
    by_rule = Counter(f.rule for f in result.findings)
    return {
        "schema_version": SCHEMA_VERSION,
        "migsafe_version": version,
        "dialect": result.dialect,
        "target_version": result.target_version,
        # Findings arrive sorted by the engine; re-sorting here could hide an engine bug.
        "findings": [_finding(f) for f in result.findings],
        "summary": {
            "files": result.files,
            "migrations": result.migrations,
            "statements": result.statements,
            "findings": len(result.findings),
            "by_rule": dict(sorted(by_rule.items())),
        },
    }


def _finding(f: Finding) -> dict[str, Any]:
    d: dict[str, Any] = {
        "rule": f.rule,
        "severity": f.severity.value,
        "message": f.message,
        "path": f.path,
        "line": f.span.line,
        "column": f.span.column,
        "end_line": f.span.end_line,
        "end_column": f.span.end_column,
        "source": f.source,
        "migration": f.migration,
    }
    # "present where known": leave out what the finding does not know.
    for key, value in (
        ("statement", f.statement),
        ("table", f.table),
        (COLUMN_NAME_KEY, f.column),
        ("lock", f.lock),
    ):
        if value is not None:
            d[key] = value
    d["fix"] = _fix(f.fix)
    d["doc"] = f"rules/{f.rule}.md"
    if f.evidence is not None:  # --database only
        d["evidence"] = f.evidence.to_json()
    return d


def _fix(fix: Fix | None) -> dict[str, Any]:
    # Always present, so consumers never need to test for the key.
    if fix is None:
        return {"summary": "", "steps": [], "edits": []}
    return {
        "summary": fix.summary,
        "steps": [
            {"phase": s.phase, "title": s.title, "language": s.language, "code": s.code}
            for s in fix.steps
        ],
        "edits": [
            {
                "path": e.path,
                "line": e.line,
                "column": e.column,
                "end_line": e.end_line,
                "end_column": e.end_column,
                "replacement": e.replacement,
            }
            for e in fix.edits
        ],
    }

"""--format rdjson: reviewdog's DiagnosticResult, so reviewdog posts each finding as a review
comment, with `suggestions` (from fix.edits) that a reviewer can apply in one click."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO

from migsafe.model import Edit, Finding, Result, Span
from migsafe.report import common
from migsafe.report.common import fix_markdown, rule_url

if TYPE_CHECKING:
    from migsafe.report.context import ReportContext


def render(result: Result, out: TextIO, ctx: ReportContext) -> None:
    source: dict[str, str] = {"name": "migsafe"}
    if common.HOMEPAGE:
        source["url"] = common.HOMEPAGE
    doc = {"source": source, "diagnostics": [_diagnostic(f, ctx) for f in result.findings]}
    out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def _diagnostic(f: Finding, ctx: ReportContext) -> dict[str, Any]:
    d: dict[str, Any] = {
        # reviewdog posts the message as a markdown review comment: include the safe steps.
        "message": fix_markdown(f),
        "location": {"path": f.path, "range": _range(f.path, f.span, ctx)},
        "severity": f.severity.value.upper(),  # ERROR | WARNING
    }
    code: dict[str, str] = {"value": f.rule}
    if rule_url(f.rule):
        code["url"] = rule_url(f.rule)
    d["code"] = code
    if f.fix and f.fix.edits:
        d["suggestions"] = [_suggestion(e, ctx) for e in f.fix.edits if e.path == f.path]
    return d


def _suggestion(e: Edit, ctx: ReportContext) -> dict[str, Any]:
    # A suggestion applies to the diagnostic's own file; reviewdog has no cross-file edits.
    span = Span(e.line, e.column, e.end_line, e.end_column)
    return {"range": _range(e.path, span, ctx), "text": e.replacement}


def _range(path: str, s: Span, ctx: ReportContext) -> dict[str, Any]:
    # reviewdog's end is exclusive, as migsafe's end_column.
    return {
        "start": {"line": s.line, "column": _byte_column(path, s.line, s.column, ctx)},
        "end": {"line": s.end_line, "column": _byte_column(path, s.end_line, s.end_column, ctx)},
    }


def _byte_column(path: str, line: int, column: int, ctx: ReportContext) -> int:
    """reviewdog counts columns in UTF-8 bytes; migsafe in characters. Same on ASCII lines."""
    lines = ctx.source_lines(path) if ctx.source_lines else []
    if not 1 <= line <= len(lines):
        return column  # file unknown: the character column is the best we have
    prefix = lines[line - 1][: column - 1]
    # Past the end of the line (e.g. one past the last character): count the rest as 1 byte each.
    beyond = max(column - 1 - len(prefix), 0)
    return len(prefix.encode("utf-8")) + beyond + 1

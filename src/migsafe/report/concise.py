"""--format concise: one line per finding (`path:line:col: severity[rule] message`, as ruff's
concise output and compilers print), then the text report's summary line. For a terminal or a
log a reviewer scans; the fix and the statement are in the other formats."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from migsafe.model import Result
from migsafe.report.text import summary

if TYPE_CHECKING:
    from migsafe.report.context import ReportContext


def render(result: Result, out: TextIO, ctx: ReportContext) -> None:
    for f in result.findings:
        message = " ".join(f.message.split())  # one line, whatever the message holds
        out.write(f"{f.path}:{f.span.line}:{f.span.column}: {f.severity.value}[{f.rule}] {message}\n")
    out.write(summary(result, ctx) + "\n")

"""--format github: GitHub Actions workflow commands, so findings show inline on the PR diff.

One `::error` or `::warning` command per finding, then a plain summary line for the log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from migsafe.model import Finding, Result
from migsafe.report import text
from migsafe.report.common import message_with_fix

if TYPE_CHECKING:
    from migsafe.report.context import ReportContext


def render(result: Result, out: TextIO, ctx: ReportContext) -> None:
    lines = [command(f) for f in result.findings]
    lines.append(text.summary(result, ctx))  # the text report's own line: both read the same
    out.write("".join(line + "\n" for line in lines))


def command(f: Finding) -> str:
    props = {"file": f.path, "line": f.span.line}
    if f.span.end_line == f.span.line:
        # GitHub drops column ranges that span lines (its annotation API allows columns only
        # when start and end line are the same), so they are given only then.
        props.update(col=f.span.column, endLine=f.span.end_line, endColumn=f.span.end_column)
    else:
        props["endLine"] = f.span.end_line
    props["title"] = f.rule
    rendered = ",".join(f"{key}={escape_property(str(value))}" for key, value in props.items())
    return f"::{f.severity.value} {rendered}::{escape_data(message_with_fix(f))}"


# As @actions/core's command.ts: the data after '::' cannot hold a line break, and a property
# value cannot hold ':' or ',' either (they end the value); '%' goes first, as the escape char.
def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")

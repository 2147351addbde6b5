"""--format text (default): one block per finding for a reviewer, then a one-line summary."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, TextIO

from migsafe.model import Finding, Result, Severity

if TYPE_CHECKING:
    from migsafe.report.context import ReportContext

GUTTER = 4  # width of the line-number column in the source excerpt
# A heading (path:line:col: rule message), a fix's summary or a step's title stays one line up to
# LONGEST characters (one line per finding greps best); a longer one wraps at WIDTH. Fix code is
# laid out by fixes/layout.py.
LONGEST, WIDTH = 160, 120
TAB = 4  # tabs are expanded so the carets line up with the source

_BOLD, _RED, _YELLOW, _BLUE = "1", "31", "33", "34"


def render(result: Result, out: TextIO, ctx: ReportContext) -> None:
    lines: list[str] = []
    for f in result.findings:
        lines += _finding(f, ctx)
        lines.append("")
    lines.append(summary(result, ctx))
    # No trailing spaces anywhere (CI logs, snapshot diffs).
    out.write("".join(line.rstrip() + "\n" for line in lines))


def _style(text: str, ctx: ReportContext, *codes: str) -> str:
    if not ctx.color or not text:
        return text
    return f"\x1b[{';'.join(codes)}m{text}\x1b[0m"


def _sev_color(severity: Severity) -> str:
    return _RED if severity is Severity.ERROR else _YELLOW


def _finding(f: Finding, ctx: ReportContext) -> list[str]:
    where = _style(f"{f.path}:{f.span.line}:{f.span.column}:", ctx, _BOLD)
    what = _style(f"{f.severity.value}[{f.rule}]", ctx, _BOLD, _sev_color(f.severity))
    lines = _wrapped(f"{f.path}:{f.span.line}:{f.span.column}: {f.severity.value}[{f.rule}]", f"{where} {what}",
                     f.message, 2)
    lines += _excerpt(f, ctx)
    if f.statement and f.source != "sql":
        # Python migrations: the source line is the op call; show the SQL it runs too.
        lines.append(f"  {_style('sql:', ctx, _BOLD)} {_one_line(f.statement)}")
    if f.lock:
        on = f" on {f.table}" if f.table else ""
        lines.append(f"  {_style('lock:', ctx, _BOLD)} {f.lock}{on}")
    if f.evidence is not None:  # --database: what the server showed for this statement
        lines.append(f"  {_style('observed:', ctx, _BOLD)} {f.evidence.text()}")
    if f.fix and (f.fix.summary or f.fix.steps):
        lines += _wrapped("  fix:", f"  {_style('fix:', ctx, _BOLD)}", f.fix.summary, 7)
        for n, step in enumerate(f.fix.steps, 1):
            label = f"{n}. "
            lines += _wrapped(f"    {label}{step.phase}:", f"    {label}{step.phase}:", step.title, 4 + len(label))
            indent = " " * (4 + len(label))
            lines += [indent + code if code.strip() else "" for code in step.code.splitlines()]
    return lines


def _wrapped(plain: str, styled: str, text: str, indent: int) -> list[str]:
    """`styled` (its text: `plain`) then `text`: one line, or if longer than LONGEST, lines of at
    most WIDTH characters where the words allow, those after the first indented by `indent`."""
    if len(plain) + 1 + len(text) <= LONGEST:
        return [f"{styled} {text}"]
    rows = textwrap.wrap(text, WIDTH, initial_indent=" " * (len(plain) + 1), subsequent_indent=" " * indent,
                         break_long_words=False, break_on_hyphens=False) or [""]
    return [f"{styled} {rows[0].lstrip()}", *rows[1:]]


def _excerpt(f: Finding, ctx: ReportContext) -> list[str]:
    """The span's first source line, underlined with carets."""
    if ctx.source_lines is None:
        return []
    source = ctx.source_lines(f.path)
    if not 1 <= f.span.line <= len(source):
        return []
    raw = source[f.span.line - 1]
    shown = raw.expandtabs(TAB).rstrip()
    if not shown:
        return []
    # Columns count characters of the raw line; expand the prefix the same way as the line.
    start = min(len(raw[: f.span.column - 1].expandtabs(TAB)), len(shown))
    if f.span.end_line == f.span.line:
        end = min(len(raw[: f.span.end_column - 1].expandtabs(TAB)), len(shown))
    else:
        end = len(shown)  # multi-line span: underline to the end of its first line
    carets = "^" * max(end - start, 1)
    number = str(f.span.line).rjust(GUTTER)
    bar = _style("|", ctx, _BOLD, _BLUE)
    return [
        f"{_style(number, ctx, _BOLD, _BLUE)} {bar} {shown}",
        f"{' ' * len(number)} {bar} {' ' * start}{_style(carets, ctx, _sev_color(f.severity))}",
    ]


def _one_line(sql: str, limit: int = 120) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary(result: Result, ctx: ReportContext) -> str:
    files = _plural(result.files, "file")
    statements = _plural(result.statements, "statement")
    judged = result.migrations if result.checked is None else len(result.checked)
    # Migrations only replayed for the schema (start-after, pre-commit, --diff) are said so.
    replayed = f"; {result.migrations - judged} more replayed as history" if judged < result.migrations else ""
    # Silenced findings are counted: a reviewer sees that the run was not clean by itself.
    silenced = f", {result.suppressed} suppressed" if result.suppressed else ""
    if not result.findings:
        text = f"All checks passed: {_plural(judged, 'migration')}{replayed}, {statements}{silenced}."
        return _style(text, ctx, _BOLD)
    errors = sum(f.severity is Severity.ERROR for f in result.findings)
    warnings = len(result.findings) - errors
    counts = " and ".join(
        _plural(n, word) for n, word in ((errors, "error"), (warnings, "warning")) if n
    )
    affected = len({(f.path, f.migration) for f in result.findings})
    total = _plural(judged, "migration")
    return _style(f"Found {counts} in {affected} of {total}{replayed} ({files}, {statements}{silenced}).", ctx, _BOLD)

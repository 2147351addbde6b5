"""What several report formats share: fingerprints, the fix as text or markdown, source text."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import TYPE_CHECKING

from migsafe.model import Finding, Span

if TYPE_CHECKING:
    from migsafe.report.context import ReportContext

# The project's public home. Every URL in a report (SARIF informationUri/helpUri, rdjson source
# and code urls) derives from it; while it is None those optional fields are left out rather
# than pointing at a guessed address.
HOMEPAGE: str | None = None

FINGERPRINT_VERSION = "v1"  # bump when the recipe below changes, so old ids are not misread


def rule_url(rule: str) -> str | None:
    return f"{HOMEPAGE}/blob/main/rules/{rule}.md" if HOMEPAGE else None


def fingerprints(findings: list[Finding]) -> list[str]:
    """One stable id per finding: rule + path + normalised statement + occurrence index.

    No line number, so a finding keeps its id when lines above it move; the occurrence index
    keeps two identical statements in one file apart (GitLab drops duplicate fingerprints).
    """
    seen: Counter[tuple[str, str, str]] = Counter()
    ids = []
    for f in findings:
        key = (f.rule, f.path, normalize_sql(f.statement or ""))
        index = seen[key]
        seen[key] += 1
        raw = "\0".join((FINGERPRINT_VERSION, *key, str(index)))
        ids.append(hashlib.sha256(raw.encode("utf-8")).hexdigest())
    return ids


def normalize_sql(sql: str) -> str:
    """Whitespace and a trailing ';' do not change what a statement does."""
    return " ".join(sql.split()).rstrip(";").rstrip()


def message_with_fix(f: Finding, sep: str = "\n") -> str:
    """The message and the fix summary, for consumers that show one plain text."""
    if f.fix and f.fix.summary:
        return f"{f.message}{sep}Fix: {f.fix.summary}"
    return f.message


def fix_markdown(f: Finding) -> str:
    """The message, then the fix summary and its steps with fenced code, as markdown."""
    parts = [f.message]
    if f.fix and (f.fix.summary or f.fix.steps):
        parts.append(f"**Fix:** {f.fix.summary}".rstrip())
        for n, step in enumerate(f.fix.steps, 1):
            fence = _fence(step.code)
            parts.append(f"{n}. {step.phase}: {step.title}\n\n{fence}{step.language}\n{step.code}\n{fence}")
    return "\n\n".join(parts)


def _fence(code: str) -> str:
    # Longer than any backtick run inside the code, so the block cannot be closed early.
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)


def span_text(span: Span, ctx: ReportContext, path: str) -> str | None:
    """The source text the span covers (end_column exclusive); None when the file is unknown."""
    if ctx.source_lines is None:
        return None
    lines = ctx.source_lines(path)
    if not 1 <= span.line <= span.end_line <= len(lines):
        return None
    if span.line == span.end_line:
        return lines[span.line - 1][span.column - 1 : span.end_column - 1]
    first = lines[span.line - 1][span.column - 1 :]
    middle = lines[span.line : span.end_line - 1]
    last = lines[span.end_line - 1][: span.end_column - 1]
    return "\n".join([first, *middle, last])

"""--format gitlab: GitLab Code Quality JSON (a subset of the Code Climate issue format).

GitLab reads description, check_name, fingerprint, severity and location.path/lines; `type`,
`categories` and `content` complete the Code Climate issue for other readers of the file.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO

from migsafe.model import Finding, Result, Severity
from migsafe.report.common import fingerprints, fix_markdown, message_with_fix

if TYPE_CHECKING:
    from migsafe.report.context import ReportContext

# GitLab's scale is info < minor < major < critical < blocker. A migsafe error is an outage or
# data loss on deploy (a failed pipeline, exit 1): "critical". A warning is a risk a reviewer
# should weigh: "minor". "blocker" is left for nothing migsafe knows; "major" would rank our
# errors with maintainability complaints of other linters in the same widget.
SEVERITY = {Severity.ERROR: "critical", Severity.WARNING: "minor"}


def render(result: Result, out: TextIO, ctx: ReportContext) -> None:
    ids = fingerprints(result.findings)
    issues = [_issue(f, ids[i]) for i, f in enumerate(result.findings)]
    out.write(json.dumps(issues, indent=2, ensure_ascii=False) + "\n")


def _issue(f: Finding, fingerprint: str) -> dict[str, Any]:
    return {
        "type": "issue",
        "check_name": f.rule,
        "description": message_with_fix(f, " "),  # one line in the MR widget
        "content": {"body": fix_markdown(f)},
        "categories": ["Bug Risk"],  # a deploy that breaks the running app
        "severity": SEVERITY[f.severity],
        "fingerprint": fingerprint,
        # GitLab wants the path relative to the repository root, without "./".
        "location": {"path": f.path, "lines": {"begin": f.span.line, "end": f.span.end_line}},
    }

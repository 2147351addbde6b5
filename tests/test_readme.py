"""The README shows real output: its demo excerpt ("What the demo prints") and its rules table
are compared with what `migsafe check fixtures/demo` and `migsafe rules` print now.

After a change of rules or messages, refresh both sections of README.md with:

    MIGSAFE_UPDATE_README=1 .venv/bin/python -m pytest tests/test_readme.py

(the excerpt keeps the findings it shows, chosen by file and rule, with their text as printed now).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
UPDATE = os.environ.get("MIGSAFE_UPDATE_README") == "1"

# The first line of a finding in the text report: path:line:column: severity[rule] message
FINDING = re.compile(r"(?P<path>\S[^:]*):\d+:\d+: (?:error|warning)\[(?P<rule>[a-z-]+)\] ")
EXCERPT = re.compile(r"(### What the demo prints\n.*?```text\n)(.*?)\n```", re.S)
TABLE = re.compile(r"^\| id \| severity \| dialects \| summary \|\n(?:\|.*\n)+", re.M)
GAP = "\n\n...\n\n"  # between the findings the excerpt shows


def findings(report: str) -> tuple[dict[tuple[str, str], str], str]:
    """A text report -> ({(path, rule): the finding's lines}, the summary line); the first
    finding of each path and rule."""
    lines = report.rstrip("\n").split("\n")
    blocks: dict[tuple[str, str], str] = {}
    starts = [i for i, line in enumerate(lines) if FINDING.match(line)] + [len(lines) - 1]
    for start, end in zip(starts, starts[1:]):
        match = FINDING.match(lines[start])
        blocks.setdefault((match["path"], match["rule"]), "\n".join(lines[start:end]).rstrip("\n"))
    return blocks, lines[-1]


def demo_excerpt(readme: str, report: str) -> tuple[str, str]:
    """(the README's excerpt, the same findings and summary as the report prints them)."""
    shown = EXCERPT.search(readme)[2]
    *body, _ = shown.split("\n")  # the last line is the summary
    blocks, summary = findings(report)
    keys = [(m["path"], m["rule"]) for m in map(FINDING.match, "\n".join(body).strip().split(GAP))]
    assert keys and all(keys), "each part of the excerpt starts with a finding's first line"
    missing = [k for k in keys if k not in blocks]
    assert not missing, f"the demo no longer prints these findings: {missing}"
    return shown, GAP.join(blocks[k] for k in keys) + "\n\n" + summary


def rules_table(listing: str) -> str:
    """`migsafe rules` as the README's markdown table."""
    rows = ["| id | severity | dialects | summary |", "| --- | --- | --- | --- |"]
    for line in listing.strip().split("\n")[1:]:  # (its first line is the header)
        rule, severity, dialects, summary = line.split(None, 3)
        summary = summary.replace("|", r"\|")  # (a cell's own bar)
        rows.append(f"| `{rule}` | {severity} | {dialects.replace(',', ', ')} | {summary} |")
    return "\n".join(rows) + "\n"


def test_demo_excerpt_is_what_the_demo_prints(run_cli):
    code, report, err = run_cli(["check", "--no-cache", "fixtures/demo"], cwd=REPO_ROOT)
    assert code == 1, err  # the demo shows findings
    readme = README.read_text(encoding="utf-8")
    shown, printed = demo_excerpt(readme, report)
    if UPDATE and shown != printed:
        README.write_text(readme.replace(f"```text\n{shown}\n```", f"```text\n{printed}\n```"), encoding="utf-8")
        return
    assert shown == printed


def test_rules_table_is_what_migsafe_rules_prints(run_cli):
    code, listing, err = run_cli(["rules"], cwd=REPO_ROOT)
    assert code == 0, err
    readme = README.read_text(encoding="utf-8")
    shown, printed = TABLE.search(readme)[0], rules_table(listing)
    if UPDATE and shown != printed:
        README.write_text(readme.replace(shown, printed), encoding="utf-8")
        return
    assert shown == printed

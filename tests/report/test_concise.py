"""--format concise: one line per finding, then the summary; and the formats the contract names."""

from __future__ import annotations

import io
import re
from pathlib import Path

from test_text import finding, result

from migsafe.model import Severity, Span
from migsafe.report import FORMAT_NAMES, FORMATS, ReportContext

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "spec" / "contract.md"


def render(res) -> str:
    out = io.StringIO()
    FORMATS["concise"](res, out, ReportContext())
    return out.getvalue()


def test_one_line_per_finding_then_the_summary():
    res = result(finding(), finding(rule="missing-lock-timeout", severity=Severity.WARNING, span=Span(5, 3, 5, 9),
                                    message="No lock_timeout\nbefore   this."))
    res.suppressed = 2
    assert render(res) == (
        "migrations/V3__drop_email.sql:4:1: error[drop-column] Dropping column users.email breaks the running app"
        " version that still reads it.\n"
        "migrations/V3__drop_email.sql:5:3: warning[missing-lock-timeout] No lock_timeout before this.\n"
        "Found 1 error and 1 warning in 1 of 5 migrations (5 files, 14 statements, 2 suppressed).\n")


def test_the_contract_formats_are_the_cli_formats():
    if not CONTRACT.is_file():
        import pytest

        pytest.skip(f"contract not found at {CONTRACT}")
    line = next(line for line in CONTRACT.read_text(encoding="utf-8").splitlines() if line.startswith("| `--format"))
    named = re.search(r"`--format ([^`]+)`", line).group(1).replace("\\|", "|").split("|")
    assert list(FORMAT_NAMES) == named and set(FORMATS) == set(named)

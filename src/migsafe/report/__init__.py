"""Report formats: one module per --format value, each a `render(result, out, ctx)` function."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, TextIO

from migsafe import __version__
from migsafe.model import Result, Severity
from migsafe.report import github, gitlab, json_, junit, rdjson, sarif, text


@dataclass(frozen=True)
class ReportContext:
    """What a renderer may need beyond the Result."""

    color: bool = False
    # path (relative, as in Finding.path) -> the lines of that file; None: do not show source
    source_lines: Callable[[str], list[str]] | None = None
    version: str = __version__
    # --fail-on: JUnit reports findings at or above it as failures, the others as output
    fail_on: Severity = Severity.ERROR


def source_reader(root: Path) -> Callable[[str], list[str]]:
    """A cached `source_lines` for paths relative to `root`; unreadable files give no lines."""

    @lru_cache(maxsize=None)
    def lines(path: str) -> list[str]:
        try:
            text = (root / path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        # Split on "\n" only, as the sources count lines; str.splitlines() also splits on \f etc.
        return [line.rstrip("\r") for line in text.split("\n")]

    return lines


Renderer = Callable[[Result, TextIO, ReportContext], None]

FORMATS: dict[str, Renderer] = {
    "text": text.render,
    "json": json_.render,
    "sarif": sarif.render,
    "github": github.render,
    "junit": junit.render,
    "gitlab": gitlab.render,
    "rdjson": rdjson.render,
}

# Every --format value the contract names; those missing from FORMATS are "not available yet".
FORMAT_NAMES = ("text", "json", "sarif", "github", "junit", "gitlab", "rdjson")

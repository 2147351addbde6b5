"""Report formats: one module per --format value, each a `render(result, out, ctx)` function."""

from __future__ import annotations

from typing import Callable, TextIO

from migsafe.model import Result
from migsafe.report import concise, github, gitlab, json_, junit, rdjson, sarif, text
from migsafe.report.context import ReportContext, source_reader

__all__ = ["FORMATS", "FORMAT_NAMES", "ReportContext", "Renderer", "source_reader"]


Renderer = Callable[[Result, TextIO, ReportContext], None]

FORMATS: dict[str, Renderer] = {
    "text": text.render,
    "concise": concise.render,
    "json": json_.render,
    "sarif": sarif.render,
    "github": github.render,
    "junit": junit.render,
    "gitlab": gitlab.render,
    "rdjson": rdjson.render,
}

# Every --format value the contract names; those missing from FORMATS are "not available yet".
FORMAT_NAMES = ("text", "concise", "json", "sarif", "github", "junit", "gitlab", "rdjson")

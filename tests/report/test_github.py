"""--format github: one workflow command per finding, escaped as @actions/core escapes, so that
no message or path can break out of its command or start one of its own."""

from __future__ import annotations

import re

from sample_findings import drop_email, index_finding, lock_timeout, render, result

from migsafe.model import Fix, Span
from migsafe.report.github import escape_data, escape_property


def test_exact_commands_and_summary():
    out = render("github", result(drop_email(), index_finding(), lock_timeout()))
    assert out.splitlines() == [
        "::error file=migrations/V3__drop_email.sql,line=4,col=1,endLine=4,endColumn=36,title=drop-column::"
        "Dropping column users.email breaks the running app version that still reads it.%0A"
        "Fix: Stop using the column first; drop it in a later deploy.",
        # A span over two lines: GitHub takes columns only within one line, so none are given.
        "::error file=migrations/V3__drop_email.sql,line=5,endLine=6,title=non-concurrent-index::"
        "CREATE INDEX without CONCURRENTLY blocks writes to orders.%0AFix: Build the index with CONCURRENTLY.",
        "::warning file=migrations/V4__ünïcode.sql,line=1,col=19,endLine=1,endColumn=36,title=missing-lock-timeout::"
        "No lock_timeout before ALTER TABLE ünïcode.",
        "Found 2 errors and 1 warning in 2 of 3 migrations (3 files, 9 statements).",
    ]
    assert out.endswith(".\n")


def test_no_findings_is_only_the_summary():
    assert render("github", result()) == "All checks passed: 3 migrations, 9 statements.\n"


def test_escaping_matches_the_toolkit():
    # @actions/core toCommandValue/escapeData/escapeProperty; '%' first so escapes stay unambiguous.
    assert escape_data("100% a:b,c\r\nd") == "100%25 a:b,c%0D%0Ad"
    assert escape_property("100% a:b,c\r\nd") == "100%25 a%3Ab%2Cc%0D%0Ad"
    assert escape_data("%0A") == "%250A"  # a literal escape sequence is not decoded into a newline


# How the Actions runner reads a command back (ActionCommand.TryParseV2 and its unescaping).
_COMMAND = re.compile(r"^::(?P<cmd>[a-z]+)(?: (?P<props>[^:]*))?::(?P<data>.*)$")


def _unescape(s: str, prop: bool) -> str:
    pairs = [("%0D", "\r"), ("%0A", "\n")] + ([("%3A", ":"), ("%2C", ",")] if prop else []) + [("%25", "%")]
    for escaped, plain in pairs:
        s = s.replace(escaped, plain)
    return s


def parse(line: str) -> tuple[str, dict[str, str], str]:
    m = _COMMAND.match(line)
    assert m, line
    props = {}
    for pair in (m["props"] or "").split(","):
        key, value = pair.split("=", 1)
        props[key] = _unescape(value, prop=True)
    return m["cmd"], props, _unescape(m["data"], prop=False)


def test_hostile_message_and_path_round_trip():
    message = "line one\nline two\r\n::error file=x::injected 100%25 %0A a:b, c,d"
    path = "dir:with,commas/100% done\n::warning::x.sql"
    f = drop_email(message=message, path=path, fix=Fix(summary="a:b,c\n::notice::x 5%"))
    out = render("github", result(f), sources=False)
    lines = out.splitlines()
    assert len(lines) == 2  # the command and the summary: no newline got through
    cmd, props, data = parse(lines[0])
    assert cmd == "error"
    assert props == {
        "file": path, "line": "4", "col": "1", "endLine": "4", "endColumn": "36", "title": "drop-column",
    }
    assert data == f"{message}\nFix: a:b,c\n::notice::x 5%"
    assert "\r" not in out and not any(line.startswith("::") for line in lines[1:])


def test_property_values_cannot_hold_the_separators():
    f = drop_email(path="a,b:c.sql", span=Span(1, 2, 1, 3))
    line = render("github", result(f), sources=False).splitlines()[0]
    props = line.split("::")[1].split(" ", 1)[1]
    assert props.startswith("file=a%2Cb%3Ac.sql,line=1,")
    assert props.count(",") == 5 and props.count(":") == 0

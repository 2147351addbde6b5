"""Lines and columns of a text as editors count them (no sqlglot: fixes and reports use these
without loading the SQL reader)."""

from __future__ import annotations

import bisect
import re

# A line break is \r\n, \n or a lone \r (as sqlglot and editors count them).
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def line_starts(text: str) -> list[int]:
    """Offsets at which each line begins (index 0 is line 1)."""
    return [0] + [m.end() for m in LINE_BREAK.finditer(text)]


def position(starts: list[int], offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset; columns count characters."""
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1

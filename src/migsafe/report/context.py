"""What a report renderer may need beyond the Result, and the source lines it shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from migsafe import __version__
from migsafe.model import Severity
from migsafe.sources.files import UnreadableFile, read_regular_file
from migsafe.sources.sql.load import MAX_FILE_BYTES


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
        try:  # as the sources read it: never a blocking read of a FIFO, never a 100 MB file
            data = read_regular_file(root / path, MAX_FILE_BYTES)
        except UnreadableFile:
            return []
        text = data.decode("utf-8-sig", errors="replace")  # a BOM is not part of line 1
        # Lines as the sources count them: \r\n, \r or \n ends one (str.splitlines() also splits on \f etc.).
        return re.split(r"\r\n?|\n", text)

    return lines

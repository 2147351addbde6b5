"""What rendering a migration gives back, and how each statement finds its line.

A source renders a migration by running the framework's own code (offline); every SQL string it
writes is caught where it is written, and the innermost frame of the migration file on the stack
at that moment is the call that caused it (also inside helpers and loops): `Tracer`. Imports no
framework.
"""

from __future__ import annotations

import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from migsafe.model import Span, Statement

# Said of a migration that cannot be undone, whatever its source.
NO_WAY_BACK = "there is no way back if the deploy must be rolled back."


@dataclass
class Rendered:
    statements: list[Statement]
    error: str | None = None
    error_line: int = 1
    how: str = "rendered"  # "rendered" | "static" (read without running, see alembic/static.py) | "raised" (its own error)
    unreadable: list[tuple[int, str]] = field(default_factory=list)  # op calls static reading could not evaluate


class Tracer:
    """Finds, for each SQL string Alembic writes, the revision-file call that caused it."""

    def __init__(self, path: Path, text: str):
        self.filename = str(path)
        self.lines = text.splitlines()
        self.pinned: Span | None = None  # set while a batch replays its recorded operations
        self._positions: dict[object, list] = {}  # code object -> its instructions' source positions

    def caller_span(self) -> Span | None:
        if self.pinned is not None:
            return self.pinned
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == self.filename:
                return self._span(frame)
            frame = frame.f_back
        return None

    def node_span(self, node) -> Span:
        """The span of an ast node of the revision file (for code read, not run)."""
        line, end = node.lineno, getattr(node, "end_lineno", None) or node.lineno
        return Span(line, self._chars(line, node.col_offset) + 1, end,
                    self._chars(end, getattr(node, "end_col_offset", None) or node.col_offset) + 1)

    def _span(self, frame: FrameType) -> Span:
        line = frame.f_lineno
        code = frame.f_code
        if hasattr(code, "co_positions"):  # Python 3.11+: the call's exact extent
            if code not in self._positions:  # (a Django migration makes all its operations in one code object)
                self._positions[code] = list(code.co_positions())
            try:
                start, end, col, end_col = self._positions[code][frame.f_lasti // 2]
            except (IndexError, ValueError):
                start = None
            if start and end and col is not None and end_col is not None:
                return Span(start, self._chars(start, col) + 1, end, self._chars(end, end_col) + 1)
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return Span(line, len(text) - len(text.lstrip()) + 1, line, len(text) + 1)

    def _chars(self, line: int, byte_col: int) -> int:
        """Python reports columns in UTF-8 bytes; reports count characters."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def describe(err: BaseException, message=None) -> str:
    """What stopped the rendering, as one line; `message`: the source's wording of an exception
    (error_message by default)."""
    if isinstance(err, SystemExit):
        return f"upgrade() called sys.exit({err.code!r})"
    return (message or error_message)(err)


def error_message(err: BaseException) -> str:
    """An exception as one line; object addresses left out, so the message is the same each run."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", f"{type(err).__name__}: {text}" if text else type(err).__name__)


def error_line(err: BaseException, filename: str) -> int:
    lines = [fs.lineno for fs in traceback.extract_tb(err.__traceback__) if fs.filename == filename and fs.lineno]
    if isinstance(err, SyntaxError) and err.filename == filename and err.lineno:
        return err.lineno
    return lines[-1] if lines else 1


def statements_in(sql: str, span: Span, dialect: str) -> list[Statement]:
    """One Statement per SQL statement in what the framework wrote (op.execute, RunSQL may hold several)."""
    from migsafe.sql.split import SplitError, split_sql  # sqlglot: in the worker only

    sql = sql.strip()
    try:
        parts = [raw.sql for raw in split_sql(sql, dialect)]
    except (SplitError, ValueError):
        parts = [sql.rstrip(";")]
    return [Statement(part, span) for part in parts if part.strip()]

"""Split SQL text into statements with exact 1-based positions.

sqlglot's tokenizer does the hard part: quoted strings, E'' strings, $$/$tag$ bodies, `--`,
`/* */` (nested) comments. A `;` token ends a statement; comments are not tokens, so a
statement's text runs from its first token to its last and never includes leading comments.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import sqlglot
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from migsafe.model import Span
from migsafe.sql.lines import line_starts, position

_SQLGLOT_DIALECT = {"postgresql": "postgres", "mysql": "mysql", "sqlite": "sqlite"}
_BOM = "\ufeff"
# psql meta-commands (\connect, \set, \i ...) are client commands, not SQL.
_META_LINE = re.compile(r"(?:\A|(?<=[\r\n]))[ \t]*\\[^\r\n]*")
# CREATE <these> ... BEGIN ... END holds `;` that do not end the statement (SQLite/MySQL
# trigger bodies, PostgreSQL 14+ `BEGIN ATOMIC`).
_ROUTINE_WORDS = {"TRIGGER", "FUNCTION", "PROCEDURE"}


@dataclass(frozen=True)
class RawStatement:
    sql: str  # original text, without the trailing `;` and surrounding comments
    start: int  # offset into the text given to split_sql
    end: int  # exclusive
    span: Span


class SplitError(Exception):
    """The text cannot be tokenized (e.g. an unterminated quote); `line` is where it starts."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def split_sql(text: str, dialect: str = "postgresql") -> list[RawStatement]:
    # A BOM is not part of the text a reader sees: skip it, but keep offsets into `text`.
    skip = 1 if text.startswith(_BOM) else 0
    body = text[skip:]
    starts = line_starts(body)
    out = []
    for first, last in _statements(_tokenize(body, dialect)):
        start, end = first.start, last.end + 1  # sqlglot's token end is inclusive
        line, column = position(starts, start)
        end_line, last_column = position(starts, end - 1)
        span = Span(line, column, end_line, last_column + 1)
        out.append(RawStatement(body[start:end], start + skip, end + skip, span))
    return out


@functools.lru_cache(maxsize=None)
def _tokenizer_class(dialect: str) -> type:
    try:
        name = _SQLGLOT_DIALECT[dialect]
    except KeyError:
        raise ValueError(f"unknown dialect: {dialect}") from None
    base = sqlglot.Dialect.get_or_raise(name).tokenizer_class
    # sqlglot turns everything after a "command" keyword (DO, EXPLAIN, VACUUM, CALL...) into one
    # STRING token whose start/end offsets are wrong; without commands every token is exact.
    return type(f"Split{base.__name__}", (base,), {"COMMANDS": set()})


@functools.lru_cache(maxsize=None)
def _tokenizer(dialect: str):
    """One per dialect: it keeps nothing from one tokenize() to the next, and making one costs."""
    return _tokenizer_class(dialect)(dialect=_SQLGLOT_DIALECT[dialect])


def _tokenize(body: str, dialect: str) -> list[Token]:
    tokenizer = _tokenizer(dialect)
    try:
        # Blank meta-command lines with spaces so that offsets stay the same.
        return tokenizer.tokenize(_blank(body, _meta_lines(body, tokenizer)))
    except TokenError as e:
        raise _split_error(body, _error_start(tokenizer, e, len(body))) from None


def _meta_lines(body: str, tokenizer) -> list[tuple[int, int]]:
    """Spans of psql meta-command lines: backslash lines outside any string or comment.

    Linear in practice: the SQL between two meta lines is tokenized once; backslash lines inside
    a long string, $$ body or /* comment are skipped by a galloping search for where it closes
    (a 20,000-line string of backslash lines used to cost one tokenization per line).
    """
    if "\\" not in body:  # the usual case; the regex would try every offset of the text
        return []
    lines = [m.span() for m in _META_LINE.finditer(body)]
    metas: list[tuple[int, int]] = []
    top = 0  # the tokenizer is at top level here (start, a token boundary, or after a meta line)
    i = 0
    while i < len(lines):
        start, end = lines[i]
        opened = _open_at(tokenizer, body, top, start)
        if opened is None:  # the SQL before the line tokenizes cleanly: nothing is left open
            metas.append((start, end))
            top = end
            i += 1
            continue
        # A string, $$ body or /* comment opened at `opened` is still open here: this line and
        # the next ones up to where it closes are SQL text.
        i = _first_after_close(tokenizer, body, opened, lines, i)
        top = opened  # a token boundary at top level
    return metas


def _open_at(tokenizer, body: str, start: int, end: int) -> int | None:
    """None if body[start:end] tokenizes cleanly, else where the token left open begins."""
    try:
        tokenizer.tokenize(body[start:end])
    except TokenError as e:
        return start + _error_start(tokenizer, e, end - start)
    return None


def _first_after_close(tokenizer, body: str, opened: int, lines: list[tuple[int, int]], inside: int) -> int:
    """Index of the first line after lines[inside] at which the token opened at `opened` is
    closed (len(lines) if it never closes). Whether it is closed only grows along the text."""

    def closed(k: int) -> bool:
        return _open_at(tokenizer, body, opened, lines[k][0]) != opened

    lo, step, n = inside, 1, len(lines)  # lines[lo] is inside
    while True:
        k = lo + step
        if k >= n - 1:
            if lo >= n - 1 or not closed(n - 1):
                return n
            hi = n - 1
            break
        if closed(k):
            hi = k
            break
        lo, step = k, step * 2
    while hi - lo > 1:  # lines[lo] inside, lines[hi] closed
        mid = (lo + hi) // 2
        if closed(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    parts, pos = [], 0
    for a, b in spans:
        parts += [text[pos:a], " " * (b - a)]
        pos = b
    parts.append(text[pos:])
    return "".join(parts)


def _statements(tokens: list[Token]):
    """Yield (first, last) token of each statement: tokens between top-level `;`."""
    start = 0  # index of the current statement's first token
    depth = 0  # BEGIN/CASE ... END nesting inside a trigger or routine body
    for i, tok in enumerate(tokens):
        kind = tok.token_type
        if kind == TokenType.SEMICOLON and depth == 0:
            if i > start:  # `;;` is an empty statement: skipped
                yield tokens[start], tokens[i - 1]
            start = i + 1
        elif kind == TokenType.BEGIN and (depth or _opens_body(tokens[start:i])):
            depth += 1
        elif kind == TokenType.CASE and depth:
            depth += 1
        elif kind == TokenType.END and depth and not (
                i + 1 < len(tokens) and tokens[i + 1].text.upper() in _BLOCK_ENDS):
            depth -= 1  # (`END IF`, `END LOOP`, ... close what no BEGIN opened)
    if start < len(tokens):  # the last statement needs no `;`
        yield tokens[start], tokens[-1]


_BLOCK_ENDS = frozenset({"IF", "LOOP", "WHILE", "REPEAT"})  # MySQL/PL compound statements' `END IF` etc.


def _opens_body(stmt: list[Token]) -> bool:
    """CREATE [OR REPLACE ...] TRIGGER/FUNCTION/PROCEDURE, before any `(`."""
    if not stmt or stmt[0].token_type != TokenType.CREATE:
        return False
    for tok in stmt:
        if tok.token_type == TokenType.L_PAREN:
            return False  # e.g. CREATE TABLE t (function int, ...)
        if tok.text.upper() in _ROUTINE_WORDS:
            return True
    return False


def _error_start(tokenizer, error: TokenError, size: int) -> int:
    # The tokenizer core keeps the start of the token it failed on (the opening quote);
    # TokenError itself only knows a rough 100-character window.
    start = getattr(getattr(tokenizer, "_core", None), "_start", None)
    if isinstance(start, int) and 0 <= start < size:
        return start
    return getattr(error, "start", 0) or 0


def _split_error(body: str, start: int) -> SplitError:
    line, column = position(line_starts(body), start)
    head = body[start : start + 3]
    if head.startswith("/*"):
        what = "unterminated /* comment"
    elif head.startswith("$"):
        what = "unterminated dollar-quoted string"
    elif head[:1] in ('"', "`", "["):
        what = "unterminated quoted identifier"
    elif "'" in head:
        what = "unterminated string literal"
    else:
        what = "SQL that cannot be tokenized"
    return SplitError(f"{what} starting at line {line}, column {column}", line)

"""The Python of a fix step laid out at a reviewer's width, as a formatter would: a call too long
for its line gets its arguments on the lines below (together if they fit, else one per line with
a trailing comma, each laid out the same way), a string too long becomes adjacent literals split
at spaces, and a comment too long wraps. A suppression comment (`# migsafe: ...`) is never
wrapped, nor the line it names (its own or the one below it). The result is the same Python (ast-equal); where the code
cannot be read, it is kept as it is.
"""

from __future__ import annotations

import io
import re
import textwrap
import tokenize
from dataclasses import dataclass

WIDTH = 100
_SUPPRESSION = "migsafe:"
_OPEN, _CLOSE = "([{", ")]}"


@dataclass(frozen=True)
class _Token:
    type: int
    string: str
    start: int  # offsets in the text
    end: int


def python(code: str, width: int = WIDTH) -> str:
    rows = code.split("\n")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return code
    continued = set()  # rows that start inside a string begun on an earlier row
    for t in tokens:
        if t.type == tokenize.STRING and t.end[0] > t.start[0]:
            continued.update(range(t.start[0] + 1, t.end[0] + 1))
    out: list[str] = []
    row = 1
    while row <= len(rows):
        last = row
        while last + 1 in continued:
            last += 1
        group = rows[row - 1:last]
        # A suppression comment names its own line or the line below it, where the finding points
        # (a call's first line, a RunSQL's string): that line stays whole.
        suppressed = _SUPPRESSION in group[0] or row > 1 and rows[row - 2].lstrip().startswith(f"# {_SUPPRESSION}")
        out += group if suppressed else _fragment(group, width)
        row = last + 1
    return "\n".join(out)


def _fragment(rows: list[str], width: int) -> list[str]:
    """A row and the rows its strings continue on, laid out anew if too long."""
    first = rows[0]
    indent = len(first) - len(first.lstrip())
    text = "\n".join([first[indent:], *rows[1:]])
    if _fits(text, indent, width):
        return rows
    if text.startswith("#"):
        return _comment(text, indent, width) if len(rows) == 1 else rows
    split = _split(text, indent, width)
    # A row a string spans stays as long as it is: the layout is kept only where it is narrower.
    return split if split and max(map(len, split)) < max(map(len, rows)) else rows


def _fits(text: str, indent: int, width: int) -> bool:
    """Its first row and the row its last string ends on (rows between are a string's own)."""
    lines = text.split("\n")
    return indent + len(lines[0]) <= width and len(lines[-1]) <= width


def _comment(text: str, indent: int, width: int) -> list[str]:
    if _SUPPRESSION in text:  # a suppression names the line below it: one line
        return [" " * indent + text]
    words = text.lstrip("#").strip()
    return [" " * indent + "# " + ln for ln in textwrap.wrap(words, max(width - indent - 2, 40))]


def _layout(text: str, indent: int, width: int) -> list[str]:
    """`text` at `indent`, split if it does not fit (only the first row is indented: any other
    row is inside a string)."""
    if not _fits(text, indent, width):
        split = _split(text, indent, width)
        if split:
            return split
    rows = text.split("\n")
    return [" " * indent + rows[0], *rows[1:]]


def _split(text: str, indent: int, width: int) -> list[str] | None:
    tokens = _tokens(text)
    if tokens is None:
        return None
    comment = ""
    if tokens and tokens[-1].type == tokenize.COMMENT:
        comment, tokens = "  " + tokens[-1].string, tokens[:-1]
    code = text[:tokens[-1].end] if tokens else ""
    if not tokens or (comment and _fits(code, indent, width)):
        return None  # only the comment is long: it stays on its line
    pair = _last_brackets(tokens)
    if pair is None:
        return _split_string(tokens, code, comment, indent, width)
    opening, closing = pair
    head, tail = code[:opening.end], code[closing.start:]
    elements, trailing_comma = _elements(tokens, opening, closing, code)
    if not elements:
        return None
    pad = indent + 4
    joined = ", ".join(elements)
    if not trailing_comma and _fits(joined, pad, width) and (len(elements) == 1 or "\n" not in joined):
        inner = _layout(joined, pad, width)
    else:
        inner = [row for e in elements for row in _layout(e + ",", pad, width)]
    return [" " * indent + head + comment, *inner, " " * indent + tail]


def _tokens(text: str) -> list[_Token] | None:
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    try:
        raw = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    skip = (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT)
    return [_Token(t.type, t.string, starts[t.start[0] - 1] + t.start[1], starts[t.end[0] - 1] + t.end[1])
            for t in raw if t.type not in skip]


def _last_brackets(tokens: list[_Token]) -> tuple[_Token, _Token] | None:
    """The last bracket pair with something between (a call's arguments, a list's items)."""
    stack: list[_Token] = []
    pairs = []
    for t in tokens:
        if t.type == tokenize.OP and t.string in _OPEN:
            stack.append(t)
        elif t.type == tokenize.OP and t.string in _CLOSE and stack:
            opening = stack.pop()
            if t.start > opening.end:
                pairs.append((opening, t))
    if stack or not pairs:
        return None
    return max(pairs, key=lambda p: p[1].start) if pairs else None


def _elements(tokens: list[_Token], opening: _Token, closing: _Token, code: str) -> tuple[list[str], bool]:
    """The items between the brackets, split at their own commas; and whether a comma ends them."""
    depth, start, out = 0, opening.end, []
    for t in tokens:
        if not opening.start < t.start < closing.start or t.type != tokenize.OP:
            continue
        if t.string in _OPEN:
            depth += 1
        elif t.string in _CLOSE:
            depth -= 1
        elif t.string == "," and depth == 0:
            out.append(code[start:t.start].strip())
            start = t.end
    rest = code[start:closing.start].strip()
    trailing = not rest and bool(out)
    return [e for e in out + [rest] if e], trailing


def _split_string(tokens: list[_Token], code: str, comment: str, indent: int, width: int) -> list[str] | None:
    """`"long string",` or `name="long string",` as adjacent literals split at spaces."""
    strings = [t for t in tokens if t.type == tokenize.STRING]
    if len(strings) != 1 or comment:
        return None
    literal = strings[0]
    match = re.fullmatch(r"([rRuU]?)(['\"])(.*)\2", literal.string, re.DOTALL)
    if match is None or "\n" in literal.string:  # f-, b- and triple-quoted strings stay whole
        return None
    prefix, quote, body = match.groups()
    before, after = code[:literal.start], code[literal.end:]
    pad = indent + 4 if before else indent
    room = max(width - pad - len(prefix) - 2 - len(after), 20)
    pieces = _pieces(body, room)
    if len(pieces) < 2:
        return None
    rows = [" " * pad + f"{prefix}{quote}{p}{quote}" for p in pieces]
    if before:  # name=(...) keeps the pieces one value
        return [" " * indent + before + "(", *rows, " " * indent + ")" + after]
    return rows[:-1] + [rows[-1] + after]


def _pieces(body: str, room: int) -> list[str]:
    """`body` cut before spaces (never inside an escape) into pieces of at most `room` characters
    where it can be; each piece after the first starts with its space."""
    cuts = [m.start() for m in re.finditer(r" ", body) if len(re.search(r"\\*$", body[:m.start()]).group()) % 2 == 0]
    pieces, start = [], 0
    for cut, following in zip(cuts, cuts[1:] + [len(body)]):
        if following - start > room and cut > start:
            pieces.append(body[start:cut])
            start = cut
    pieces.append(body[start:])
    return pieces

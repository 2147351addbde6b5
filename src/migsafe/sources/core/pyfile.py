"""Python source files read, never run: decoded as Python decodes them, parsed with bounds,
paths shown as the reports show them. Shared by every source that reads migrations with ast."""

from __future__ import annotations

import ast
import tokenize
from io import BytesIO
from pathlib import Path

# Parsing a Python file takes about 180 bytes of memory per byte of source (10 MB: 1.9 GB, 40 s);
# real migrations, even generated initial schemas, stay well below this. Tests lower it.
MAX_PYTHON_BYTES = 2 * 1024 * 1024


def show(path: Path) -> str:
    """Relative to the working directory where possible, "/" separators (as the reports)."""
    try:
        return path.absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


class BadEncoding(Exception):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


def decode(data: bytes) -> str:
    """Source text as Python reads it (BOM, coding cookie); not decodable -> BadEncoding."""
    try:
        encoding, _ = tokenize.detect_encoding(BytesIO(data).readline)
    except SyntaxError as e:  # unknown codec in the cookie
        raise BadEncoding(f"file encoding: {e.msg}", 1) from None
    try:
        return data.decode(encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        name = encoding.upper().removesuffix("-SIG")  # "UTF-8", as the SQL source says it
        message = f"file is not valid {name} (byte 0x{data[e.start]:02x} at offset {e.start})"
        raise BadEncoding(message, line) from None


def parse(source: str, filename: str = "<unknown>", mode: str = "exec") -> ast.AST:
    """ast.parse, with input too deep or too large for the parser as a SyntaxError."""
    try:
        return ast.parse(source, filename, mode)
    except (RecursionError, MemoryError):
        raise SyntaxError("nested too deeply or too large for Python's parser") from None

"""The placeholders a database driver fills with the values it was given apart from the SQL.

One place for both sides of the comparison: what a driver was sent, captured on a real database
(database/capture.py), and what `exec_driver_sql(sql, values)` sends, rendered offline
(sources/alembic/offline.py). The percent styles (psycopg, PyMySQL) are replaced all through the
text, as the driver does (`%%` is a percent sign, also inside a string literal); in the others
(sqlite3's `?` and `:name`, `$1`) a quoted string or identifier is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_PERCENT = re.compile(r"%%|%\((?P<pyformat>\w+)\)s|(?P<format>%s)")
_OTHERS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|(?P<qmark>\?)|(?<![:\w]):(?P<named>[A-Za-z_]\w*)"""
                     r"""|\$(?P<numeric>\d+)""")


def fill(sql: str, params, literal: Callable[[object], str]) -> str:
    """`sql` with each placeholder replaced by `literal(value)`; a name the values lack is left
    as written, a missing positional value is `literal(None)`."""
    if params is None or (isinstance(params, (list, tuple, dict)) and not params):
        return sql
    positional = iter(params) if isinstance(params, (list, tuple)) else iter(())

    def replace(match: re.Match) -> str:
        token, groups = match.group(0), match.groupdict()
        if token == "%%":
            return "%"
        for style in ("pyformat", "named"):
            if (name := groups.get(style)) is not None:
                return literal(params[name]) if isinstance(params, dict) and name in params else token
        if groups.get("numeric") is not None:
            index = int(groups["numeric"]) - 1
            return literal(params[index]) if isinstance(params, (list, tuple)) and index < len(params) else token
        if groups.get("format") is not None or groups.get("qmark") is not None:
            return literal(next(positional, None))
        return token

    percent = _PERCENT.search(sql) is not None
    return (_PERCENT if percent else _OTHERS).sub(replace, sql)

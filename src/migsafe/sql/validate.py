"""Does the target engine's own parser accept a statement?

translate.py reads statements with sqlglot, which is lenient: `varchar(10 NOT NULL`, `DEFAULT 1 +`
or `DROP COLUMN x,` read as well-formed DDL. A statement the engine would reject must be reported,
not judged, so each statement is also given to the engine's own grammar where a library has it:

- postgresql: PostgreSQL's parser itself (pglast wraps libpg_query), a few microseconds a statement;
  where pglast is not installed (it ships CPython wheels only), sqlglot's parser as for MySQL;
- sqlite: SQLite's parser, by preparing `EXPLAIN <statement>` in an in-memory database (nothing
  runs). Only syntax errors count: an empty database knows no table, and a name error is not one;
- mysql (no parser of its own in Python): what no SQL dialect accepts, from sqlglot's tokens and
  parser: parentheses that do not pair, an empty list item, an operator without its operand.

Client-side substitutions are not SQL the engine sees: psql variables (`:name`, `:'name'`,
`:"name"`) and Flyway placeholders (`${name}`) stand for names or values; a statement that holds
them and that the parser rejects is read again with a name in their place (a name is valid wherever
a value is).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import lru_cache

from migsafe.sql import facts as F

# A psql variable (`:name`, `:'name'`, `:"name"`; `::` is a cast) or a Flyway placeholder.
_SUBSTITUTION = re.compile(r"""(?<![:\w]):(?:'[^']*'|"[^"]*"|[A-Za-z_]\w*)|\$\{[^}\s]*\}""")
# SQLite's messages for a statement its parser rejects; anything else (no such table, no such
# column, ...) is about names, which an empty database cannot know.
_SQLITE_SYNTAX = re.compile(r"syntax error|incomplete input|unrecognized token")
# A name error raised while the parser is still reading (ALTER TABLE t ADD ..., CREATE TRIGGER
# ... ON t) stops it before the rest of the statement: the table is made and the statement read again.
_SQLITE_NO_TABLE = re.compile(r"no such table: (?:main\.)?(\S+)$")
# sqlglot's word for an operator or clause without its operand: `1 +`, `DEFAULT` alone.
_MISSING = re.compile(r"Required keyword: '(\w+)' missing for <class '[\w.]*?(\w+)'>")


def rejection(sql: str, dialect: str, facts: Iterable[F.Fact] = ()) -> F.ParseFailed | None:
    """Why the engine's parser rejects `sql` (one statement, read by translate.py as `facts`), or
    None when it accepts it."""
    if dialect == "sqlite" and any(_sqlite_grammar_lacks(f) for f in facts):
        return None
    rejected = _check(sql, dialect)
    if rejected is not None and _SUBSTITUTION.search(sql):
        # Read again with a name in place of each substitution (same length: positions stay).
        rejected = _check(_SUBSTITUTION.sub(lambda m: "x" + "_" * (len(m.group()) - 1), sql), dialect)
    return rejected


def _sqlite_grammar_lacks(fact: F.Fact) -> bool:
    """An ALTER TABLE form that this SQLite library's parser has no grammar for while a version
    of SQLite may (DROP COLUMN came in 3.35, NOT NULL and CHECK changes in 3.53). The sqlite
    dialect judges those by the target version: the statement fails there, rebuild the table."""
    import sqlite3

    if isinstance(fact, F.DropColumn):
        return sqlite3.sqlite_version_info < (3, 35)
    if isinstance(fact, F.RenameColumn):
        return sqlite3.sqlite_version_info < (3, 25)
    return isinstance(fact, (F.AlterColumnType, F.SetNotNull, F.DropNotNull, F.SetDefault, F.DropDefault,
                             F.AddConstraint, F.DropConstraint))


def _check(sql: str, dialect: str) -> F.ParseFailed | None:
    if dialect == "postgresql":
        parser = _pglast()
        return _postgresql(parser, sql) if parser is not None else _sqlglot(sql, "postgres")
    if dialect == "sqlite":
        return _sqlite(sql)
    if dialect == "mysql":
        return _sqlglot(sql, "mysql")
    return None


_parser: list = []


def _pglast():
    """pglast's parser module, or None where it is not installed."""
    if not _parser:
        try:
            from pglast import parser
        except ImportError:
            parser = None
        _parser.append(parser)
    return _parser[0]


def _postgresql(parser, sql: str) -> F.ParseFailed | None:
    try:
        parser.parse_sql_protobuf(sql)  # the cheapest of its entry points: no Python tree is built
    except parser.ParseError as err:
        message, location = err.args[0], err.args[1] if len(err.args) > 1 else None
        return _failed("PostgreSQL", message, sql, location)
    except (UnicodeError, ValueError):  # text no database could be sent (a lone surrogate)
        return None
    return None


def _sqlite(sql: str) -> F.ParseFailed | None:
    import sqlite3

    statement = sql if re.match(r"\s*explain\b", sql, re.I) else "EXPLAIN " + sql
    message = _sqlite_error(_empty_database(), statement)
    if message is not None and _SQLITE_NO_TABLE.match(message):
        db = sqlite3.connect(":memory:")  # the tables it names, made one by one
        try:
            for _ in range(4):  # a statement names few tables before its last syntax error
                missing = _SQLITE_NO_TABLE.match(message or "")
                if missing is None:
                    break
                if _sqlite_error(db, f'CREATE TABLE "{missing.group(1).replace(chr(34), chr(34) * 2)}" (x)'):
                    return None
                message = _sqlite_error(db, statement)
        finally:
            db.close()
    if message is not None and _SQLITE_SYNTAX.search(message):
        return _failed(f"SQLite {sqlite3.sqlite_version}", message, sql, None)
    return None


def _sqlite_error(db, statement: str) -> str | None:
    """SQLite's message for `statement` (compiled by EXPLAIN, never run), None when it compiles."""
    import sqlite3

    try:
        db.execute(statement)
    except sqlite3.Error as err:
        return str(err)
    except (UnicodeError, ValueError):  # a NUL or a lone surrogate: nothing SQLite could be sent
        return None
    return None


_databases: dict[int, object] = {}


def _empty_database():
    """One in-memory database per process (a connection is not to be used across fork()):
    EXPLAIN changes nothing in it."""
    import sqlite3

    if os.getpid() not in _databases:
        _databases[os.getpid()] = sqlite3.connect(":memory:", check_same_thread=False)
    return _databases[os.getpid()]


def _sqlglot(sql: str, read: str) -> F.ParseFailed | None:
    """What no dialect accepts. sqlglot's parser also refuses valid MySQL it does not know
    (`RENAME AS`, a type name it has not heard of), so of its errors only a missing operand counts."""
    from sqlglot.errors import ParseError, SqlglotError
    from sqlglot.tokens import TokenType

    tokenizer, parser = _sqlglot_reader(read)
    try:
        tokens = tokenizer.tokenize(sql)
    except SqlglotError:
        return None  # translate.py reports what cannot be tokenized
    opened, previous = [], None  # where each ( not closed yet is
    for tok in tokens:
        kind = tok.token_type
        if kind == TokenType.COMMA and previous in (None, TokenType.COMMA, TokenType.L_PAREN):
            return _failed(None, "a list item is missing", sql, tok.start)
        if kind == TokenType.R_PAREN and previous == TokenType.COMMA:
            return _failed(None, "a list ends with a comma", sql, tok.start)
        if kind == TokenType.L_PAREN:
            opened.append(tok.start)
        elif kind == TokenType.R_PAREN and not opened:
            return _failed(None, "a ) that closes nothing", sql, tok.start)
        elif kind == TokenType.R_PAREN:
            opened.pop()
        previous = kind
    if opened:
        return _failed(None, "a ( that is never closed", sql, opened[-1])
    if previous == TokenType.COMMA:
        return _failed(None, "the statement ends with a comma", sql, len(sql))
    try:
        parser.parse(tokens, sql)
    except ParseError as err:
        detail = (err.errors or [{}])[0]
        missing = _MISSING.match(detail.get("description") or "")
        if missing is None:
            return None
        where = detail.get("line"), detail.get("col")
        return _failed(None, f"an incomplete expression ({missing.group(2)} without its {missing.group(1)})",
                       sql, _offset(sql, *where) if None not in where else None)
    except (SqlglotError, RecursionError):
        return None  # deep nesting: translate.py reports it
    except Exception:  # noqa: BLE001 - a failure inside sqlglot is not the statement's
        return None
    return None


@lru_cache(maxsize=4)
def _sqlglot_reader(read: str):
    """A tokenizer and a parser per dialect: making them costs as much as reading a statement,
    and they keep nothing from one statement to the next."""
    import sqlglot

    dialect = sqlglot.Dialect.get_or_raise(read)
    return dialect.tokenizer(), dialect.parser()


def _offset(sql: str, line: int, column: int) -> int:
    """Character offset of sqlglot's 1-based line and column (where the token ends)."""
    starts = [0] + [k + 1 for k, ch in enumerate(sql) if ch == "\n"]
    return min(starts[min(line, len(starts)) - 1] + max(column - 1, 0), len(sql))


def _failed(engine: str | None, message: str, sql: str, location: int | None) -> F.ParseFailed:
    """The finding's text (`engine`: whose parser said it), with the line and column inside the
    statement where known; no location is the end of the statement ("at end of input") or a
    place the parser keeps to itself (SQLite)."""
    said = f"{engine} rejects it: {message}" if engine else message
    if location is None or location >= len(sql):
        at_end = location is not None or "end of input" in message or "incomplete input" in message
        return F.ParseFailed(said, sql.count("\n") if at_end else 0)
    line = sql.count("\n", 0, location)
    column = location - (sql.rfind("\n", 0, location) + 1) + 1
    return F.ParseFailed(f"{said} (line {line + 1}, column {column} of the statement)", line)

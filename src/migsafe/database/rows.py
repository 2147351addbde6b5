"""`trace --rows N`: every existing table gets N generated rows before each migration, so the
times and scans `trace` shows are those of a table that has something in it.

One INSERT ... SELECT per table over a series 1..N (PostgreSQL's generate_series, a recursive CTE
elsewhere); each column gets a value of its type derived from the row number n (unique where
a key needs it), or its default where it has one. Tables are filled referenced-first, so an
integer foreign key to a filled table finds its row. A table that already holds rows is left as
it is; one whose columns cannot all be generated, or whose insert the server refuses, is left
empty and said so (the notes returned).
"""

from __future__ import annotations

import datetime
import decimal
import uuid
import warnings

import sqlalchemy
from sqlalchemy import types as T

# The runners' own bookkeeping: filling them would make the runner think something ran.
_SKIP = {"alembic_version", "django_migrations"}


def fill_tables(connection: sqlalchemy.engine.Connection, dialect: str, rows: int) -> list[str]:
    """Fill each empty table with `rows` rows; commits per table. Returns what was left empty, why."""
    notes: list[str] = []
    if rows <= 0:
        return notes
    if connection.in_transaction():
        connection.commit()
    meta = sqlalchemy.MetaData()
    try:
        with warnings.catch_warnings():  # "Did not recognize type": such a column is said below
            warnings.simplefilter("ignore", sqlalchemy.exc.SAWarning)
            meta.reflect(connection)
    except sqlalchemy.exc.SQLAlchemyError as e:
        connection.rollback()
        return [f"tables not filled: could not read them ({_first_line(e)})"]
    connection.commit()
    for table in meta.sorted_tables:
        if table.name in _SKIP or _has_rows(connection, table):
            continue
        values, missing = _row_values(table, dialect)
        if missing is not None:
            notes.append(f"{table.name} left empty: column {missing.name} of type "
                         f"{_type_name(connection, missing, dialect)} cannot be generated")
            continue
        try:
            with connection.begin():
                connection.execute(sqlalchemy.text(_insert(connection, table, values, dialect, rows)))
        except sqlalchemy.exc.SQLAlchemyError as e:
            notes.append(f"{table.name} left empty: the server refused the generated rows ({_first_line(e)})")
    return notes


def _has_rows(connection, table: sqlalchemy.Table) -> bool:
    with connection.begin():
        return connection.execute(sqlalchemy.select(sqlalchemy.literal(1)).select_from(table).limit(1)).first() \
            is not None


def _row_values(table: sqlalchemy.Table, dialect: str) -> tuple[dict[str, str], sqlalchemy.Column | None]:
    """Column name -> SQL expression over n, leaving out what the table's defaults fill; or the
    first NOT NULL column no value can be made for."""
    values: dict[str, str] = {}
    for column in table.columns:
        if column.server_default is not None or column.computed is not None or column.identity is not None:
            continue
        if dialect != "postgresql" and column.primary_key and column.autoincrement is not False \
                and isinstance(column.type, T.Integer):
            continue  # MySQL AUTO_INCREMENT, SQLite rowid
        expr = _value(column.type, dialect)
        if expr is None:
            if column.nullable:
                continue
            return {}, column
        values[column.name] = expr
    return values, None


def _value(kind: T.TypeEngine, dialect: str) -> str | None:
    """An SQL expression over the row number n giving a value of this type; None: no way known.
    The Python type SQLAlchemy maps it to says what it is, whatever the dialect calls it."""
    pg = dialect == "postgresql"
    if isinstance(kind, T.Enum) and kind.enums:
        return _quote(kind.enums[0])
    if isinstance(kind, T.JSON):  # (json, jsonb: its python_type is object)
        return "'{}'"
    if kind.__visit_name__.lower() == "uuid":  # (SQLAlchemy 1.4's postgresql.UUID has no python_type)
        return "CAST(md5(CAST(n AS TEXT)) AS uuid)" if pg else None
    try:
        python = kind.python_type
    except NotImplementedError:  # a type SQLAlchemy does not know (PostGIS, point, tsvector, ...)
        return None
    if python is bool:
        return "(n % 2 = 0)" if pg else "(n % 2)"
    if python is int:
        return "(n % 32000)" if isinstance(kind, T.SmallInteger) else "n"
    if python in (float, decimal.Decimal):
        return "n"
    if python is str:  # text, varchar(n), char(n): the row number, cut to the length
        text = "CAST(n AS TEXT)" if dialect != "mysql" else "CAST(n AS CHAR)"
        return f"substr({text}, 1, {kind.length})" if getattr(kind, "length", None) else text
    if python is list:  # an array (PostgreSQL): empty
        return "'{}'" if pg else None
    if python is uuid.UUID:
        return "CAST(md5(CAST(n AS TEXT)) AS uuid)" if pg else None
    if python is bytes:
        return "decode(md5(CAST(n AS TEXT)), 'hex')" if pg else "'x'"
    if python is datetime.datetime:
        if pg:
            return "TIMESTAMP '2000-01-01' + n * INTERVAL '1 second'"
        return "DATE_ADD('2000-01-01', INTERVAL n SECOND)" if dialect == "mysql" else "'2000-01-01 00:00:00'"
    if python is datetime.date:
        if pg:
            return "DATE '2000-01-01' + n"
        return "DATE_ADD('2000-01-01', INTERVAL n DAY)" if dialect == "mysql" else "'2000-01-01'"
    if python is datetime.time:
        return "TIME '12:00'" if pg else "'12:00:00'"
    if python is datetime.timedelta:
        return "n * INTERVAL '1 second'" if pg else None
    return None


def _insert(connection, table: sqlalchemy.Table, values: dict[str, str], dialect: str, rows: int) -> str:
    prep = connection.dialect.identifier_preparer
    name = prep.format_table(table)
    if not values:
        # Every column has a default: one row at a time is what the server can do.
        if dialect == "postgresql":
            return f"INSERT INTO {name} SELECT FROM generate_series(1, {int(rows)})"
        return f"INSERT INTO {name} DEFAULT VALUES"
    columns = ", ".join(prep.quote(c) for c in values)
    exprs = ", ".join(values.values())
    if dialect == "postgresql":
        return f"INSERT INTO {name} ({columns}) SELECT {exprs} FROM generate_series(1, {int(rows)}) AS g(n)"
    if dialect == "mysql":
        connection.execute(sqlalchemy.text(f"SET SESSION cte_max_recursion_depth = {max(1000, int(rows) + 1)}"))
    return (f"INSERT INTO {name} ({columns}) WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g "
            f"WHERE n < {int(rows)}) SELECT {exprs} FROM g")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _type_name(connection, column: sqlalchemy.Column, dialect: str) -> str:
    """The column's type as the server spells it (SQLAlchemy does not know them all)."""
    if dialect == "postgresql":
        found = connection.execute(sqlalchemy.text(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
            "AND attname = :c"), {"t": connection.dialect.identifier_preparer.format_table(column.table),
                                  "c": column.name}).scalar()
        connection.rollback()
        if found:
            return found
    try:
        return str(column.type)
    except Exception:  # noqa: BLE001 - types the dialect cannot compile alone
        return type(column.type).__name__


def _first_line(error: BaseException) -> str:
    from migsafe.database.server_errors import server_message

    return server_message(error)

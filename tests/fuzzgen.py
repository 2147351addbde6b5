"""Input generators shared by tests/test_properties.py (driven by hypothesis) and scripts/fuzz.py
(driven by random.Random, for the long run).

Every generator takes a chooser `c` with three methods: c.pick(seq), c.int(lo, hi) and
c.bool(). RandomChooser wraps random.Random; the property tests wrap hypothesis' `data.draw`,
so that a failing example shrinks.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Rules about locks and table rewrites: never raised for a statement on a table created earlier
# in the same migration (the contract: the table is new and empty).
LOCK_AND_REWRITE_RULES = frozenset({
    "missing-lock-timeout", "non-concurrent-index", "non-concurrent-drop-index", "change-column-type",
    "table-rewrite", "volatile-default", "set-not-null", "validating-foreign-key",
    "validating-check-constraint", "add-unique-constraint", "not-null-without-default", "unbatched-backfill",
})


class RandomChooser:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def pick(self, seq):
        return self.rng.choice(list(seq))

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def bool(self) -> bool:
        return self.rng.random() < 0.5


# --- DDL over a random schema ------------------------------------------------------------

TYPES = ("integer", "bigint", "smallint", "text", "varchar(20)", "varchar(200)", "numeric(10, 2)",
         "numeric", "boolean", "timestamptz", "timestamp", "jsonb", "uuid", "char(3)", "int[]")
DEFAULTS = ("0", "1", "'x'", "''", "now()", "CURRENT_TIMESTAMP", "random()", "gen_random_uuid()", "NULL",
            "true", "'{}'::jsonb", "clock_timestamp()", "nextval('s')", "(1 + 2)", "lower('A')")
TABLE_NAMES = ("users", "orders", "items", "accounts", "events", '"Order Items"', '"ünïcode"', "public.audit",
               '"MixedCase"', "t1", "t2")
COLUMN_NAMES = ("id", "email", "name", "total", "status", "created_at", "flag", "data", '"Full Name"',
                '"çolumn"', "a", "b", "c")


@dataclass
class SchemaModel:
    """What the generated statements have created so far, so that most of them make sense."""

    tables: dict[str, list[str]] = field(default_factory=dict)
    indexes: list[tuple[str, str]] = field(default_factory=list)  # (name, table)
    constraints: list[tuple[str, str]] = field(default_factory=list)  # (name, table)
    counter: int = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"


def column_def(c, name: str) -> str:
    parts = [name, c.pick(TYPES)]
    if c.bool():
        parts.append("NOT NULL")
    if c.bool():
        parts.append(f"DEFAULT {c.pick(DEFAULTS)}")
    return " ".join(parts)


def create_table(c, s: SchemaModel, name: str | None = None) -> str:
    name = name or c.pick([t for t in TABLE_NAMES if t not in s.tables] or [s.fresh("t")])
    cols = ["id"] + [col for col in COLUMN_NAMES[1:] if c.int(0, 3) == 0]
    s.tables[name] = cols
    body = ", ".join(["id bigint PRIMARY KEY"] + [column_def(c, col) for col in cols[1:]])
    return f"CREATE TABLE {name} ({body})"


def statement(c, s: SchemaModel, *, create: bool = True, tx: bool = True, drop_tables: bool = True,
              tables: list[str] | None = None) -> str:
    """One statement; `tables` limits which tables it may touch."""
    kinds = ["add", "add", "drop_col", "rename_col", "type", "index", "index", "drop_index", "check", "fk",
             "unique", "validate", "set_nn", "drop_nn", "timeout", "set_default", "update", "comment"]
    if create:
        kinds += ["create", "create"]
    if tx:
        kinds += ["begin", "commit"]
    if drop_tables:
        kinds += ["drop_table", "truncate"]
    candidates = sorted(tables if tables is not None else s.tables)
    kind = c.pick(kinds)
    if not candidates or kind == "create":
        if not create:
            return c.pick(["SET lock_timeout = '5s'", "SELECT 1", "COMMENT ON TABLE x IS 'y'"])
        return create_table(c, s)
    table = c.pick(candidates)
    cols = s.tables.setdefault(table, ["id"])
    col = c.pick(cols)
    if kind == "add":
        new = c.pick([n for n in COLUMN_NAMES if n not in cols] or [s.fresh("c")])
        cols.append(new)
        return f"ALTER TABLE {table} ADD COLUMN {'IF NOT EXISTS ' if c.bool() else ''}{column_def(c, new)}"
    if kind == "drop_col" and len(cols) > 1:
        col = c.pick(cols[1:])
        cols.remove(col)
        return f"ALTER TABLE {table} DROP COLUMN {col}"
    if kind == "rename_col" and len(cols) > 1:
        old = c.pick(cols[1:])
        new = s.fresh("renamed_")
        cols[cols.index(old)] = new
        return f"ALTER TABLE {table} RENAME {c.pick(['COLUMN ', ''])}{old} TO {new}"
    if kind == "type":
        using = f" USING {col}::{c.pick(TYPES)}" if c.int(0, 3) == 0 else ""
        return f"ALTER TABLE {table} ALTER COLUMN {col} {c.pick(['TYPE', 'SET DATA TYPE'])} {c.pick(TYPES)}{using}"
    if kind == "index":
        name = s.fresh("idx_")
        s.indexes.append((name, table))
        unique = "UNIQUE " if c.int(0, 3) == 0 else ""
        conc = "CONCURRENTLY " if c.bool() else ""
        return f"CREATE {unique}INDEX {conc}{'IF NOT EXISTS ' if c.int(0, 3) == 0 else ''}{name} ON {table} ({col})"
    if kind == "drop_index" and any(i[1] == table for i in s.indexes):
        mine = [i for i in s.indexes if i[1] == table]
        name = c.pick(mine)[0]
        s.indexes = [i for i in s.indexes if i[0] != name]
        return f"DROP INDEX {'CONCURRENTLY ' if c.bool() else ''}{'IF EXISTS ' if c.bool() else ''}{name}"
    if kind == "check":
        name = s.fresh("chk_")
        s.constraints.append((name, table))
        return f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({col} IS NOT NULL){' NOT VALID' if c.bool() else ''}"
    if kind == "fk":
        name = s.fresh("fk_")
        s.constraints.append((name, table))
        ref = c.pick(sorted(s.tables))
        return (f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({col}) REFERENCES {ref} (id)"
                f"{' NOT VALID' if c.bool() else ''}")
    if kind == "unique":
        name = s.fresh("uq_")
        s.constraints.append((name, table))
        return f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({col})"
    if kind == "validate" and any(k[1] == table for k in s.constraints):
        name = c.pick([k for k in s.constraints if k[1] == table])[0]
        return f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}"
    if kind == "set_nn":
        return f"ALTER TABLE {table} ALTER COLUMN {col} SET NOT NULL"
    if kind == "drop_nn":
        return f"ALTER TABLE {table} ALTER COLUMN {col} DROP NOT NULL"
    if kind == "set_default":
        return f"ALTER TABLE {table} ALTER COLUMN {col} SET DEFAULT {c.pick(DEFAULTS)}"
    if kind == "timeout":
        return c.pick(["SET lock_timeout = '5s'", "SET lock_timeout TO '2s'", "SET LOCAL lock_timeout = '1s'",
                       "SET lock_timeout = 0", "RESET lock_timeout", "SET statement_timeout = '1min'"])
    if kind == "update":
        where = c.pick(["", " WHERE id < 1000", " WHERE id = 1"])
        if c.bool():
            return f"DELETE FROM {table}{where}"
        return f"UPDATE {table} SET {col} = 1{where}"
    if kind == "comment":
        return f"COMMENT ON TABLE {table} IS 'it''s; fine'"
    if kind == "begin":
        return c.pick(["BEGIN", "START TRANSACTION", "BEGIN TRANSACTION"])
    if kind == "commit":
        return c.pick(["COMMIT", "END", "ROLLBACK"])
    if kind == "drop_table":
        del s.tables[table]
        return f"DROP TABLE {'IF EXISTS ' if c.bool() else ''}{table}"
    if kind == "truncate":
        return f"TRUNCATE {table}"
    return f"ALTER TABLE {table} ALTER COLUMN {col} DROP DEFAULT"


def statements(c, s: SchemaModel, n: int, **kw) -> list[str]:
    return [statement(c, s, **kw) for _ in range(n)]


def render(c, stmts: list[str], *, newline: str = "\n") -> str:
    """SQL file text: each statement on its own line(s), with comments and spacing varied."""
    out = []
    for k, sql in enumerate(stmts):
        if c.int(0, 5) == 0:
            out.append(c.pick(["-- a comment; with a semicolon", "/* block ; comment */", "", "--"]))
        if c.int(0, 5) == 0:
            sql = sql.replace(" ", "\n    ", 1)
        last = k == len(stmts) - 1
        out.append(sql + ("" if last and c.int(0, 4) == 0 else ";"))
    text = "\n".join(out) + "\n"
    return text.replace("\n", newline)


# --- mutation of real files, random bytes --------------------------------------------------

INTERESTING = (b"'", b"''", b'"', b"$$", b"$tag$", b"/*", b"*/", b"--", b"\\", b"\\connect x\n", b";", b"\x00",
               b"\xff", b"\xc3", b"(" * 40, b")", b"\r", b"\r\n", b"\n", b"BEGIN;", b"COMMIT;", b"\xef\xbb\xbf",
               b"E'", b"CONCURRENTLY ", b"NOT VALID", b" -- migsafe: ignore[drop-column]\n", b"\t", b"\xe2\x80\xa8",
               b"-- migrate:up\n", b"-- migrate:down\n", b"CREATE TABLE ", b"ALTER TABLE users ", b"DO $$ ", b"`")


def mutate(c, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(c.int(1, 8)):
        op = c.int(0, 24) % 6
        pos = c.int(0, len(buf))
        if op == 0 and buf:  # delete a run
            del buf[pos: pos + c.int(1, 16)]
        elif op == 1:  # insert something a tokenizer cares about
            buf[pos:pos] = c.pick(INTERESTING)
        elif op == 2 and buf:  # replace one byte
            buf[min(pos, len(buf) - 1)] = c.int(0, 255)
        elif op == 3 and buf:  # duplicate a chunk
            a = c.int(0, len(buf) - 1)
            buf[pos:pos] = buf[a: a + c.int(1, 64)]
        elif op == 4:  # insert random bytes
            buf[pos:pos] = bytes(c.int(0, 255) for _ in range(c.int(1, 8)))
        elif c.int(0, 3) == 0:  # rarely: a token repeated into deep nesting or a long run
            buf[pos:pos] = c.pick(INTERESTING + (b"-", b"+1", b"[", b"not ", b"migsafe:ignore[")) * c.pick((100, 1000, 3000, 20000, 100000))
    return bytes(buf)


def random_bytes(c, size: int = 256) -> bytes:
    mode = c.int(0, 2)
    n = c.int(0, size)
    if mode == 0:
        return bytes(c.int(0, 255) for _ in range(n))
    if mode == 1:  # printable ASCII with SQL punctuation: valid UTF-8, rarely valid SQL
        return bytes(c.pick(b"abcdefgh ();,'\"$-*/\\\n\r\t0123456789ABCDEF=<>:._[]`") for _ in range(n))
    return "".join(chr(c.int(0x20, 0x2FFF)) for _ in range(n // 2)).encode("utf-8", "surrogatepass")


def fixture_files(suffix: str) -> list[Path]:
    return sorted(p for p in (REPO_ROOT / "fixtures").rglob(f"*{suffix}") if p.is_file())


# --- suppression comments and config ------------------------------------------------------

RULE_IDS = ("drop-column", "drop-table", "rename-column", "not-null-without-default", "non-concurrent-index",
            "missing-lock-timeout", "not-analyzed", "bad-suppression", "change-column-type", "set-not-null")


def suppression(c) -> str:
    kind = c.pick(["ignore", "ignore", "ignore-file", "ignore-fil", "IGNORE"])
    rules = ",".join(c.pick(RULE_IDS + ("no-such-rule", "", " ", "drop_column", "*")) for _ in range(c.int(0, 3)))
    reason = c.pick(["", " because release 41 stopped using it", " -", " ...", " ok", " \u00e9t\u00e9"])
    opener, closer = c.pick([("--", ""), ("/*", " */"), ("#", ""), ("-- ", "")])
    bracket = c.pick([f"[{rules}]", f"[{rules}", f"{rules}]", f"[[{rules}]]", ""])
    return f"{opener} migsafe{c.pick([':', ' :', ''])} {kind}{bracket}{reason}{closer}"


CONFIG_KEYS = ("dialect", "target-version", "fail-on", "select", "ignore", "exclude", "start-after",
               "sql-transaction", "severity", "no-exec", "render-timeout", "unknown-key", "Dialect", "")
CONFIG_VALUES = ('"postgresql"', '"mysql"', '"sqlite"', '"oracle"', '"15"', '"8.0"', "15", "13.5", '"error"',
                 '"warning"', '"info"', "[]", '["drop-column"]', '["nope"]', '["legacy/**"]', "true", "false",
                 '"none"', '"per-file"', '{ alembic = "abc" }', '{ sql = "V1__a.sql" }', "{}", '""', "-1", "0",
                 "1e999", '{ drop-column = "warning" }', '{ drop-column = "loud" }', '"\\u00e9"', "[1, 2]", "30")


VALID_CONFIG = (('dialect', '"postgresql"'), ('dialect', '"mysql"'), ('target-version', '"14"'),
                ('target-version', '"10"'), ('fail-on', '"warning"'), ('fail-on', '"error"'),
                ('select', '["drop-column", "non-concurrent-index"]'), ('ignore', '["missing-lock-timeout"]'),
                ('exclude', '["db/V2__*"]'), ('sql-transaction', '"per-file"'), ('no-exec', 'true'),
                ('start-after', '{ sql = "V1__create.sql" }'), ('severity', '{ drop-column = "warning" }'))


def config_text(c) -> bytes:
    mode = c.int(0, 7)
    if mode >= 5:  # valid keys and values, sometimes one bad line among them
        pairs = [c.pick(VALID_CONFIG) for _ in range(c.int(0, 4))]
        if mode == 7:
            pairs.insert(c.int(0, len(pairs)), (c.pick(CONFIG_KEYS), c.pick(CONFIG_VALUES)))
        return "".join(f"{k} = {v}\n" for k, v in dict(pairs).items()).encode()
    if mode == 0:
        return random_bytes(c, 120)
    lines = []
    if mode == 1:
        lines.append("[tool.migsafe]")  # valid TOML, but a migsafe.toml has its keys at the top
    for _ in range(c.int(0, 5)):
        key = c.pick(CONFIG_KEYS)
        if c.int(0, 6) == 0:
            lines.append(f"[{key or 'severity'}]")
        lines.append(f"{key} = {c.pick(CONFIG_VALUES)}")
    text = "\n".join(lines) + "\n"
    if mode == 2:
        text = mutate(c, text.encode()).decode("utf-8", "replace")
    return text.encode("utf-8")


# --- running migsafe in this process -------------------------------------------------------


def run_inprocess(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """migsafe.cli.main(args) with cwd as the working directory: (exit code, stdout, stderr)."""
    from migsafe.cli import main

    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
    finally:
        os.chdir(before)
    return code, out.getvalue(), err.getvalue()

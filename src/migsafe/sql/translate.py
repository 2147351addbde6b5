"""Translate one SQL statement into facts.

DDL is read from sqlglot's tokens: sqlglot 30 turns many PostgreSQL forms into an opaque
Command (VALIDATE CONSTRAINT, ADD ... USING INDEX, ADD CHECK without a name, DETACH ...
CONCURRENTLY, ...), misreads `ALTER TABLE t RENAME a TO b` as a table rename and normalises
`serial` and `now()`. Tokens keep the user's own spelling. Statements that are not schema
changes (UPDATE, DELETE, INSERT, ...) go through sqlglot's parser, which also decides whether
unknown SQL parses at all. Every statement read is then given to the engine's own parser
(validate.py): what the database would refuse is ParseFailed, whatever sqlglot made of it.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

from migsafe.sql import facts as F
from migsafe.sql.validate import rejection

logging.getLogger("sqlglot").setLevel(logging.CRITICAL)  # its fallback warnings are ours to report

SQLGLOT_DIALECT = {"postgresql": "postgres", "mysql": "mysql", "sqlite": "sqlite"}

# Functions whose value is fixed for the statement: a default calling only these is evaluated
# once (PostgreSQL 11+ "fast default"). Anything else is treated as volatile.
STABLE_FUNCTIONS = frozenset(
    "now current_timestamp current_date current_time localtimestamp localtime transaction_timestamp"
    " statement_timestamp current_user session_user current_role current_schema current_setting"
    " lower upper trim btrim ltrim rtrim length coalesce nullif greatest least abs round floor ceil"
    " to_timestamp to_date to_char to_number make_date make_interval jsonb_build_object"
    " json_build_object jsonb_build_array json_build_array array jsonb json concat format"
    " timezone date_trunc date_part extract md5 sha224 sha256 sha384 sha512 encode decode substr substring"
    " replace split_part left right lpad rpad char_length octet_length position to_json to_jsonb row_to_json"
    " array_to_json array_length cardinality make_timestamp make_timestamptz uuid_nil age".split()
)
# Keywords spelled like functions that mean a constant or stable value.
STABLE_KEYWORDS = frozenset(
    "current_timestamp current_date current_time localtimestamp localtime current_user"
    " session_user current_role current_schema true false null".split()
)
COLUMN_CONSTRAINT_WORDS = frozenset(
    "NOT NULL DEFAULT CONSTRAINT CHECK REFERENCES UNIQUE PRIMARY GENERATED COLLATE"
    " DEFERRABLE INITIALLY"
    # MySQL/MariaDB column attributes
    " AUTO_INCREMENT COMMENT FIRST AFTER ON CHARACTER CHARSET AS INVISIBLE VISIBLE COLUMN_FORMAT STORAGE".split()
)
# MySQL ALTER TABLE options that change nothing in the rows (or only future rows).
MYSQL_TABLE_OPTIONS = frozenset(
    "AUTO_INCREMENT COMMENT DEFAULT CHARACTER CHARSET COLLATE STATS_PERSISTENT STATS_AUTO_RECALC"
    " STATS_SAMPLE_PAGES AVG_ROW_LENGTH MAX_ROWS MIN_ROWS PACK_KEYS CHECKSUM DELAY_KEY_WRITE".split()
)
# ... and those that rebuild the table in place while writes continue.
MYSQL_REBUILD_OPTIONS = frozenset("FORCE ENGINE ROW_FORMAT KEY_BLOCK_SIZE".split())
# REVOKE, policies and DROP of views, routines, types, sequences, schemas...: _objects (issue 20).
HARMLESS_LEADS = (
    ("COMMENT",), ("GRANT",), ("CREATE", "FUNCTION"), ("CREATE", "OR"),
    ("CREATE", "PROCEDURE"), ("CREATE", "VIEW"), ("CREATE", "MATERIALIZED"), ("CREATE", "SEQUENCE"),
    ("CREATE", "TYPE"), ("CREATE", "EXTENSION"), ("CREATE", "SCHEMA"), ("CREATE", "ROLE"),
    ("CREATE", "USER"), ("CREATE", "COLLATION"), ("CREATE", "TRIGGER"), ("CREATE", "CONSTRAINT"),
    ("CREATE", "AGGREGATE"), ("CREATE", "OPERATOR"), ("CREATE", "PUBLICATION"),
    ("CREATE", "TEXT"), ("CREATE", "STATISTICS"), ("CREATE", "TEMP"), ("CREATE", "TEMPORARY"),
    ("CREATE", "EVENT"), ("CREATE", "RULE"), ("CREATE", "CAST"), ("ALTER", "SEQUENCE"),
    ("ALTER", "FUNCTION"), ("ALTER", "VIEW"), ("ALTER", "SCHEMA"), ("ALTER", "ROLE"),
    ("ALTER", "DEFAULT"), ("ALTER", "EXTENSION"), ("ALTER", "MATERIALIZED"),
    ("ALTER", "DATABASE"), ("ALTER", "USER"), ("DROP", "TRIGGER"), ("DROP", "ROLE"), ("DROP", "USER"), ("DROP", "RULE"),
    ("ANALYZE",), ("ANALYSE",), ("NOTIFY",),
    ("LISTEN",), ("SAVEPOINT",), ("RELEASE",), ("CHECKPOINT",), ("DISCARD",), ("SECURITY",),
    ("SHOW",), ("EXPLAIN",), ("PRAGMA",), ("USE",), ("CALL",), ("COPY",),
)
_HARMLESS = frozenset(HARMLESS_LEADS)  # one- and two-word leads, looked up in one step

# Longer statements are reported not-analyzed, not read: sqlglot's parser took 1.2 GB and 20 s for
# a 6 MB INSERT, and a DDL statement this long is not something a reviewer reads either.
MAX_STATEMENT_CHARS = 1_000_000


MULTIWORD_KEYWORD = re.compile(r"[A-Za-z_]+(\s+[A-Za-z_]+)+$")
STRINGISH = frozenset(t for t in TokenType if t.name.endswith("STRING")) | {TokenType.IDENTIFIER}


# First words of real statements, and the objects ALTER/CREATE/DROP work on: anything else is a
# typo (`ALTER TABBLE`) that sqlglot would accept as an opaque Command, so it must not pass.
KNOWN_VERBS = frozenset(
    "ABORT ALTER ANALYZE ANALYSE BEGIN CALL CHECKPOINT CLOSE CLUSTER COMMENT COMMIT COPY CREATE DEALLOCATE"
    " DECLARE DELETE DISCARD DO DROP END EXECUTE EXPLAIN FETCH GRANT IMPORT INSERT LISTEN LOAD LOCK MERGE"
    " MOVE NOTIFY PREPARE REASSIGN REFRESH REINDEX RELEASE RESET REVOKE ROLLBACK SAVEPOINT SECURITY SELECT"
    " SET SHOW START TABLE TRUNCATE UNLISTEN UPDATE VACUUM VALUES WITH PRAGMA USE RENAME OPTIMIZE REPLACE".split()
)
KNOWN_OBJECTS = frozenset(
    "ACCESS AGGREGATE CAST COLLATION CONVERSION DATABASE DEFAULT DOMAIN EVENT EXTENSION FOREIGN FUNCTION"
    " GLOBAL GROUP INDEX LANGUAGE LARGE LOCAL MATERIALIZED OPERATOR OR OWNED POLICY PROCEDURE PUBLICATION"
    " RECURSIVE ROLE ROUTINE RULE SCHEMA SEQUENCE SERVER STATISTICS SUBSCRIPTION SYSTEM TABLE TABLESPACE"
    " TEMP TEMPORARY TEXT TRANSFORM TRIGGER TYPE UNIQUE UNLOGGED USER VIEW CONSTRAINT".split()
)


class Malformed(Exception):
    """The statement is recognised but not well formed."""


class Cursor:
    """A position in a statement's tokens, with keyword helpers."""

    def __init__(self, tokens: list[Token], sql: str):
        self.toks = tokens
        self.sql = sql
        self.i = 0
        # Each token's keyword, upper case ("" for strings and quoted names): matched many times.
        self.words = ["" if t.token_type in (TokenType.STRING, TokenType.IDENTIFIER) else t.text.upper()
                      for t in tokens]

    def peek(self, k: int = 0) -> Token | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def word(self, k: int = 0) -> str:
        j = self.i + k
        return self.words[j] if j < len(self.words) else ""

    def at(self, *words: str) -> bool:
        j = self.i
        return self.words[j:j + len(words)] == list(words)

    def accept(self, *words: str) -> bool:
        if self.at(*words):
            self.i += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            raise Malformed(f"expected {' '.join(words)}")

    def done(self) -> bool:
        return self.i >= len(self.toks)

    def name(self) -> str:
        """A possibly qualified name; unquoted parts fold to lower case."""
        parts = [self._part()]
        while self.peek() is not None and self.peek().token_type == TokenType.DOT:
            self.i += 1
            parts.append(self._part())
        return qualified(parts)

    def _part(self) -> str:
        tok = self.peek()
        nxt = self.peek(1)
        if tok is not None and tok.token_type == TokenType.COLON and nxt is not None and nxt.start == tok.end + 1:
            self.i += 2  # a psql variable standing for a name: :schema, :'name', :"name"
            return ":" + nxt.text
        if tok is None or tok.token_type in (TokenType.COMMA, TokenType.L_PAREN, TokenType.R_PAREN,
                                             TokenType.SEMICOLON, TokenType.STRING):
            raise Malformed("expected a name")
        self.i += 1
        return tok.text if tok.token_type == TokenType.IDENTIFIER else tok.text.lower()

    def until_depth0(self, stop_words: frozenset[str] = frozenset(), stop_comma: bool = True) -> list[Token]:
        """Tokens up to a top-level comma or one of stop_words (not consumed)."""
        toks, words = self.toks, self.words  # locals: the hottest loop of translation
        start = i = self.i
        depth = 0
        while i < len(toks):
            kind = toks[i].token_type
            if depth == 0 and ((stop_comma and kind == TokenType.COMMA) or (words[i] in stop_words and i > start)):
                break
            if kind == TokenType.L_PAREN or kind == TokenType.L_BRACKET:
                depth += 1
            elif kind == TokenType.R_PAREN or kind == TokenType.R_BRACKET:
                depth -= 1
                if depth < 0:
                    break
            i += 1
        self.i = i
        return toks[start:i]

    def paren_group(self) -> list[Token]:
        """The tokens inside the parenthesis at the cursor (which must be an opening one)."""
        tok = self.peek()
        if tok is None or tok.token_type != TokenType.L_PAREN:
            raise Malformed("expected (")
        self.i += 1
        inner = self.until_depth0(stop_comma=False)
        if self.peek() is None or self.peek().token_type != TokenType.R_PAREN:
            raise Malformed("unbalanced parentheses")
        self.i += 1
        return inner

    def text(self, toks: list[Token]) -> str:
        return self.sql[toks[0].start: toks[-1].end + 1] if toks else ""


def qualified(parts: list[str]) -> str:
    """The schema key of a name: `public.` is the default schema and is dropped."""
    if len(parts) > 1 and parts[-2] == "public":
        parts = parts[-1:]
    return ".".join(parts)


def same_schema(sibling: str, name: str) -> str:
    """`name` in the schema of `sibling` (a renamed table, an index of a table) unless qualified."""
    if "." in name or "." not in sibling:
        return name
    return sibling.rsplit(".", 1)[0] + "." + name


def split_commas(toks: list[Token]) -> list[list[Token]]:
    out, cur, depth = [], [], 0
    for tok in toks:
        if tok.token_type in (TokenType.L_PAREN, TokenType.L_BRACKET):
            depth += 1
        elif tok.token_type in (TokenType.R_PAREN, TokenType.R_BRACKET):
            depth -= 1
        if tok.token_type == TokenType.COMMA and depth == 0:
            out.append(cur)
            cur = []
        else:
            cur.append(tok)
    if cur:
        out.append(cur)
    return out


def names_in(toks: list[Token]) -> tuple[str, ...]:
    return tuple(t.text if t.token_type == TokenType.IDENTIFIER else t.text.lower()
                 for t in toks if t.token_type not in (TokenType.COMMA,))


@lru_cache(maxsize=8)
def _dialect(dialect: str):
    return sqlglot.Dialect.get_or_raise(SQLGLOT_DIALECT.get(dialect, dialect))


@lru_cache(maxsize=8)
def _tokenizer(dialect: str):
    """One tokenizer per dialect: making one costs as much as reading a short statement, and it
    keeps nothing from one tokenize() to the next."""
    return _dialect(dialect).tokenizer()


def tokenize(sql: str, dialect: str) -> list[Token]:
    """Tokens without semicolons; sqlglot's multi-word keywords (`PRIMARY KEY`, `FOREIGN KEY`)
    are split into one token per word so that keyword matching sees words."""
    out = []
    raw = _tokenizer(dialect).tokenize(sql)
    if len(raw) == 2 and raw[1].token_type == TokenType.STRING and \
            raw[1].text.strip() == sql[raw[0].end + 1:].strip():
        # VACUUM, LOCK, REINDEX, DO ...: sqlglot keeps the rest as one raw string; read it too.
        offset = raw[0].end + 1
        rest = _tokenizer(dialect).tokenize(sql[offset:])
        raw = [raw[0]] + [Token(t.token_type, t.text, t.line, t.col, t.start + offset, t.end + offset)
                          for t in rest]
    for tok in raw:
        if tok.token_type == TokenType.SEMICOLON:
            continue
        # Cheapest test first: a single word (most tokens) is an identifier-like text.
        if not tok.text.isidentifier() and MULTIWORD_KEYWORD.match(tok.text) and tok.token_type not in STRINGISH:
            for m in re.finditer(r"\S+", tok.text):
                start = tok.start + m.start()
                out.append(Token(TokenType.VAR, m.group(), tok.line, tok.col, start, start + len(m.group()) - 1))
            continue
        out.append(tok)
    return out


# --- entry point -------------------------------------------------------------------------


def translate(sql: str, dialect: str = "postgresql") -> list[F.Fact]:
    """Facts for one statement. Never raises: what cannot be read becomes ParseFailed."""
    if len(sql) > MAX_STATEMENT_CHARS:
        return [F.ParseFailed(f"the statement is {len(sql):,} characters long, more than the "
                              f"{MAX_STATEMENT_CHARS:,} migsafe reads; split it")]
    try:
        toks = tokenize(sql, dialect)
    except SqlglotError as err:
        return [F.ParseFailed(first_line(str(err)))]
    if not toks:
        return []
    cur = Cursor(toks, sql)
    try:
        facts = _dispatch(cur, dialect)
    except Malformed as err:
        tok = cur.peek() or toks[-1]
        line_offset = sql.count("\n", 0, tok.start)
        return [F.ParseFailed(f"{err} near {tok.text!r}", line_offset)]
    except RecursionError:  # e.g. thousands of nested parentheses: sqlglot's parser recurses
        return [F.ParseFailed("the statement is nested too deeply to analyse")]
    except Exception as err:  # noqa: BLE001 - sqlglot failing on odd input (`#>> >`) is no crash
        return [rejection(sql, dialect) or F.ParseFailed(f"sqlglot failed on it: {type(err).__name__}")]
    if any(isinstance(f, F.ParseFailed) for f in facts):
        return facts
    # sqlglot reads some broken SQL as well-formed (`varchar(10 NOT NULL`): the engine's own
    # parser has the last word.
    rejected = rejection(sql, dialect, facts)
    return [rejected] if rejected is not None else facts


def string_literals(sql: str, dialect: str = "postgresql") -> frozenset[str]:
    """The string constants a statement spells, as the server reads them (for a rule that looks
    for a value's use: enum-add-value)."""
    try:
        return frozenset(t.text for t in tokenize(sql, dialect) if t.token_type == TokenType.STRING)
    except SqlglotError:
        return frozenset()


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "syntax error"


def _dispatch(cur: Cursor, dialect: str) -> list[F.Fact]:
    w0, w1 = cur.word(), cur.word(1)
    if w0 == "ALTER" and (w1 == "TABLE" or (w1 in ("ONLINE", "IGNORE") and cur.word(2) == "TABLE")):
        return _alter_table(cur, dialect)
    if w0 == "CREATE" and (w1 == "TABLE" or (w1 in ("UNLOGGED", "GLOBAL", "LOCAL") and cur.word(2) == "TABLE")):
        return _create_table(cur, dialect)
    if w0 == "CREATE" and (w1 == "INDEX" or (w1 in ("UNIQUE", "FULLTEXT", "SPATIAL") and cur.word(2) == "INDEX")):
        return _create_index(cur)
    if w0 == "CREATE" and w1 == "DOMAIN":
        return _create_domain(cur)
    if w0 == "ALTER" and w1 == "DOMAIN":
        return _alter_domain(cur)
    if w0 == "REFRESH" and w1 == "MATERIALIZED":
        return _refresh(cur)
    if w0 == "DROP" and w1 in ("TABLE", "INDEX"):
        return _drop(cur)
    if w0 == "ALTER" and w1 == "INDEX":
        return _alter_index(cur)
    if w0 == "ALTER" and w1 == "TYPE":
        return _alter_type(cur)
    if w0 == "TRUNCATE":
        return _truncate(cur)
    if w0 == "RENAME" and w1 == "TABLE":  # MySQL: RENAME TABLE a TO b [, c TO d]
        return _rename_tables(cur)
    if w0 == "OPTIMIZE" and w1 in ("TABLE", "NO_WRITE_TO_BINLOG", "LOCAL"):  # InnoDB: rebuilt in place
        return [F.TableRewrite(n, "OPTIMIZE TABLE", inplace=True) for n in _names_after(cur, "TABLE")]
    if w0 in ("SET", "RESET"):
        return _set(cur)
    if w0 in ("BEGIN", "START") and w1 not in ("ATOMIC",):
        return [F.Begin()]
    if w0 in ("COMMIT", "END"):
        return [F.Commit()]
    if w0 == "ROLLBACK" and w1 != "TO":
        return [F.Commit(rollback=True)]
    if w0 in ("VACUUM", "CLUSTER", "REINDEX", "LOCK"):
        return _maintenance(cur)
    if w0 == "DO":
        return _do_block(cur, dialect)
    if w0 == "DROP" and w1 == "TRIGGER" and "ON" in cur.words:
        return _drop_trigger(cur)
    if (objects := _objects(cur, dialect)) is not None:  # views, routines, sequences, policies, REVOKE...
        return objects
    if (w0,) in _HARMLESS or (w0, w1) in _HARMLESS:
        return [F.Harmless(" ".join(cur.word(k) for k in range(2)).strip())]
    return _parsed(cur, dialect)


# --- ALTER TABLE -------------------------------------------------------------------------


def _alter_table(cur: Cursor, dialect: str) -> list[F.Fact]:
    cur.expect("ALTER")
    online = cur.accept("ONLINE")  # MariaDB: the same as LOCK=NONE
    cur.accept("IGNORE")
    cur.expect("TABLE")
    cur.accept("IF", "EXISTS")
    cur.accept("ONLY")
    table = cur.name()
    if cur.peek() is not None and cur.peek().token_type == TokenType.STAR:
        cur.i += 1
    if cur.done():
        raise Malformed("ALTER TABLE without an action")
    clauses: dict[str, str] = {"LOCK": "NONE"} if online else {}
    facts: list[F.Fact] = []
    for action in split_commas(cur.toks[cur.i:]):
        if not action:
            raise Malformed("empty ALTER TABLE action")
        action = _take_clauses(action, clauses)
        if action:
            facts.extend(_alter_action(Cursor(action, cur.sql), table, dialect))
    if not facts and clauses:
        facts.append(F.Harmless("ALTER TABLE with only ALGORITHM/LOCK"))
    if any(isinstance(f, F.AddConstraint) and f.constraint.kind == "primary_key" for f in facts):
        for f in facts:  # MySQL: dropping and adding the primary key in one statement is a rebuild in place
            if isinstance(f, F.DropConstraint) and f.kind == "primary_key":
                f.kind = "primary_key_replaced"
    return _with_clauses(facts, clauses)


def _take_clauses(toks: list[Token], clauses: dict[str, str]) -> list[Token]:
    """Remove MySQL `ALGORITHM [=] x` and `LOCK [=] x` from an action's tokens into `clauses`;
    they may stand alone between commas or trail an action."""
    out, k = [], 0
    while k < len(toks):
        word = toks[k].text.upper() if toks[k].token_type not in STRINGISH else ""
        if word in ("ALGORITHM", "LOCK") and k + 1 < len(toks):
            j = k + 1 + (toks[k + 1].token_type == TokenType.EQ)
            if j < len(toks):
                clauses[word] = toks[j].text.upper()
                k = j + 1
                continue
        out.append(toks[k])
        k += 1
    return out


def _with_clauses(facts: list[F.Fact], clauses: dict[str, str]) -> list[F.Fact]:
    for f in facts:
        f.algorithm = clauses.get("ALGORITHM", f.algorithm)
        f.lock_clause = clauses.get("LOCK", f.lock_clause)
    return facts


def _alter_action(cur: Cursor, table: str, dialect: str) -> list[F.Fact]:
    w = cur.word()
    if cur.accept("ADD"):
        if cur.at("CONSTRAINT") or cur.word() in ("CHECK", "FOREIGN", "UNIQUE", "PRIMARY", "EXCLUDE"):
            return [F.AddConstraint(table, _table_constraint(cur))]
        if cur.word() in ("INDEX", "KEY", "FULLTEXT", "SPATIAL"):  # MySQL: ADD [FULLTEXT] INDEX [name] (cols)
            cur.i += 1
            cur.accept("INDEX") or cur.accept("KEY")
            cur.accept("IF", "NOT", "EXISTS")
            name = None if _at_paren(cur) else cur.name()
            cur.accept("USING") and cur.name()
            return [F.CreateIndex(table, name, tuple(cur.text(p) for p in split_commas(cur.paren_group())))]
        cur.accept("COLUMN")
        cur.accept("IF", "NOT", "EXISTS")
        return [F.AddColumn(table, _column_def(cur, dialect))]
    if w == "DROP":
        cur.i += 1
        kind = "foreign_key" if cur.accept("FOREIGN", "KEY") else "check" if cur.accept("CHECK") else None
        if kind or cur.accept("CONSTRAINT"):  # MySQL spells DROP FOREIGN KEY fk, DROP CHECK ck
            if_exists = cur.accept("IF", "EXISTS")
            name = cur.name()
            return [F.DropConstraint(table, name, kind, if_exists=if_exists, cascade=cur.accept("CASCADE"))]
        if cur.accept("PRIMARY", "KEY"):
            return [F.DropConstraint(table, "PRIMARY", "primary_key")]
        if cur.accept("INDEX") or cur.accept("KEY"):  # MySQL
            if_exists = cur.accept("IF", "EXISTS")
            return [F.DropIndex(same_schema(table, cur.name()), table=table, if_exists=if_exists)]
        cur.accept("COLUMN")
        if_exists = cur.accept("IF", "EXISTS")
        return [F.DropColumn(table, cur.name(), if_exists=if_exists)]
    if w in ("MODIFY", "CHANGE"):  # MySQL: the whole column restated
        cur.i += 1
        cur.accept("COLUMN")
        cur.accept("IF", "EXISTS")
        old = cur.name() if w == "CHANGE" else None
        return _restated_column(table, old, _column_def(cur, dialect))
    if w == "CONVERT" and cur.at("CONVERT", "TO"):
        return [F.TableRewrite(table, "CONVERT TO CHARACTER SET")]  # every text column converted: a copy
    if w in MYSQL_REBUILD_OPTIONS and dialect == "mysql":
        return [F.TableRewrite(table, cur.text(cur.toks[cur.i:]) or w, inplace=True)]
    if w in MYSQL_TABLE_OPTIONS and dialect == "mysql" and not cur.at("ALTER"):
        return [F.Harmless("ALTER TABLE table option")]
    if w == "ALTER":
        cur.i += 1
        cur.accept("COLUMN")
        column = cur.name()
        return _alter_column(cur, table, column, dialect)
    if w == "RENAME":
        cur.i += 1
        if cur.accept("TO") or cur.accept("AS") or (dialect == "mysql" and len(cur.toks) - cur.i == 1):
            return [F.RenameTable(table, same_schema(table, cur.name()))]  # the table stays in its schema
        if cur.accept("INDEX") or cur.accept("KEY"):  # MySQL
            old = cur.name()
            cur.expect("TO")
            return [F.RenameIndex(same_schema(table, old), same_schema(table, cur.name()))]
        if cur.accept("CONSTRAINT"):
            old = cur.name()
            cur.expect("TO")
            return [F.RenameConstraint(table, old, cur.name())]
        cur.accept("COLUMN")  # `RENAME a TO b` (no COLUMN) is a column rename too: Alembic emits it
        old = cur.name()
        cur.expect("TO")
        return [F.RenameColumn(table, old, cur.name())]
    if cur.accept("VALIDATE", "CONSTRAINT"):
        return [F.ValidateConstraint(table, cur.name())]
    if cur.accept("SET", "TABLESPACE"):
        return [F.TableRewrite(table, "SET TABLESPACE")]
    if cur.at("SET", "LOGGED") or cur.at("SET", "UNLOGGED"):
        return [F.TableRewrite(table, f"SET {cur.word(1)}")]
    if cur.at("SET", "ACCESS", "METHOD"):
        return [F.TableRewrite(table, "SET ACCESS METHOD")]
    if cur.at("SET", "SCHEMA"):
        cur.i += 2
        return [F.RenameTable(table, qualified([cur.name(), table.split(".")[-1]]))]
    if cur.accept("EXCHANGE", "PARTITION"):  # MySQL/MariaDB
        part = cur.name()
        cur.expect("WITH", "TABLE")
        other = cur.name()
        return [F.ExchangePartition(table, part, other, validation=not cur.at("WITHOUT", "VALIDATION"))]
    if cur.accept("ATTACH", "PARTITION"):
        part = cur.name()
        return [F.AttachPartition(table, part, _partition_bound(cur))]
    if cur.accept("DETACH", "PARTITION"):
        part = cur.name()
        return [F.DetachPartition(table, part, concurrently=cur.word() == "CONCURRENTLY",
                                  finalize=cur.word() == "FINALIZE")]
    if cur.at("SET", "(") or cur.at("RESET") or cur.at("CLUSTER", "ON") or cur.at("SET", "WITHOUT"):
        return [F.Harmless("ALTER TABLE storage option")]  # SHARE UPDATE EXCLUSIVE, no rewrite
    if cur.at("ENABLE", "ROW", "LEVEL", "SECURITY") or cur.at("FORCE", "ROW", "LEVEL", "SECURITY"):
        return [F.AccessChange(f"{w} ROW LEVEL SECURITY", table)]  # access-change
    if w in ("OWNER", "ENABLE", "DISABLE", "REPLICA", "FORCE", "NO", "INHERIT", "OF", "NOT"):
        return [F.Unknown(f"ALTER TABLE ... {w}", table)]
    if cur.at("SET", "("):
        return [F.Harmless("ALTER TABLE SET storage parameter")]
    return [F.Unknown(f"ALTER TABLE ... {cur.text(cur.toks[:3])}", table)]


def _alter_column(cur: Cursor, table: str, column: str, dialect: str) -> list[F.Fact]:
    if cur.accept("SET", "DATA", "TYPE") or cur.accept("TYPE"):
        type_toks = cur.until_depth0(frozenset({"USING", "COLLATE"}))
        collate = using = None
        if cur.accept("COLLATE"):
            collate = cur.text(cur.until_depth0(frozenset({"USING"})))
        if cur.accept("USING"):
            using = cur.text(cur.toks[cur.i:])
        return [F.AlterColumnType(table, column, _type(cur.text(type_toks), dialect), using, collate)]
    if cur.accept("SET", "NOT", "NULL"):
        return [F.SetNotNull(table, column)]
    if cur.accept("DROP", "NOT", "NULL"):
        return [F.DropNotNull(table, column)]
    if cur.accept("SET", "DEFAULT"):
        return [F.SetDefault(table, column, _default(cur.text(cur.toks[cur.i:]), cur.toks[cur.i:]))]
    if cur.accept("DROP", "DEFAULT"):
        return [F.DropDefault(table, column)]
    if cur.accept("DROP", "EXPRESSION"):  # drop-object: future rows are no longer computed
        return [F.DropExpression(table, column, cur.accept("IF", "EXISTS"))]
    restart = "RESTART" in cur.words[cur.i:]  # alone, or after SET GENERATED / SET MAXVALUE ...
    if cur.at("RESTART") or (cur.word() == "SET" and (cur.word(1) in _SEQUENCE_OPTIONS or restart)):
        changes, _ = _sequence_changes(cur)  # an identity column's sequence (alter-sequence)
        return [F.AlterSequence(None, changes, table, column)] if changes else [F.Harmless("identity change")]
    if cur.at("ADD", "GENERATED"):
        return [F.AddIdentity(table, column)]  # future rows only, no rewrite (P28)
    if cur.accept("DROP", "IDENTITY"):
        return [F.DropIdentity(table, column, if_exists=cur.accept("IF", "EXISTS"))]
    if cur.at("SET", "GENERATED"):
        return [F.Harmless("identity change")]  # future rows only, no rewrite
    if cur.at("SET", "STATISTICS") or cur.at("SET", "(") or cur.at("RESET"):
        return [F.Harmless("column statistics")]
    if cur.at("SET", "STORAGE") or cur.at("SET", "COMPRESSION") or cur.at("DROP", "EXPRESSION"):
        return [F.Harmless("column storage")]  # brief ACCESS EXCLUSIVE, future rows only
    return [F.Unknown(f"ALTER COLUMN {column} {cur.text(cur.toks[cur.i:cur.i + 2])}", table)]


def _restated_column(table: str, old: str | None, col: F.ColumnDef) -> list[F.Fact]:
    """MySQL MODIFY/CHANGE restate the whole column: the facts of every part of it. A part that
    did not change costs nothing; the dialect tells by comparing with the schema."""
    facts: list[F.Fact] = []
    if old is not None and old.lower() != col.name.lower():
        facts.append(F.RenameColumn(table, old, col.name))
    if col.type is not None:
        facts.append(F.AlterColumnType(table, col.name, col.type))
    facts.append(F.DropNotNull(table, col.name) if col.nullable else F.SetNotNull(table, col.name))
    facts.append(F.SetDefault(table, col.name, col.default) if col.default else F.DropDefault(table, col.name))
    # AUTO_INCREMENT not restated is dropped (drop-identity judges it where the column had one)
    facts.append(F.AddIdentity(table, col.name) if col.identity else F.DropIdentity(table, col.name, if_exists=True))
    return facts


def _at_paren(cur: Cursor) -> bool:
    return cur.peek() is not None and cur.peek().token_type == TokenType.L_PAREN


def _table_constraint(cur: Cursor) -> F.ConstraintDef:
    name = None
    if cur.accept("CONSTRAINT"):
        name = cur.name()
    w = cur.word()
    if cur.accept("CHECK"):
        con = F.ConstraintDef("check", name, expression=cur.text(cur.paren_group()))
    elif cur.accept("FOREIGN", "KEY"):
        if not _at_paren(cur):
            name = name or cur.name()  # MySQL: FOREIGN KEY index_name (cols)
        cols = names_in(cur.paren_group())
        cur.expect("REFERENCES")
        con = F.ConstraintDef("foreign_key", name, cols, ref_table=cur.name())
    elif w in ("UNIQUE", "PRIMARY"):
        cur.accept("UNIQUE") or cur.expect("PRIMARY", "KEY")
        kind = "unique" if w == "UNIQUE" else "primary_key"
        if kind == "unique" and (cur.accept("INDEX") or cur.accept("KEY") or not _at_paren(cur)) \
                and not _at_paren(cur) and not cur.at("USING") and not cur.at("NULLS"):
            name = name or cur.name()  # MySQL: UNIQUE [INDEX|KEY] name (cols)
        cur.accept("USING", "BTREE") or cur.accept("USING", "HASH")
        if cur.accept("USING", "INDEX"):
            return F.ConstraintDef(kind, name, using_index=cur.name(), not_valid=_rest_has(cur, "NOT", "VALID"))
        cur.accept("NULLS", "NOT", "DISTINCT") or cur.accept("NULLS", "DISTINCT")
        con = F.ConstraintDef(kind, name, names_in(cur.paren_group()))
    elif cur.accept("EXCLUDE"):
        con = F.ConstraintDef("exclude", name)
    elif cur.accept("NOT", "NULL"):
        con = F.ConstraintDef("not_null", name, (cur.name(),))
    else:
        raise Malformed("unknown constraint")
    con.not_valid = _rest_has(cur, "NOT", "VALID")
    return con


def _rest_has(cur: Cursor, *words: str) -> bool:
    upper = [cur.word(k) for k in range(len(cur.toks) - cur.i)]
    return any(upper[k:k + len(words)] == list(words) for k in range(len(upper)))


# --- columns and types -------------------------------------------------------------------


@lru_cache(maxsize=4096)  # a history spells the same few types thousands of times; TypeRef is frozen
def _type(text: str, dialect: str) -> F.TypeRef:
    if not text:
        raise Malformed("expected a type")
    try:
        dt = exp.DataType.build(text, dialect=SQLGLOT_DIALECT.get(dialect, dialect), udt=True)
    except (SqlglotError, ValueError):
        return F.TypeRef(text.lower(), (), text)
    array = dt.this == exp.DataType.Type.ARRAY
    if array and dt.expressions:
        dt = dt.expressions[0]
    name = dt.this.value if dt.this != exp.DataType.Type.USERDEFINED else str(dt.args.get("kind") or text).lower()
    params = []
    for p in dt.expressions:
        value = p.this.this if isinstance(p, exp.DataTypeParam) and isinstance(p.this, exp.Literal) else None
        if value is not None and str(value).isdigit():
            params.append(int(value))
    return F.TypeRef(name, tuple(params), text, array)


def _column_def(cur: Cursor, dialect: str) -> F.ColumnDef:
    name = cur.name()
    type_toks = cur.until_depth0(COLUMN_CONSTRAINT_WORDS)
    type_text = cur.text(type_toks)
    col = F.ColumnDef(name, _type(type_text, dialect) if type_toks else None)
    col.serial = bool(re.fullmatch(r"(small|big)?serial[248]?", type_text.strip().lower()))
    while not cur.done():
        con_name = cur.name() if cur.accept("CONSTRAINT") else None
        if cur.accept("CHARACTER", "SET") or cur.accept("CHARSET"):
            charset = cur.name().lower()
            if col.type is not None:
                col.type = dataclasses.replace(col.type, charset=charset)
        elif cur.accept("AUTO_INCREMENT"):  # MySQL: every existing row is numbered
            col.identity = True
            col.nullable = False
        elif cur.accept("AS"):  # MySQL: AS (expr) [VIRTUAL|STORED]; virtual unless said
            cur.paren_group()
            col.generated = "stored" if cur.word() in ("STORED", "PERSISTENT") else "virtual"
        elif cur.accept("FIRST"):
            col.position = "FIRST"
        elif cur.accept("AFTER"):
            col.position = f"AFTER {cur.name()}"
        elif cur.accept("NOT", "NULL"):
            col.nullable = False
        elif cur.accept("NULL"):
            col.nullable = True
        elif cur.accept("DEFAULT"):
            toks = cur.until_depth0(COLUMN_CONSTRAINT_WORDS)
            col.default = _default(cur.text(toks), toks)
        elif cur.accept("PRIMARY", "KEY"):
            col.nullable = False
            col.constraints.append(F.ConstraintDef("primary_key", con_name, (name,)))
        elif cur.accept("UNIQUE"):
            col.constraints.append(F.ConstraintDef("unique", con_name, (name,)))
        elif cur.accept("CHECK"):
            col.constraints.append(F.ConstraintDef("check", con_name, (name,), cur.text(cur.paren_group())))
        elif cur.accept("REFERENCES"):
            ref = cur.name()
            col.constraints.append(F.ConstraintDef("foreign_key", con_name, (name,), ref_table=ref))
        elif cur.accept("GENERATED"):
            rest = cur.until_depth0(COLUMN_CONSTRAINT_WORDS - {"GENERATED", "DEFAULT", "AS"})
            words = [t.text.upper() for t in rest]
            if "IDENTITY" in words:
                col.identity = True
                col.nullable = False
            else:
                col.generated = "stored" if "STORED" in words else "virtual" if "VIRTUAL" in words else "default"
        elif cur.accept("COLLATE"):
            cur.name()
        else:
            cur.i += 1  # DEFERRABLE, INITIALLY ..., ON DELETE ... and the like: no safety impact
    return col


def _default(text: str, toks: list[Token]) -> F.Default:
    """Classify a default: constant, stable (evaluated once per statement) or volatile."""
    functions, volatility = [], "constant"
    for k, tok in enumerate(toks):
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        word = tok.text.lower()
        if nxt is not None and nxt.token_type == TokenType.L_PAREN and _calls(tok):
            if word in ("cast", "array", "row"):
                continue
            if word not in STABLE_FUNCTIONS:
                functions.append(word)
                volatility = "volatile"
            elif volatility == "constant":
                volatility = "stable"
        elif word in STABLE_KEYWORDS and word not in ("true", "false", "null") and volatility == "constant":
            volatility = "stable"
    return F.Default(text, volatility, tuple(dict.fromkeys(functions)))


# Words before "(" that are operators, not calls: `x IN (1, 2)`, `= ANY (ARRAY[...])`.
_OPERATOR_WORDS = frozenset("in and or not is any all some exists between like ilike when then else from".split())


def _calls(tok: Token) -> bool:
    """`tok` followed by "(" is a function's name (`random(`, `"my func"(`), not an operator (`* (`)."""
    if tok.token_type == TokenType.IDENTIFIER:  # quoted
        return True
    return tok.text.replace("$", "_").isidentifier() and tok.text.lower() not in _OPERATOR_WORDS


# --- CREATE / DROP -----------------------------------------------------------------------


def _create_table(cur: Cursor, dialect: str) -> list[F.Fact]:
    cur.expect("CREATE")
    cur.accept("UNLOGGED") or cur.accept("GLOBAL") or cur.accept("LOCAL")
    cur.expect("TABLE")
    cur.accept("IF", "NOT", "EXISTS")
    fact = F.CreateTable(cur.name())
    if cur.accept("PARTITION", "OF"):
        fact.partition_of = cur.name()
        fact.partition_bound = _partition_bound(cur)
        fact.partition_by = _partition_by(cur)
        return [fact]
    if cur.peek() is None or cur.peek().token_type != TokenType.L_PAREN:
        return [fact]  # CREATE TABLE ... AS SELECT / LIKE: a new table either way
    indexes: list[F.Fact] = []
    for element in split_commas(cur.paren_group()):
        sub = Cursor(element, cur.sql)
        if sub.word() in ("CONSTRAINT", "CHECK", "FOREIGN", "UNIQUE", "PRIMARY", "EXCLUDE"):
            fact.constraints.append(_table_constraint(sub))
        elif sub.word() == "LIKE":
            continue
        elif sub.word() in ("KEY", "INDEX", "FULLTEXT", "SPATIAL") and dialect == "mysql":  # an inline index
            sub.i += 1
            sub.accept("INDEX") or sub.accept("KEY")
            name = None if _at_paren(sub) else sub.name()
            sub.accept("USING") and sub.name()
            indexes.append(F.CreateIndex(fact.table, name, tuple(sub.text(p) for p in split_commas(sub.paren_group()))))
        else:
            fact.columns.append(_column_def(sub, dialect))
    fact.partition_by = _partition_by(cur)
    return [fact, *indexes]


def _create_index(cur: Cursor) -> list[F.Fact]:
    cur.expect("CREATE")
    unique = cur.accept("UNIQUE")
    cur.accept("FULLTEXT") or cur.accept("SPATIAL")
    cur.expect("INDEX")
    concurrently = cur.accept("CONCURRENTLY")
    if_not_exists = cur.accept("IF", "NOT", "EXISTS")
    name = None if cur.at("ON") else cur.name()
    cur.accept("USING") and cur.name()  # MySQL: CREATE INDEX i USING BTREE ON t
    cur.expect("ON")
    only = cur.accept("ONLY")
    table = cur.name()
    if cur.accept("USING"):
        cur.name()
    cols: tuple[str, ...] = ()
    if _at_paren(cur):
        cols = tuple(cur.text(part) for part in split_commas(cur.paren_group()))
    clauses: dict[str, str] = {}
    _take_clauses(cur.toks[cur.i:], clauses)  # MySQL: ... ALGORITHM=INPLACE LOCK=NONE
    fact = F.CreateIndex(table, same_schema(table, name) if name else None, cols, unique, concurrently, only,
                         if_not_exists)
    return _with_clauses([fact], clauses)


def _create_domain(cur: Cursor) -> list[F.Fact]:
    cur.expect("CREATE", "DOMAIN")
    name = cur.name()
    return [F.CreateDomain(name, _rest_has(cur, "CHECK"))]


def _drop(cur: Cursor) -> list[F.Fact]:
    cur.expect("DROP")
    kind = cur.word()
    cur.i += 1
    concurrently = cur.accept("CONCURRENTLY")
    if_exists = cur.accept("IF", "EXISTS")
    names = [cur.name()]
    while cur.peek() is not None and cur.peek().token_type == TokenType.COMMA:
        cur.i += 1
        names.append(cur.name())
    if kind == "TABLE":
        return [F.DropTable(n, if_exists) for n in names]
    if cur.accept("ON"):  # MySQL: DROP INDEX i ON t [ALGORITHM=...] [LOCK=...]
        table = cur.name()
        clauses: dict[str, str] = {}
        _take_clauses(cur.toks[cur.i:], clauses)
        return _with_clauses([F.DropIndex(same_schema(table, n), concurrently, table, if_exists) for n in names],
                             clauses)
    return [F.DropIndex(n, concurrently, if_exists=if_exists) for n in names]


def _alter_index(cur: Cursor) -> list[F.Fact]:
    cur.expect("ALTER", "INDEX")
    cur.accept("IF", "EXISTS")
    name = cur.name()
    if cur.accept("RENAME", "TO"):
        return [F.RenameIndex(name, same_schema(name, cur.name()))]
    return [F.Harmless("ALTER INDEX")]  # SET (...), ATTACH PARTITION: SHARE UPDATE EXCLUSIVE at most


def _alter_type(cur: Cursor) -> list[F.Fact]:
    cur.expect("ALTER", "TYPE")
    name = cur.name()
    if cur.accept("ADD", "VALUE"):
        cur.accept("IF", "NOT", "EXISTS")
        label = cur.peek()
        value = label.text if label is not None and label.token_type == TokenType.STRING else None
        return [F.EnumAddValue(name, value)]
    cur.i = 2  # RENAME TO, SET SCHEMA, RENAME VALUE (rename-object)
    return _alter_object(cur, "type")


def _drop_trigger(cur: Cursor) -> list[F.Fact]:
    """PostgreSQL: DROP TRIGGER [IF EXISTS] name ON table (MySQL's and SQLite's name no table)."""
    cur.expect("DROP", "TRIGGER")
    if_exists = cur.accept("IF", "EXISTS")
    name = cur.name()
    cur.expect("ON")
    return [F.DropTrigger(cur.name(), name, if_exists)]


def _rename_tables(cur: Cursor) -> list[F.Fact]:
    cur.expect("RENAME", "TABLE")
    facts: list[F.Fact] = []
    while True:
        old = cur.name()
        cur.expect("TO")
        facts.append(F.RenameTable(old, cur.name()))
        if cur.peek() is None or cur.peek().token_type != TokenType.COMMA:
            return facts
        cur.i += 1


def _names_after(cur: Cursor, word: str) -> list[str]:
    """The comma-separated names after `word` (e.g. OPTIMIZE [LOCAL] TABLE a, b)."""
    while not cur.done() and not cur.accept(word):
        cur.i += 1
    names = [cur.name()]
    while cur.peek() is not None and cur.peek().token_type == TokenType.COMMA:
        cur.i += 1
        names.append(cur.name())
    return names


def _truncate(cur: Cursor) -> list[F.Fact]:
    cur.expect("TRUNCATE")
    cur.accept("TABLE")
    cur.accept("ONLY")
    names = [cur.name()]
    while cur.peek() is not None and cur.peek().token_type == TokenType.COMMA:
        cur.i += 1
        names.append(cur.name())
    return [F.Truncate(n) for n in names]


def _set(cur: Cursor) -> list[F.Fact]:
    reset = cur.word() == "RESET"
    cur.i += 1
    local = cur.accept("LOCAL")
    cur.accept("SESSION")
    if cur.peek() is not None and cur.peek().token_type == TokenType.SESSION_PARAMETER:
        cur.i += 1  # MySQL: @@lock_wait_timeout, @@session.lock_wait_timeout
        if cur.word(1) == "." and cur.word() in ("SESSION", "LOCAL", "GLOBAL"):
            cur.i += 2
    if cur.at("CHARACTERISTICS") or cur.at("TRANSACTION") or cur.done():
        return [F.Harmless("SET")]
    name = cur.name().lower()
    if reset:
        return [F.SetSetting(name, "", local)]
    cur.accept("TO") or cur.accept("=")
    if cur.peek() is not None and cur.peek().token_type == TokenType.EQ:
        cur.i += 1
    value = " ".join(t.text for t in cur.toks[cur.i:])
    return [F.SetSetting(name, value, local)]


def _maintenance(cur: Cursor) -> list[F.Fact]:
    verb = cur.word()
    cur.i += 1
    if verb == "VACUUM":
        options = []
        if cur.peek() is not None and cur.peek().token_type == TokenType.L_PAREN:
            options = [t.text.upper() for t in cur.paren_group()]
        while cur.word() in ("FULL", "FREEZE", "VERBOSE", "ANALYZE", "ANALYSE"):
            options.append(cur.word())
            cur.i += 1
        tables = [] if cur.done() else [cur.name()]
        facts: list[F.Fact] = [F.NoTransaction("VACUUM", tables[0] if tables else None)]
        if "FULL" in options:
            facts += [F.TableRewrite(t, "VACUUM FULL") for t in tables] or [F.Unknown("VACUUM FULL of every table")]
        return facts
    if verb == "CLUSTER":
        cur.accept("VERBOSE")
        if cur.done():
            return [F.Unknown("CLUSTER of every clustered table")]
        return [F.TableRewrite(cur.name(), "CLUSTER")]
    if verb == "REINDEX":
        if cur.peek() is not None and cur.peek().token_type == TokenType.L_PAREN:
            cur.paren_group()
        target = cur.word().lower()
        cur.i += 1
        concurrently = cur.accept("CONCURRENTLY")
        name = cur.name()
        return [F.Reindex(target, name, concurrently, table=name if target == "table" else None)]
    # LOCK [TABLE] [ONLY] name [, ...] [IN mode MODE] [NOWAIT]
    cur.accept("TABLE")
    cur.accept("ONLY")
    names = [cur.name()]
    while cur.peek() is not None and cur.peek().token_type == TokenType.COMMA:
        cur.i += 1
        names.append(cur.name())
    mode = "ACCESS EXCLUSIVE"
    if cur.accept("IN"):
        words = []
        while not cur.done() and cur.word() != "MODE":
            words.append(cur.word())
            cur.i += 1
        mode = " ".join(words)
    return [F.LockTable(n, mode) for n in names]


def _do_block(cur: Cursor, dialect: str) -> list[F.Fact]:
    """A DO block can hide anything, even in EXECUTE strings: name every word it uses so the
    engine can tell whether it mentions an existing table."""
    body = next((t.text for t in cur.toks if t.token_type in STRINGISH), "")
    words = tuple(sorted({w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_$]*", body)}))
    return [F.Unknown("DO block", None, words)]


# --- everything else: sqlglot's parser ---------------------------------------------------


SET_CONFIG = re.compile(r"select\s+(?:pg_catalog\.)?set_config\s*\(\s*'([a-z_.]+)'\s*,\s*'([^']*)'\s*,\s*(\w+)",
                        re.I)


def _parsed(cur: Cursor, dialect: str) -> list[F.Fact]:
    if m := SET_CONFIG.match(cur.sql):  # SELECT set_config('lock_timeout', '5s', false) is a SET
        return [F.SetSetting(m.group(1).lower(), m.group(2), m.group(3).lower() == "true")]
    if cur.word() not in KNOWN_VERBS and cur.peek().token_type != TokenType.L_PAREN:
        return [F.ParseFailed(f"unknown statement {cur.text(cur.toks[:1])!r}")]
    try:
        tree = sqlglot.parse_one(cur.sql, read=SQLGLOT_DIALECT.get(dialect, dialect))
    except SqlglotError as err:
        detail = (getattr(err, "errors", None) or [{}])[0]
        if detail.get("highlight"):
            return [F.ParseFailed(f"unexpected {detail['highlight']!r}", max(detail.get("line", 1) - 1, 0))]
        return [F.ParseFailed(first_line(str(err)))]
    if isinstance(tree, (exp.Update, exp.Delete)):
        target = tree.this
        table = target.this if isinstance(target, exp.Alias) else target
        name = qualified([p.name if p.args.get("quoted") else p.name.lower() for p in table.parts]) if isinstance(
            table, exp.Table) else str(table).lower()
        return [F.DataChange("UPDATE" if isinstance(tree, exp.Update) else "DELETE", name,
                             tree.args.get("where") is not None, tree.args.get("limit") is not None)]
    if isinstance(tree, exp.Command):
        verb, obj = cur.word(), cur.word(1)
        if verb not in KNOWN_VERBS or (verb in ("ALTER", "CREATE", "DROP") and obj not in KNOWN_OBJECTS):
            return [F.ParseFailed(f"unknown statement {cur.text(cur.toks[:2])!r}")]
        return [F.Unknown(f"{tree.this} statement")]
    if isinstance(tree, exp.Insert):
        return [_insert(tree)]
    return [F.Harmless(type(tree).__name__)]


def _table_name(table: exp.Table) -> str:
    return qualified([p.name if p.args.get("quoted") else p.name.lower() for p in table.parts])


def _insert(tree: exp.Insert) -> F.InsertRows:
    """INSERT INTO t ... [SELECT]: the target, and the tables the query reads (CTE names are not tables)."""
    target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    query = tree.expression
    select = query is not None and not isinstance(query, exp.Values)
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    sources = tuple(dict.fromkeys(
        _table_name(t) for t in (query.find_all(exp.Table) if select else ()) if t.name.lower() not in ctes))
    for cte in tree.find_all(exp.CTE):  # WITH q AS (SELECT ... FROM u) INSERT ... FROM q reads u
        sources += tuple(n for n in dict.fromkeys(_table_name(t) for t in cte.find_all(exp.Table)) if n not in sources)
    name = _table_name(target) if isinstance(target, exp.Table) else str(target).lower()
    return F.InsertRows("Insert", name, sources, select)


# --- issue 20: objects -------------------------------------------------------------------
# Views, routines, sequences, types, schemas, extensions, policies and privileges: what the
# running app names besides tables. CREATE is replayed (schema.py) so that a drop or rename of an
# object made in the same migration is not reported; anything not read here keeps its old reading.

# The objects a DROP/ALTER names, by their keyword (MATERIALIZED VIEW is two words).
OBJECT_KINDS = {"VIEW": "view", "FUNCTION": "function", "PROCEDURE": "procedure", "ROUTINE": "function",
                "TYPE": "type", "SEQUENCE": "sequence", "DOMAIN": "domain", "EXTENSION": "extension",
                "SCHEMA": "schema", "DATABASE": "database", "POLICY": "policy"}
ROUTINES = ("function", "procedure")
# Words between CREATE and the object's keyword: PostgreSQL's OR REPLACE / TEMP / RECURSIVE,
# MySQL's ALGORITHM=, DEFINER=user@host, SQL SECURITY (the @ and names are skipped with them).
_CREATE_MODIFIERS = frozenset("OR REPLACE TEMP TEMPORARY RECURSIVE ALGORITHM UNDEFINED MERGE TEMPTABLE DEFINER SQL"
                              " SECURITY INVOKER = @".split())
# ALTER SEQUENCE options that hand out keys again or run out sooner (alter-sequence).
_SEQUENCE_HAZARDS = ("RESTART", "AS", "MAXVALUE", "CYCLE")
_SEQUENCE_OPTIONS = ("AS", "INCREMENT", "MINVALUE", "MAXVALUE", "NO", "START", "RESTART", "CACHE", "CYCLE",
                     "OWNED", "SET", "LOGGED", "UNLOGGED", "RENAME")


def _objects(cur: Cursor, dialect: str) -> list[F.Fact] | None:
    """The facts of a statement about views, routines, sequences, types, schemas, extensions,
    policies or privileges; None: not such a statement (the other readings apply)."""
    w0 = cur.word()
    if w0 == "REVOKE":
        return _revoke(cur)
    if w0 == "SELECT":
        return _setval(cur)
    kind, at = _object_kind(cur)
    if kind is None or w0 not in ("CREATE", "DROP", "ALTER"):
        return None
    if w0 == "ALTER" and kind == "domain":
        return None  # validating-domain-constraint's reading
    cur.i = at
    if w0 == "CREATE":
        return _create_object(cur, kind)
    if w0 == "DROP":
        return _drop_objects(cur, kind, dialect)
    return _alter_object(cur, kind)


def _object_kind(cur: Cursor) -> tuple[str | None, int]:
    """The object a CREATE/DROP/ALTER is about, and the token index after its keyword."""
    k = 1
    if cur.word() == "CREATE":
        while cur.word(k) in _CREATE_MODIFIERS or (cur.peek(k) is not None and cur.word(k) == "" and k > 1):
            k += 1  # ("" : DEFINER's quoted user and host)
    if cur.word(k) == "MATERIALIZED" and cur.word(k + 1) == "VIEW":
        return "materialized view", cur.i + k + 2
    kind = OBJECT_KINDS.get(cur.word(k))
    return kind, cur.i + k + 1


def _object_name(cur: Cursor, kind: str) -> tuple[str, str]:
    """A name and, for a routine, its argument list as written."""
    name, args = cur.name(), ""
    if kind in ROUTINES and _at_paren(cur):
        start = cur.i
        cur.paren_group()
        args = cur.text(cur.toks[start:cur.i])
    return name, args


def _create_object(cur: Cursor, kind: str) -> list[F.Fact]:
    cur.accept("IF", "NOT", "EXISTS")
    if kind == "schema" and cur.accept("AUTHORIZATION"):
        name = cur.name()  # CREATE SCHEMA AUTHORIZATION role: the schema takes the role's name
    else:
        name, _ = _object_name(cur, kind)
    what = "CREATE " + kind.upper()
    if kind == "policy":
        cur.expect("ON")
        table = cur.name()
        restrictive = cur.at("AS", "RESTRICTIVE")
        return [F.CreateObject(what, kind, name, table), F.AccessChange(what, table, name, narrows=restrictive)]
    if kind in ROUTINES:
        words = cur.words[cur.i:]
        returns = words.index("RETURNS") if "RETURNS" in words else -1
        trigger = returns >= 0 and returns + 1 < len(words) and words[returns + 1] in ("TRIGGER", "EVENT_TRIGGER")
        return [F.CreateObject(what, kind, name, trigger=trigger)]
    detail = None
    if kind == "sequence" and cur.accept("AS"):
        detail = cur.text(cur.until_depth0(frozenset(_SEQUENCE_OPTIONS))).lower()
    return [F.CreateObject(what, kind, name, detail=detail, replace="REPLACE" in cur.words[:cur.i])]


def _drop_objects(cur: Cursor, kind: str, dialect: str) -> list[F.Fact]:
    if_exists = cur.accept("IF", "EXISTS")
    if kind == "policy":  # DROP POLICY [IF EXISTS] name ON table
        name = cur.name()
        cur.expect("ON")
        return [F.AccessChange("DROP POLICY", cur.name(), name)]
    if kind == "schema" and dialect == "mysql":
        kind = "database"  # MySQL's SCHEMA is a database
    named = [_object_name(cur, kind)]
    while cur.peek() is not None and cur.peek().token_type == TokenType.COMMA:
        cur.i += 1
        named.append(_object_name(cur, kind))
    cascade = cur.accept("CASCADE")
    return [F.DropObject(kind, name, if_exists, cascade, args) for name, args in named]


def _alter_object(cur: Cursor, kind: str) -> list[F.Fact]:
    what = f"ALTER {kind.upper()}"
    cur.accept("IF", "EXISTS")
    if kind == "policy":  # ALTER POLICY name ON table RENAME TO new | TO roles | USING (...) | WITH CHECK (...)
        name = cur.name()
        cur.expect("ON")
        table = cur.name()
        # A rename changes no one's access (the app never names a policy), but locks the table.
        return [F.AccessChange("ALTER POLICY", table, name, narrows=not cur.at("RENAME"))]
    name, _ = _object_name(cur, kind)
    if cur.accept("RENAME", "TO"):
        return [F.RenameObject(kind, name, same_schema(name, cur.name()))]
    if kind in ("view", "materialized view") and cur.accept("RENAME"):  # RENAME [COLUMN] a TO b
        cur.accept("COLUMN")
        old = cur.name()
        cur.expect("TO")
        return [F.RenameObject(f"{kind} column", f"{name}.{old}", f"{name}.{cur.name()}")]
    if cur.accept("SET", "SCHEMA"):
        return [F.RenameObject(kind, name, qualified([cur.name(), name.split(".")[-1]]), moved=True)]
    if kind == "type" and cur.accept("RENAME", "VALUE"):
        old = cur.peek().text if cur.peek() is not None else ""
        cur.i += 1
        cur.expect("TO")
        new = cur.peek().text if cur.peek() is not None else ""
        return [F.RenameObject("enum value", name, name, value=old, new_value=new)]
    if kind == "sequence":
        changes, new_type = _sequence_changes(cur)
        if changes:
            return [F.AlterSequence(name, changes, new_type=new_type)]
    return [F.Harmless(what)]


def _sequence_changes(cur: Cursor) -> tuple[tuple[str, ...], str | None]:
    """The options of ALTER SEQUENCE (or of an identity column's SET/RESTART) that hand keys out
    again or run out sooner, as written; and the AS type, lower case."""
    changes, new_type = [], None
    while not cur.done():
        start = cur.i
        if cur.accept("NO"):  # NO MAXVALUE, NO CYCLE: widen
            cur.i += 1
            continue
        word = cur.word()
        cur.i += 1
        while not cur.done() and cur.word() not in _SEQUENCE_OPTIONS:  # the option's own words
            cur.i += 1
        if word in _SEQUENCE_HAZARDS:
            changes.append(cur.text(cur.toks[start:cur.i]))
            if word == "AS":
                new_type = cur.text(cur.toks[start + 1:cur.i]).lower()
    return tuple(changes), new_type


def _revoke(cur: Cursor) -> list[F.Fact]:
    """REVOKE ... ON [TABLE] a, b FROM role: one fact per table; other objects, and role
    membership (REVOKE role FROM user), one fact without a table."""
    text = cur.text(cur.toks)
    words = cur.words
    if "ON" in words and words.index("ON") + 1 < len(words):
        cur.i = words.index("ON") + 1
        if cur.accept("TABLE") or cur.word() not in ("SCHEMA", "SEQUENCE", "FUNCTION", "PROCEDURE", "ROUTINE", "ALL",
                                                       "DATABASE", "TYPE", "DOMAIN", "LANGUAGE", "FOREIGN",
                                                       "TABLESPACE", "LARGE", "PARAMETER"):
            tables = [cur.name()]
            while cur.peek() is not None and cur.peek().token_type == TokenType.COMMA:
                cur.i += 1
                tables.append(cur.name())
            return [F.AccessChange("REVOKE", t, text) for t in tables]
    return [F.AccessChange("REVOKE", None, text)]


def _setval(cur: Cursor) -> list[F.Fact] | None:
    """SELECT setval('seq', <constant>[, ...]): the sequence set to a fixed value, which may be
    behind the keys already handed out. A value computed in the statement (max(id) + 1) is not."""
    words, toks = cur.words, cur.toks
    for k in range(len(toks) - 4):
        if words[k] == "SETVAL" and toks[k + 1].token_type == TokenType.L_PAREN and \
                toks[k + 2].token_type == TokenType.STRING and toks[k + 3].token_type == TokenType.COMMA:
            j = k + 4 + (words[k + 4] == "-")
            if j + 1 < len(toks) and toks[j].token_type == TokenType.NUMBER and \
                    toks[j + 1].token_type in (TokenType.COMMA, TokenType.R_PAREN):
                parts = [p.strip('"') if p.startswith('"') else p.lower() for p in toks[k + 2].text.split(".")]
                return [F.AlterSequence(qualified(parts), (cur.text(toks[k:_closing(toks, k + 1) + 1]),))]
    return None


def _closing(toks: list[Token], open_at: int) -> int:
    depth = 0
    for k in range(open_at, len(toks)):
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(toks[k].token_type, 0)
        if depth == 0:
            return k
    return len(toks) - 1


# --- issue 20: scans ---------------------------------------------------------------------
# ALTER DOMAIN (its constraints scan every table using the domain), partition bounds and keys
# (ATTACH PARTITION scans unless a CHECK proves the bound; an index on a partitioned table cannot
# be built CONCURRENTLY), REFRESH MATERIALIZED VIEW.


def _alter_domain(cur: Cursor) -> list[F.Fact]:
    cur.expect("ALTER", "DOMAIN")
    domain = cur.name()
    if cur.accept("SET", "NOT", "NULL"):
        return [F.DomainConstraint(domain, "NOT NULL", set_not_null=True)]
    if cur.accept("VALIDATE", "CONSTRAINT"):
        return [F.ValidateDomainConstraint(domain, cur.name())]
    if cur.accept("ADD"):
        name = cur.name() if cur.accept("CONSTRAINT") else None
        start = cur.i
        if cur.accept("CHECK"):
            cur.paren_group()
        elif not cur.accept("NOT", "NULL"):
            raise Malformed("expected CHECK or NOT NULL")
        what = cur.text(cur.toks[start:cur.i])
        return [F.DomainConstraint(domain, what, name, not_valid=_rest_has(cur, "NOT", "VALID"))]
    return [F.Harmless("ALTER DOMAIN")]  # DROP CONSTRAINT, SET/DROP DEFAULT, DROP NOT NULL, OWNER: no scan


def _refresh(cur: Cursor) -> list[F.Fact]:
    cur.expect("REFRESH", "MATERIALIZED", "VIEW")
    concurrently = cur.accept("CONCURRENTLY")
    view = cur.name()
    return [F.RefreshMaterializedView(view, concurrently, with_data=not cur.at("WITH", "NO", "DATA"))]


def _partition_bound(cur: Cursor) -> str:
    """After a partition's name: `FOR VALUES <bound>` as written (the bound), or "DEFAULT"."""
    if cur.accept("DEFAULT"):
        return "DEFAULT"
    while not cur.done() and not cur.at("FOR", "VALUES"):
        cur.i += 1  # PARTITION OF p (column constraints) FOR VALUES ...
    if not cur.accept("FOR", "VALUES"):
        return ""
    start = cur.i
    while not cur.done() and not cur.at("PARTITION", "BY") and cur.word() not in ("WITH", "USING", "TABLESPACE") \
            or cur.at("WITH", "("):
        if _at_paren(cur):
            cur.paren_group()
        else:
            cur.i += 1
    return cur.text(cur.toks[start:cur.i])


def _partition_by(cur: Cursor) -> str | None:
    """`PARTITION BY RANGE (k)` after a table's definition: "RANGE (k)" as written; None: not partitioned."""
    while not cur.done() and not cur.at("PARTITION", "BY"):
        cur.i += 1
    if not cur.accept("PARTITION", "BY"):
        return None
    start = cur.i
    cur.i += 1  # RANGE | LIST | HASH
    if _at_paren(cur):
        cur.paren_group()
    return cur.text(cur.toks[start:cur.i])


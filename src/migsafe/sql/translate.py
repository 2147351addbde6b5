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

import logging
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

from migsafe.sql import facts as F
from migsafe.sql.columns import column_def, default_of, type_ref
from migsafe.sql.objects import (SEQUENCE_OPTIONS, alter_domain, alter_object, partition_bound, partition_by,
                                 read_object_statement, refresh, sequence_changes)
from migsafe.sql.tokens import (SQLGLOT_DIALECT, STRINGISH, Cursor, Malformed, at_paren, names_in, qualified,
                                rest_has, split_commas, tokenize)
from migsafe.sql.validate import rejection

logging.getLogger("sqlglot").setLevel(logging.CRITICAL)  # its fallback warnings are ours to report


# MySQL ALTER TABLE options that change nothing in the rows (or only future rows).
MYSQL_TABLE_OPTIONS = frozenset(
    "AUTO_INCREMENT COMMENT DEFAULT CHARACTER CHARSET COLLATE STATS_PERSISTENT STATS_AUTO_RECALC"
    " STATS_SAMPLE_PAGES AVG_ROW_LENGTH MAX_ROWS MIN_ROWS PACK_KEYS CHECKSUM DELAY_KEY_WRITE".split()
)
# ... and those that rebuild the table in place while writes continue.
MYSQL_REBUILD_OPTIONS = frozenset("FORCE ENGINE ROW_FORMAT KEY_BLOCK_SIZE".split())
# REVOKE, policies and DROP of views, routines, types, sequences, schemas...: read_object_statement (issue 20).
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
        return alter_domain(cur)
    if w0 == "REFRESH" and w1 == "MATERIALIZED":
        return refresh(cur)
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
    if (objects := read_object_statement(cur, dialect)) is not None:  # views, routines, sequences, policies, REVOKE...
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
            name = None if at_paren(cur) else cur.name()
            cur.accept("USING") and cur.name()
            return [F.CreateIndex(table, name, tuple(cur.text(p) for p in split_commas(cur.paren_group())))]
        cur.accept("COLUMN")
        cur.accept("IF", "NOT", "EXISTS")
        return [F.AddColumn(table, column_def(cur, dialect))]
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
            return [F.DropIndex(F.same_schema(table, cur.name()), table=table, if_exists=if_exists)]
        cur.accept("COLUMN")
        if_exists = cur.accept("IF", "EXISTS")
        return [F.DropColumn(table, cur.name(), if_exists=if_exists)]
    if w in ("MODIFY", "CHANGE"):  # MySQL: the whole column restated
        cur.i += 1
        cur.accept("COLUMN")
        cur.accept("IF", "EXISTS")
        old = cur.name() if w == "CHANGE" else None
        return _restated_column(table, old, column_def(cur, dialect))
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
            return [F.RenameTable(table, F.same_schema(table, cur.name()))]  # the table stays in its schema
        if cur.accept("INDEX") or cur.accept("KEY"):  # MySQL
            old = cur.name()
            cur.expect("TO")
            return [F.RenameIndex(F.same_schema(table, old), F.same_schema(table, cur.name()))]
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
        return [F.AttachPartition(table, part, partition_bound(cur))]
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
        return [F.AlterColumnType(table, column, type_ref(cur.text(type_toks), dialect), using, collate)]
    if cur.accept("SET", "NOT", "NULL"):
        return [F.SetNotNull(table, column)]
    if cur.accept("DROP", "NOT", "NULL"):
        return [F.DropNotNull(table, column)]
    if cur.accept("SET", "DEFAULT"):
        return [F.SetDefault(table, column, default_of(cur.text(cur.toks[cur.i:]), cur.toks[cur.i:]))]
    if cur.accept("DROP", "DEFAULT"):
        return [F.DropDefault(table, column)]
    if cur.accept("DROP", "EXPRESSION"):  # drop-object: future rows are no longer computed
        return [F.DropExpression(table, column, cur.accept("IF", "EXISTS"))]
    restart = "RESTART" in cur.words[cur.i:]  # alone, or after SET GENERATED / SET MAXVALUE ...
    if cur.at("RESTART") or (cur.word() == "SET" and (cur.word(1) in SEQUENCE_OPTIONS or restart)):
        changes, _ = sequence_changes(cur)  # an identity column's sequence (alter-sequence)
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


def _table_constraint(cur: Cursor) -> F.ConstraintDef:
    name = None
    if cur.accept("CONSTRAINT"):
        name = cur.name()
    w = cur.word()
    if cur.accept("CHECK"):
        con = F.ConstraintDef("check", name, expression=cur.text(cur.paren_group()))
    elif cur.accept("FOREIGN", "KEY"):
        if not at_paren(cur):
            name = name or cur.name()  # MySQL: FOREIGN KEY index_name (cols)
        cols = names_in(cur.paren_group())
        cur.expect("REFERENCES")
        con = F.ConstraintDef("foreign_key", name, cols, ref_table=cur.name())
    elif w in ("UNIQUE", "PRIMARY"):
        cur.accept("UNIQUE") or cur.expect("PRIMARY", "KEY")
        kind = "unique" if w == "UNIQUE" else "primary_key"
        if kind == "unique" and (cur.accept("INDEX") or cur.accept("KEY") or not at_paren(cur)) \
                and not at_paren(cur) and not cur.at("USING") and not cur.at("NULLS"):
            name = name or cur.name()  # MySQL: UNIQUE [INDEX|KEY] name (cols)
        cur.accept("USING", "BTREE") or cur.accept("USING", "HASH")
        if cur.accept("USING", "INDEX"):
            return F.ConstraintDef(kind, name, using_index=cur.name(), not_valid=rest_has(cur, "NOT", "VALID"))
        cur.accept("NULLS", "NOT", "DISTINCT") or cur.accept("NULLS", "DISTINCT")
        con = F.ConstraintDef(kind, name, names_in(cur.paren_group()))
    elif cur.accept("EXCLUDE"):
        con = F.ConstraintDef("exclude", name)
    elif cur.accept("NOT", "NULL"):
        con = F.ConstraintDef("not_null", name, (cur.name(),))
    else:
        raise Malformed("unknown constraint")
    con.not_valid = rest_has(cur, "NOT", "VALID")
    return con


# --- CREATE / DROP -----------------------------------------------------------------------


def _create_table(cur: Cursor, dialect: str) -> list[F.Fact]:
    cur.expect("CREATE")
    cur.accept("UNLOGGED") or cur.accept("GLOBAL") or cur.accept("LOCAL")
    cur.expect("TABLE")
    cur.accept("IF", "NOT", "EXISTS")
    fact = F.CreateTable(cur.name())
    if cur.accept("PARTITION", "OF"):
        fact.partition_of = cur.name()
        fact.partition_bound = partition_bound(cur)
        fact.partition_by = partition_by(cur)
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
            name = None if at_paren(sub) else sub.name()
            sub.accept("USING") and sub.name()
            indexes.append(F.CreateIndex(fact.table, name, tuple(sub.text(p) for p in split_commas(sub.paren_group()))))
        else:
            fact.columns.append(column_def(sub, dialect))
    fact.partition_by = partition_by(cur)
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
    if at_paren(cur):
        cols = tuple(cur.text(part) for part in split_commas(cur.paren_group()))
    clauses: dict[str, str] = {}
    _take_clauses(cur.toks[cur.i:], clauses)  # MySQL: ... ALGORITHM=INPLACE LOCK=NONE
    fact = F.CreateIndex(table, F.same_schema(table, name) if name else None, cols, unique, concurrently, only,
                         if_not_exists)
    return _with_clauses([fact], clauses)


def _create_domain(cur: Cursor) -> list[F.Fact]:
    cur.expect("CREATE", "DOMAIN")
    name = cur.name()
    return [F.CreateDomain(name, rest_has(cur, "CHECK"))]


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
        return _with_clauses([F.DropIndex(F.same_schema(table, n), concurrently, table, if_exists) for n in names],
                             clauses)
    return [F.DropIndex(n, concurrently, if_exists=if_exists) for n in names]


def _alter_index(cur: Cursor) -> list[F.Fact]:
    cur.expect("ALTER", "INDEX")
    cur.accept("IF", "EXISTS")
    name = cur.name()
    if cur.accept("RENAME", "TO"):
        return [F.RenameIndex(name, F.same_schema(name, cur.name()))]
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
    return alter_object(cur, "type")


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
    # A write in a WITH (`WITH gone AS (DELETE ... RETURNING *) SELECT ...`) runs as the statement does.
    written = [cte.this for cte in tree.find_all(exp.CTE) if isinstance(cte.this, (exp.Update, exp.Delete, exp.Insert))]
    if isinstance(tree, (exp.Update, exp.Delete)):
        return [_data_change(tree)] + [_write(w) for w in written]
    if written and not isinstance(tree, exp.Insert):
        return [_write(w) for w in written]
    if isinstance(tree, exp.Command):
        verb, obj = cur.word(), cur.word(1)
        if verb not in KNOWN_VERBS or (verb in ("ALTER", "CREATE", "DROP") and obj not in KNOWN_OBJECTS):
            return [F.ParseFailed(f"unknown statement {cur.text(cur.toks[:2])!r}")]
        return [F.Unknown(f"{tree.this} statement")]
    if isinstance(tree, exp.Insert):
        return [_insert(tree)] + [_write(w) for w in written]
    return [F.Harmless(type(tree).__name__)]


def _write(tree: exp.Expression) -> F.Fact:
    return _insert(tree) if isinstance(tree, exp.Insert) else _data_change(tree)


def _data_change(tree: exp.Update | exp.Delete) -> F.DataChange:
    target = tree.this
    table = target.this if isinstance(target, exp.Alias) else target
    name = qualified([p.name if p.args.get("quoted") else p.name.lower() for p in table.parts]) if isinstance(
        table, exp.Table) else str(table).lower()
    return F.DataChange("UPDATE" if isinstance(tree, exp.Update) else "DELETE", name,
                        tree.args.get("where") is not None, tree.args.get("limit") is not None)


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

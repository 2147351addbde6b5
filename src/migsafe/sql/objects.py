"""Statements about objects other than tables and their columns (issue 20's rules): views,
routines, sequences, types, schemas, extensions, policies and privileges; domains, partitions and
materialized views. translate.py's dispatch hands these statements over to the readers here."""

from __future__ import annotations

from sqlglot.tokens import Token, TokenType

from migsafe.sql import facts as F
from migsafe.sql.tokens import Cursor, Malformed, at_paren, qualified, rest_has


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
SEQUENCE_OPTIONS = ("AS", "INCREMENT", "MINVALUE", "MAXVALUE", "NO", "START", "RESTART", "CACHE", "CYCLE",
                     "OWNED", "SET", "LOGGED", "UNLOGGED", "RENAME")


def read_object_statement(cur: Cursor, dialect: str) -> list[F.Fact] | None:
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
    return alter_object(cur, kind)


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
    if kind in ROUTINES and at_paren(cur):
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
        detail = cur.text(cur.until_depth0(frozenset(SEQUENCE_OPTIONS))).lower()
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


def alter_object(cur: Cursor, kind: str) -> list[F.Fact]:
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
        return [F.RenameObject(kind, name, F.same_schema(name, cur.name()))]
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
        changes, new_type = sequence_changes(cur)
        if changes:
            return [F.AlterSequence(name, changes, new_type=new_type)]
    return [F.Harmless(what)]


def sequence_changes(cur: Cursor) -> tuple[tuple[str, ...], str | None]:
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
        while not cur.done() and cur.word() not in SEQUENCE_OPTIONS:  # the option's own words
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


def alter_domain(cur: Cursor) -> list[F.Fact]:
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
        return [F.DomainConstraint(domain, what, name, not_valid=rest_has(cur, "NOT", "VALID"))]
    return [F.Harmless("ALTER DOMAIN")]  # DROP CONSTRAINT, SET/DROP DEFAULT, DROP NOT NULL, OWNER: no scan


def refresh(cur: Cursor) -> list[F.Fact]:
    cur.expect("REFRESH", "MATERIALIZED", "VIEW")
    concurrently = cur.accept("CONCURRENTLY")
    view = cur.name()
    return [F.RefreshMaterializedView(view, concurrently, with_data=not cur.at("WITH", "NO", "DATA"))]


def partition_bound(cur: Cursor) -> str:
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
        if at_paren(cur):
            cur.paren_group()
        else:
            cur.i += 1
    return cur.text(cur.toks[start:cur.i])


def partition_by(cur: Cursor) -> str | None:
    """`PARTITION BY RANGE (k)` after a table's definition: "RANGE (k)" as written; None: not partitioned."""
    while not cur.done() and not cur.at("PARTITION", "BY"):
        cur.i += 1
    if not cur.accept("PARTITION", "BY"):
        return None
    start = cur.i
    cur.i += 1  # RANGE | LIST | HASH
    if at_paren(cur):
        cur.paren_group()
    return cur.text(cur.toks[start:cur.i])

"""A column as written in CREATE TABLE / ADD COLUMN / ALTER COLUMN: its type, constraints and
default (and whether that default is evaluated once or per row)."""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

from migsafe.sql import facts as F
from migsafe.sql.tokens import SQLGLOT_DIALECT, Cursor, Malformed


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


@lru_cache(maxsize=4096)  # a history spells the same few types thousands of times; TypeRef is frozen
def type_ref(text: str, dialect: str) -> F.TypeRef:
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


def column_def(cur: Cursor, dialect: str) -> F.ColumnDef:
    name = cur.name()
    type_toks = cur.until_depth0(COLUMN_CONSTRAINT_WORDS)
    type_text = cur.text(type_toks)
    col = F.ColumnDef(name, type_ref(type_text, dialect) if type_toks else None)
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
            col.default = default_of(cur.text(toks), toks)
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


def default_of(text: str, toks: list[Token]) -> F.Default:
    """Classify a default: constant, stable (evaluated once per statement) or volatile."""
    functions, volatility = [], "constant"
    for k, tok in enumerate(toks):
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        word = tok.text.lower()
        if nxt is not None and nxt.token_type == TokenType.L_PAREN and calls_function(tok):
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


def calls_function(tok: Token) -> bool:
    """`tok` followed by "(" is a function's name (`random(`, `"my func"(`), not an operator (`* (`)."""
    if tok.token_type == TokenType.IDENTIFIER:  # quoted
        return True
    return tok.text.replace("$", "_").isidentifier() and tok.text.lower() not in _OPERATOR_WORDS

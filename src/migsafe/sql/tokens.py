"""A SQL statement's tokens, as the translation reads them: sqlglot's tokenizer per dialect, with
its multi-word keywords split into words, and a Cursor with keyword helpers over them."""

from __future__ import annotations

import re
from functools import lru_cache

import sqlglot
from sqlglot.tokens import Token, TokenType

SQLGLOT_DIALECT = {"postgresql": "postgres", "mysql": "mysql", "sqlite": "sqlite"}


MULTIWORD_KEYWORD = re.compile(r"[A-Za-z_]+(\s+[A-Za-z_]+)+$")
STRINGISH = frozenset(t for t in TokenType if t.name.endswith("STRING")) | {TokenType.IDENTIFIER}


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
def sqlglot_dialect(dialect: str):
    return sqlglot.Dialect.get_or_raise(SQLGLOT_DIALECT.get(dialect, dialect))


@lru_cache(maxsize=8)
def _tokenizer(dialect: str):
    """One tokenizer per dialect: making one costs as much as reading a short statement, and it
    keeps nothing from one tokenize() to the next."""
    return sqlglot_dialect(dialect).tokenizer()


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


def at_paren(cur: Cursor) -> bool:
    return cur.peek() is not None and cur.peek().token_type == TokenType.L_PAREN


def rest_has(cur: Cursor, *words: str) -> bool:
    upper = [cur.word(k) for k in range(len(cur.toks) - cur.i)]
    return any(upper[k:k + len(words)] == list(words) for k in range(len(upper)))

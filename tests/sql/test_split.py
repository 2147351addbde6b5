import pytest

from migsafe.model import Span
from migsafe.sql.split import RawStatement, SplitError, line_starts, position, split_sql


def split(text, dialect="postgresql"):
    """[(sql, (line, column, end_line, end_column))], checking offsets against the text."""
    out = []
    for raw in split_sql(text, dialect):
        assert text[raw.start : raw.end] == raw.sql
        s = raw.span
        out.append((raw.sql, (s.line, s.column, s.end_line, s.end_column)))
    return out


def test_raw_statement_fields():
    assert split_sql("SELECT 1;\n  SELECT 2") == [
        RawStatement("SELECT 1", 0, 8, Span(1, 1, 1, 9)),
        RawStatement("SELECT 2", 12, 20, Span(2, 3, 2, 11)),
    ]


def test_semicolons_in_strings_and_identifiers_do_not_split():
    text = "INSERT INTO t VALUES ('a;b', \"x;y\");\nSELECT ';'"
    assert split(text) == [
        ("INSERT INTO t VALUES ('a;b', \"x;y\")", (1, 1, 1, 36)),
        ("SELECT ';'", (2, 1, 2, 11)),
    ]


def test_e_string_with_escaped_quote():
    text = "SELECT E'it\\'s; fine';SELECT 2;"
    assert split(text) == [
        ("SELECT E'it\\'s; fine'", (1, 1, 1, 22)),
        ("SELECT 2", (1, 23, 1, 31)),
    ]


def test_standard_string_backslash_is_not_an_escape_in_postgres():
    # standard_conforming_strings: 'a\' is a whole string.
    assert split("SELECT 'a\\'; SELECT 2") == [
        ("SELECT 'a\\'", (1, 1, 1, 12)),
        ("SELECT 2", (1, 14, 1, 22)),
    ]


def test_comments_with_semicolons_are_not_statements():
    text = (
        "-- first; comment\n"
        "/* block; comment */\n"
        "SELECT 1; -- trailing; comment\n"
        "/* a /* nested; */ still comment; */ SELECT 2;\n"
    )
    assert split(text) == [
        ("SELECT 1", (3, 1, 3, 9)),
        ("SELECT 2", (4, 38, 4, 46)),
    ]


def test_comment_inside_statement_is_kept_trailing_comment_is_not():
    text = "ALTER TABLE t -- why\n  ADD COLUMN c int -- done\n;"
    assert split(text) == [("ALTER TABLE t -- why\n  ADD COLUMN c int", (1, 1, 2, 19))]


def test_function_body_in_dollar_quotes():
    text = (
        "CREATE FUNCTION f() RETURNS trigger AS $$\n"
        "BEGIN\n"
        "  NEW.x := 1;\n"
        "  RETURN NEW;\n"
        "END;\n"
        "$$ LANGUAGE plpgsql;\n"
        "SELECT 2;"
    )
    stmts = split(text)
    assert [s[1] for s in stmts] == [(1, 1, 6, 20), (7, 1, 7, 9)]
    assert stmts[0][0] == text[: text.index(";\nSELECT 2")]


def test_tagged_dollar_quotes_hold_plain_dollar_quotes():
    text = "CREATE FUNCTION g() RETURNS text AS $body$ SELECT $$;$$ $body$ LANGUAGE sql;SELECT 3"
    assert split(text) == [
        ("CREATE FUNCTION g() RETURNS text AS $body$ SELECT $$;$$ $body$ LANGUAGE sql", (1, 1, 1, 76)),
        ("SELECT 3", (1, 77, 1, 85)),
    ]


def test_do_block():
    # DO is a "command" to sqlglot; its statement must still end at the closing $$.
    text = "DO $$\nBEGIN\n  PERFORM 1;\nEND\n$$ -- trailing\n;\nVACUUM t;"
    assert split(text) == [
        ("DO $$\nBEGIN\n  PERFORM 1;\nEND\n$$", (1, 1, 5, 3)),
        ("VACUUM t", (7, 1, 7, 9)),
    ]


def test_command_statement_without_semicolon_excludes_trailing_comment():
    assert split("EXPLAIN SELECT 1  \n-- the end\n") == [("EXPLAIN SELECT 1", (1, 1, 1, 17))]


def test_empty_statements_are_skipped():
    assert split(";;\n ; SELECT 1;;") == [("SELECT 1", (2, 4, 2, 12))]


def test_empty_and_comment_only_text():
    assert split("") == []
    assert split("  \n-- nothing here;\n/* ; */\n") == []


def test_last_statement_without_semicolon():
    assert split("SELECT 1;\nSELECT\n  2\n") == [
        ("SELECT 1", (1, 1, 1, 9)),
        ("SELECT\n  2", (2, 1, 3, 4)),
    ]


def test_multi_line_statement_end_position():
    text = "\n\n  CREATE INDEX i\n    ON t (a,\n          b);"
    assert split(text) == [("CREATE INDEX i\n    ON t (a,\n          b)", (3, 3, 5, 13))]


def test_crlf_is_one_line_break():
    text = "SELECT 1;\r\n\r\nALTER TABLE t\r\n  DROP COLUMN c;\r\n"
    assert split(text) == [
        ("SELECT 1", (1, 1, 1, 9)),
        ("ALTER TABLE t\r\n  DROP COLUMN c", (3, 1, 4, 16)),
    ]


def test_lone_cr_is_a_line_break():
    assert split("SELECT 1;\rSELECT 2;") == [("SELECT 1", (1, 1, 1, 9)), ("SELECT 2", (2, 1, 2, 9))]


def test_columns_count_characters_not_bytes():
    text = "SELECT 'héllo wörld ☃'; SELECT 2;"
    assert split(text) == [
        ("SELECT 'héllo wörld ☃'", (1, 1, 1, 23)),
        ("SELECT 2", (1, 25, 1, 33)),
    ]


def test_unicode_comment_before_statement():
    assert split("/* ünïcødé ☃ */ SELECT 1;") == [("SELECT 1", (1, 17, 1, 25))]


def test_bom_is_not_a_column_but_offsets_include_it():
    raws = split_sql("\ufeffSELECT 1;\nSELECT 2;")
    assert [(r.sql, r.start, r.end, r.span) for r in raws] == [
        ("SELECT 1", 1, 9, Span(1, 1, 1, 9)),
        ("SELECT 2", 11, 19, Span(2, 1, 2, 9)),
    ]


def test_psql_meta_commands_are_dropped():
    text = "\\set ON_ERROR_STOP on\n\\connect mydb\nSELECT 1;\n  \\i other.sql\nSELECT 2"
    assert split(text) == [("SELECT 1", (3, 1, 3, 9)), ("SELECT 2", (5, 1, 5, 9))]


def test_meta_command_with_unbalanced_quote_is_dropped():
    assert split("\\echo it's here\nSELECT 1;") == [("SELECT 1", (2, 1, 2, 9))]


def test_meta_command_with_quote_does_not_hide_later_meta_commands():
    text = "\\echo it's\nSELECT 1;\n\\connect db\nSELECT 2"
    assert split(text) == [("SELECT 1", (2, 1, 2, 9)), ("SELECT 2", (4, 1, 4, 9))]


def test_backslash_line_inside_dollar_body_is_sql_text():
    text = "SELECT $$\n\\not a command; $$;\nSELECT 2;"
    assert split(text) == [
        ("SELECT $$\n\\not a command; $$", (1, 1, 2, 19)),
        ("SELECT 2", (3, 1, 3, 9)),
    ]


def test_backslash_line_closing_a_string_is_sql_text():
    text = "SELECT 'a\n\\b';\nSELECT 2;"
    assert split(text) == [("SELECT 'a\n\\b'", (1, 1, 2, 4)), ("SELECT 2", (3, 1, 3, 9))]


def test_backslash_line_closing_a_string_before_more_strings():
    # Blanking the line would pair the quotes differently and silently change the split.
    text = "INSERT INTO t VALUES ('a\n\\b');\nSELECT 'c';\n\\connect db\nSELECT 'd'"
    assert split(text) == [
        ("INSERT INTO t VALUES ('a\n\\b')", (1, 1, 2, 5)),
        ("SELECT 'c'", (3, 1, 3, 11)),
        ("SELECT 'd'", (5, 1, 5, 11)),
    ]


def test_backslash_line_inside_block_comment_is_comment():
    assert split("/*\n\\x */ SELECT 1;\n\\x\nSELECT 2") == [
        ("SELECT 1", (2, 7, 2, 15)),
        ("SELECT 2", (4, 1, 4, 9)),
    ]


def test_meta_command_after_lone_cr():
    assert split("SELECT 1;\r\\connect db\rSELECT 2") == [
        ("SELECT 1", (1, 1, 1, 9)),
        ("SELECT 2", (3, 1, 3, 9)),
    ]


def test_sqlite_trigger_body_is_one_statement():
    text = (
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n"
        "  UPDATE x SET a = CASE WHEN NEW.b THEN 1 ELSE 2 END;\n"
        "  DELETE FROM y;\n"
        "END;\n"
        "SELECT 1;"
    )
    stmts = split(text, "sqlite")
    assert [s[1] for s in stmts] == [(1, 1, 4, 4), (5, 1, 5, 9)]


def test_postgres_begin_atomic_body_is_one_statement():
    text = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; SELECT 2"
    assert split(text) == [
        ("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END", (1, 1, 1, 72)),
        ("SELECT 2", (1, 74, 1, 82)),
    ]


def test_begin_column_in_create_table_does_not_open_a_body():
    text = "CREATE TABLE log (trigger text, begin int);\nSELECT 1;"
    assert split(text, "sqlite") == [
        ("CREATE TABLE log (trigger text, begin int)", (1, 1, 1, 43)),
        ("SELECT 1", (2, 1, 2, 9)),
    ]


def test_transaction_begin_still_splits():
    text = "BEGIN;\nCREATE TABLE t (function int, trigger int);\nCOMMIT;"
    assert [s[0] for s in split(text)] == [
        "BEGIN",
        "CREATE TABLE t (function int, trigger int)",
        "COMMIT",
    ]


def test_mysql_quoting_and_hash_comments():
    text = "# note; here\nSELECT 'it\\'s;' FROM `a;b`; SELECT 2"
    assert split(text, "mysql") == [
        ("SELECT 'it\\'s;' FROM `a;b`", (2, 1, 2, 27)),
        ("SELECT 2", (2, 29, 2, 37)),
    ]


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("SELECT 1;\nSELECT 'abc\n\n", "unterminated string literal starting at line 2, column 8", 2),
        ("SELECT 1;\n  E'abc\\'\n", "unterminated string literal starting at line 2, column 3", 2),
        ("SELECT 1;\n\n  /* open\n", "unterminated /* comment starting at line 3, column 3", 3),
        ("SELECT 1;\nDO $x$ BEGIN END;\n", "unterminated dollar-quoted string starting at line 2, column 4", 2),
        ('SELECT 1;\r\nSELECT "open\r\n', "unterminated quoted identifier starting at line 2, column 8", 2),
    ],
)
def test_tokenizer_errors_become_split_errors(text, message, line):
    with pytest.raises(SplitError) as info:
        split_sql(text)
    assert (info.value.message, info.value.line) == (message, line)
    assert str(info.value) == message


def test_unterminated_backtick_in_mysql():
    with pytest.raises(SplitError) as info:
        split_sql("SELECT 1;\n`open", "mysql")
    assert (info.value.message, info.value.line) == ("unterminated quoted identifier starting at line 2, column 1", 2)


def test_unknown_dialect():
    with pytest.raises(ValueError, match="unknown dialect: oracle"):
        split_sql("SELECT 1", "oracle")


def test_line_starts_and_position():
    starts = line_starts("ab\r\ncd\ne\rf")
    assert starts == [0, 4, 7, 9]
    assert [position(starts, o) for o in (0, 1, 4, 5, 7, 9)] == [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (4, 1)]


def test_mysql_trigger_body_with_if_and_loops_is_one_statement():
    """`END IF`, `END WHILE`, `END LOOP`, `END REPEAT` close blocks no BEGIN opened: the
    trigger ends at its own END (glance's visibility triggers)."""
    from migsafe.sql.split import split_sql

    text = ("CREATE TRIGGER t_ins BEFORE INSERT ON images FOR EACH ROW\nBEGIN\n"
            "  IF NEW.a <=> NULL THEN\n    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'x';\n"
            "  ELSEIF NEW.b = 1 THEN\n    WHILE NEW.c > 0 DO SET NEW.c = NEW.c - 1; END WHILE;\n  END IF;\n"
            "END;\nDROP TABLE legacy;\n")
    parts = split_sql(text, "mysql")
    assert [p.span.line for p in parts] == [1, 9] and parts[1].sql == "DROP TABLE legacy"

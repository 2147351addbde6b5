from migsafe.suppress import parse_suppressions

RULES = {"drop-column", "drop-table", "missing-lock-timeout", "non-concurrent-drop-index", "bad-suppression"}


def parse(text: str):
    return parse_suppressions(text, RULES)


def messages(s) -> list[str]:
    return [m for _, _, m in s.problems]


# --- forms ---------------------------------------------------------------------------------


def test_python_trailing():
    s = parse('op.drop_column("users", "email")  # migsafe: ignore[drop-column] column unused since release 41\n')
    assert s.is_suppressed("drop-column", 1)
    assert not s.is_suppressed("drop-table", 1)
    assert not s.is_suppressed("drop-column", 2)
    assert s.problems == []


def test_sql_line_above():
    s = parse("-- migsafe: ignore[drop-column] column unused since release 41\nALTER TABLE users DROP COLUMN email;\n")
    assert s.is_suppressed("drop-column", 2)
    assert s.problems == []


def test_sql_trailing():
    s = parse("ALTER TABLE users DROP COLUMN email; -- migsafe: ignore[drop-column] unused\nDROP TABLE t;\n")
    assert s.is_suppressed("drop-column", 1)
    assert not s.is_suppressed("drop-column", 2)


def test_python_line_above():
    s = parse('def upgrade():\n    # migsafe: ignore[drop-column] unused\n    op.drop_column("users", "email")\n    op.drop_column("users", "name")\n')
    assert s.is_suppressed("drop-column", 3)
    assert not s.is_suppressed("drop-column", 4)


def test_block_comment_same_line_and_above():
    s = parse("/* migsafe: ignore[drop-table] archived in 2023 */\nDROP TABLE old;\n"
              "DROP TABLE x; /* migsafe: ignore[drop-table] empty since 2020 */\n")
    assert s.is_suppressed("drop-table", 2)
    assert s.is_suppressed("drop-table", 3)
    assert s.problems == []


def test_reason_excludes_block_comment_end():
    s = parse("DROP TABLE x; /* migsafe: ignore[drop-table] */\n")
    assert messages(s) == ["suppression of drop-table gives no reason; write why after the bracket"]
    assert not s.is_suppressed("drop-table", 1)


def test_multiline_block_comment_above():
    s = parse("/* migsafe: ignore[drop-table] archived,\n   see ticket 12 */\nDROP TABLE old;\n")
    assert s.is_suppressed("drop-table", 3)


def test_tolerant_spacing_and_case():
    s = parse("--MigSafe :ignore[ drop-column , drop-table ] both unused\nALTER TABLE t DROP COLUMN c;\n")
    assert s.is_suppressed("drop-column", 2)
    assert s.is_suppressed("drop-table", 2)
    assert s.problems == []


def test_several_rules():
    s = parse("#migsafe: ignore[drop-column,missing-lock-timeout] small table\nop.drop_column('t', 'c')\n")
    assert s.is_suppressed("drop-column", 2)
    assert s.is_suppressed("missing-lock-timeout", 2)


def test_prose_without_comment_marker_does_not_count():
    s = parse("x = 'migsafe: ignore[drop-column] nope'\nop.drop_column('t', 'c')\n")
    assert not s.is_suppressed("drop-column", 1)
    assert not s.is_suppressed("drop-column", 2)
    assert s.problems == []


# --- where a comment applies ---------------------------------------------------------------


def test_comment_block_above():
    s = parse("-- migsafe: ignore[drop-column] unused since release 41\n"
              "-- the app stopped reading it in PR 123\n"
              "ALTER TABLE users DROP COLUMN email;\n")
    assert s.is_suppressed("drop-column", 3)


def test_blank_line_breaks_the_block():
    s = parse("-- migsafe: ignore[drop-column] unused\n\nALTER TABLE users DROP COLUMN email;\n")
    assert not s.is_suppressed("drop-column", 3)


def test_blank_line_inside_comment_block_breaks_it():
    s = parse("# migsafe: ignore[drop-column] unused\n# more\n\nop.drop_column('t', 'c')\n")
    assert not s.is_suppressed("drop-column", 4)


def test_only_the_next_code_line():
    s = parse("-- migsafe: ignore[drop-column] unused\nALTER TABLE a DROP COLUMN x;\nALTER TABLE b DROP COLUMN y;\n")
    assert s.is_suppressed("drop-column", 2)
    assert not s.is_suppressed("drop-column", 3)


def test_trailing_on_last_line_of_multiline_statement():
    s = parse("ALTER TABLE users\n  DROP COLUMN email; -- migsafe: ignore[drop-column] unused\n")
    assert not s.is_suppressed("drop-column", 1)
    assert s.is_suppressed("drop-column", 1, end_line=2)


def test_crlf_line_endings():
    s = parse("-- migsafe: ignore[drop-column] unused\r\nALTER TABLE users DROP COLUMN email;\r\n")
    assert s.is_suppressed("drop-column", 2)


# --- ignore-file -------------------------------------------------------------------------


def test_ignore_file_anywhere():
    s = parse("ALTER TABLE a DROP COLUMN x;\n\nSELECT 1;\n-- migsafe: ignore-file[drop-column] legacy schema, never deployed\n")
    assert s.is_suppressed("drop-column", 1)
    assert s.is_suppressed("drop-column", 99)
    assert not s.is_suppressed("drop-table", 1)


def test_ignore_file_without_reason_suppresses_nothing():
    s = parse("# migsafe: ignore-file[drop-column]\n")
    assert not s.is_suppressed("drop-column", 2)
    assert messages(s) == ["suppression of drop-column gives no reason; write why after the bracket"]


# --- bad suppressions -------------------------------------------------------------------


def test_no_reason():
    s = parse("ALTER TABLE users DROP COLUMN email; -- migsafe: ignore[drop-column]\n")
    assert not s.is_suppressed("drop-column", 1)
    assert s.problems == [(1, 38, "suppression of drop-column gives no reason; write why after the bracket")]


def test_punctuation_is_no_reason():
    s = parse("-- migsafe: ignore[drop-column] -- \nALTER TABLE users DROP COLUMN email;\n")
    assert not s.is_suppressed("drop-column", 2)
    assert len(s.problems) == 1


def test_unknown_rule_with_reason_still_suppresses_valid_rules():
    s = parse("-- migsafe: ignore[drop-colum, drop-table] both gone\nDROP TABLE t;\n")
    assert s.problems == [(1, 1, 'unknown rule "drop-colum" in suppression (did you mean "drop-column"?)')]
    assert s.is_suppressed("drop-table", 2)
    assert not s.is_suppressed("drop-column", 2)


def test_unknown_rule_without_reason_suppresses_nothing():
    s = parse("-- migsafe: ignore[nonsense, drop-table]\nDROP TABLE t;\n")
    assert messages(s) == [
        'unknown rule "nonsense" in suppression',
        "suppression of nonsense, drop-table gives no reason; write why after the bracket",
    ]
    assert not s.is_suppressed("drop-table", 2)


def test_empty_bracket():
    s = parse("DROP TABLE t; -- migsafe: ignore[ ] because\n")
    assert s.problems == [(1, 15, "suppression names no rule; write the rule id in the brackets")]
    assert not s.is_suppressed("drop-table", 1)


def test_malformed():
    s = parse("DROP TABLE t; -- migsafe: ignore drop-table because\n")
    assert s.problems == [(1, 15, 'malformed suppression; write "migsafe: ignore[RULE] reason"')]


def test_bad_suppression_only_silenced_by_ignore_file():
    s = parse("-- migsafe: ignore[bad-suppression, drop-table] noisy\nDROP TABLE t; -- migsafe: ignore[drop-table]\n")
    assert not s.is_suppressed("bad-suppression", 2)
    assert s.is_suppressed("drop-table", 2)  # the valid part of the first comment still counts
    assert "can only be silenced for the whole file" in messages(s)[0]

    s = parse("-- migsafe: ignore-file[bad-suppression] generated file\nDROP TABLE t; -- migsafe: ignore[drop-table]\n")
    assert s.is_suppressed("bad-suppression", 2)
    assert len(s.problems) == 1  # still listed; the engine asks is_suppressed for every finding

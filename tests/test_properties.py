"""Property-based tests (hypothesis), bounded so that this file runs in well under 20 s.

Generated DDL over a random schema, mutated fixture files, random bytes, fuzzed suppression
comments and fuzzed config files: migsafe never crashes, exits 0 or 1 on file inputs (0 never
while anything is not-analyzed), gives byte-identical output on a second run, and replays
consistently. The long run of the same generators is scripts/fuzz.py.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot.errors import TokenError

import fuzzgen as G
from migsafe.sql import split as split_module

# MIGSAFE_PROPERTY_EXAMPLES=500 explores more (and with fresh random examples each run); the
# default keeps the normal suite fast and repeatable.
EXAMPLES = int(os.environ.get("MIGSAFE_PROPERTY_EXAMPLES", "0")) or None
PROPERTY = settings(max_examples=EXAMPLES or 30, deadline=None, derandomize=EXAMPLES is None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class DrawChooser:
    """The generators' chooser, drawing from hypothesis so that failures shrink."""

    def __init__(self, data):
        self.data = data

    def pick(self, seq):
        return self.data.draw(st.sampled_from(list(seq)))

    def int(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))

    def bool(self) -> bool:
        return self.data.draw(st.booleans())


def run(files: dict[str, bytes | str], *args: str) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel, data in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        # --no-cache: each example would leave a cache entry behind, and a hit would hide a rerun.
        return G.run_inprocess(["check", ".", "--format", "json", "--no-exec", "--no-cache", *args], root)


def judged(files: dict[str, bytes | str], *args: str, twice: bool = False) -> dict:
    """The JSON report of a file input, after the checks every file input must pass."""
    code, out, err = run(files, *args)
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 1), err
    assert err == ""
    report = json.loads(out)
    severities = {f["severity"] for f in report["findings"]}
    assert code == (1 if "error" in severities else 0)
    if any(f["rule"] == "not-analyzed" for f in report["findings"]):
        assert code == 1
    if twice:
        assert run(files, *args) == (code, out, err), "a second run gave different output"
    return report


def essence(report: dict, drop: frozenset[str] = frozenset()) -> list[tuple]:
    """Findings without where they are (path, line, migration; edits keep only their text)."""
    return [(f["rule"], f["severity"], f["message"], f["statement"], f.get("table"), f.get("column"),
             f.get("lock"), json.dumps({**f["fix"], "edits": [e["replacement"] for e in f["fix"]["edits"]]},
                                       sort_keys=True))
            for f in report["findings"] if f["rule"] not in drop]


@PROPERTY
@given(st.data())
def test_generated_ddl_is_judged_deterministically(data):
    c = DrawChooser(data)
    s = G.SchemaModel()
    newline = c.pick(["\n", "\r\n"])
    files = {f"db/V{n}__gen.sql": G.render(c, G.statements(c, s, c.int(1, 10)), newline=newline)
             for n in range(1, c.int(1, 3) + 1)}
    dialect = c.pick(["postgresql", "postgresql", "mysql", "sqlite"])
    judged(files, "--dialect", dialect, twice=True)
    code, out, err = run(files, "--dialect", dialect, "--format", "text")  # the flag given last wins
    assert code in (0, 1) and "Traceback" not in err and not out.startswith("{")


@PROPERTY
@given(st.data())
def test_one_file_or_several_give_the_same_findings(data):
    """Replay is consistent: cutting the same statements into several migrations changes where
    findings are, not what they are. (No CREATE TABLE or BEGIN/COMMIT in the cut statements, and
    missing-lock-timeout is per migration, so those are left out.)"""
    c = DrawChooser(data)
    s = G.SchemaModel()
    base = G.render(c, [G.create_table(c, s) for _ in range(c.int(1, 3))])
    body = G.statements(c, s, c.int(1, 14), create=False, tx=False)
    cuts = sorted({c.int(1, len(body)) for _ in range(c.int(1, 3))} | {0, len(body)})
    parts = [body[a:b] for a, b in zip(cuts, cuts[1:]) if body[a:b]]
    plain = lambda stmts: "".join(f"{sql};\n" for sql in stmts)  # noqa: E731 - same text in both
    one = {"db/V0__base.sql": base, "db/V1__all.sql": plain(body)}
    several = {"db/V0__base.sql": base, **{f"db/V{n}__part.sql": plain(part) for n, part in enumerate(parts, 1)}}
    drop = frozenset({"missing-lock-timeout"})
    assert essence(judged(one), drop) == essence(judged(several), drop)


@PROPERTY
@given(st.data())
def test_statements_on_a_table_created_in_the_same_file_are_not_flagged_for_locks(data):
    c = DrawChooser(data)
    s = G.SchemaModel()
    create = G.create_table(c, s)
    [table] = s.tables
    body = G.statements(c, s, c.int(1, 12), create=False, drop_tables=False, tables=[table])
    report = judged({"db/V1__new.sql": G.render(c, [create, *body])})
    flagged = [(f["rule"], f["statement"]) for f in report["findings"] if f["rule"] in G.LOCK_AND_REWRITE_RULES]
    assert flagged == []


FIXTURE_SQL = G.fixture_files(".sql")


@PROPERTY
@given(st.data())
def test_mutated_fixtures_never_pass_unparsed(data):
    c = DrawChooser(data)
    source = c.pick(FIXTURE_SQL)
    mutated = G.mutate(c, source.read_bytes())
    report = judged({f"db/{source.name}": mutated}, twice=c.bool())
    rules = {f["rule"] for f in report["findings"]}
    try:
        text = mutated.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        assert "not-analyzed" in rules
        return
    if "\\" in text or re.search(r"migrate:|goose", text, re.I):
        return  # psql meta-commands and dbmate/goose sections: the text given to the tokenizer differs
    try:
        sqlglot.tokenize(text, read="postgres")
    except TokenError:  # e.g. an unterminated string: it did not parse, so it must not pass
        assert "not-analyzed" in rules


@PROPERTY
@given(st.binary(max_size=2048))
def test_random_bytes(data):
    report = judged({"db/V1__random.sql": data})
    try:
        data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        assert [f["rule"] for f in report["findings"]] == ["not-analyzed"]


@PROPERTY
@given(st.text(max_size=300))
def test_random_text(text):
    judged({"db/V1__random.sql": text})


REASONLESS = re.compile(r"^(--|/\*|#)\s*migsafe\s*:\s*ignore\[[^\]]*\]\s*(\*/)?\s*$", re.I)


@PROPERTY
@given(st.data())
def test_fuzzed_suppression_comments(data):
    c = DrawChooser(data)
    s = G.SchemaModel()
    lines = G.render(c, [G.create_table(c, s), *G.statements(c, s, c.int(1, 8))]).split("\n")
    inserted = []
    for _ in range(c.int(1, 4)):
        at = c.int(0, len(lines))
        lines.insert(at, G.suppression(c))
        inserted = [k + (k >= at) for k in inserted] + [at]
    report = judged({"db/V1__s.sql": "\n".join(lines)}, twice=True)
    if not any("ignore-file" in lines[k].lower() for k in inserted):
        bad = {f["line"] for f in report["findings"] if f["rule"] == "bad-suppression"}
        for k in inserted:
            if REASONLESS.match(lines[k]):  # a suppression without a reason is itself reported
                assert k + 1 in bad, lines[k]


@PROPERTY
@given(st.data())
def test_fuzzed_config(data):
    c = DrawChooser(data)
    files = {"migsafe.toml": G.config_text(c), "db/V1__a.sql": "CREATE TABLE users (id int, email text);\n",
             "db/V2__b.sql": "ALTER TABLE users DROP COLUMN email;\n"}
    code, out, err = run(files)
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 1, 2)
    if code == 2:
        assert out == "" and err.count("\n") == 1 and err.startswith("migsafe: error: "), err
        assert "migsafe.toml" in err or "start-after" in err  # names the file (or the migration it lacks)
    else:
        json.loads(out)


# --- the splitter's psql meta-command scan against the simple (quadratic) reference ----------


def reference_meta_lines(body: str, tokenizer) -> list[tuple[int, int]]:
    metas, segment = [], 0
    for m in split_module._META_LINE.finditer(body):
        try:
            tokenizer.tokenize(body[segment: m.start()])
        except TokenError:
            continue
        metas.append(m.span())
        segment = m.end()
    return metas


PIECES = ["SELECT 1;", "'", "''", "$$", "$a$", "/*", "*/", "--", "\n", "\\x\n", "\\echo it's\n", "\n\\set a 1\n",
          "E'\\'", " ", "x", ";", '"', "\r", "\\"]


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30))
def test_meta_line_scan_matches_reference(pieces):
    body = "".join(pieces)
    tokenizer = split_module._tokenizer_class("postgresql")(dialect="postgres")
    assert split_module._meta_lines(body, tokenizer) == reference_meta_lines(body, tokenizer)


@pytest.mark.parametrize("body", ["SELECT 'a\n" + "\\x\n" * 50 + "';\n\\set x\nSELECT 2;",
                                  "/*\n\\x */ SELECT 1;\n\\x\nSELECT 2", "SELECT $$\n\\a\n$$; \\b\n\\c\n"])
def test_meta_line_scan_examples(body):
    tokenizer = split_module._tokenizer_class("postgresql")(dialect="postgres")
    assert split_module._meta_lines(body, tokenizer) == reference_meta_lines(body, tokenizer)

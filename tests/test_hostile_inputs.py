"""Hostile files, through the command line: each gets its documented outcome (a finding, or exit 2
with one line on stderr), in bounded time, never a traceback.

| input | outcome |
| --- | --- |
| empty .sql file | judged, nothing to report (exit 0), like an empty Alembic revision |
| binary garbage, not UTF-8 | not-analyzed at the line of the first bad byte |
| valid UTF-8 that is not SQL (NUL, control chars) | not-analyzed for the statement that does not parse |
| UTF-8 BOM | skipped: columns count from after it, suppressions work |
| CRLF or lone-CR line endings | lines and columns as an editor shows them; suppressions work |
| file above sql.load.MAX_FILE_BYTES (10 MB)     | not-analyzed "file is N MB, larger than ..." (not read) |
| statement above translate.MAX_STATEMENT_CHARS (1,000,000) | not-analyzed for that statement |
| deep nesting (5,000 parentheses) | not-analyzed "nested too deeply" |
| symlink loop below a PATH | folders walked once; a looping link named *.sql is not-analyzed |
| unreadable .sql file | not-analyzed "file could not be read (Permission denied)" |
| unreadable folder given as PATH | exit 2 "path cannot be read" |
| names with spaces and unicode | printed as they are (text and JSON) |
| a folder named x.sql | a folder: walked |
| dangling symlink named x.sql | below a PATH: not-analyzed; given as PATH: exit 2 |
| FIFO (or socket, device) named x.sql | not-analyzed "not a regular file (a FIFO)", never opened for a blocking read |
| 200,000 unclosed `-- migsafe: ignore[` on one line | one bad-suppression, in linear time |
| Alembic revision nested too deeply for Python's parser | not-analyzed "nested too deeply" (also in discovery) |
| Alembic revision above core.pyfile.MAX_PYTHON_BYTES (2 MB)     | not-analyzed; ids read from its first 64 KB |
| config (or alembic's pyproject.toml) nested too deeply | exit 2 "invalid TOML: nested too deeply" (pyproject: ignored) |
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from migsafe.sources import files as source_files
from migsafe.sources.core import pyfile
from migsafe.sources.sql import load as sql_source
from migsafe.sql import translate

DROP = "ALTER TABLE users DROP COLUMN email"
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def check(run_cli, cwd: Path, *args: str) -> tuple[int, dict | None, str]:
    """Run `migsafe check ARGS --format json` in cwd: (exit code, report or None, stderr).
    Whatever happens, never a traceback, and exit 2 says so in one line."""
    code, out, err = run_cli(["check", *args, "--format", "json"], cwd=cwd)
    assert "Traceback" not in err and "internal error" not in err, err
    if code == 2:
        assert out == "" and err.count("\n") == 1 and err.startswith("migsafe: error: "), err
        return code, None, err
    assert code in (0, 1), (code, err)
    report = json.loads(out)
    if any(f["rule"] == "not-analyzed" for f in report["findings"]):
        assert code == 1  # never a pass for what could not be read
    return code, report, err


def check_subprocess(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`migsafe check ARGS` in a fresh interpreter with a time limit: for inputs that could hang."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    return subprocess.run([sys.executable, "-m", "migsafe", "check", *args, "--config", os.devnull], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)


def rules_at(report: dict) -> list[tuple[str, str, int]]:
    return [(f["rule"], f["path"], f["line"]) for f in report["findings"]]


def not_analyzed(report: dict) -> list[dict]:
    return [f for f in report["findings"] if f["rule"] == "not-analyzed"]


# --- contents ------------------------------------------------------------------------------


def test_empty_file_is_judged_with_nothing_to_report(run_cli, tmp_path):
    write(tmp_path / "db/V1__empty.sql", b"")
    write(tmp_path / "db/V2__blank.sql", "\n\n  -- only a comment\n/* and another */\n")
    code, report, err = check(run_cli, tmp_path, "db")
    assert (code, err, report["findings"]) == (0, "", [])
    assert report["summary"]["files"] == 2 and report["summary"]["statements"] == 0


def test_binary_garbage_is_not_analyzed(run_cli, tmp_path):
    write(tmp_path / "db/V1__bin.sql", bytes(range(256)) * 8)
    code, report, _ = check(run_cli, tmp_path, "db")
    assert code == 1
    [f] = not_analyzed(report)
    assert "not valid UTF-8 (byte 0x80 at offset 128)" in f["message"]
    assert f["line"] == 3  # bytes 10 (\n) and 13 (\r) came before it


def test_valid_utf8_that_is_not_sql_is_not_analyzed(run_cli, tmp_path):
    write(tmp_path / "db/V1__ctl.sql", "SELECT 1;\n\x00\x01\x02 garbage\x07;\n")
    code, report, _ = check(run_cli, tmp_path, "db")
    assert code == 1
    assert [(f["rule"], f["line"]) for f in report["findings"]] == [("not-analyzed", 2)]


def test_non_utf8_points_at_the_bad_line(run_cli, tmp_path):
    write(tmp_path / "db/V1__latin1.sql", "SELECT 1;\n\n-- caf\u00e9\n".encode("latin-1"))
    code, report, _ = check(run_cli, tmp_path, "db")
    [f] = not_analyzed(report)
    assert code == 1 and f["line"] == 3 and "byte 0xe9" in f["message"]


def test_bom_is_skipped_for_columns_and_suppressions(run_cli, tmp_path):
    write(tmp_path / "db/V1__bom.sql", b"\xef\xbb\xbf" + f"SET lock_timeout = '5s'; {DROP};\n".encode())
    write(tmp_path / "db2/V1__bom.sql", b"\xef\xbb\xbf" + f"-- migsafe: ignore[drop-column] unused\n{DROP};\n".encode())
    code, report, _ = check(run_cli, tmp_path, "db")
    [f] = report["findings"]
    assert (code, f["rule"], f["line"], f["column"], f["end_column"]) == (1, "drop-column", 1, 26, 61)
    code, report, _ = check(run_cli, tmp_path, "db2")
    assert [f["rule"] for f in report["findings"]] == ["missing-lock-timeout"]


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "lone-cr"])
def test_crlf_and_cr_line_endings_keep_spans_and_suppressions(run_cli, tmp_path, newline):
    lines = ["SET lock_timeout = '5s';", "", "ALTER TABLE users", "  DROP COLUMN email;",
             "-- migsafe: ignore[drop-column] unused since release 41", "ALTER TABLE users DROP COLUMN name;",
             "  CREATE INDEX i ON users (id);"]
    write(tmp_path / "db/V1__crlf.sql", newline.join(lines) + newline)
    code, report, _ = check(run_cli, tmp_path, "db")
    spans = [(f["rule"], f["line"], f["column"], f["end_line"], f["end_column"]) for f in report["findings"]]
    assert code == 1
    assert spans == [("drop-column", 3, 1, 4, 20), ("non-concurrent-index", 7, 3, 7, 31)]
    # The text report quotes the right source line.
    code, out, _ = run_cli(["check", "db"], cwd=tmp_path)
    assert "   7 |   CREATE INDEX i ON users (id);" in out


# --- size ----------------------------------------------------------------------------------


def test_file_over_the_size_limit_is_not_analyzed_without_reading_it(run_cli, tmp_path):
    big = tmp_path / "db/V1__dump.sql"
    big.parent.mkdir()
    with open(big, "wb") as fh:  # sparse: 11 MB on paper, nothing on disk
        fh.truncate(sql_source.MAX_FILE_BYTES + 1024 * 1024)
    started = time.monotonic()
    code, report, _ = check(run_cli, tmp_path, "db")
    assert time.monotonic() - started < 10
    [f] = not_analyzed(report)
    assert code == 1 and "file is 11 MB, larger than the 10 MB migsafe reads" in f["message"]


def test_size_limit_is_a_module_constant(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(sql_source, "MAX_FILE_BYTES", 1000)
    write(tmp_path / "db/V1__small.sql", "SELECT 1;\n" * 50)
    write(tmp_path / "db/V2__big.sql", "SELECT 1;\n" * 101)
    code, report, _ = check(run_cli, tmp_path, "db")
    assert code == 1 and [f["migration"] for f in not_analyzed(report)] == ["V2__big.sql"]


def test_statement_over_the_parse_limit_is_not_analyzed(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(translate, "MAX_STATEMENT_CHARS", 500)
    rows = ", ".join(f"({i}, 'x')" for i in range(100))
    write(tmp_path / "db/V1__seed.sql", f"INSERT INTO t (a, b) VALUES (1, 'x');\nINSERT INTO t (a, b) VALUES {rows};\n")
    code, report, _ = check(run_cli, tmp_path, "db")
    [f] = not_analyzed(report)
    assert code == 1 and f["line"] == 2 and "more than the 500 migsafe reads" in f["message"]


@pytest.mark.slow  # (20 s of translating)
def test_five_megabytes_of_fifty_thousand_statements(run_cli, tmp_path):
    """A large real file completes in bounded time (about 7 s on a 2-core machine)."""
    kinds = ["ALTER TABLE t{t} ADD COLUMN c{i} integer", "CREATE INDEX CONCURRENTLY i{i} ON t{t} (a)",
             "UPDATE t{t} SET a = {i} WHERE id = {i}", "INSERT INTO t{t} (a, b) VALUES ({i}, 'x{i}')",
             "COMMENT ON TABLE t{t} IS 'note {i}'", "SET lock_timeout = '5s'", "ALTER TABLE t{t} DROP COLUMN c{j}"]
    write(tmp_path / "db/V0__tables.sql", "".join(f"CREATE TABLE t{t} (id int PRIMARY KEY, a int, b text);\n"
                                                  for t in range(7)))
    lines = [kinds[i % 7].format(t=i % 7, i=i, j=i - 6) + ";  -- " + "x" * 60 for i in range(50_000)]
    text = "\n".join(lines) + "\n"
    write(tmp_path / "db/V1__big.sql", text)
    assert len(text) > 5_000_000
    started = time.monotonic()
    code, report, _ = check(run_cli, tmp_path, "db")
    elapsed = time.monotonic() - started
    assert code == 1 and report["summary"]["statements"] == 50_007
    assert elapsed < 120, f"{elapsed:.1f}s"
    by_rule = report["summary"]["by_rule"]
    assert by_rule == {"drop-column": 50_000 // 7, "missing-lock-timeout": 1}
    last = report["findings"][-1]  # spans still point at the statement, deep in the file
    assert (last["line"], last["statement"]) == (49_994, "ALTER TABLE t6 DROP COLUMN c49987")


def test_backslash_lines_inside_a_long_string_are_linear(run_cli, tmp_path):
    """psql meta-command detection used to re-tokenize the file once per backslash line."""
    text = "SELECT 'start\n" + "\\x line\n" * 20_000 + "';\n\\set ON_ERROR_STOP on\nDROP TABLE users;\n"
    write(tmp_path / "db/V1__meta.sql", text)
    started = time.monotonic()
    code, report, _ = check(run_cli, tmp_path, "db")
    assert time.monotonic() - started < 20
    assert [(f["rule"], f["line"]) for f in report["findings"]] == [("drop-table", 20_004),
                                                                      ("missing-lock-timeout", 20_004)]


def test_down_file_full_of_unclosed_comments_is_linear(run_cli, tmp_path):
    write(tmp_path / "m/0001_a/up.sql", "CREATE TABLE a (id int);\n")
    write(tmp_path / "m/0001_a/down.sql", "/* x\n" * 100_000)  # took minutes with a /\*.*?\*/ regex
    started = time.monotonic()
    check(run_cli, tmp_path, "m")
    assert time.monotonic() - started < 20



def test_unclosed_suppressions_on_one_long_line_are_linear(tmp_path):
    """200,000 unclosed `-- migsafe: ignore[` on one 3.8 MB line: a quadratic scan needs about an
    hour here (0.5 s for 2,000 of them, 1.9 s for 4,000); linear, well under a second. In a
    subprocess with a time limit, so a regression fails instead of hanging the run."""
    write(tmp_path / "db/V1__c.sql", "-- migsafe: ignore[" * 200_000 + f"\n{DROP};\n")
    proc = check_subprocess(tmp_path, "db", "--format", "json", timeout=300)
    assert (proc.returncode, proc.stderr) == (1, "")
    assert rules_at(json.loads(proc.stdout)) == [("bad-suppression", "db/V1__c.sql", 1),
                                                 ("drop-column", "db/V1__c.sql", 2),
                                                 ("missing-lock-timeout", "db/V1__c.sql", 2)]

# --- nesting -------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_deep_nesting_is_not_analyzed(run_cli, tmp_path, depth):
    write(tmp_path / "db/V1__deep.sql", "SELECT " + "(" * depth + "1" + ")" * depth + ";\nSELECT 2;\n")
    code, report, _ = check(run_cli, tmp_path, "db")
    [f] = not_analyzed(report)
    assert code == 1 and f["line"] == 1 and "nested too deeply" in f["message"]


@pytest.mark.parametrize("prefix", ["NOT ", "- ", "ARRAY[", "CASE WHEN true THEN "])
def test_other_deep_nesting_is_not_analyzed(run_cli, tmp_path, prefix):
    close = {"ARRAY[": "]", "CASE WHEN true THEN ": " END"}.get(prefix, "")
    write(tmp_path / "db/V1__deep.sql", "SELECT " + prefix * 20_000 + "1" + close * 20_000 + ";\n")
    code, report, _ = check(run_cli, tmp_path, "db")
    assert code == 1 and len(not_analyzed(report)) == 1


# --- the file system -----------------------------------------------------------------------


def test_symlink_loops_are_walked_once(run_cli, tmp_path):
    write(tmp_path / "db/V1__drop.sql", f"{DROP};\n")
    (tmp_path / "db/again").symlink_to(tmp_path / "db")  # a folder loop
    (tmp_path / "db/sub").mkdir()
    (tmp_path / "db/sub/up").symlink_to(tmp_path)
    (tmp_path / "db/V2__self.sql").symlink_to(tmp_path / "db/V2__self.sql")  # a link to itself
    started = time.monotonic()
    code, report, _ = check(run_cli, tmp_path, "db")
    assert time.monotonic() - started < 20
    assert rules_at(report) == [("drop-column", "db/V1__drop.sql", 1), ("missing-lock-timeout", "db/V1__drop.sql", 1),
                                ("not-analyzed", "db/V2__self.sql", 1)]
    assert "symbolic link loop" in not_analyzed(report)[0]["message"]
    # Given as PATH itself: one line, exit 2.
    code, _, err = check(run_cli, tmp_path, "db/V2__self.sql")
    assert code == 2 and "symbolic link" in err


def test_dangling_symlink(run_cli, tmp_path):
    (tmp_path / "db").mkdir()
    (tmp_path / "db/V1__gone.sql").symlink_to(tmp_path / "nowhere.sql")
    code, report, _ = check(run_cli, tmp_path, "db")
    [f] = not_analyzed(report)
    assert code == 1 and f["path"] == "db/V1__gone.sql" and "No such file" in f["message"]
    code, _, err = check(run_cli, tmp_path, "db/V1__gone.sql")
    assert code == 2 and err == "migsafe: error: path is a symbolic link to nothing (dangling, or a loop): db/V1__gone.sql\n"


def test_unreadable_file_simulated(run_cli, tmp_path, monkeypatch):
    """EACCES from open(), as for a chmod 000 file when not root (root reads anything)."""
    write(tmp_path / "db/V1__ok.sql", "SELECT 1;\n")
    secret = write(tmp_path / "db/V2__secret.sql", f"{DROP};\n")
    real_open = os.open

    def deny(path, *args, **kwargs):
        if Path(path) == secret:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(source_files.os, "open", deny)
    code, report, _ = check(run_cli, tmp_path, "db")
    [f] = not_analyzed(report)
    assert code == 1 and f["path"] == "db/V2__secret.sql"
    assert f["message"] == "Could not analyse this migration: file could not be read (Permission denied)"


@pytest.mark.skipif(AS_ROOT, reason="root reads a chmod 000 file; test_unreadable_file_simulated covers it")
def test_unreadable_file_and_folder(run_cli, tmp_path):
    secret = write(tmp_path / "db/V1__secret.sql", f"{DROP};\n")
    secret.chmod(0)
    closed = tmp_path / "closed"
    write(closed / "V1__x.sql", "SELECT 1;\n")
    closed.chmod(0)
    try:
        code, report, _ = check(run_cli, tmp_path, "db")
        assert code == 1 and "Permission denied" in not_analyzed(report)[0]["message"]
        code, _, err = check(run_cli, tmp_path, "closed")
        assert code == 2 and err == "migsafe: error: path cannot be read (permission denied): closed\n"
    finally:
        secret.chmod(0o644)
        closed.chmod(0o755)


@pytest.mark.parametrize("name", ["V1__drop é 日本.sql", "with space/V1__a b.sql", "ünï cødé/V1__x.sql"])
def test_names_with_spaces_and_unicode(run_cli, tmp_path, name):
    write(tmp_path / "db" / name, f"SET lock_timeout = '5s';\n{DROP};\n")
    code, report, _ = check(run_cli, tmp_path, "db")
    assert code == 1 and [f["path"] for f in report["findings"]] == [f"db/{name}"]
    assert report["findings"][0]["migration"] == Path(name).name
    code, out, err = run_cli(["check", "db"], cwd=tmp_path)
    assert (code, err) == (1, "") and out.startswith(f"db/{name}:2:1: error[drop-column] ")
    code, out, _ = run_cli(["check", f"db/{name}", "--format", "json"], cwd=tmp_path)  # named as PATH
    assert code == 1 and json.loads(out)["findings"][0]["path"] == f"db/{name}"


def test_folder_named_like_a_sql_file_is_a_folder(run_cli, tmp_path):
    (tmp_path / "db/x.sql").mkdir(parents=True)
    code, _, err = check(run_cli, tmp_path, "db")
    assert code == 2 and err.startswith("migsafe: error: no migrations found under db")
    write(tmp_path / "db/x.sql/V1__drop.sql", f"SET lock_timeout = '5s';\n{DROP};\n")
    for path in ("db", "db/x.sql"):
        code, report, _ = check(run_cli, tmp_path, path)
        assert code == 1 and rules_at(report) == [("drop-column", "db/x.sql/V1__drop.sql", 2)]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_named_sql_is_not_read(tmp_path):
    """In a subprocess with a time limit: a blocking open of a FIFO would hang the test run."""
    (tmp_path / "db").mkdir()
    os.mkfifo(tmp_path / "db/V1__pipe.sql")
    os.mkfifo(tmp_path / "db/V1__pipe.sql.conf")  # Flyway's per-script config, read beside it
    write(tmp_path / "m/0001_a/up.sql", "SELECT 1;\n")
    os.mkfifo(tmp_path / "m/0001_a/down.sql")
    os.mkfifo(tmp_path / "alembic.ini")
    for args in (["db", "m", "."], ["db/V1__pipe.sql"]):
        proc = check_subprocess(tmp_path, *args, "--format", "json")
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        [f] = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == "not-analyzed"]
        assert (f["path"], f["message"]) == ("db/V1__pipe.sql",
                                             "Could not analyse this migration: not a regular file (a FIFO)")
    # The text report quotes source lines for its findings: never from the FIFO.
    proc = check_subprocess(tmp_path, "db")
    assert proc.returncode == 1 and proc.stdout.startswith(
        "db/V1__pipe.sql:1:1: error[not-analyzed] Could not analyse this migration: not a regular file (a FIFO)\n")


# --- Alembic revision files (read statically: --no-exec) ---------------------------------

REVISION = '''revision = "aaa1"
down_revision = None
from alembic import op


def upgrade():
    op.drop_column("users", "email")


def downgrade():
    op.add_column("users", None)
'''


def alembic(run_cli, tmp_path: Path, data: bytes, *extra: str):
    write(tmp_path / "proj/versions/aaa1_rev.py", data)
    return check(run_cli, tmp_path, "proj/versions", "--no-exec", *extra)


@pytest.mark.parametrize("data", [b"", bytes(range(256)) * 4], ids=["empty", "garbage"])
def test_alembic_file_that_is_no_revision_is_not_a_migration(run_cli, tmp_path, data):
    code, report, err = alembic(run_cli, tmp_path, data)
    assert code == 2 and err.startswith("migsafe: error: no migrations found under proj/versions")


def test_alembic_revision_not_utf8(run_cli, tmp_path):
    code, report, _ = alembic(run_cli, tmp_path, b"# caf\xe9\n" + REVISION.encode())
    assert code == 1 and [f["rule"] for f in report["findings"]] == ["not-analyzed"]


@pytest.mark.parametrize("form", ["bom", "crlf"])
def test_alembic_revision_bom_and_crlf(run_cli, tmp_path, form):
    data = REVISION.encode()
    data = b"\xef\xbb\xbf" + data if form == "bom" else data.replace(b"\n", b"\r\n")
    code, report, _ = alembic(run_cli, tmp_path, data)
    assert code == 1
    assert [(f["rule"], f["line"]) for f in report["findings"]][:1] == [("drop-column", 7)]


@pytest.mark.parametrize("where", ["proj/versions", "."], ids=["named", "discovered"])
@pytest.mark.parametrize("expr", ["+".join(["1"] * 100_000), "-" * 100_000 + "1", "a " * 5_000],
                         ids=["long-sum", "deep-unary", "many-names"])
def test_alembic_revision_deep_nesting_is_not_analyzed(run_cli, tmp_path, expr, where):
    """Too deep for Python's parser (RecursionError), or an invalid line of 5,000 names (its error
    recovery raises MemoryError: found by scripts/fuzz.py), in a function and as the revision id."""
    data = REVISION.replace("    op.drop_column", f"    x = {expr}\n    op.drop_column")
    write(tmp_path / "proj/versions/aaa1_rev.py", data)
    write(tmp_path / "proj/versions/bbb2_rev.py", f'revision = {expr}\ndown_revision = "aaa1"\n')
    code, report, _ = check(run_cli, tmp_path, where, "--no-exec")
    assert code == 1 and [(f["rule"], f["path"]) for f in report["findings"]] == [
        ("not-analyzed", "proj/versions/aaa1_rev.py"), ("not-analyzed", "proj/versions/bbb2_rev.py")]
    assert all("nested too deeply" in f["message"] for f in report["findings"])


def test_alembic_downgrade_raising_a_deep_attribute_chain(run_cli, tmp_path):
    """`raise a.a.a...` parses 500 deep; naming it for irreversible-migration must not recurse."""
    chain = ".".join(["a"] * 500)
    data = REVISION.replace('    op.add_column("users", None)', f"    raise {chain}")
    code, report, _ = alembic(run_cli, tmp_path, data.encode())
    assert code == 1 and ("irreversible-migration", "proj/versions/aaa1_rev.py", 10) in rules_at(report)


def test_alembic_revision_over_the_size_limit(run_cli, tmp_path, monkeypatch):
    """Not read (parsing takes ~180 bytes of memory per byte); its ids, at the top, keep the graph."""
    monkeypatch.setattr(pyfile, "MAX_PYTHON_BYTES", 2000)
    write(tmp_path / "proj/versions/aaa1_rev.py", REVISION + "# padding\n" * 300)
    write(tmp_path / "proj/versions/bbb2_rev.py", REVISION.replace('"aaa1"', '"bbb2"').replace("None", '"aaa1"', 1))
    code, report, _ = check(run_cli, tmp_path, "proj/versions", "--no-exec")
    assert code == 1
    assert rules_at(report)[:2] == [("not-analyzed", "proj/versions/aaa1_rev.py", 1),
                                    ("drop-column", "proj/versions/bbb2_rev.py", 7)]
    assert "file is larger than" not in report["findings"][0]["message"]
    assert "larger than the 0 MB migsafe reads" in report["findings"][0]["message"]


@pytest.mark.parametrize("text", ["exclude = " + "[" * 5000 + "]" * 5000, "x = " + "{a = " * 5000 + "}" * 5000],
                         ids=["arrays", "inline-tables"])
def test_deeply_nested_config_is_one_error_line(run_cli, tmp_path, text):
    write(tmp_path / "migsafe.toml", text + "\n")
    write(tmp_path / "db/V1__a.sql", "SELECT 1;\n")
    code, _, err = check(run_cli, tmp_path, "db")
    assert (code, err) == (2, "migsafe: error: migsafe.toml: invalid TOML: nested too deeply\n")


def test_deeply_nested_pyproject_beside_alembic_ini(run_cli, tmp_path):
    """alembic >= 1.16 may keep its paths in pyproject.toml; one that cannot be read is ignored."""
    write(tmp_path / "proj/pyproject.toml", "x = " + "[" * 5000 + "]" * 5000 + "\n")
    write(tmp_path / "proj/alembic.ini", "[alembic]\nscript_location = migrations\n")
    write(tmp_path / "proj/migrations/env.py", "")
    write(tmp_path / "proj/migrations/versions/aaa1_rev.py", REVISION)
    code, report, _ = check(run_cli, tmp_path, "proj", "--no-exec", "--config", os.devnull)
    assert code == 1 and rules_at(report)[0] == ("drop-column", "proj/migrations/versions/aaa1_rev.py", 7)

import random
import sys
from pathlib import Path

import pytest

from migsafe.model import Span, Statement
from migsafe.sources.files import relative_path
from migsafe.sources.sql.load import is_forward_sql, load_sql_migrations, migration_name, order_sql_files

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="OS error texts and symlinks differ")


def write(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8"))
    return path


def load_one(path, cwd, per_file_transaction=False, dialect="postgresql"):
    (mig,) = load_sql_migrations([path], cwd, dialect, per_file_transaction)
    return mig


def test_loads_statements_with_spans(tmp_path):
    f = write(tmp_path / "db" / "0001_init.sql", "-- init\nCREATE TABLE t (id int);\r\nALTER TABLE t\r\n  ADD c int;\n")
    mig = load_one(f, tmp_path)
    assert (mig.source, mig.name, mig.path) == ("sql", "0001_init.sql", "db/0001_init.sql")
    assert mig.text == "-- init\nCREATE TABLE t (id int);\r\nALTER TABLE t\r\n  ADD c int;\n"
    assert mig.statements == [
        Statement("CREATE TABLE t (id int)", Span(2, 1, 2, 24), None),
        Statement("ALTER TABLE t\r\n  ADD c int", Span(3, 1, 4, 12), None),
    ]
    assert (mig.error, mig.starts_in_transaction, mig.report) == (None, False, True)


def test_per_file_transaction_sets_start_state(tmp_path):
    f = write(tmp_path / "V1__x.sql", "SELECT 1;")
    assert load_one(f, tmp_path, per_file_transaction=True).starts_in_transaction is True


def test_relative_cwd_and_file_order_is_kept(tmp_path, monkeypatch):
    a = write(tmp_path / "b.sql", "SELECT 1;")
    b = write(tmp_path / "a.sql", "SELECT 2;")
    migs = load_sql_migrations([a, b], tmp_path, "postgresql", False)
    assert [m.path for m in migs] == ["b.sql", "a.sql"]
    monkeypatch.chdir(tmp_path)
    assert load_one(Path("a.sql"), Path(".")).path == "a.sql"


def test_up_sql_is_named_by_its_directory(tmp_path):
    f = write(tmp_path / "migrations" / "0002_add_col" / "up.sql", "ALTER TABLE t ADD c int;")
    mig = load_one(f, tmp_path)
    assert (mig.name, mig.path) == ("0002_add_col", "migrations/0002_add_col/up.sql")


def test_path_outside_cwd_is_absolute(tmp_path):
    f = write(tmp_path / "elsewhere" / "x.sql", "SELECT 1;")
    cwd = tmp_path / "project"
    cwd.mkdir()
    assert load_one(f, cwd).path == f.as_posix()


def test_bom_is_stripped(tmp_path):
    f = write(tmp_path / "x.sql", b"\xef\xbb\xbfSELECT 1;")
    mig = load_one(f, tmp_path)
    assert mig.text == "SELECT 1;"
    assert mig.statements == [Statement("SELECT 1", Span(1, 1, 1, 9))]


def test_empty_file_is_a_migration_without_statements(tmp_path):
    mig = load_one(write(tmp_path / "empty.sql", ""), tmp_path)
    assert (mig.statements, mig.error, mig.text) == ([], None, "")


def test_not_utf8(tmp_path):
    f = write(tmp_path / "latin1.sql", b"SELECT 1;\nSELECT 'caf\xe9';\n")
    mig = load_one(f, tmp_path)
    assert mig.error == "file is not valid UTF-8 (byte 0xe9 at offset 21)"
    assert (mig.error_line, mig.statements, mig.name) == (2, [], "latin1.sql")


def test_not_utf8_offset_counts_the_bom(tmp_path):
    f = write(tmp_path / "x.sql", b"\xef\xbb\xbf--\r\n\r\n\xff")
    mig = load_one(f, tmp_path)
    assert (mig.error, mig.error_line) == ("file is not valid UTF-8 (byte 0xff at offset 9)", 3)


@posix_only
def test_unreadable_directory_named_sql(tmp_path):
    d = tmp_path / "weird.sql"
    d.mkdir()
    mig = load_one(d, tmp_path)
    assert mig.error == "file could not be read (Is a directory)"
    assert (mig.error_line, mig.statements, mig.path) == (1, [], "weird.sql")


@posix_only
def test_missing_file(tmp_path):
    mig = load_one(tmp_path / "gone.sql", tmp_path)
    assert mig.error == "file could not be read (No such file or directory)"


def test_split_error_keeps_text_and_line(tmp_path):
    text = "SELECT 1;\n\nINSERT INTO t VALUES ('oops);\n"
    mig = load_one(write(tmp_path / "x.sql", text), tmp_path)
    assert mig.error == "unterminated string literal starting at line 3, column 23"
    assert (mig.error_line, mig.statements, mig.text) == (3, [], text)


def test_dialect_is_used(tmp_path):
    f = write(tmp_path / "x.sql", "# mysql comment\nSELECT `a;b`;")
    assert [s.sql for s in load_one(f, tmp_path, dialect="mysql").statements] == ["SELECT `a;b`"]


def test_migration_name():
    assert migration_name(Path("db/0003_x.up.sql")) == "0003_x.up.sql"
    assert migration_name(Path("db/0003_x/up.sql")) == "0003_x"


def test_relative_path(tmp_path):
    assert relative_path(tmp_path / "a" / "b.sql", tmp_path) == "a/b.sql"
    assert relative_path(Path("a/../c/b.sql"), tmp_path) == "c/b.sql"


@posix_only
def test_relative_path_with_symlinks(tmp_path):
    real = write(tmp_path / "real" / "x.sql", "")
    project = tmp_path / "project"
    project.mkdir()
    (project / "link.sql").symlink_to(real)
    # A symlinked file keeps the name it has below cwd.
    assert relative_path(project / "link.sql", project) == "link.sql"
    # A symlinked cwd (e.g. /tmp on macOS) still gives a relative path.
    (tmp_path / "cwdlink").symlink_to(tmp_path / "real")
    assert relative_path(real, tmp_path / "cwdlink") == "x.sql"


@pytest.mark.parametrize(
    "name, forward",
    [
        ("up.sql", True),
        ("0001_x.up.sql", True),
        ("V3__x.sql", True),
        ("R__views.sql", True),
        ("down.sql", False),
        ("DOWN.sql", False),
        ("0001_x.down.sql", False),
        ("0001_x_down.sql", False),
        ("U3__x.sql", False),
        ("U1_2__x.sql", False),
        ("Users.sql", True),  # not a Flyway undo: no version
    ],
)
def test_is_forward_sql(name, forward):
    assert is_forward_sql(Path("db") / name) is forward


def ordered(names):
    """order_sql_files on shuffled input (it must not depend on input order), as strings."""
    paths = [Path(n) for n in names]
    random.Random(4).shuffle(paths)
    return [p.as_posix() for p in order_sql_files(paths)]


def test_flyway_versions_compare_as_numbers():
    assert ordered(["db/V10__c.sql", "db/V2__b.sql", "db/V1_1__a2.sql", "db/V1.2__a3.sql", "db/V1__a.sql"]) == [
        "db/V1__a.sql",
        "db/V1_1__a2.sql",
        "db/V1.2__a3.sql",
        "db/V2__b.sql",
        "db/V10__c.sql",
    ]


def test_flyway_repeatable_last_and_undo_skipped():
    assert ordered(["db/R__views.sql", "db/V2__b.sql", "db/U2__b.sql", "db/V1__a.sql", "db/R__a_funcs.sql"]) == [
        "db/V1__a.sql",
        "db/V2__b.sql",
        "db/R__a_funcs.sql",
        "db/R__views.sql",
    ]


def test_numeric_prefixes_compare_as_numbers():
    names = ["m/10_j.sql", "m/0002_b.sql", "m/20240101_z.sql", "m/2__a.sql", "m/9-x.sql", "m/0001_a.sql"]
    assert ordered(names) == [
        "m/0001_a.sql",
        "m/0002_b.sql",  # 2 == 2: then by name
        "m/2__a.sql",
        "m/9-x.sql",
        "m/10_j.sql",
        "m/20240101_z.sql",
    ]


def test_versioned_then_numeric_then_rest_by_name_then_repeatable():
    names = ["d/zeta.sql", "d/R__r.sql", "d/0001_n.sql", "d/V5__f.sql", "d/Alpha.sql", "d/alpha.sql"]
    assert ordered(names) == ["d/V5__f.sql", "d/0001_n.sql", "d/Alpha.sql", "d/alpha.sql", "d/zeta.sql", "d/R__r.sql"]


def test_up_sql_directories_order_by_directory_name_and_skip_down():
    names = [
        "migrations/0010_late/up.sql",
        "migrations/0010_late/down.sql",
        "migrations/0002_add_col/up.sql",
        "migrations/0002_add_col/down.sql",
        "migrations/0003_x.up.sql",
        "migrations/0003_x.down.sql",
        "migrations/0001_init_down.sql",
    ]
    assert ordered(names) == [
        "migrations/0002_add_col/up.sql",
        "migrations/0003_x.up.sql",
        "migrations/0010_late/up.sql",
    ]


def test_grouped_by_directory():
    names = ["b/0001_x.sql", "a/sub/0001_x.sql", "a/0002_x.sql", "a-old/0000_x.sql", "a/0001_x.sql"]
    assert ordered(names) == [
        "a/0001_x.sql",
        "a/0002_x.sql",
        "a/sub/0001_x.sql",
        "a-old/0000_x.sql",
        "b/0001_x.sql",
    ]


def test_duplicates_are_dropped():
    assert order_sql_files([Path("a/1_x.sql"), Path("a/1_x.sql")]) == [Path("a/1_x.sql")]

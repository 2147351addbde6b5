"""dbmate/goose files (both directions in one file) and up.sql without a way back."""

from pathlib import Path

from migsafe import engine
from migsafe.config import load_settings
from migsafe.rules import default_severities


def check(folder: Path):
    settings = load_settings(None, {}, set(default_severities()))
    return [(f.rule, f.path, f.span.line) for f in engine.check([folder], settings, folder).findings]


def test_dbmate_checks_only_the_up_section_in_a_transaction(tmp_path):
    (tmp_path / "20240101000000_idx.sql").write_text(
        "-- migrate:up\nCREATE INDEX CONCURRENTLY a ON users (name);\n\n"
        "-- migrate:down\nDROP TABLE users;\n")
    assert check(tmp_path) == [("concurrently-in-transaction", "20240101000000_idx.sql", 2)]


def test_dbmate_transaction_false(tmp_path):
    (tmp_path / "20240101000000_idx.sql").write_text(
        "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY a ON users (name);\n"
        "-- migrate:down\nDROP INDEX a;\n")
    assert check(tmp_path) == []


def test_goose_sections_and_no_transaction(tmp_path):
    (tmp_path / "00001_a.sql").write_text(
        "-- +goose Up\nSET lock_timeout = '1s';\nALTER TABLE users DROP COLUMN a;\n-- +goose Down\nTRUNCATE users;\n")
    (tmp_path / "00002_b.sql").write_text(
        "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY b ON users (name);\n")
    assert check(tmp_path) == [("drop-column", "00001_a.sql", 3)]


def test_up_sql_without_down_is_irreversible(tmp_path):
    for name, down in (("0001_a", None), ("0002_b", ""), ("0003_c", "ALTER TABLE t DROP COLUMN c;")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "up.sql").write_text("CREATE TABLE t_%s (id int);\n" % name[-1])
        if down is not None:
            (tmp_path / name / "down.sql").write_text(down)
    assert check(tmp_path) == [("irreversible-migration", "0001_a/up.sql", 1),
                               ("irreversible-migration", "0002_b/up.sql", 1)]


def test_up_sql_with_nothing_to_reverse_is_not_flagged(tmp_path):
    (tmp_path / "0001_a").mkdir()
    (tmp_path / "0001_a" / "up.sql").write_text("-- nothing yet\nSELECT 1;\n")
    assert check(tmp_path) == []

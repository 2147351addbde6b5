"""fixtures/django_shop end to end: every planted hazard at its operation's line, nothing on the
safe history, and the text/JSON reports against snapshots in tests/snapshots/.

The fixture is a Django project whose migrations are what `makemigrations` writes for its models
(hand-edited only where a team would: AddIndexConcurrently, SeparateDatabaseAndState, RunSQL,
RunPython). migsafe reads it with no database and no settings. These tests also run under
Django 4.2 (`make test`, .venv-django42), so the snapshots must hold for both versions.
Regenerate the snapshots with `MIGSAFE_UPDATE_SNAPSHOTS=1 pytest tests/test_django_fixture.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fuzzgen import run_inprocess

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURE = "fixtures/django_shop"

SAFE = [  # the history done right: findings here may only be warnings
    "catalog/migrations/0001_initial.py",
    "catalog/migrations/0002_product_description.py",  # nullable AddField
    "catalog/migrations/0003_product_name_idx.py",  # AddIndexConcurrently, atomic = False
    "catalog/migrations/0004_remove_product_legacy_code.py",  # SeparateDatabaseAndState, state only
    "orders/migrations/0001_initial.py",
    "orders/migrations/0002_order_open_idx.py",  # RunSQL CONCURRENTLY with reverse_sql, atomic = False
]

# (migration file, start of the operation's line in `operations = [...]`, rule)
EXPECTED = [
    # a nullable column still takes ACCESS EXCLUSIVE for a moment: the warning, not an error
    ("catalog/migrations/0002_product_description.py", "migrations.AddField(", "missing-lock-timeout"),
    ("catalog/migrations/0005_product_stock.py", "migrations.RemoveField(", "drop-column"),
    ("catalog/migrations/0005_product_stock.py", "migrations.RemoveField(", "missing-lock-timeout"),
    # a Python-side default: Django sets the DB default and drops it again in the same migration
    ("catalog/migrations/0005_product_stock.py", "migrations.AddField(", "not-null-without-default"),
    ("catalog/migrations/0006_category_title_product_created_idx.py", "migrations.RenameField(", "rename-column"),
    ("catalog/migrations/0006_category_title_product_created_idx.py", "migrations.RenameField(",
     "missing-lock-timeout"),
    ("catalog/migrations/0006_category_title_product_created_idx.py", "migrations.AddIndex(", "non-concurrent-index"),
    ("orders/migrations/0003_orderitem_quantity_bigint.py", "migrations.AlterField(", "change-column-type"),
    ("orders/migrations/0003_orderitem_quantity_bigint.py", "migrations.AlterField(", "missing-lock-timeout"),
    ("orders/migrations/0003_orderitem_quantity_bigint.py", "migrations.RunPython(", "irreversible-migration"),
    # a ForeignKey added to an existing table: its index, and its constraint, which locks the
    # referenced table against writes until the migration commits (nothing to scan: all NULL)
    ("orders/migrations/0004_order_coupon.py", "migrations.AddField(", "non-concurrent-index"),
    ("orders/migrations/0004_order_coupon.py", "migrations.AddField(", "validating-foreign-key"),
    ("orders/migrations/0004_order_coupon.py", "migrations.AddField(", "missing-lock-timeout"),
    # IF NOT EXISTS on a concurrent build: a failed build's INVALID leftover makes the retry skip it
    ("orders/migrations/0002_order_open_idx.py", "migrations.RunSQL(", "concurrent-index-if-not-exists"),
    # AddIndexConcurrently in a migration left atomic
    ("orders/migrations/0005_order_email_idx.py", "AddIndexConcurrently(", "concurrently-in-transaction"),
]


def op_line(rel: str, start: str) -> int:
    """1-based line of the one line of the migration that starts (after indentation) with `start`."""
    lines = (REPO_ROOT / FIXTURE / rel).read_text(encoding="utf-8").splitlines()
    hits = [n for n, line in enumerate(lines, 1) if line.lstrip().startswith(start)]
    assert len(hits) == 1, f"{rel}: {start!r} starts lines {hits}, not exactly one"
    return hits[0]


def migration_name(rel: str) -> str:
    app, _, file = rel.split("/")
    return f"{app}.{file.removesuffix('.py')}"


@pytest.fixture(scope="module")
def report():
    """The JSON report, run once for the tests that read it (run_cli is per test)."""
    code, out, err = run_inprocess(["check", FIXTURE, "--format", "json"], REPO_ROOT)
    assert (code, err) == (1, ""), err
    return json.loads(out)


def test_every_hazard_at_its_operation_line(report):
    got = sorted((f["path"], f["line"], f["rule"]) for f in report["findings"])
    want = sorted((f"{FIXTURE}/{rel}", op_line(rel, start), rule) for rel, start, rule in EXPECTED)
    assert got == want


def test_findings_name_the_django_migration(report):
    for f in report["findings"]:
        assert f["source"] == "django"
        assert f["migration"] == migration_name(f["path"].removeprefix(f"{FIXTURE}/"))


def test_safe_history_raises_no_error(report):
    safe = {f"{FIXTURE}/{rel}" for rel in SAFE}
    errors = [f for f in report["findings"] if f["path"] in safe and f["severity"] == "error"]
    assert errors == []


def test_every_migration_is_read(report):
    """All 11 migrations of both apps are counted, and none of them is not-analyzed."""
    assert report["summary"]["migrations"] == 11
    assert "not-analyzed" not in report["summary"]["by_rule"]


@pytest.mark.parametrize("fmt, name", [("text", "django_shop.text"), ("json", "django_shop.json")])
def test_report_snapshot(run_cli, snapshot, fmt, name):
    code, out, err = run_cli(["check", FIXTURE, "--format", fmt], cwd=REPO_ROOT)
    assert (code, err) == (1, "")
    snapshot(name, out)

"""The sample projects under fixtures/, end to end, against snapshots in tests/snapshots/.

Run from the repository root so that report paths read `fixtures/demo/...`. After a change to
a rule's message or fix, regenerate with `MIGSAFE_UPDATE_SNAPSHOTS=1 pytest tests/test_fixtures.py`
and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_demo_text_report(run_cli, snapshot):
    code, out, err = run_cli(["check", "fixtures/demo"], cwd=REPO_ROOT)
    assert (code, err) == (1, "")
    snapshot("demo.txt", out)


def test_demo_json_report(run_cli, snapshot):
    code, out, err = run_cli(["check", "fixtures/demo", "--format", "json"], cwd=REPO_ROOT)
    assert (code, err) == (1, "")
    json.loads(out)  # valid JSON before it is compared
    snapshot("demo.json", out)


def test_demo_catches_what_a_reviewer_should(run_cli):
    """Independent of the snapshot's wording: the hazards planted in the demo, and nothing else."""
    code, out, _ = run_cli(["check", "fixtures/demo", "--format", "json"], cwd=REPO_ROOT)
    found = {(f["migration"], f["rule"]) for f in json.loads(out)["findings"]}
    assert found == {
        ("V6__orders_cleanup.sql", "drop-column"),
        ("V6__orders_cleanup.sql", "not-null-without-default"),
        ("V6__orders_cleanup.sql", "non-concurrent-index"),
        ("V7__bigint_quantity_and_rename.sql", "change-column-type"),
        ("V7__bigint_quantity_and_rename.sql", "rename-column"),
        ("V8__search_indexes.sql", "concurrently-in-transaction"),
        # V8's drop-column is suppressed with a reason; V1-V5 are done the safe way.
    }


@pytest.mark.parametrize("name", ["latin1.sql", "unparseable.sql"])
def test_broken_files_are_not_analyzed(run_cli, name):
    code, out, err = run_cli(["check", f"fixtures/broken/{name}", "--format", "json"], cwd=REPO_ROOT)
    assert (code, err) == (1, "")
    rules = {f["rule"] for f in json.loads(out)["findings"]}
    assert "not-analyzed" in rules


def test_readme_demo_excerpt_is_real_output(run_cli):
    """The README shows real output of `make demo`: every line of its excerpt must be printed."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("### What the demo prints", 1)[1]
    excerpt = section.split("```text\n", 1)[1].split("```", 1)[0]
    code, out, _ = run_cli(["check", "fixtures/demo"], cwd=REPO_ROOT)
    printed = set(out.splitlines())
    missing = [line for line in excerpt.splitlines() if line and line != "..." and line not in printed]
    assert code == 1 and not missing, missing


@pytest.mark.parametrize("fmt", ["sarif", "github", "junit", "gitlab", "rdjson"])
def test_demo_report_in_every_ci_format(run_cli, snapshot, fmt):
    """The CI formats over the same demo run; their consumers' checks are in tests/report/."""
    code, out, err = run_cli(["check", "fixtures/demo", "--format", fmt], cwd=REPO_ROOT)
    assert (code, err) == (1, "")
    snapshot(f"demo.{fmt}", out)


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github", "junit", "gitlab", "rdjson"])
def test_alembic_fixture_report_in_every_format(run_cli, snapshot, fmt):
    code, out, err = run_cli(["check", "fixtures/alembic_shop", "--format", fmt], cwd=REPO_ROOT)
    assert (code, err) == (1, "")
    snapshot(f"alembic_shop.{fmt}", out)

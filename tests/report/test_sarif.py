"""--format sarif: valid SARIF 2.1.0 (both vendored official schemas), every rule described from
its page, results with 1-based regions, fixes from edits, fingerprints that survive line shifts."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from sample_findings import SOURCE, drop_email, index_finding, lock_timeout, render, result, validate

from migsafe.docs import all_rule_docs
from migsafe.model import Severity, Span
from migsafe.report import common
from migsafe.rules import default_severities

REPO_ROOT = Path(__file__).resolve().parents[2]
SARIF_SCHEMAS = ["sarif-2.1.0-rtm.5.json", "sarif-2.1.0.json"]


def sarif(res, **kw) -> dict:
    return json.loads(render("sarif", res, **kw))


def run_of(res, **kw) -> dict:
    return sarif(res, **kw)["runs"][0]


@pytest.mark.parametrize("schema", SARIF_SCHEMAS)
def test_valid_against_the_sarif_schema(schema):
    validate(sarif(result(drop_email(), index_finding(), lock_timeout())), schema)
    validate(sarif(result()), schema)


@pytest.mark.parametrize("schema", SARIF_SCHEMAS)
def test_valid_with_urls(schema, monkeypatch):
    monkeypatch.setattr(common, "HOMEPAGE", "https://example.org/migsafe")
    log = sarif(result(drop_email()))
    validate(log, schema)
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["informationUri"] == "https://example.org/migsafe"
    assert all(r["helpUri"] == f"https://example.org/migsafe/blob/main/rules/{r['id']}.md" for r in driver["rules"])


def test_no_guessed_urls_while_the_project_has_no_home():
    assert common.HOMEPAGE is None
    text = render("sarif", result(drop_email()))
    assert "informationUri" not in text and "helpUri" not in text


def test_log_shape():
    log = sarif(result(drop_email()))
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "migsafe"
    assert run["tool"]["driver"]["version"] == "9.9.9"
    assert run["originalUriBaseIds"]["%SRCROOT%"]  # declared, without a machine-specific uri
    assert "uri" not in run["originalUriBaseIds"]["%SRCROOT%"]
    assert run["columnKind"] == "unicodeCodePoints"


def test_every_rule_is_described_from_its_page():
    rules = run_of(result())["tool"]["driver"]["rules"]
    severities = default_severities()
    docs = {d.id: d for d in all_rule_docs()}
    assert [r["id"] for r in rules] == sorted(severities)
    for r in rules:
        doc = docs[r["id"]]
        assert r["shortDescription"]["text"] == doc.summary
        why = doc.body.split("## Why it is unsafe", 1)[1].split("\n## ", 1)[0].strip()
        assert r["fullDescription"]["text"] == why and why
        assert r["help"]["markdown"] == doc.body.strip() == r["help"]["text"]
        assert r["defaultConfiguration"]["level"] == severities[r["id"]].value
        assert "migrations" in r["properties"]["tags"]
        assert r["name"][0].isupper() and "-" not in r["name"]


def test_result_fields():
    run = run_of(result(drop_email()))
    r = run["results"][0]
    assert run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"] == "drop-column"
    assert r["level"] == "error"
    assert r["message"]["text"] == (
        "Dropping column users.email breaks the running app version that still reads it.\n"
        "Fix: Stop using the column first; drop it in a later deploy."
    )
    md = r["message"]["markdown"]
    assert "**Fix:** Stop using the column first" in md
    assert "1. expand: Stop reading users.email" in md
    assert "```sql\nALTER TABLE users DROP COLUMN email;\n```" in md
    loc = r["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "migrations/V3__drop_email.sql", "uriBaseId": "%SRCROOT%"}
    assert loc["region"] == {
        "startLine": 4, "startColumn": 1, "endLine": 4, "endColumn": 36,
        "snippet": {"text": "ALTER TABLE users DROP COLUMN email"},
    }
    assert r["properties"] == {
        "source": "sql", "migration": "V3__drop_email.sql", "statement": "ALTER TABLE users DROP COLUMN email",
        "table": "users", "column": "email", "lock": "ACCESS EXCLUSIVE",
    }
    assert "fixes" not in r  # no machine-applicable edits


def test_level_is_the_findings_configured_severity_not_the_default():
    r = run_of(result(drop_email(severity=Severity.WARNING)))["results"][0]
    assert r["level"] == "warning"


def test_multi_line_region_snippet_and_no_snippet_without_source():
    r = run_of(result(index_finding()))["results"][0]
    region = r["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["endLine"], region["endColumn"]) == (5, 6, 12)
    assert region["snippet"]["text"] == "CREATE INDEX idx ON orders\n  (user_id)"
    r = run_of(result(index_finding()), sources=False)["results"][0]
    assert "snippet" not in r["locations"][0]["physicalLocation"]["region"]


def test_fixes_from_edits():
    r = run_of(result(index_finding()))["results"][0]
    assert r["fixes"] == [
        {
            "description": {"text": "Build the index with CONCURRENTLY."},
            "artifactChanges": [
                {
                    "artifactLocation": {"uri": "migrations/V3__drop_email.sql", "uriBaseId": "%SRCROOT%"},
                    "replacements": [
                        {
                            "deletedRegion": {"startLine": 5, "startColumn": 7, "endLine": 5, "endColumn": 7},
                            "insertedContent": {"text": "CONCURRENTLY "},
                        }
                    ],
                }
            ],
        }
    ]
    for schema in SARIF_SCHEMAS:
        validate(sarif(result(index_finding())), schema)


def test_uri_is_percent_encoded_and_relative():
    f = drop_email(path="migrations dir/V#3 ünï.sql")
    uri = run_of(result(f))["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "migrations%20dir/V%233%20%C3%BCn%C3%AF.sql"


def fingerprint(f) -> str:
    return run_of(result(f))["results"][0]["partialFingerprints"]["migsafe/v1"]


def test_fingerprint_survives_moved_lines_and_reformatting():
    moved = drop_email(span=Span(40, 5, 40, 40))
    reformatted = drop_email(statement="ALTER TABLE users\n    DROP COLUMN email;")
    assert fingerprint(drop_email()) == fingerprint(moved) == fingerprint(reformatted)


def test_fingerprint_changes_with_rule_path_statement():
    base = fingerprint(drop_email())
    assert fingerprint(drop_email(path="migrations/V9__x.sql")) != base
    assert fingerprint(drop_email(statement="ALTER TABLE users DROP COLUMN phone")) != base
    assert fingerprint(drop_email(rule="table-rewrite")) != base


def test_identical_statements_in_one_file_get_distinct_fingerprints():
    first, second = drop_email(), drop_email(span=Span(9, 1, 9, 36))
    results = run_of(result(first, second))["results"]
    ids = [r["partialFingerprints"]["migsafe/v1"] for r in results]
    assert len(set(ids)) == 2
    assert ids[0] == fingerprint(first)  # the first occurrence keeps the id it has alone


def test_deterministic():
    res = result(drop_email(), index_finding(), lock_timeout())
    assert render("sarif", res) == render("sarif", res)
    assert "ünïcode" in render("sarif", res)  # UTF-8, not \u escapes


MULTITOOL = os.environ.get("MIGSAFE_SARIF_MULTITOOL")


@pytest.mark.skipif(not MULTITOOL, reason="MIGSAFE_SARIF_MULTITOOL is not set (see tests/schemas/README.md)")
def test_microsoft_sarif_multitool_accepts_the_demo(tmp_path, run_cli):
    code, out, _ = run_cli(["check", "fixtures/demo", "--format", "sarif"], cwd=REPO_ROOT)
    assert code == 1
    log = tmp_path / "demo.sarif"
    log.write_text(out, encoding="utf-8")
    proc = subprocess.run(
        # The file first: list options (--rule-kind, --level) would swallow it.
        [MULTITOOL, "validate", str(log), "--rule-kind", "Sarif;Gh", "--level", "Error;Warning",
         "-o", str(tmp_path / "validation.sarif")],
        capture_output=True, text=True, env={**os.environ, "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT": "1"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Warnings allowed: SARIF2005 asks for informationUri, which waits for common.HOMEPAGE.
    assert ": error " not in proc.stdout, proc.stdout
    assert "Analysis completed successfully" in proc.stdout

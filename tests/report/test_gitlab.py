"""--format gitlab: GitLab Code Quality issues, checked field by field against GitLab's documented
format (tests/schemas/gitlab-codequality.schema.json) and its rules on fingerprints."""

from __future__ import annotations

import json

from sample_findings import drop_email, index_finding, lock_timeout, render, result, validate

from migsafe.model import Span


def issues(res) -> list[dict]:
    return json.loads(render("gitlab", res))


def test_valid_against_the_documented_format():
    validate(issues(result(drop_email(), index_finding(), lock_timeout())), "gitlab-codequality.schema.json")
    assert issues(result()) == []


def test_issue_fields():
    first, _, warning = issues(result(drop_email(), index_finding(), lock_timeout()))
    assert first["check_name"] == "drop-column"
    # One line in the merge request widget: the message, then the fix.
    assert first["description"] == (
        "Dropping column users.email breaks the running app version that still reads it. "
        "Fix: Stop using the column first; drop it in a later deploy."
    )
    assert first["severity"] == "critical"
    assert warning["severity"] == "minor"
    assert first["location"] == {"path": "migrations/V3__drop_email.sql", "lines": {"begin": 4, "end": 4}}
    assert first["type"] == "issue" and first["categories"] == ["Bug Risk"]
    assert "```sql\nALTER TABLE users DROP COLUMN email;\n```" in first["content"]["body"]
    assert warning["description"] == "No lock_timeout before ALTER TABLE ünïcode."  # no fix: no "Fix:"


def test_multi_line_span_gives_begin_and_end():
    issue = issues(result(index_finding()))[0]
    assert issue["location"]["lines"] == {"begin": 5, "end": 6}


def test_fingerprints_unique_and_stable():
    # GitLab shows only the first issue of a fingerprint: duplicates would hide findings.
    res = result(drop_email(), drop_email(span=Span(9, 1, 9, 36)), index_finding(), lock_timeout())
    prints = [i["fingerprint"] for i in issues(res)]
    assert len(set(prints)) == 4
    moved = issues(result(drop_email(span=Span(30, 1, 30, 36))))[0]["fingerprint"]
    assert moved == prints[0]


def test_same_fingerprints_as_sarif():
    res = result(drop_email(), index_finding(), lock_timeout())
    sarif = json.loads(render("sarif", res))["runs"][0]["results"]
    assert [i["fingerprint"] for i in issues(res)] == [r["partialFingerprints"]["migsafe/v1"] for r in sarif]


def test_deterministic():
    res = result(drop_email(), index_finding(), lock_timeout())
    assert render("gitlab", res) == render("gitlab", res)


def test_the_schema_is_not_vacuous():
    import jsonschema
    import pytest

    good = issues(result(drop_email()))
    for broken in (
        [{**good[0], "severity": "error"}],
        [{**good[0], "location": {"path": "./migrations/V3.sql", "lines": {"begin": 4}}}],
        [{**good[0], "location": {"path": "migrations/V3.sql"}}],
        [{k: v for k, v in good[0].items() if k != "fingerprint"}],
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken, "gitlab-codequality.schema.json")

"""--format rdjson: reviewdog's DiagnosticResult, checked against a schema written from
reviewdog.proto and against the schema of the rdformat-validator npm package."""

from __future__ import annotations

import json

import pytest
from sample_findings import drop_email, index_finding, lock_timeout, render, result, validate

from migsafe.model import Edit, Fix
from migsafe.report import common

SCHEMAS = ["rdjson.schema.json", "rdformat-validator.schema.json"]


def rdjson(res, **kw) -> dict:
    return json.loads(render("rdjson", res, **kw))


@pytest.mark.parametrize("schema", SCHEMAS)
def test_valid(schema, monkeypatch):
    validate(rdjson(result(drop_email(), index_finding(), lock_timeout())), schema)
    validate(rdjson(result()), schema)
    monkeypatch.setattr(common, "HOMEPAGE", "https://example.org/migsafe")
    validate(rdjson(result(drop_email())), schema)


def test_diagnostic_fields():
    doc = rdjson(result(drop_email(), lock_timeout()))
    assert doc["source"] == {"name": "migsafe"}
    error, warning = doc["diagnostics"]
    assert error["severity"] == "ERROR" and warning["severity"] == "WARNING"
    assert error["code"] == {"value": "drop-column"}
    assert error["location"] == {
        "path": "migrations/V3__drop_email.sql",
        "range": {"start": {"line": 4, "column": 1}, "end": {"line": 4, "column": 36}},
    }
    # The review comment: message, fix and the steps as markdown.
    assert error["message"].startswith("Dropping column users.email breaks")
    assert "**Fix:** Stop using the column first" in error["message"]
    assert "```sql\nALTER TABLE users DROP COLUMN email;\n```" in error["message"]
    assert "suggestions" not in error


def test_columns_are_utf8_bytes():
    # 'ALTER TABLE "ünï" DROP COLUMN "çol";' - characters 19..36 are bytes 21..39.
    d = rdjson(result(lock_timeout()))["diagnostics"][0]
    assert d["location"]["range"] == {"start": {"line": 1, "column": 21}, "end": {"line": 1, "column": 39}}
    # Without the file, the character columns are the best there is.
    d = rdjson(result(lock_timeout()), sources=False)["diagnostics"][0]
    assert d["location"]["range"]["start"]["column"] == 19


def test_suggestions_from_edits():
    d = rdjson(result(index_finding()))["diagnostics"][0]
    assert d["suggestions"] == [
        {"range": {"start": {"line": 5, "column": 7}, "end": {"line": 5, "column": 7}}, "text": "CONCURRENTLY "}
    ]
    # An edit in another file cannot be a suggestion on this one.
    other = Edit("migrations/other.sql", 1, 1, 1, 1, "x")
    f = index_finding(fix=Fix("s", edits=[other, *index_finding().fix.edits]))
    assert len(rdjson(result(f))["diagnostics"][0]["suggestions"]) == 1


def test_urls_when_the_project_has_a_home(monkeypatch):
    monkeypatch.setattr(common, "HOMEPAGE", "https://example.org/migsafe")
    doc = rdjson(result(drop_email()))
    assert doc["source"]["url"] == "https://example.org/migsafe"
    assert doc["diagnostics"][0]["code"]["url"] == "https://example.org/migsafe/blob/main/rules/drop-column.md"


def test_deterministic():
    res = result(drop_email(), index_finding(), lock_timeout())
    assert render("rdjson", res) == render("rdjson", res)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_schemas_are_not_vacuous(schema):
    import jsonschema

    good = rdjson(result(drop_email()))
    d = good["diagnostics"][0]
    for broken in (
        {**good, "diagnostics": [{**d, "severity": "error"}]},
        {**good, "diagnostics": [{**d, "location": {"path": "x.sql", "range": {"start": {"line": 0}}}}]},
        {**good, "diagnostics": [{k: v for k, v in d.items() if k != "message"}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken, schema)

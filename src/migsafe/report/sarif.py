"""--format sarif: SARIF 2.1.0, one run, as GitHub code scanning and SARIF viewers read it."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote

from migsafe.docs import RuleDoc, all_rule_docs
from migsafe.model import Edit, Finding, Result
from migsafe.report import common
from migsafe.report.common import fingerprints, fix_markdown, message_with_fix, rule_url, span_text

if TYPE_CHECKING:
    from migsafe.report.context import ReportContext

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"  # paths are relative to the directory migsafe ran in
FINGERPRINT_KEY = f"migsafe/{common.FINGERPRINT_VERSION}"


def render(result: Result, out: TextIO, ctx: ReportContext) -> None:
    out.write(json.dumps(log(result, ctx), indent=2, ensure_ascii=False) + "\n")


def log(result: Result, ctx: ReportContext) -> dict[str, Any]:
    rules = _rules()
    index = {r["id"]: i for i, r in enumerate(rules)}
    ids = fingerprints(result.findings)
    driver: dict[str, Any] = {"name": "migsafe", "version": ctx.version, "semanticVersion": ctx.version}
    if common.HOMEPAGE:
        driver["informationUri"] = common.HOMEPAGE
    driver["rules"] = rules
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                # No absolute uri: it would differ per machine; consumers use their checkout root.
                "originalUriBaseIds": {
                    SRCROOT: {"description": {"text": "The directory migsafe ran in."}}
                },
                # Span columns count characters, not UTF-16 units (SARIF's default).
                "columnKind": "unicodeCodePoints",
                "results": [_result(f, ids[i], index, ctx) for i, f in enumerate(result.findings)],
                "properties": {"dialect": result.dialect, "targetVersion": result.target_version},
            }
        ],
    }


@lru_cache(maxsize=1)
def _rule_docs() -> dict[str, RuleDoc]:
    return {d.id: d for d in all_rule_docs()}


def _rules() -> list[dict[str, Any]]:
    """Every rule, so a viewer can show the help of any result (and of rules that did not fire)."""
    # Imported here: loading every rule (and sqlglot) is not worth it for the other formats.
    from migsafe.rules import default_severities, rule_dialects

    docs = _rule_docs()
    rules = []
    for rule_id, severity in default_severities().items():
        doc = docs.get(rule_id)
        summary = doc.summary if doc else rule_id
        body = doc.body.strip() if doc else ""
        d: dict[str, Any] = {
            "id": rule_id,
            "name": "".join(word.capitalize() for word in rule_id.split("-")),  # SARIF: PascalCase
            "shortDescription": {"text": summary},
            "fullDescription": {"text": _section(body, "Why it is unsafe") or summary},
        }
        if body:
            d["help"] = {"text": body, "markdown": body}
        if rule_url(rule_id):
            d["helpUri"] = rule_url(rule_id)
        d["defaultConfiguration"] = {"level": severity.value}
        d["properties"] = {"tags": ["migrations", *rule_dialects(rule_id)]}
        rules.append(d)
    return rules


def _section(body: str, title: str) -> str:
    """The text under `## title`, up to the next level-2 heading."""
    match = re.search(rf"^## {re.escape(title)}\s*\n(.*?)(?=^## |\Z)", body, re.M | re.S)
    return match.group(1).strip() if match else ""


def _uri(path: str) -> str:
    # A URI reference: spaces, '%', '#' and non-ASCII are percent-encoded; '/' stays.
    return quote(path, safe="/")


def _location(path: str) -> dict[str, str]:
    return {"uri": _uri(path), "uriBaseId": SRCROOT}


def _result(f: Finding, fingerprint: str, index: dict[str, int], ctx: ReportContext) -> dict[str, Any]:
    region: dict[str, Any] = {
        "startLine": f.span.line,
        "startColumn": f.span.column,
        "endLine": f.span.end_line,
        "endColumn": f.span.end_column,
    }
    snippet = span_text(f.span, ctx, f.path)
    if snippet:
        region["snippet"] = {"text": snippet}
    r: dict[str, Any] = {"ruleId": f.rule}
    if f.rule in index:
        r["ruleIndex"] = index[f.rule]
    r["level"] = f.severity.value  # the configured severity, which may differ from the default
    r["message"] = {"text": message_with_fix(f), "markdown": fix_markdown(f)}
    r["locations"] = [{"physicalLocation": {"artifactLocation": _location(f.path), "region": region}}]
    r["partialFingerprints"] = {FINGERPRINT_KEY: fingerprint}
    if f.fix and f.fix.edits:
        r["fixes"] = [_fix(f.fix.summary, f.fix.edits)]
    props = {"source": f.source, "migration": f.migration}
    known = {"statement": f.statement, "table": f.table, "column": f.column, "lock": f.lock}
    props.update((key, value) for key, value in known.items() if value is not None)
    r["properties"] = props
    return r


def _fix(summary: str, edits: list[Edit]) -> dict[str, Any]:
    # One artifactChange per file, in the order the edits name them.
    by_path: dict[str, list[dict[str, Any]]] = {}
    for e in edits:
        by_path.setdefault(e.path, []).append(
            {
                "deletedRegion": {
                    "startLine": e.line,
                    "startColumn": e.column,
                    "endLine": e.end_line,
                    "endColumn": e.end_column,
                },
                "insertedContent": {"text": e.replacement},
            }
        )
    fix: dict[str, Any] = {}
    if summary:
        fix["description"] = {"text": summary}
    fix["artifactChanges"] = [
        {"artifactLocation": _location(path), "replacements": replacements}
        for path, replacements in by_path.items()
    ]
    return fix

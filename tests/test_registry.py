"""The three lists of rules agree: the contract's rule table, the registered rules, rules/*.md.

Behaviour (severity, dialects) lives in the code only: a page's front matter holds its summary, its
file name is the rule id. Every page has the same skeleton, in the same order.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migsafe import rules as R
from migsafe.docs import iter_examples, parse_rule_doc

REPO = Path(__file__).resolve().parents[1]
RULES_DIR = REPO / "rules"
CONTRACT = REPO.parent / "shared" / "spec" / "contract.md"
PAGES = sorted(p for p in RULES_DIR.glob("*.md") if p.name != "README.md")
SECTIONS = ["Why it is unsafe", "Unsafe", "Safe alternative", "When it is fine", "Options", "References"]
_ROW = re.compile(r"\|\s*`([a-z0-9-]+)`\s*\|\s*(error|warning)\s*\|")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


def contract_rules() -> dict[str, str]:
    """id -> default severity, from the table under '## Rule ids' in the contract."""
    if not CONTRACT.is_file():
        pytest.skip(f"contract not found at {CONTRACT} (the workspace's shared/spec is not beside the repo)")
    text = CONTRACT.read_text(encoding="utf-8")
    start = text.index("\n## Rule ids")
    end = text.find("\n## ", start + 1)
    section = text[start: end if end >= 0 else len(text)]
    rows = dict(_ROW.findall(section))
    assert rows, f"no rule table found under '## Rule ids' in {CONTRACT}"
    return rows


def page_ids() -> set[str]:
    return {p.stem for p in PAGES}


def headings(body: str) -> list[str]:
    """The `## ` headings of a page body, skipping fenced code blocks."""
    out, fence = [], None
    for line in body.split("\n"):
        m = _FENCE.match(line)
        if m:
            mark = m.group(1)
            if fence is None:
                fence = mark
            elif mark[0] == fence[0] and len(mark) >= len(fence) and not line.strip()[len(mark):].strip():
                fence = None
            continue
        if fence is None and line.startswith("## "):
            out.append(line[3:].strip())
    return out


def test_readme_exists() -> None:
    assert (RULES_DIR / "README.md").is_file(), "rules/README.md (how a page is written) is missing"


def not_built_yet() -> set[str]:
    """Rule ids the README's "Not built yet" section names: in the contract, not yet in the code."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Not built yet", 1)[1].split("\n## ", 1)[0]
    bullet = next((line for line in section.split("\n- ") if line.startswith("**Rules")), "")
    return set(re.findall(r"`([a-z-]+)`", bullet))


def test_contract_registry_and_pages_agree() -> None:
    contract = set(contract_rules())
    registered = set(R.default_severities())
    pages = page_ids()
    problems = []
    for name, ids in (("registered in migsafe.rules", registered), ("with a rules/<id>.md page", pages)):
        if contract - ids - not_built_yet():
            problems.append(f"in the contract, not {name} and not in README's Not built yet:"
                            f" {', '.join(sorted(contract - ids - not_built_yet()))}")
        if ids - contract:
            problems.append(f"{name} but not in the contract: {', '.join(sorted(ids - contract))}")
    if not_built_yet() & registered:
        problems.append(f"registered but still in README's Not built yet: {', '.join(sorted(not_built_yet() & registered))}")
    assert not problems, "\n".join(problems)


def test_contract_severities_are_the_code_defaults() -> None:
    code = {rule: sev.value for rule, sev in R.default_severities().items()}
    wrong = {rule: (sev, code.get(rule)) for rule, sev in contract_rules().items()
             if code.get(rule) != sev and rule not in not_built_yet()}
    assert not wrong, f"contract severity != code default (contract, code): {wrong}"


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_page(path: Path) -> None:
    where = path.relative_to(REPO).as_posix()
    doc = parse_rule_doc(path)  # checks the keys (summary only) and that the summary is not empty
    assert doc.id in R.default_severities(), f"{where}: {doc.id} is not a registered rule"
    assert doc.summary and "\n" not in doc.summary, f"{where}: summary must be one non-empty line"
    found = headings(doc.body)
    assert found == SECTIONS, f"{where}: sections {found}, expected exactly {SECTIONS} in this order"
    kinds = [ex.kind for ex in iter_examples(doc)]
    assert "unsafe" in kinds, f"{where}: no unsafe example (```sql unsafe)"
    assert "safe" in kinds, f"{where}: no safe example (```sql safe)"

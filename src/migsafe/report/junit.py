"""--format junit: JUnit XML for the test-report pages of Jenkins and GitLab.

A <testsuite> per source kind (alembic, django, sql), a <testcase> per migration (name: the
migration, classname and file: its path), one <failure> for a migration with findings at or
above --fail-on (all of them in its text: Jenkins and GitLab count failures per element, so a
suite never states more failures than tests), and the findings below it as the test case's
<system-out>, so they are seen without failing it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, TextIO

from migsafe.model import Finding, Result

if TYPE_CHECKING:
    from migsafe.report.context import ReportContext

# XML 1.0 cannot hold most control characters, not even escaped; a hostile file name or SQL
# text must not make the whole report unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def render(result: Result, out: TextIO, ctx: ReportContext) -> None:
    root = ET.Element("testsuites", name="migsafe")
    totals = {"tests": 0, "failures": 0}
    for source, cases in _cases(result).items():
        suite = ET.SubElement(root, "testsuite", name=f"migsafe.{source}")
        failures = 0
        for (name, path), findings in cases.items():
            case = ET.SubElement(suite, "testcase", name=_x(name), classname=_x(path), file=_x(path))
            failing = [f for f in findings if f.severity.rank >= ctx.fail_on.rank]
            passing = [f for f in findings if f.severity.rank < ctx.fail_on.rank]
            if failing:
                rules = ", ".join(dict.fromkeys(f.rule for f in failing))
                message = failing[0].message if len(failing) == 1 else \
                    f"{len(failing)} findings: " + "; ".join(f"line {f.span.line} {f.rule}" for f in failing)
                failure = ET.SubElement(case, "failure", type=rules, message=_x(message))
                failure.text = _x("\n\n".join(_details(f) for f in failing))
                failures += 1
            if passing:
                ET.SubElement(case, "system-out").text = _x("\n\n".join(_details(f) for f in passing))
        # Counted as junitparser and JUnit's own reporters count: failures are <failure> elements.
        _counts(suite, len(cases), failures)
        totals["tests"] += len(cases)
        totals["failures"] += failures
    _counts(root, totals["tests"], totals["failures"])
    ET.indent(root, space="  ")
    xml = ET.tostring(root, encoding="unicode")
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n' + xml + "\n")


def _counts(element: ET.Element, tests: int, failures: int) -> None:
    # migsafe never reports an error (it exits 2 instead) or a skip: both are always 0.
    element.set("tests", str(tests))
    element.set("failures", str(failures))
    element.set("errors", "0")
    element.set("skipped", "0")


def _cases(result: Result) -> dict[str, dict[tuple[str, str], list[Finding]]]:
    """source -> (migration, path) -> its findings; every reported migration, passing ones too."""
    cases: dict[str, dict[tuple[str, str], list[Finding]]] = {}
    if result.checked is not None:
        for source, name, path in result.checked:
            cases.setdefault(source, {})[(name, path)] = []
    # Without the list of checked migrations, only those with findings are known.
    for f in result.findings:
        cases.setdefault(f.source, {}).setdefault((f.migration, f.path), []).append(f)
    return dict(sorted(cases.items()))


def _details(f: Finding) -> str:
    """What a reviewer reads in the CI page: where, what, the statement, the fix."""
    lines = [f"{f.path}:{f.span.line}:{f.span.column}: {f.severity.value}[{f.rule}] {f.message}"]
    if f.statement:
        lines.append(f"statement: {f.statement}")
    if f.lock:
        lines.append(f"lock: {f.lock}" + (f" on {f.table}" if f.table else ""))
    if f.fix and (f.fix.summary or f.fix.steps):
        lines.append(f"fix: {f.fix.summary}")
        for n, step in enumerate(f.fix.steps, 1):
            lines.append(f"  {n}. {step.phase}: {step.title}")
            lines += [f"     {code}".rstrip() for code in step.code.splitlines()]
    return "\n".join(lines)


def _x(s: str) -> str:
    return _NOT_XML.sub("\ufffd", s)

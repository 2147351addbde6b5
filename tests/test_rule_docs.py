"""Every example on every rules/*.md page runs through the real pipeline.

Conventions (rules/README.md is the reader's version):

- ```` ```sql unsafe ````: must raise the page's rule, every rule named in `also=`, and nothing else.
- ```` ```sql safe ````: must raise no error, no finding of the page's rule, and no warning other
  than those named in `also=`.
- ```` ```sql history ````: not checked; written as an earlier migration (V1__history.sql, V2__...)
  before every later example of the page, and never reported (start-after).
- ```` ```sql down ````: the way back of the example just above it (down.sql beside its up.sql).
- options: `target-version=N`, `sql-transaction=per-file`, `also=rule,rule`, `file=PATH` (where
  the example is written instead of V9__example.sql, e.g. `0009_add_nickname/up.sql`); flag
  `replay`: a safe example that later examples build on (a phase of the safe alternative) is
  also replayed as history before them. `dialect=mysql|sqlite`: checked as that database (default
  postgresql); a `history` block with `dialect=` is replayed only before examples of that dialect.
- ```` ```python alembic ... ````: upgrade()/downgrade() of a revision; the page's `sql history`
  gives its schema.
- ```` ```python django ... ````: a whole migration module of the app `shop` (written to
  shop/migrations/, as `file=` or 0009_example.py; history as `file=` or 0001_history.py, ...).
  Its history is the page's `python django history` blocks (Django needs the model state, which SQL
  cannot give), and its `dependencies` name them. `min-django=5.0`: skipped on older Django (an
  operation or argument that does not exist there, such as `db_default`).

A failure names the page and line: `rules/drop-column.md:42: unsafe example produced no ...`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest

from migsafe import rules as R
from migsafe.config import load_settings
from migsafe.docs import Example, RuleDoc, iter_examples, parse_rule_doc
from migsafe.engine import check
from migsafe.model import Finding, Severity
from migsafe.sources.sql.load import order_sql_files

REPO = Path(__file__).resolve().parents[1]
RULES_DIR = REPO / "rules"
PAGES = sorted(p for p in RULES_DIR.glob("*.md") if p.name != "README.md")
KNOWN_RULES = set(R.default_severities())

OPTIONS = {"target-version", "sql-transaction", "also", "file", "min-django", "dialect"}
SQL_FLAGS = {"replay", "alembic", "django"}
SOURCES_NOT_BUILT = {"alembic", "django"}  # flags of `python` blocks: which source renders them

# Examples that show a real bug in migsafe (not in the page): (page, text unique to the example's
# code, reason). Each is an xfail(strict=True): when the code is fixed, the test says so and the
# entry must go. Keyed by text, not line number, so that editing the page does not unmark them.
KNOWN_BUGS: list[tuple[str, str, str]] = []


@dataclass(frozen=True)
class Case:
    doc: RuleDoc
    example: Example
    history: tuple[Example, ...]  # earlier `history` blocks (and `replay` examples) of the page
    down: Example | None  # the `down` block right after the example, if any

    @property
    def where(self) -> str:
        return f"{self.doc.path.relative_to(REPO).as_posix()}:{self.example.line}"


def _known_bug(page: str, example: Example) -> str | None:
    reasons = [reason for p, text, reason in KNOWN_BUGS if p == page and text in example.code]
    return reasons[0] if reasons else None


def _collect() -> list:
    params = []
    for path in PAGES:
        try:
            doc = parse_rule_doc(path)
            blocks = iter_examples(doc)
        except ValueError as e:  # reported by test_pages_parse, not as a collection error
            params.append(pytest.param(None, str(e), id=f"{path.name}:parse"))
            continue
        history: list[Example] = []
        for i, ex in enumerate(blocks):
            if ex.kind == "history":
                history.append(ex)
                continue
            if ex.kind == "down":
                continue
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            case = Case(doc, ex, tuple(history), nxt if nxt is not None and nxt.kind == "down" else None)
            reason = _known_bug(path.name, ex)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(case, None, id=f"{path.name}:{ex.line}", marks=marks))
            if "replay" in ex.flags:
                history.append(ex)
    return params


def _show(findings: list[Finding]) -> str:
    return ", ".join(f"{f.rule} ({f.path}:{f.span.line}, {f.severity.value})" for f in findings) or "nothing"


def _down_path(example_path: Path) -> Path | None:
    name = example_path.name.lower()
    if name == "up.sql":
        return example_path.with_name("down.sql")
    if name.endswith(".up.sql"):
        return example_path.with_name(example_path.name[: -len(".up.sql")] + ".down.sql")
    return None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# An Alembic example on a page shows only upgrade()/downgrade(); this makes it a revision file.
ALEMBIC_HEADER = """from alembic import op
import sqlalchemy as sa

revision = "0001example"
down_revision = None


"""


DJANGO_APP = "shop"  # the app label Django examples' dependencies name


def _write_django(case: Case, root: Path) -> tuple[Path, dict]:
    """The example as a migration of app `shop` after the page's Django history; (path, start-after)."""
    needed = case.example.options.get("min-django")
    if needed is not None:
        import django

        if django.VERSION[:2] < tuple(int(p) for p in needed.split(".")):
            pytest.skip(f"{case.where}: needs Django {needed}, this is {django.get_version()}")
    migrations = root / DJANGO_APP / "migrations"
    for init in (root / DJANGO_APP / "__init__.py", migrations / "__init__.py"):
        _write(init, "")
    history = [h for h in case.history if "django" in h.flags]
    names = []
    for n, block in enumerate(history, 1):
        names.append(block.options.get("file", f"{n:04d}_history.py"))
        _write(migrations / names[-1], block.code)
    name = case.example.options.get("file", f"{max(9, len(history) + 1):04d}_example.py")
    if names and sorted(names + [name])[-1] != name:
        pytest.fail(f"{case.where}: file={name} does not sort after the history migrations {names}")
    _write(migrations / name, case.example.code)
    start_after = {"django": {DJANGO_APP: names[-1].removesuffix(".py")}} if names else None
    return migrations / name, start_after


def run_example(case: Case, root: Path, database: str | None = None) -> tuple[str, list[Finding]]:
    """Write the history and the example below `root`, check them; (example path, findings).
    `database`: run them on a scratch database there (--database) instead of offline."""
    ex, where = case.example, case.where
    unknown = sorted(set(ex.options) - OPTIONS)
    if unknown:
        pytest.fail(f"{where}: unknown option {', '.join(unknown)} (known: {', '.join(sorted(OPTIONS))})")
    bad_flags = sorted(set(ex.flags) - SQL_FLAGS)
    if bad_flags:
        pytest.fail(f"{where}: unknown word {', '.join(bad_flags)} in the info string")
    if "replay" in ex.flags and ex.kind != "safe":
        pytest.fail(f"{where}: only a safe example can be replayed for later examples")

    if ex.lang == "python" and "django" in ex.flags:
        example_path, start_after = _write_django(case, root)
        settings = load_settings(None, {"target-version": ex.options.get("target-version"),
                                        "start-after": start_after, "database": database}, KNOWN_RULES)
        result = check([root], settings, cwd=root)
        return example_path.relative_to(root).as_posix(), result.findings

    dialect = ex.options.get("dialect", "postgresql")
    history = [h for h in case.history  # SQL history sets up tables for SQL and Alembic
               if h.lang == "sql" and h.options.get("dialect", dialect) == dialect]
    names = []
    for n, block in enumerate(history, 1):
        names.append(f"V{n}__history.sql")
        _write(root / names[-1], block.code)
    if ex.lang == "python" and "alembic" in ex.flags:
        rel = "versions/0001_example.py"
        example_path = root / rel
        _write(example_path, ALEMBIC_HEADER + ex.code)
    else:
        rel = ex.options.get("file", f"V{max(9, len(history) + 1)}__example.sql")
        example_path = root / rel
        _write(example_path, ex.code)
    if case.down is not None:
        down = _down_path(example_path)
        if down is None:
            pytest.fail(f"{where}: a down block needs an example written as up.sql or x.up.sql (use file=)")
        _write(down, case.down.code)
    order = order_sql_files([root / n for n in names] + [example_path])
    if example_path.suffix == ".sql" and order[-1] != example_path:
        pytest.fail(f"{where}: file={rel} does not sort after the history files, so it would not run last")

    overrides = {
        "target-version": ex.options.get("target-version"),
        "sql-transaction": ex.options.get("sql-transaction"),
        "start-after": {"sql": names[-1]} if names else None,
        "dialect": dialect,
        "database": database,
    }
    settings = load_settings(None, overrides, KNOWN_RULES)
    result = check([root], settings, cwd=root)
    return example_path.relative_to(root).as_posix(), result.findings


def _also(case: Case) -> set[str]:
    also = {r.strip() for r in case.example.options.get("also", "").split(",") if r.strip()}
    unknown = sorted(also - KNOWN_RULES)
    if unknown:
        pytest.fail(f"{case.where}: also= names unknown rule {', '.join(unknown)}")
    if case.doc.id in also:
        pytest.fail(f"{case.where}: also= must not name the page's own rule {case.doc.id}")
    return also


@pytest.mark.parametrize("case, problem", _collect())
def test_example(case: Case | None, problem: str | None, tmp_path: Path) -> None:
    if problem is not None:
        pytest.fail(problem)
    ex, rule, where = case.example, case.doc.id, case.where
    source = next((f for f in ex.flags if f in SOURCES_NOT_BUILT), None)
    if source is not None and importlib.util.find_spec(f"migsafe.sources.{source}") is None:
        pytest.skip(f"{where}: {source} source not built yet")
    if ex.lang != "sql" and not (ex.lang == "python" and {"alembic", "django"} & set(ex.flags)):
        pytest.fail(f"{where}: this test cannot run `{ex.lang} {' '.join(ex.flags)}` examples yet;"
                    " teach tests/test_rule_docs.py to write them")
    also = _also(case)
    path, findings = run_example(case, tmp_path)

    outside = [f for f in findings if f.path != path]
    if outside:
        pytest.fail(f"{where}: findings outside the example file (history must stay silent): {_show(outside)}")
    got = {f.rule for f in findings}
    if ex.kind == "unsafe":
        if rule not in got:
            pytest.fail(f"{where}: unsafe example produced no {rule} finding (got: {_show(findings)})")
        others = [f for f in findings if f.rule != rule and f.rule not in also]
        if others:
            pytest.fail(f"{where}: unsafe example also produced {_show(others)}; add them to also= only if"
                        f" they belong to this example")
        missing = sorted(also - got)
        if missing:
            pytest.fail(f"{where}: unsafe example lists also={','.join(missing)} but produced no such finding"
                        f" (got: {_show(findings)})")
    else:
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if errors:
            pytest.fail(f"{where}: safe example produced an error: {_show(errors)}")
        own = [f for f in findings if f.rule == rule]
        if own:
            pytest.fail(f"{where}: safe example produced a {rule} finding: {_show(own)}")
        warnings = [f for f in findings if f.rule not in also]
        if warnings:
            pytest.fail(f"{where}: safe example produced {_show(warnings)}; list expected warnings in also=")


def test_pages_parse() -> None:
    problems = []
    for path in PAGES:
        try:
            iter_examples(parse_rule_doc(path))
        except ValueError as e:
            problems.append(str(e))
    assert not problems, "\n".join(problems)


def test_known_bugs_point_at_one_example_each() -> None:
    for page, text, _ in KNOWN_BUGS:
        doc = parse_rule_doc(RULES_DIR / page)
        hits = [ex.line for ex in iter_examples(doc) if ex.kind in ("safe", "unsafe") and text in ex.code]
        assert len(hits) == 1, f"KNOWN_BUGS entry ({page}, {text!r}) matches examples at lines {hits}, not one"

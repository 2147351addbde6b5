"""`migsafe explain RULE`: the rule's plan written for each framework, from the page's own first
unsafe SQL example (a real finding, so the names and types are the example's)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from migsafe.config import load_settings
from migsafe.docs import iter_examples
from migsafe.fixes import render_fix
from migsafe.judge import analyze
from migsafe.rules import default_severities
from migsafe.sources.registry import sources
from migsafe.sources.sql.load import load_sql_migrations


def example_fixes(doc) -> dict[str, object]:
    """{source name: Fix}, every registered source's, for the page's first PostgreSQL unsafe SQL
    example; {} where the page has none or the rule gives no plan for it."""
    examples = [e for e in iter_examples(doc) if e.lang == "sql" and "dialect" not in e.options]
    unsafe = next((e for e in examples if e.kind == "unsafe" and not e.flags), None)
    if unsafe is None:
        return {}
    history = [e for e in examples[: examples.index(unsafe)] if e.kind == "history"]
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for n, block in enumerate(history + [unsafe], 1):
            files.append(Path(tmp) / f"V{n}__example.sql")
            files[-1].write_text(block.code, encoding="utf-8")
        migrations = load_sql_migrations(files, Path(tmp), "postgresql", False)
        for m in migrations[:-1]:
            m.report = False
        settings = load_settings(None, {"target-version": unsafe.options.get("target-version")},
                                 set(default_severities()))
        result = analyze(migrations, settings, len(files))
    found = next((f for f in result.findings if f.rule == doc.id and f.plan is not None), None)
    if found is None:
        return {}
    return {s.name: render_fix(found.plan, s.name) for s in sources()}

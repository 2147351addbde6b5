"""Django migrations read without running them (--no-exec, sources/django/static.py): what the one
--no-exec guard (sources/core/guard.py) refuses is not evaluated, and the migration is
not-analyzed at that expression's line with the reason, while the migrations after it are judged."""

from __future__ import annotations

import pytest

from test_django_source import check, found, line_of, migration, shop

pytest.importorskip("django")


@pytest.mark.parametrize("expression, said", [
    ("models.CharField.__subclasses__()", "private attribute __subclasses__ (not read with --no-exec)"),
    ("(width := 8)", "NamedExpr expression (not read with --no-exec)"),
    ("WIDTH", "WIDTH is not defined in the migration file"),
])
def test_no_exec_refuses_what_the_guard_refuses_at_its_line(tmp_path, expression, said):
    app = shop(tmp_path)
    path = migration(app, "0002_odd", f"""
        migrations.AddField("product", "code", models.CharField(
            max_length={expression}, null=True)),
    """, deps='[("catalog", "0001_initial")]')
    migration(app, "0003_drop", 'migrations.RemoveField("product", "name"),', deps='[("catalog", "0002_odd")]')
    result = check(tmp_path, tmp_path, no_exec=True)
    bad = [f for f in result.findings if f.migration == "catalog.0002_odd"]
    assert [(f.rule, f.span.line) for f in bad] == [("not-analyzed", line_of(path, "max_length"))]
    assert said in bad[0].message
    assert ("catalog.0003_drop", "drop-column", 8) in found(result)

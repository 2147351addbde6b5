"""Every SQL plan runs on a real PostgreSQL 15: after a history that creates the tables with a few
rows, each step of the rendered plan is executed in order, as a migration runner would (in a
transaction, except the steps the plan marks to run outside one), and must succeed.

The throwaway cluster is the one tests/test_postgres_truth.py starts (skipped, with the reason,
where initdb/pg_ctl are missing)."""

from __future__ import annotations

import pytest

from migsafe import plans as P
from tests.fixes.conftest import SETUP
from tests.fixes.test_plans_self_check import CASES, finding_for, only_comments
from tests.test_postgres_truth import psql  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow  # (a real database server)

# Each case gets its own schema, so the steps of one plan never meet another's objects.
RESET = "DROP SCHEMA IF EXISTS plan CASCADE; CREATE SCHEMA plan;"
PATH = "SET search_path = plan;\n"
ROWS = """
INSERT INTO users SELECT g, 'u' || g || '@example.com', 'n' || g, 20 + g FROM generate_series(1, 5) g;
INSERT INTO orders SELECT g, 1 + g % 5, 'new', g FROM generate_series(1, 5) g;
"""


@pytest.mark.parametrize("rule", sorted(CASES))
def test_sql_plan_runs_on_postgres(psql, tmp_path, rule):  # noqa: F811
    found = finding_for(tmp_path, "sql", rule)
    psql(RESET + PATH + SETUP + ";\n" + ROWS)
    value = CASES[rule][1]
    ran = 0
    for step, phase in zip(found.fix.steps, found.plan.phases, strict=True):
        code = step.code.replace("<value>", value) if value else step.code
        if only_comments(code):  # a code change between deploys: nothing for the database
            continue
        outside = any(isinstance(a, P.OutsideTransaction) for a in phase.actions)
        assert outside or "CONCURRENTLY" not in code.upper(), code  # it would fail in a transaction
        psql(PATH + (code if outside else f"BEGIN;\n{code}\nCOMMIT;"))
        ran += 1
    assert ran, [s.code for s in found.fix.steps]


def test_file_rewritten_by_fix_edits_runs_on_postgres(psql, tmp_path):  # noqa: F811
    from migsafe.fixes.edits import apply_edits
    from tests.fixes.test_edits import FIXABLE, findings

    text = "\n".join(f"{s};" for s in FIXABLE.values()) + "\n"
    fixed = apply_edits(text, [e for f in findings(tmp_path, text) for e in f.fix.edits])
    assert fixed != text
    psql(RESET + PATH + SETUP + ";\n" + ROWS)
    psql(PATH + fixed)  # psql runs a file statement by statement, outside a transaction block
    assert psql(PATH + "SELECT conname, convalidated FROM pg_constraint WHERE conrelid IN"
                " ('users'::regclass, 'orders'::regclass) AND contype <> 'p' ORDER BY 1").split() == [
        "orders_qty_positive|t", "orders_user_fk|t", "users_email_key|t"]

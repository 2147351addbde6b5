"""`migsafe explain RULE` shows the rule's plan written for SQL, Alembic and Django."""

import pytest

from migsafe.cli import main
from tests.fixes.test_plans_self_check import CASES


@pytest.mark.parametrize("rule", sorted(CASES))
def test_explain_shows_the_plan_per_framework(rule, capsys):
    assert main(["explain", rule]) == 0
    out = capsys.readouterr().out
    for source, marker in (("sql", "```sql"), ("alembic", "def upgrade():"), ("django", "class Migration(")):
        assert f"## The safe plan as {source}" in out, f"{rule}: no {source} plan"
        assert marker in out.split(f"## The safe plan as {source}")[1], f"{rule}: {source} plan not written as {source}"

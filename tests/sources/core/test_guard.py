"""The one guard of --no-exec reading (sources/core/guard.py), under both rules its sources use."""

import ast

import pytest

from migsafe.sources.core.guard import SAFE_BUILTINS, refusal


def refused(code: str, names=(), **rule):
    found = refusal(ast.parse(code, mode="eval").body, lambda n: n in names or n in SAFE_BUILTINS, **rule)
    return None if found is None else (ast.unparse(found[0]), found[1])


@pytest.mark.parametrize("rule", [{}, {"private": "underscore", "lambdas_run": False}])
def test_dunders_names_and_code_running_expressions_are_refused_under_either_rule(rule):
    assert refused("x.__class__.__subclasses__()", {"x"}, **rule)[1] == "attribute"
    assert refused("os.system('x')", **rule) == ("os", "name")
    assert refused("(y := 1)", **rule)[1] == "expression"
    assert refused("len([1, 2]) + x.y", {"x"}, **rule) is None


def test_data_dunders_stay_readable():
    assert refused("Model.__tablename__", {"Model"}, private="underscore") is None


def test_private_attributes_only_under_the_underscore_rule():
    assert refused("x._meta", {"x"}) is None
    assert refused("x._meta", {"x"}, private="underscore") == ("x._meta", "attribute")


def test_a_lambda_body_is_looked_into_where_it_may_run():
    assert refused("lambda: os.getcwd()") == ("os", "name")
    assert refused("lambda: os.getcwd()", lambdas_run=False) is None

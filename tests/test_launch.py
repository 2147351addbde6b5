"""launch.py starts the worker ahead for pre-commit's staged files: the worker of the source the
registry says owns them (registry.Source.owns), none when no source that renders in a worker does."""

from __future__ import annotations

from pathlib import Path

import pytest

from migsafe import launch
from migsafe.sources.core import worker

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REVISION = "alembic_shop/migrations/versions/2b3c4d5e6f7a_create_orders.py"
DJANGO = "django_shop/orders/migrations/0004_order_coupon.py"


@pytest.fixture
def started(monkeypatch) -> list[str]:
    kinds: list[str] = []
    monkeypatch.setattr(worker, "start_ahead", kinds.append)
    monkeypatch.chdir(FIXTURES)
    return kinds


@pytest.mark.parametrize("files, kind", [
    ([REVISION], ["alembic"]),
    ([DJANGO], ["django"]),
    ([DJANGO, REVISION], ["alembic"]),  # the first source in the registry that owns one
    (["django_shop/shop/settings.py", "demo/V1__create_users.sql"], []),  # nobody's, and no worker's
    (["django_shop/orders/models.py"], []),  # a .py beside the migrations, no migration
])
def test_the_worker_ahead_is_the_owners(started, files, kind):
    launch._start_worker_ahead(["check", *files, "--format", "json"])
    assert started == kind


def test_not_for_other_commands(started):
    launch._start_worker_ahead(["rules", REVISION])
    assert started == []

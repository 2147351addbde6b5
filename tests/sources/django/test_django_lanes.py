"""A long Django plan is rendered by two workers at once (sources/django/lanes.py, _SecondLane): the
second replays the state of the earlier part and renders the later part. The result must be the
one a single worker gives, statement for statement, also when a migration before the split fails
(its state changes are still carried forward, by both workers alike)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from migsafe.sources.django import lanes as D
from migsafe.sources.django.graph import load_plan

pytest.importorskip("django")

HEADER = "from django.db import migrations, models\nimport django.db.models.deletion\n\n\n"


def _project(root: Path, failing: int | None = None) -> list[Path]:
    """An app of 12 migrations: models, then a column, an index and a key change each step."""
    migrations = root / "shelf" / "migrations"
    migrations.mkdir(parents=True)
    (root / "shelf" / "__init__.py").touch()
    (migrations / "__init__.py").touch()
    names = [f"{n:04d}_step" for n in range(1, 13)]
    for n, name in enumerate(names, start=1):
        depends = f"[('shelf', '{names[n - 2]}')]" if n > 1 else "[]"
        if n == 1:
            ops = ('migrations.CreateModel("Owner", fields=[("id", models.AutoField(primary_key=True))]),\n'
                   '        migrations.CreateModel("Box", fields=[("id", models.AutoField(primary_key=True)),\n'
                   '            ("owner", models.ForeignKey("shelf.Owner", on_delete=django.db.models.deletion.CASCADE))]),')
        elif n == failing:
            ops = 'migrations.RemoveField("box", "no_such_field"),'  # fails in the state change
        else:
            ops = (f'migrations.AddField("box", "c{n}", models.IntegerField(default={n})),\n'
                   f'        migrations.AddIndex("box", models.Index(fields=["c{n}"], name="box_c{n}_idx")),')
            if n == 7:
                ops += '\n        migrations.AlterField("owner", "id", models.BigAutoField(primary_key=True)),'
        (migrations / f"{name}.py").write_text(
            f"{HEADER}class Migration(migrations.Migration):\n    dependencies = {depends}\n\n"
            f"    operations = [\n        {ops}\n    ]\n")
    return [migrations]


def _rendered(root: Path, dirs: list[Path]) -> list[tuple]:
    return [(m.name, m.error, [(s.sql, s.span.line) for s in m.statements])
            for m, _ in D.load_django_migrations(dirs, root, "postgresql", ())]


@pytest.fixture
def lanes(monkeypatch):
    """Two lanes from 2 migrations on, on any machine; records the second lanes made and used."""
    seen = {"made": 0, "used": 0}
    monkeypatch.setattr(D, "cpus", lambda: 2)
    monkeypatch.setattr(D, "_SECOND_LANE_FROM", 2)
    made, results = D._SecondLane.__init__, D._SecondLane.results

    def counting_init(self, *args):
        seen["made"] += 1
        made(self, *args)

    def counting_results(self):
        seen["used"] += 1
        return results(self)

    monkeypatch.setattr(D._SecondLane, "__init__", counting_init)
    monkeypatch.setattr(D._SecondLane, "results", counting_results)
    return seen


@pytest.mark.parametrize("failing", [None, 3, 10])
def test_two_workers_give_what_one_gives(tmp_path, monkeypatch, lanes, failing):
    dirs = _project(tmp_path, failing)
    both = _rendered(tmp_path, dirs)
    assert lanes["made"] == 1
    # The second worker's part is used, also when a migration before the split failed (3 is before it).
    assert lanes["used"] == 1
    monkeypatch.setattr(D, "_SECOND_LANE_FROM", 10**9)
    one = _rendered(tmp_path, dirs)
    assert lanes["made"] == 1  # (none the second time)
    assert both == one
    assert len(both) == 12 and sum(1 for _, error, _ in both if error) == (1 if failing else 0)
    sql = "\n".join(s for _, _, statements in both for s, _ in statements)
    assert 'ALTER COLUMN "owner_id" TYPE bigint' in sql  # the state after the split is whole
    if failing:
        after = [error for name, error, _ in both if name >= f"shelf.{failing + 1:04d}"]
        assert after == [None] * len(after)


def test_closing_early_ends_the_second_worker(tmp_path, lanes):
    migrations = D.load_django_migrations(_project(tmp_path), tmp_path, "postgresql", ())
    next(migrations)
    assert lanes["made"] == 1
    migrations.close()
    assert not any(t.name == "migsafe-second-lane" for t in threading.enumerate())


def test_small_plans_and_single_cores_keep_one_worker(tmp_path, monkeypatch):
    plan = load_plan(_project(tmp_path))
    monkeypatch.setattr(D, "cpus", lambda: 2)
    assert D._second_lane_start(plan.nodes, plan) == len(plan.nodes)  # 12 < _SECOND_LANE_FROM
    monkeypatch.setattr(D, "_SECOND_LANE_FROM", 2)
    split = D._second_lane_start(plan.nodes, plan)
    assert 1 < split < len(plan.nodes)
    monkeypatch.setattr(D, "cpus", lambda: 1)
    assert D._second_lane_start(plan.nodes, plan) == len(plan.nodes)


def test_a_migration_patching_what_makes_the_sql_gets_a_fresh_worker(tmp_path, monkeypatch):
    """An operation replacing a function of django.db when it runs (here the digest in constraint
    names) must not change the SQL of the migrations after it: its worker is replaced. One
    replacing a function of the web framework around the ORM (templates) changes no SQL: the
    worker stays."""
    from migsafe.sources.core import worker as W

    monkeypatch.setattr(D, "_SECOND_LANE_FROM", 10**9)
    dirs = _project(tmp_path)
    clean = _rendered(tmp_path, dirs)
    for name, target in (("0003_step.py", "django.db.backends.base.schema.names_digest"),
                         ("0005_step.py", "django.template.defaultfilters.upper")):
        module, _, function = target.rpartition(".")
        path = dirs[0] / name
        path.write_text(path.read_text().replace("class Migration", (
            "class Patch(migrations.operations.base.Operation):\n"
            "    def state_forwards(self, app_label, state):\n        pass\n\n"
            "    def database_forwards(self, app_label, schema_editor, from_state, to_state):\n"
            f"        import {module}\n        {target} = lambda *args, **kwargs: 'patched'\n\n\n"
            "class Migration")).replace("operations = [\n", "operations = [\n        Patch(),\n"))
    replaced: list[str] = []
    close = W.Renderer.close

    def closing(self):
        replaced.extend(self.recycled)
        close(self)

    monkeypatch.setattr(W.Renderer, "close", closing)
    assert [(n, e, [s for s, _ in st]) for n, e, st in _rendered(tmp_path, dirs)] == \
        [(n, e, [s for s, _ in st]) for n, e, st in clean]  # (lines moved by the patch)
    assert len(replaced) == 1 and "names_digest" in replaced[0]


@pytest.mark.parametrize("after", [0, 3])
def test_a_second_worker_that_fails_leaves_the_rest_to_the_first(tmp_path, monkeypatch, lanes, after):
    """The second worker not starting (or going away after `after` migrations) is no reason to
    stop the run: the first renders what it did not, and the result is the one a single worker gives."""
    from migsafe.errors import MigsafeError

    dirs = _project(tmp_path)
    results = D._SecondLane.results

    def failing(self):
        for n, item in enumerate(results(self)):
            if n == after:
                raise MigsafeError("the process that renders migrations did not start (no answer)")
            yield item

    monkeypatch.setattr(D._SecondLane, "results", failing)
    both = _rendered(tmp_path, dirs)
    monkeypatch.setattr(D, "_SECOND_LANE_FROM", 10**9)
    assert both == _rendered(tmp_path, dirs) and len(both) == 12


def test_a_second_workers_replacement_is_never_forked_from_its_thread(tmp_path, monkeypatch, lanes):
    """A fork from the second lane's thread copies the import locks the main thread holds at that
    moment into a child that then waits for them forever: a worker replaced there is spawned."""
    import os

    from migsafe.sources.core import worker as W

    dirs = _project(tmp_path)
    path = dirs[0] / "0011_step.py"  # after the split: rendered by the second worker, which it taints
    path.write_text(path.read_text().replace("class Migration", (
        "class Patch(migrations.operations.base.Operation):\n"
        "    def state_forwards(self, app_label, state):\n        pass\n\n"
        "    def database_forwards(self, app_label, schema_editor, from_state, to_state):\n"
        "        import django.db.backends.base.schema as schema\n"
        "        schema.names_digest = lambda *args, **kwargs: 'patched'\n\n\n"
        "class Migration")).replace("operations = [\n", "operations = [\n        Patch(),\n"))
    forks, spawned, fork, spawn = [], [], os.fork, W._SpawnedWorker.__init__

    def recorded_fork():
        forks.append(threading.current_thread() is threading.main_thread())
        return fork()

    def recorded_spawn(self, *args, **kwargs):
        spawned.append(threading.current_thread().name)
        spawn(self, *args, **kwargs)

    monkeypatch.setattr(W.os, "fork", recorded_fork)
    monkeypatch.setattr(W._SpawnedWorker, "__init__", recorded_spawn)
    both = _rendered(tmp_path, dirs)
    assert lanes["used"] == 1 and spawned == ["migsafe-second-lane"] and forks and all(forks)
    monkeypatch.setattr(D, "_SECOND_LANE_FROM", 10**9)
    assert both == _rendered(tmp_path, dirs)

"""Every Django plan, applied by Django's own `migrate` on a real PostgreSQL 15, step by step.

For each Django operation that migsafe flags, the finding's plan is written as the app's next
migrations (each step in its own file, after a history whose model has rows), and then:
- migsafe checks the steps: none of them has an error finding of the rule the plan fixes;
- Django applies them one at a time; after each step, the code deployed before it (the model as
  the previous step left the state) and the code deployed with it (the model as this step leaves
  the state) each insert a row, writing every field they know, as a running app would;
- Django's state after the plan is the state the unsafe operation gives (the model's field may
  gain `db_default`, which the plan says to add), so `makemigrations` has nothing left to write.

The same plan under the newest Django (this interpreter) and under Django 4.2 (`.venv-django42`,
where it is installed); the Django 5.0+ alternative a plan offers (`db_default`) under the newest.
The throwaway cluster is the one tests/test_postgres_truth.py starts (skipped, with the reason,
where no server is installed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from migsafe.config import load_settings
from migsafe.engine import check
from migsafe.fixes import django as D
from migsafe.rules import default_severities
from tests.fixes.test_plans_self_check import only_comments
from tests.fixes.conftest import run_check, write_migrations
from tests.test_postgres_truth import psql  # noqa: F401 - the fixture

INITIAL = '''from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Member",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("nick", models.CharField(max_length=40, null=True)),
                ("code", models.CharField(max_length=10)),
                ("ref", models.IntegerField(null=True)),
            ],
            options={"db_table": "member", "indexes": [models.Index(fields=["code"], name="member_code_idx")]},
        ),
    ]
'''
CHANGE = '''import django.db.models.deletion
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        {operation},
    ]
'''
FK = 'models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, to="shop.member")'
# case -> (rule, the unsafe operation, what the author writes where the plan says <value>)
CASES = {
    "drop-column": ("drop-column", 'migrations.RemoveField(model_name="member", name="code")', None),
    "not-null-without-default": ("not-null-without-default", 'migrations.AddField(model_name="member",'
                                 ' name="score", field=models.IntegerField(default=0))', None),
    "not-null-without-default-once": ("not-null-without-default", 'migrations.AddField(model_name="member",'
                                      ' name="level", field=models.CharField(default="basic", max_length=10),'
                                      ' preserve_default=False)', None),
    "set-not-null": ("set-not-null", 'migrations.AlterField(model_name="member", name="nick",'
                     ' field=models.CharField(max_length=40))', "'x'"),
    "validating-foreign-key": ("validating-foreign-key",
                               f'migrations.AddField(model_name="member", name="boss", field={FK})', None),
    "validating-foreign-key-existing-column": (
        "validating-foreign-key", 'migrations.AlterField(model_name="member", name="ref", field=models.ForeignKey('
        'db_column="ref", null=True, on_delete=django.db.models.deletion.PROTECT, to="shop.member"))', None),
    "foreign-key-index": ("non-concurrent-index",
                          f'migrations.AddField(model_name="member", name="boss", field={FK})', None),
    "non-concurrent-index": ("non-concurrent-index", 'migrations.AddIndex(model_name="member",'
                             ' index=models.Index(fields=["nick"], name="member_nick_idx"))', None),
    "non-concurrent-drop-index": ("non-concurrent-drop-index",
                                  'migrations.RemoveIndex(model_name="member", name="member_code_idx")', None),
    "add-unique-constraint": ("add-unique-constraint", 'migrations.AddConstraint(model_name="member",'
                              ' constraint=models.UniqueConstraint(fields=["nick"], name="member_nick_uniq"))', None),
    "validating-check-constraint": ("validating-check-constraint", 'migrations.AddConstraint(model_name="member",'
                                    ' constraint=models.CheckConstraint(check=models.Q(ref__gte=0),'
                                    ' name="member_ref_pos"))', None),
    "rename-column": ("rename-column",
                      'migrations.RenameField(model_name="member", old_name="nick", new_name="nickname")', None),
    "rename-table": ("rename-table", 'migrations.AlterModelTable(name="member", table="members")', None),
    "change-column-type": ("change-column-type", 'migrations.AlterField(model_name="member", name="ref",'
                           ' field=models.BigIntegerField(null=True))', None),
    "drop-table": ("drop-table", 'migrations.DeleteModel(name="member")', None),
    "concurrently-in-transaction": ("concurrently-in-transaction", 'AddIndexConcurrently(model_name="member",'
                                    ' index=models.Index(fields=["nick"], name="member_nick_idx"))', None),
}
# Where a plan leaves another rule's finding on purpose: the foreign key's index plan keeps the
# key as Django adds it (that finding has its own plan).
LEFT = {"foreign-key-index": {"validating-foreign-key"}}

DJANGO42 = Path(__file__).resolve().parents[2] / ".venv-django42" / "bin" / "python"
PYTHONS = {"django-newest": sys.executable, "django-4.2": str(DJANGO42)}

# Runs under the chosen interpreter: applies the steps, inserts as each app version would,
# compares the final state with the unsafe operation's. Prints one JSON line.
APPLY = r'''
import json, sys
import django
from django.conf import settings

spec = json.loads(sys.argv[1])
settings.configure(INSTALLED_APPS=["shop"], USE_TZ=True, DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
                   DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": spec["db"],
                                          "HOST": spec["host"], "USER": "postgres"}})
django.setup()
from django.core.management import call_command
from django.db import connection, models
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.questioner import MigrationQuestioner

counter = iter(range(1, 10**6))
GAINED = ("db_default", "db_column")  # what a plan says the model's field gains (Django 5.0+; a switched column)


def state(name):
    return MigrationLoader(None, ignore_no_migrations=True).project_state(("shop", name))


def insert(project_state, who):
    """A row written by the app whose models are `project_state`'s: every field it knows."""
    if ("shop", "member") not in project_state.models:
        return
    model = project_state.apps.get_model("shop", "member")
    n, values = next(counter), {}
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        if f.is_relation:
            values[f.attname] = None if f.null else model.objects.values_list("pk", flat=True).first()
        elif isinstance(f, (models.CharField, models.TextField)):
            values[f.attname] = f"v{n}"[: f.max_length or 10]
        elif isinstance(f, models.IntegerField):
            values[f.attname] = n
        else:
            raise AssertionError(f"no value for {f!r}")
    try:
        model.objects.create(**values)
    except Exception as err:
        raise SystemExit(f"{who}: insert failed: {type(err).__name__}: {err}".strip())


call_command("migrate", "shop", "0001_initial", verbosity=0)
for _ in range(3):
    insert(state("0001_initial"), "history")
with connection.cursor() as cursor:  # and a row with every nullable column NULL
    cursor.execute("INSERT INTO member (code) VALUES ('raw')")
previous = "0001_initial"
for step in spec["steps"]:
    try:
        call_command("migrate", "shop", step, verbosity=0)
    except Exception as err:
        raise SystemExit(f"{step}: migrate failed: {type(err).__name__}: {err}")
    insert(state(previous), f"after {step}, the code deployed before it")
    insert(state(step), f"after {step}, the code deployed with it")
    previous = step

# The unsafe operation's state, from the same history
namespace = {}
exec(spec["unsafe"], namespace)
expected = namespace["Migration"]("0002_unsafe", "shop").mutate_state(state("0001_initial"), preserve=False)
planned = state(previous)
changes = MigrationAutodetector(planned, expected, MigrationQuestioner(defaults={"ask_rename": False,
                                "ask_rename_model": False}))._detect_changes()
left = []
for migration in changes.get("shop", []):
    for op in migration.operations:
        if type(op).__name__ == "AlterField":
            was = planned.models["shop", op.model_name].fields[op.name].deconstruct()[3]
            now = dict(op.field.deconstruct()[3])
            if {k: v for k, v in now.items() if k not in GAINED} == {k: v for k, v in was.items() if k not in GAINED}:
                continue
        left.append(op.describe())
with connection.cursor() as cursor:  # every constraint checked, every foreign key as Django makes them
    cursor.execute("SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
                   " AND (NOT convalidated OR contype = 'f' AND NOT condeferred)")
    left += [f"constraint {name} not validated or not deferred" for name, in cursor.fetchall()]
print(json.dumps({"left": left}))
'''


def _findings(root: Path):
    settings = load_settings(None, {"start-after": {"django": {"shop": "0001_initial"}}}, set(default_severities()))
    return check([root], settings, cwd=root).findings


def _app(root: Path) -> Path:
    migrations = root / "shop" / "migrations"
    migrations.mkdir(parents=True)
    (root / "shop" / "__init__.py").write_text("")
    (migrations / "__init__.py").write_text("")
    (migrations / "0001_initial.py").write_text(INITIAL)
    return migrations


def _write_steps(migrations: Path, codes: list[str]) -> list[str]:
    names, previous = [], "0001_initial"
    for n, code in enumerate(codes, 2):
        name = f"{n:04d}_step"
        dependency = f'    dependencies = [("shop", "{previous}")]\n'
        head = "class Migration(migrations.Migration):\n"
        assert head in code, code
        (migrations / f"{name}.py").write_text(code.replace(head, head + dependency, 1) + "\n")
        names.append(previous := name)
    return names


@pytest.mark.slow
@pytest.mark.parametrize("version", sorted(PYTHONS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_django_plan_runs_on_postgres(psql, tmp_path, case, version):  # noqa: F811
    _plan_runs(psql, tmp_path, case, version)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["not-null-without-default", "not-null-without-default-once"])
def test_db_default_alternative_runs_on_postgres(psql, tmp_path, monkeypatch, case):  # noqa: F811
    """The Django 5.0+ way the plan offers beside its RunSQL: the default kept as db_default."""
    import django

    if django.VERSION < (5,):
        pytest.skip("db_default is Django 5.0+")
    monkeypatch.setattr(D, "_add_with_default", lambda a, names, m: m.operations.append(
        D.db_default_operation(names, D._python_literal(D._keyword(names.field, "default")))))
    codes = _plan_runs(psql, tmp_path, case, "django-newest")
    assert any("db_default=" in c and "RunSQL(\"ALTER TABLE member ADD" not in c for c in codes), codes


def _plan_runs(psql, tmp_path: Path, case: str, version: str) -> list[str]:  # noqa: F811
    """The steps of `case`'s plan, checked by migsafe and applied by Django under `version`."""
    python = PYTHONS[version]
    if not Path(python).exists():
        pytest.skip(f"no {python} (make test creates it)")
    if subprocess.run([python, "-c", "import psycopg"], capture_output=True).returncode:
        pytest.skip(f"psycopg is not installed for {python} (the test extra brings it)")
    rule, operation, value = CASES[case]
    unsafe = CHANGE.format(operation=operation)

    migrations = _app(tmp_path / "unsafe")
    (migrations / "0002_unsafe.py").write_text(unsafe)
    findings = _findings(tmp_path / "unsafe")
    found = [f for f in findings if f.rule == rule]
    assert found, f"no {rule} finding for {operation}: {[(f.rule, f.message) for f in findings]}"
    codes = [step.code.replace("<value>", value) if value else step.code
             for step in found[0].fix.steps if not only_comments(step.code)]
    assert codes and not any("<value>" in c for c in codes), "\n\n".join(codes)

    migrations = _app(tmp_path / "plan")
    steps = _write_steps(migrations, codes)
    errors = [f"{f.rule} at {f.path}:{f.span.line}: {f.message}" for f in _findings(tmp_path / "plan")
              if f.severity.value == "error" and f.rule not in LEFT.get(case, ())]
    assert not errors, "\n\n".join(codes) + "\n\n" + "\n".join(errors)

    db = f"plan_{case.replace('-', '_')}_{version.replace('-', '_').replace('.', '')}"
    psql(f"DROP DATABASE IF EXISTS {db}")
    psql(f"CREATE DATABASE {db}")
    host = psql("SHOW unix_socket_directories").strip()
    spec = {"db": db, "host": host, "steps": steps, "unsafe": unsafe}
    run = subprocess.run([python, "-c", APPLY, json.dumps(spec)], cwd=tmp_path / "plan", capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, "\n\n".join(codes) + "\n\n" + run.stderr[-3000:]
    assert json.loads(run.stdout.splitlines()[-1]) == {"left": []}, "\n\n".join(codes)
    return codes


DROPPED = ("ALTER TABLE users ADD COLUMN score integer NOT NULL DEFAULT 0;\n"
           "ALTER TABLE users ALTER COLUMN score DROP DEFAULT")


@pytest.mark.parametrize("target, kept", [("15", True), ("10", False)])
def test_known_default_is_kept_or_backfilled(tmp_path, target, kept):
    """A default dropped again in the same migration is known: the plan keeps it where adding a
    constant default writes no row (PostgreSQL 11+), and backfills it before."""
    root = write_migrations(tmp_path / "m", "sql", [DROPPED])
    settings = load_settings(None, {"start-after": {"sql": "V1__setup.sql"}, "target-version": target},
                             set(default_severities()))
    [found] = [f for f in check([root], settings, cwd=root).findings if f.rule == "not-null-without-default"]
    assert "drops again" in found.message and "without a default" not in found.message
    code = "\n".join(step.code for step in found.fix.steps)
    assert "<value>" not in code
    assert ("ADD COLUMN score integer DEFAULT 0 NOT NULL;" in code) == kept, code
    assert ("UPDATE users SET score = 0" in code) == (not kept), code


def test_django_default_is_said_as_dropped(tmp_path):
    migrations = _app(tmp_path)
    (migrations / "0002_unsafe.py").write_text(CHANGE.format(operation=CASES["not-null-without-default"][1]))
    [found] = [f for f in _findings(tmp_path) if f.rule == "not-null-without-default"]
    assert "DEFAULT 0" in found.statement
    assert "drops again" in found.message and "without a default" not in found.message


@pytest.mark.parametrize("column, nullable_first", [("email varchar(100) NOT NULL", True),
                                                     ("email varchar(100) NOT NULL DEFAULT ''", False),
                                                     ("email varchar(100)", False)])
def test_drop_column_plan_makes_a_not_null_column_nullable_first(tmp_path, column, nullable_first):
    """The new code's inserts leave the column out: NOT NULL without a default must go first."""
    root = write_migrations(tmp_path / "m", "sql", [f"CREATE TABLE accounts (id bigint PRIMARY KEY, {column})",
                                       "ALTER TABLE accounts DROP COLUMN email"])
    [found] = [f for f in run_check(root, "sql") if f.rule == "drop-column"]
    expand = found.fix.steps[0].code
    assert ("ALTER TABLE accounts ALTER COLUMN email DROP NOT NULL" in expand) == nullable_first, expand

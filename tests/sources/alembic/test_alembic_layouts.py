"""Alembic project layouts read as Alembic reads them: every file of a project's version
locations is judged or reported (`not-analyzed`), and each project is judged on its own
database. One minimal project per layout, checked through the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fuzzgen import run_inprocess

DROP = 'def upgrade():\n    op.execute("SET lock_timeout = \'1s\'")\n    op.drop_column("users", "{column}")\n'
INDEX = 'def upgrade():\n    op.create_index("ix_t_x", "t", ["x"])\n'


def rev(folder: Path, rid: str, down: str | tuple | None, up: str | None = None, extra: str = "") -> Path:
    """A revision file as `alembic revision` writes it; by default it drops column <rid>."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{rid}_x.py"
    path.write_text(f"from alembic import op\nimport sqlalchemy as sa\n\nrevision = {rid!r}\ndown_revision = {down!r}\n"
                    f"{extra}\n\n{up or DROP.format(column=rid)}\n\ndef downgrade():\n    pass\n")
    return path


def ini(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "alembic.ini").write_text("[alembic]\n" + body)
    return folder / "alembic.ini"


def check(cwd: Path, *args: str) -> tuple[int, dict, str]:
    code, out, err = run_inprocess(["check", *args, "--format", "json", "--no-cache"], cwd)
    return code, json.loads(out) if out else {}, err


RULES = ("drop-column", "non-concurrent-index")  # what the revisions here do


def hits(report: dict, *rules: str) -> list[tuple[str, str]]:
    return sorted((f["path"], f["rule"]) for f in report["findings"] if not rules or f["rule"] in rules)


def test_recursive_version_locations(tmp_path):
    ini(tmp_path, "script_location = migrations\nrecursive_version_locations = true\n")
    rev(tmp_path / "migrations/versions", "a1", None)
    rev(tmp_path / "migrations/versions/2024", "b2", "a1")
    code, report, _ = check(tmp_path, ".")
    assert code == 1 and report["summary"]["migrations"] == 2
    assert ("migrations/versions/2024/b2_x.py", "drop-column") in hits(report)


@pytest.mark.parametrize(
    "ini_folder, location, script",
    [
        (".", "myapp:migrations", "myapp/migrations"),
        (".", "myapp.db:alembic", "myapp/db/alembic"),
        (".", "myapp:db:alembic", "myapp/db/alembic"),  # prefect: each ":" part is a path step
        ("myapp/db/runs", "myapp:db/alembic", "myapp/db/alembic"),  # dagster: the ini inside the package
    ],
)
def test_script_location_as_a_package_resource(tmp_path, ini_folder, location, script):
    # the project is not installed: the package is found beside or above the ini, never imported
    for folder in ("myapp", "myapp/db"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "__init__.py").write_text("raise SystemExit('imported')\n")
    (tmp_path / script).mkdir(parents=True)
    (tmp_path / script / "env.py").write_text("raise SystemExit('env.py ran')\n")
    rev(tmp_path / script / "versions", "a1", None)
    ini(tmp_path / ini_folder, f"script_location = {location}\nsqlalchemy.url = sqlite:///app.db\n")
    code, report, err = check(tmp_path, ini_folder)
    assert (code, err) == (1, "")
    assert report["dialect"] == "sqlite" and report["summary"]["migrations"] == 1
    assert hits(report, *RULES) == [(f"{script}/versions/a1_x.py", "drop-column")]


def test_package_resource_that_cannot_be_found_is_one_line(tmp_path):
    ini(tmp_path, "script_location = notinstalled_pkg:migrations\n")
    code, _, err = check(tmp_path, ".")
    assert code == 2
    assert err == ('migsafe: error: alembic: alembic.ini: "notinstalled_pkg:migrations": package notinstalled_pkg '
                   "was found neither beside alembic.ini or in a folder above it, nor installed\n")


def expand_contract(root: Path) -> None:
    """OpenStack's layout: a folder per release and phase, branch labels, depends_on across them."""
    v = root / "db/versions"
    rev(v, "k0", None, INDEX)  # the initial schema
    rev(v / "liberty/expand", "e1", "k0", INDEX, extra="branch_labels = ('expand',)")
    rev(v / "liberty/contract", "c1", "k0", extra="branch_labels = ('contract',)\ndepends_on = ('e1',)")
    rev(v / "2024.1/expand", "e2", "e1", INDEX)
    rev(v / "2024.1/contract", "c2", "c1", extra="depends_on = 'expand'")  # a branch label


@pytest.mark.parametrize(
    "separator, joiner",
    [("os", os.pathsep), ("space", " "), (":", ":"), (";", ";"), ("newline", "\n    "), (None, ", ")],
)
def test_version_locations_of_many_branch_folders(tmp_path, separator, joiner):
    expand_contract(tmp_path)
    folders = ["db/versions", "db/versions/liberty/expand", "db/versions/liberty/contract",
               "db/versions/2024.1/expand", "db/versions/2024.1/contract"]
    sep = f"path_separator = {separator}\n" if separator else ""  # none: Alembic's legacy split
    ini(tmp_path, "script_location = db\n" + sep + "version_locations = "
        + joiner.join(f"%(here)s/{f}" for f in folders) + "\nsqlalchemy.url = postgresql://h/db\n")
    code, report, err = check(tmp_path, ".")
    assert code == 1 and err == ""
    assert report["summary"]["migrations"] == 5  # each file once, though folders nest
    assert [path for path, _ in hits(report, "drop-column")] == [
        "db/versions/2024.1/contract/c2_x.py", "db/versions/liberty/contract/c1_x.py"]


def test_branch_folders_set_at_run_time_are_read(tmp_path):
    # neutron: alembic.ini names only the script folder; neutron-db-manage adds each
    # release's expand/contract folder as a version location when it runs
    expand_contract(tmp_path)
    ini(tmp_path, "script_location = %(here)s/db\nsqlalchemy.url =\n")
    code, report, _ = check(tmp_path, ".")
    assert code == 1 and report["summary"]["migrations"] == 5


def test_one_history_per_database_in_folders_named_after_them(tmp_path):
    # prefect: env.py picks versions/postgresql/ or versions/sqlite/ at run time; both hold the
    # same revision ids, so each is a graph of its own, on the database its folder names
    for database in ("postgresql", "sqlite"):
        rev(tmp_path / "m/versions" / database, "a1", None, INDEX)
        rev(tmp_path / "m/versions" / database, "b2", "a1")
    ini(tmp_path, "script_location = m\n")
    code, report, err = check(tmp_path, ".")
    assert (code, err) == (1, "")
    assert report["summary"]["migrations"] == 4 and report["dialect"] == "postgresql, sqlite"
    assert hits(report, *RULES) == [
        ("m/versions/postgresql/a1_x.py", "non-concurrent-index"), ("m/versions/postgresql/b2_x.py", "drop-column"),
        ("m/versions/sqlite/b2_x.py", "drop-column")]
    # One database's folder, or one of its files, named: the other history is not this one's
    # (not replayed, not counted).
    code, report, _ = check(tmp_path, "m/versions/sqlite")
    assert report["summary"]["migrations"] == 2 and report["dialect"] == "sqlite"
    code, report, _ = check(tmp_path, "m/versions/postgresql/b2_x.py")
    assert report["summary"]["migrations"] == 2 and report["dialect"] == "postgresql"
    assert hits(report, *RULES) == [("m/versions/postgresql/b2_x.py", "drop-column")]


def test_a_revision_file_as_path_uses_its_project(tmp_path):
    # pre-commit passes the changed file: its alembic.ini is found above it, with the project's
    # locations (its parent lives in another folder) and database
    expand_contract(tmp_path)
    ini(tmp_path, "script_location = %(here)s/db\nsqlalchemy.url = mysql+pymysql://u@h/db\n")
    code, report, err = check(tmp_path, "db/versions/2024.1/contract/c2_x.py")
    assert (code, err) == (1, "")
    assert report["dialect"] == "mysql" and report["summary"]["migrations"] == 5  # all replayed
    assert hits(report, *RULES) == [("db/versions/2024.1/contract/c2_x.py", "drop-column")]  # one reported
    assert {f["path"] for f in report["findings"]} == {"db/versions/2024.1/contract/c2_x.py"}
    # several files at once: one project, each file reported; on MySQL an index is built online
    code, report, _ = check(tmp_path, "db/versions/liberty/expand/e1_x.py", "db/versions/liberty/contract/c1_x.py")
    assert report["summary"]["migrations"] == 5
    assert hits(report, *RULES) == [("db/versions/liberty/contract/c1_x.py", "drop-column")]


def test_a_sub_folder_as_path_uses_its_project(tmp_path):
    expand_contract(tmp_path)
    ini(tmp_path, "script_location = db\nsqlalchemy.url = mysql://h/db\n")
    code, report, _ = check(tmp_path, "db/versions/2024.1")
    assert report["dialect"] == "mysql" and report["summary"]["migrations"] == 5
    assert hits(report, *RULES) == [("db/versions/2024.1/contract/c2_x.py", "drop-column")]
    code, report, _ = check(tmp_path, "db/versions/2024.1", "--dialect", "postgresql")  # the flag wins
    assert report["dialect"] == "postgresql"
    assert hits(report, *RULES) == [("db/versions/2024.1/contract/c2_x.py", "drop-column"),
                                    ("db/versions/2024.1/expand/e2_x.py", "non-concurrent-index")]


def test_several_projects_each_on_its_own_database(tmp_path):
    ini(tmp_path / "billing", "script_location = m\nsqlalchemy.url = mysql://h/db\n")
    rev(tmp_path / "billing/m/versions", "b1", None, INDEX)
    ini(tmp_path / "shop", "script_location = m\n")  # no url: PostgreSQL
    rev(tmp_path / "shop/m/versions", "s1", None, INDEX)
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql/0001_index.sql").write_text("CREATE INDEX ix_u_x ON u (x);\n")
    code, report, _ = check(tmp_path, "billing", "shop", "sql")
    assert report["summary"]["migrations"] == 3
    assert hits(report, "non-concurrent-index") == [
        ("shop/m/versions/s1_x.py", "non-concurrent-index"), ("sql/0001_index.sql", "non-concurrent-index")]
    assert report["dialect"] == "postgresql, mysql"


def test_django_app_beside_an_alembic_project_keeps_the_default_dialect(tmp_path):
    pytest.importorskip("django")
    ini(tmp_path, "script_location = m\nsqlalchemy.url = mysql://h/db\n")
    rev(tmp_path / "m/versions", "a1", None, INDEX)
    app = tmp_path / "shop"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").touch()
    (app / "migrations/__init__.py").touch()
    (app / "migrations/0001_initial.py").write_text(
        "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n"
        "    dependencies = []\n    operations = [\n        migrations.CreateModel(name='Item', fields=[\n"
        "            ('id', models.AutoField(primary_key=True)), ('x', models.IntegerField())]),\n    ]\n")
    (app / "migrations/0002_index.py").write_text(
        "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n"
        "    dependencies = [('shop', '0001_initial')]\n    operations = [\n"
        "        migrations.AddIndex('item', models.Index(fields=['x'], name='ix_item_x')),\n    ]\n")
    code, report, _ = check(tmp_path, ".")
    assert report["summary"]["migrations"] == 3
    assert hits(report, "non-concurrent-index") == [("shop/migrations/0002_index.py", "non-concurrent-index")]


@pytest.mark.parametrize("name, text", [("0002_empty.py", ""), ("0002_garbage.py", "<<<<<<< HEAD\n"),
                                        ("_helpers.py", "def helper():\n    pass\n")])
def test_a_file_alembic_refuses_is_not_analyzed(tmp_path, name, text):
    ini(tmp_path, "script_location = m\n")
    rev(tmp_path / "m/versions", "a1", None, INDEX)
    (tmp_path / "m/versions" / name).write_text(text)
    (tmp_path / "m/versions/__init__.py").write_text("")  # never loaded by Alembic
    code, report, _ = check(tmp_path, ".")
    assert code == 1
    assert report["summary"]["migrations"] == 2  # the files Alembic loads
    [finding] = [f for f in report["findings"] if f["rule"] == "not-analyzed"]
    assert finding["path"] == f"m/versions/{name}" and finding["line"] == 1
    code, report, _ = check(tmp_path, f"m/versions/{name}")  # named alone, as pre-commit does
    assert code == 1 and hits(report) == [(f"m/versions/{name}", "not-analyzed")]


def test_migrations_counted_are_the_files_on_disk(tmp_path):
    expand_contract(tmp_path)
    broken = "revision = 'c3'\ndown_revision = 'c2'\ndef upgrade(:\n"
    (tmp_path / "db/versions/2024.1/contract/c3_broken.py").write_text(broken)
    (tmp_path / "db/versions/README").write_text("not Python")
    ini(tmp_path, "script_location = db\n")
    on_disk = [p for p in (tmp_path / "db/versions").rglob("*.py") if p.name != "__init__.py"]
    code, report, _ = check(tmp_path, ".")
    assert report["summary"]["migrations"] == len(on_disk) == 6

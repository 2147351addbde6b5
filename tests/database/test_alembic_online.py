"""Alembic revisions applied on a real PostgreSQL by Alembic's own machinery (alembic_online.py):
what runs behind inspector calls and in SQL built at run time is caught and judged at its line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from migsafe.config import load_settings
from migsafe.database.alembic_online import run_alembic, transaction_per_migration
from migsafe.database.capture import inline, inline_all, reads_only
from migsafe.judge import analyze
from migsafe.rules import default_severities

CREATE_USERS = """
    def upgrade():
        op.create_table("users", sa.Column("id", sa.Integer, primary_key=True), sa.Column("email", sa.String(50)),
                        sa.Column("legacy", sa.Text), sa.Column("team_id", sa.Integer))
        op.create_table("teams", sa.Column("id", sa.Integer, primary_key=True))
        op.execute("INSERT INTO users (email) SELECT 'u' || g FROM generate_series(1, 50) g")
"""


def project(tmp_path: Path, *bodies: str, env: str = "from alembic import context\n") -> Path:
    """An Alembic script folder (env.py + versions/), one revision per body, a linear chain."""
    (tmp_path / "env.py").write_text(env)
    versions = tmp_path / "versions"
    versions.mkdir()
    down = None
    for n, body in enumerate(bodies, 1):
        rev = f"r{n:03d}"
        head = f"from alembic import op\nimport sqlalchemy as sa\n\nrevision = {rev!r}\ndown_revision = {down!r}\n\n\n"
        (versions / f"{rev}_x.py").write_text(head + textwrap.dedent(body).strip() + "\n\n\ndef downgrade():\n"
                                              "    op.execute('SELECT 1')\n")
        down = rev
    return versions


def applied(versions: Path, scratch, start_after: str | None = None):
    url = scratch.url.render_as_string(hide_password=False)
    return run_alembic([versions], versions.parent, versions.parent, "postgresql", start_after, url)


def findings(migrations) -> list[tuple[str, str, int]]:
    settings = load_settings(None, {"ignore": ["missing-lock-timeout"]}, set(default_severities()))
    result = analyze((m for m, _ in migrations), settings)
    return [(f.migration, f.rule, f.span.line) for f in result.findings]


def line_of(versions: Path, rev: str, needle: str) -> int:
    text = next(versions.glob(f"{rev}_*.py")).read_text().splitlines()
    return next(i for i, line in enumerate(text, 1) if needle in line)


@pytest.mark.slow
def test_ddl_gated_on_the_inspector_is_caught_at_its_line(tmp_path, scratch):
    versions = project(tmp_path, CREATE_USERS, """
        def upgrade():
            bind = op.get_bind()
            columns = [c["name"] for c in sa.inspect(bind).get_columns("users")]
            if "legacy" in columns:
                op.drop_column("users", "legacy")
    """)
    migrations = applied(versions, scratch)
    [(second, _)] = [(m, p) for m, p in migrations if m.name == "r002"]
    # (the inspector's own queries only read: left out)
    assert [s.sql for s in second.statements] == ["ALTER TABLE users DROP COLUMN legacy"]
    [stmt] = second.statements
    assert stmt.in_transaction is True
    assert stmt.evidence is not None and stmt.evidence.server_version
    assert ("r002", "drop-column", line_of(versions, "r002", "op.drop_column")) in findings(migrations)


@pytest.mark.slow
def test_sql_built_at_run_time_is_judged(tmp_path, scratch):
    versions = project(tmp_path, CREATE_USERS, """
        TABLES = ("users",)


        def upgrade():
            for table in TABLES:
                op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_team_fk"
                           " FOREIGN KEY (team_id) REFERENCES teams (id)")
                op.get_bind().execute(sa.text(f"UPDATE {table} SET email = lower(email)"))
    """)
    migrations = applied(versions, scratch)
    second = next(m for m, _ in migrations if m.name == "r002")
    assert [s.sql for s in second.statements] == [
        "ALTER TABLE users ADD CONSTRAINT users_team_fk FOREIGN KEY (team_id) REFERENCES teams (id)",
        "UPDATE users SET email = lower(email)"]
    found = findings(migrations)
    assert ("r002", "validating-foreign-key", line_of(versions, "r002", "op.execute(f")) in found
    assert ("r002", "unbatched-backfill", line_of(versions, "r002", "UPDATE {table}")) in found
    update = second.statements[1].evidence
    assert "users" in update.scanned


@pytest.mark.slow
def test_values_bound_by_the_driver_are_written_in(tmp_path, scratch):
    versions = project(tmp_path, CREATE_USERS, """
        def upgrade():
            op.get_bind().execute(sa.text("UPDATE users SET email = :e WHERE email IS NULL"), {"e": "it's"})
            with op.batch_alter_table("users") as batch_op:
                batch_op.add_column(sa.Column("age", sa.Integer))
                batch_op.alter_column("email", type_=sa.String(100))
    """)
    second = next(m for m, _ in applied(versions, scratch) if m.name == "r002")
    assert [(s.sql, s.span.line) for s in second.statements] == [
        ("UPDATE users SET email = 'it''s' WHERE email IS NULL", line_of(versions, "r002", "UPDATE users")),
        ("ALTER TABLE users ADD COLUMN age INTEGER", line_of(versions, "r002", "batch_op.add_column")),
        ("ALTER TABLE users ALTER COLUMN email TYPE VARCHAR(100)", line_of(versions, "r002", "batch_op.alter_column")),
    ]


@pytest.mark.slow
def test_autocommit_block_runs_outside_the_transaction(tmp_path, scratch):
    versions = project(tmp_path, CREATE_USERS, """
        def upgrade():
            op.add_column("users", sa.Column("age", sa.Integer))
            with op.get_context().autocommit_block():
                op.create_index("ix_users_email", "users", ["email"], postgresql_concurrently=True)
    """)
    second = next(m for m, _ in applied(versions, scratch) if m.name == "r002")
    assert [(s.sql, s.in_transaction) for s in second.statements] == [
        ("ALTER TABLE users ADD COLUMN age INTEGER", True),
        ("CREATE INDEX CONCURRENTLY ix_users_email ON users (email)", False)]


@pytest.mark.slow
def test_a_revision_the_server_refuses_stops_the_run(tmp_path, scratch):
    versions = project(tmp_path, CREATE_USERS, """
        def upgrade():
            op.add_column("users", sa.Column("age", sa.Integer))
            op.drop_column("users", "no_such_column")
    """, """
        def upgrade():
            op.drop_column("users", "legacy")
    """)
    migrations = {m.name: m for m, _ in applied(versions, scratch)}
    failed = migrations["r002"]
    assert failed.error == 'column "no_such_column" of relation "users" does not exist'
    assert failed.error_line == line_of(versions, "r002", "op.drop_column")
    assert [s.sql for s in failed.statements] == ["ALTER TABLE users ADD COLUMN age INTEGER",
                                                  "ALTER TABLE users DROP COLUMN no_such_column"]
    assert migrations["r003"].error == "not run: r002 failed on the database"
    assert migrations["r003"].statements == []


@pytest.mark.slow
def test_migrations_are_shaped_like_the_offline_ones(tmp_path, scratch):
    from migsafe.sources.alembic.load import load_alembic_migrations

    versions = project(tmp_path, CREATE_USERS, """
        def upgrade():
            op.drop_column("users", "legacy")
    """)
    (versions / "r002_x.py").write_text((versions / "r002_x.py").read_text().replace(
        "    op.execute('SELECT 1')", "    pass"))  # an empty downgrade: irreversible
    online = applied(versions, scratch, start_after="r001")
    offline = load_alembic_migrations([versions], tmp_path, tmp_path, "postgresql", "r001")

    def shape(items):
        return [(m.source, m.name, m.path, m.text, m.report, m.irreversible, p) for m, p in items]

    assert shape(online) == shape(offline)
    assert online[1][0].irreversible is not None
    assert [s.sql for s in online[1][0].statements] == ["ALTER TABLE users DROP COLUMN legacy"]


def test_transaction_per_migration_is_read_from_env_py(tmp_path):
    env = tmp_path / "env.py"
    env.write_text("context.configure(connection=c, target_metadata=m, transaction_per_migration=True)\n")
    assert transaction_per_migration(env) is True
    env.write_text("context.configure(connection=c, target_metadata=m)\n")
    assert transaction_per_migration(env) is False
    assert transaction_per_migration(tmp_path / "missing.py") is False


@pytest.mark.parametrize(("body", "expected"), [
    ('kwargs = {"transaction_per_migration": True}\ncontext.configure(connection=c, **kwargs)', True),
    ("kwargs = dict(transaction_per_migration=True)\ncontext.configure(connection=c, **kwargs)", True),
    ('kwargs = {}\nkwargs["transaction_per_migration"] = True\ncontext.configure(**kwargs)', True),
    ('kwargs = {}\nkwargs.update({"transaction_per_migration": True})\ncontext.configure(**kwargs)', True),
    # superset's: only for SQLite and MySQL; on PostgreSQL the upgrade is one transaction
    ('kwargs = {}\nif engine.name in ("sqlite", "mysql"):\n    kwargs = {"transaction_per_migration": True}\n'
     "context.configure(connection=c, **kwargs)", False),
    ('kwargs = {"transaction_per_migration": True}\nkwargs = {}\ncontext.configure(**kwargs)', False),
    ('kwargs = {"transaction_per_migration": False}\ncontext.configure(**kwargs)', False),
    ('other = {"transaction_per_migration": True}\ncontext.configure(**kwargs)', False),
])
def test_transaction_per_migration_given_through_a_dict(tmp_path, body, expected):
    env = tmp_path / "env.py"
    env.write_text("def run_migrations_online():\n" + textwrap.indent(body, "    ") + "\n")
    assert transaction_per_migration(env) is expected


@pytest.mark.parametrize(("sql", "params", "expected"), [
    ("UPDATE t SET a = %(a)s WHERE b = %(b)s", {"a": "x'y", "b": None}, "UPDATE t SET a = 'x''y' WHERE b = NULL"),
    ("UPDATE t SET a = %s WHERE b LIKE 'p%%'", (3,), "UPDATE t SET a = 3 WHERE b LIKE 'p%'"),
    ("UPDATE t SET a = ? WHERE b = '?'", (True,), "UPDATE t SET a = true WHERE b = '?'"),
    ("SELECT '%s'", None, "SELECT '%s'"),
    # SQLAlchemy gives the driver {} for op.execute("... LIKE '%/dags/%'"), escaped for it as %%
    ("UPDATE t SET a = 'x' WHERE b LIKE '%%/dags/%%'", {}, "UPDATE t SET a = 'x' WHERE b LIKE '%/dags/%'"),
])
def test_inline_writes_the_values_in(sql, params, expected):
    assert inline(sql, params, "postgresql") == expected


@pytest.mark.parametrize(("sql", "reads"), [
    ("SELECT 1", True), ("  select * from t", True), ("SHOW server_version", True),
    ("WITH x AS (SELECT 1) SELECT * FROM x", True), ("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", False),
    ("SELECT setval('s', 3)", False), ("SELECT * INTO t2 FROM t", False), ("UPDATE t SET a = 1", False),
])
def test_reads_only(sql, reads):
    assert reads_only(sql) is reads


@pytest.mark.slow
def test_a_revision_that_kills_its_process_or_hangs_is_said_so(tmp_path, scratch):
    versions = project(tmp_path, CREATE_USERS, """
        def upgrade():
            import time
            time.sleep(60)
    """, """
        def upgrade():
            import os
            os._exit(3)
    """)
    url = scratch.url.render_as_string(hide_password=False)
    migrations = {m.name: m for m, _ in run_alembic([versions], tmp_path, tmp_path, "postgresql", None, url,
                                                     timeout=1)}
    assert migrations["r001"].error is None
    assert migrations["r002"].error == "upgrade() took longer than 1 s"
    assert migrations["r003"].error == "not run: r002 failed on the database"

    (versions / "r002_x.py").write_text((versions / "r002_x.py").read_text().replace("time.sleep(60)", "pass"))
    migrations = {m.name: m for m, _ in run_alembic([versions], tmp_path, tmp_path, "postgresql", None, url)}
    assert migrations["r003"].error == "the process running the migrations ended early (exit code 3)"


@pytest.mark.slow
def test_rows_are_generated_before_each_revision(tmp_path, scratch):
    versions = project(tmp_path, """
        def upgrade():
            op.create_table("items", sa.Column("id", sa.Integer, primary_key=True), sa.Column("n", sa.Integer))
    """, """
        def upgrade():
            op.execute("UPDATE items SET n = 1")
    """)
    url = scratch.url.render_as_string(hide_password=False)
    migrations = {m.name: m for m, _ in run_alembic([versions], tmp_path, tmp_path, "postgresql", None, url, rows=20)}
    [update] = migrations["r002"].statements
    assert update.evidence.scanned == ("items",)
    with scratch.engine().connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM items").scalar() == 20


def test_a_revision_alembic_cannot_load_is_named_at_its_line(tmp_path):
    versions = project(tmp_path, CREATE_USERS, """
        def upgrade():
            op.drop_column("users", "legacy")
    """)
    text = (versions / "r002_x.py").read_text()
    (versions / "r002_x.py").write_text(text.replace("import sqlalchemy as sa\n",
                                                     "import sqlalchemy as sa\nimport no_such_app\n"))
    out = {m.name: m for m, _ in run_alembic([versions], tmp_path, tmp_path, "postgresql", None,
                                             "postgresql+psycopg://nobody@/never-connected")}
    assert out["r002"].error == ("Alembic could not load this revision:"
                                 " ModuleNotFoundError: No module named 'no_such_app'")
    assert out["r002"].error_line == 3
    assert out["r001"].error == ("not run: Alembic could not load revision file r002_x.py"
                                 " (ModuleNotFoundError: No module named 'no_such_app')")


@pytest.mark.slow
def test_driver_sql_with_a_percent_sign_runs_as_written(tmp_path, scratch):
    versions = project(tmp_path, CREATE_USERS, """
        def upgrade():
            name = op.get_bind().exec_driver_sql("SELECT format('%I', 'users')").scalar()
            op.get_bind().exec_driver_sql(f"UPDATE {name} SET email = email || '%'")
    """)
    second = next(m for m, _ in applied(versions, scratch) if m.name == "r002")
    assert second.error is None
    assert [s.sql for s in second.statements] == ["UPDATE users SET email = email || '%'"]


@pytest.mark.slow
def test_a_string_value_for_an_integer_column_is_sent_as_psycopg2_sends_it(tmp_path, scratch):
    versions = project(tmp_path, CREATE_USERS, """
        def upgrade():
            users = sa.table("users", sa.column("team_id", sa.String))
            op.execute(users.update().values(team_id="0"))
    """)
    second = next(m for m, _ in applied(versions, scratch) if m.name == "r002")
    assert second.error is None
    assert [s.sql for s in second.statements] == ["UPDATE users SET team_id='0'"]


def test_an_executemany_is_one_statement_per_row():
    assert inline_all("INSERT INTO t VALUES (:a)", [{"a": 1}, {"a": "x"}], "postgresql", True) == \
        "INSERT INTO t VALUES (1);\nINSERT INTO t VALUES ('x')"
    assert inline_all("INSERT INTO t VALUES (%s, %s)", (1, 2), "postgresql", False) == "INSERT INTO t VALUES (1, 2)"


@pytest.mark.slow
def test_bulk_insert_is_one_statement_per_row_as_offline(tmp_path, scratch):
    versions = project(tmp_path, CREATE_USERS, """
        def upgrade():
            users = sa.table("users", sa.column("email", sa.String))
            op.bulk_insert(users, [{"email": "a"}, {"email": "b"}])
    """)
    second = next(m for m, _ in applied(versions, scratch) if m.name == "r002")
    assert [s.sql for s in second.statements] == ["INSERT INTO users (email) VALUES ('a')",
                                                  "INSERT INTO users (email) VALUES ('b')"]
    assert second.statements[0].evidence is not None and second.statements[1].evidence is None


@pytest.mark.slow
@pytest.mark.parametrize("per_migration", [False, True], ids=["one-transaction", "per-migration"])
def test_lock_an_earlier_revision_took_in_the_same_transaction_is_said_held(tmp_path, postgres_server, run_cli,
                                                                            per_migration):
    """An upgrade in one transaction: r002's SET NOT NULL takes no lock of its own on users (r001's
    CREATE TABLE holds ACCESS EXCLUSIVE until the end): the finding says where it was taken."""
    env = "from alembic import context\n\ncontext.configure(transaction_per_migration=True)\n" if per_migration \
        else "from alembic import context\n"
    versions = project(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.create_table("users", sa.Column("id", sa.Integer, primary_key=True), sa.Column("email", sa.String(50)))
    """, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.alter_column("users", "email", nullable=False)
    """, env=env)
    code, out, err = run_cli(["check", "--database", postgres_server, "--format", "json", "."], cwd=tmp_path)
    [finding] = [f for f in json.loads(out)["findings"] if f["rule"] == "set-not-null"]
    created = line_of(versions, "r001", "op.create_table")
    if per_migration:
        assert finding["evidence"]["locks"] == [{"relation": "users", "mode": "ACCESS EXCLUSIVE"}]
        assert "already held" not in finding["message"]
    else:
        assert finding["evidence"]["locks"] == []
        assert (f"its transaction already held ACCESS EXCLUSIVE on users, since revision r001 line {created}: "
                "the statement took no lock of its own there") in finding["message"]
    code, out, err = run_cli(["check", "--database", postgres_server, "."], cwd=tmp_path)
    assert ("observed: locks: none new;" in out) == (not per_migration), out


@pytest.mark.slow
def test_a_percent_sign_is_captured_as_the_server_got_it(tmp_path, scratch):
    versions = project(tmp_path, CREATE_USERS, """
        def upgrade():
            op.execute("UPDATE users SET legacy = 'x' WHERE email LIKE '%/dags/%'")
    """)
    [second] = [m for m, _ in applied(versions, scratch) if m.name == "r002"]
    assert [s.sql for s in second.statements] == ["UPDATE users SET legacy = 'x' WHERE email LIKE '%/dags/%'"]

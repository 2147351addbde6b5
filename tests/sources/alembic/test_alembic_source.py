"""Alembic revisions: rendered offline (or read statically), each finding on its op.* line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from migsafe import engine
from migsafe.config import load_settings
from migsafe.rules import default_severities

ROOT = Path(__file__).resolve().parents[3]
SHOP = ROOT / "fixtures" / "alembic_shop"


def check(path: Path, cwd: Path, **overrides):
    settings = load_settings(None, {k.replace("_", "-"): v for k, v in overrides.items()}, set(default_severities()))
    return engine.check([path], settings, cwd)


def found(result) -> list[tuple[str, str, int]]:
    return [(Path(f.path).name, f.rule, f.span.line) for f in result.findings]


def revisions(tmp_path: Path, *bodies: str) -> Path:
    """A versions/ folder with one revision per body (a linear chain), upgrade() bodies only."""
    versions = tmp_path / "versions"
    versions.mkdir()
    down = None
    for n, body in enumerate(bodies, 1):
        rev = f"r{n:03d}"
        head = (f"from alembic import op\nimport sqlalchemy as sa\n\nrevision = {rev!r}\n"
                f"down_revision = {down!r}\n\n\n")
        (versions / f"{rev}_x.py").write_text(head + textwrap.dedent(body).strip() + "\n\n\ndef downgrade():\n"
                                              "    op.execute('SELECT 1')\n")
        down = rev
    return versions


def test_fixture_project_findings_on_the_op_lines():
    result = check(SHOP, ROOT)
    cleanup = "4d5e6f7a8b9c_orders_cleanup.py"
    assert found(result) == [
        (cleanup, "non-concurrent-index", 14),  # inside the helper _index()
        (cleanup, "drop-column", 19),
        (cleanup, "not-null-without-default", 20),
        (cleanup, "change-column-type", 23),  # batch_op.alter_column, not the `with` line
        (cleanup, "rename-column", 24),
        (cleanup, "concurrently-in-transaction", 25),
        (cleanup, "irreversible-migration", 28),
        ("5e6f7a8b9c0d_backfill_with_app_code.py", "new-write-restriction", 22),  # the app's quantity <= 0 fails
        ("5e6f7a8b9c0d_backfill_with_app_code.py", "validating-check-constraint", 22),
    ]
    assert all(f.source == "alembic" for f in result.findings)
    assert {f.migration for f in result.findings} == {"4d5e6f7a8b9c", "5e6f7a8b9c0d"}


def test_span_covers_the_whole_op_call(tmp_path):
    versions = revisions(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.drop_column(
                "users",
                "email",
            )
    """)
    [f] = check(versions, tmp_path).findings
    assert (f.span.line, f.span.column, f.span.end_line, f.span.end_column) == (10, 5, 13, 6)
    assert f.statement == "ALTER TABLE users DROP COLUMN email"


def test_loop_and_execute_string_and_construct(tmp_path):
    versions = revisions(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            for table in ("a", "b"):
                op.drop_column(table, "legacy")
            op.execute("UPDATE a SET x = 1; TRUNCATE b")
            op.execute(sa.text("DELETE FROM c"))
    """)
    assert found(check(versions, tmp_path)) == [
        ("r001_x.py", "drop-column", 11), ("r001_x.py", "drop-column", 11),
        ("r001_x.py", "truncate-table", 12), ("r001_x.py", "unbatched-backfill", 12),
        ("r001_x.py", "unbatched-backfill", 13)]


def test_concurrently_inside_autocommit_block_is_fine(tmp_path):
    versions = revisions(tmp_path, """
        def upgrade():
            with op.get_context().autocommit_block():
                op.create_index("ix_a", "a", ["x"], postgresql_concurrently=True)
                op.drop_index("ix_b", table_name="a", postgresql_concurrently=True)
            op.create_index("ix_c", "a", ["y"], postgresql_concurrently=True)
    """)
    assert found(check(versions, tmp_path)) == [("r001_x.py", "concurrently-in-transaction", 12)]


def test_transaction_does_not_leak_into_the_next_revision(tmp_path):
    versions = revisions(tmp_path, """
        def upgrade():
            op.create_table("a", sa.Column("id", sa.Integer()))
    """, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
    """)
    # a timeout set in one revision does not carry over: r003 must set its own
    (versions / "r003_x.py").write_text(
        "from alembic import op\nrevision = 'r003'\ndown_revision = 'r002'\n\n"
        "def upgrade():\n    op.drop_column('a', 'id')\n\ndef downgrade():\n    op.execute('SELECT 1')\n")
    assert found(check(versions, tmp_path)) == [("r003_x.py", "drop-column", 6),
                                                ("r003_x.py", "missing-lock-timeout", 6)]


def test_history_from_earlier_revisions(tmp_path):
    versions = revisions(tmp_path, """
        def upgrade():
            op.create_table("t", sa.Column("name", sa.String(50)), sa.Column("n", sa.Integer()))
    """, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.alter_column("t", "name", type_=sa.String(100))
            op.alter_column("t", "n", type_=sa.BigInteger())
            op.create_index("ix_t_name", "t", ["name"])
    """)
    # the index is built while the lock of line 10's ALTER is still held: reads wait too
    assert found(check(versions, tmp_path)) == [("r002_x.py", "change-column-type", 11),
                                                ("r002_x.py", "lock-held-across-statements", 12),
                                                ("r002_x.py", "non-concurrent-index", 12)]


def test_app_import_falls_back_to_static_reading(tmp_path):
    versions = revisions(tmp_path, """
        from myapp.models import GUID  # not installed

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.add_column("users", sa.Column("token", sa.String(40), nullable=False))
            op.add_column("users", sa.Column("guid", GUID()))
    """)
    result = check(versions, tmp_path)
    assert found(result) == [("r001_x.py", "not-null-without-default", 12), ("r001_x.py", "not-analyzed", 13)]
    assert "GUID" in result.findings[1].message


def test_get_bind_and_inspector_render_offline(tmp_path):
    versions = revisions(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            bind = op.get_bind()
            if "legacy" not in sa.inspect(bind).get_column_names("users") if hasattr(sa.inspect(bind), "get_column_names") else True:
                pass
            columns = [c["name"] for c in sa.inspect(bind).get_columns("users")]
            for row in bind.execute(sa.text("SELECT id FROM users")):
                op.execute(f"UPDATE users SET x = 1 WHERE id = {row[0]}")
            if bind.dialect.name == "postgresql":
                op.drop_column("users", "legacy")
    """)
    assert found(check(versions, tmp_path)) == [("r001_x.py", "drop-column", 17)]


def test_revision_that_cannot_be_read_at_all_is_not_analyzed(tmp_path):
    versions = revisions(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            helper_from_nowhere()
            raise RuntimeError("boom")
    """)
    result = check(versions, tmp_path)
    # rendering raised; reading it statically cannot see into a function from elsewhere
    assert [(f.rule, f.span.line) for f in result.findings] == [("not-analyzed", 10)]
    assert "helper_from_nowhere" in result.findings[0].message


def test_revision_output_and_exit_are_contained(tmp_path, run_cli):
    versions = revisions(tmp_path, """
        import sys

        print("noise on stdout")

        def upgrade():
            print("more noise")
            sys.exit(3)
    """)
    code, out, err = run_cli(["check", str(versions), "--format", "json"], cwd=tmp_path)
    assert code == 1 and "noise" not in out and out.lstrip().startswith("{")
    assert "sys.exit" in out


def test_one_revision_file_is_judged_against_its_history(tmp_path):
    versions = revisions(tmp_path, """
        def upgrade():
            op.create_table("t", sa.Column("name", sa.String(50)))
            op.execute("ALTER TABLE t ADD COLUMN x int NOT NULL")
    """, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.alter_column("t", "name", type_=sa.Text())
            op.drop_column("t", "x")
    """)
    result = check(versions / "r002_x.py", tmp_path)
    assert found(result) == [("r002_x.py", "drop-column", 11)]  # the widening to text is known safe


def test_start_after_alembic(tmp_path):
    versions = revisions(tmp_path, """
        def upgrade():
            op.drop_column("a", "x")
    """, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.drop_column("a", "y")
    """)
    assert found(check(versions, tmp_path, start_after={"alembic": "r001"})) == [("r002_x.py", "drop-column", 10)]


def test_broken_graph_is_exit_2_naming_the_file(tmp_path, run_cli):
    versions = revisions(tmp_path, "def upgrade():\n    pass")
    (versions / "r009_x.py").write_text("revision = 'r009'\ndown_revision = 'nope'\ndef upgrade():\n    pass\n")
    code, out, err = run_cli(["check", "."], cwd=tmp_path)
    assert code == 2 and "r009_x.py" in err and "nope" in err and len(err.strip().splitlines()) == 1


def test_alembic_ini_script_location(tmp_path):
    versions = revisions(tmp_path / "db" if (tmp_path / "db").mkdir() is None else tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.drop_table("old")
    """)
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = db\nversion_locations = %(here)s/db/versions\n")
    assert found(check(tmp_path, tmp_path)) == [("r001_x.py", "drop-table", 10)]


def test_dialect_from_alembic_ini_unless_set(tmp_path):
    (tmp_path / "db").mkdir()
    versions = revisions(tmp_path / "db", """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.execute("SET SESSION lock_wait_timeout = 1")  # MySQL's setting
            op.create_index("ix_a", "a", ["x"])
    """)
    (tmp_path / "alembic.ini").write_text(
        "[alembic]\nscript_location = db\nsqlalchemy.url = mysql+pymysql://u@h/db\n")
    result = check(tmp_path, tmp_path)
    assert result.dialect == "mysql"
    assert found(result) == []  # InnoDB builds secondary indexes online: not a PostgreSQL error
    assert check(tmp_path, tmp_path, dialect="postgresql").dialect == "postgresql"
    assert ("r001_x.py", "non-concurrent-index", 11) in found(check(tmp_path, tmp_path, dialect="postgresql"))


def test_sqlite_batch_recreate_is_a_table_rewrite(tmp_path):
    versions = revisions(tmp_path, """
        def upgrade():
            op.create_table("fresh", sa.Column("a", sa.Integer()))
            with op.batch_alter_table("fresh") as batch_op:
                batch_op.drop_column("a")
            with op.batch_alter_table("users") as batch_op:
                batch_op.add_column(sa.Column("b", sa.Integer()))
            with op.batch_alter_table("users") as batch_op:
                batch_op.alter_column("b", type_=sa.BigInteger())
                batch_op.drop_column("c")
    """)
    result = check(versions, tmp_path, dialect="sqlite")
    # the new table's rebuild is harmless; add_column alone is native ALTER TABLE on SQLite
    assert [(f.rule, f.span.line) for f in result.findings if f.rule == "table-rewrite"] == [("table-rewrite", 14)]
    rewrite = next(f for f in result.findings if f.rule == "table-rewrite")
    assert "alter_column, drop_column" in rewrite.message and rewrite.lock == "database write"
    # on PostgreSQL the same batches are plain ALTER TABLE statements
    assert "table-rewrite" not in {f.rule for f in check(versions, tmp_path).findings}


def test_no_exec_never_runs_the_revision(tmp_path):
    marker = tmp_path / "ran"
    versions = revisions(tmp_path, f"""
        open({str(marker)!r}, "w").close()  # module-level side effect

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.drop_column("users", "email")
    """)
    result = check(versions, tmp_path, no_exec=True)
    assert found(result) == [("r001_x.py", "drop-column", 12)] and not marker.exists()
    check(versions, tmp_path)
    assert marker.exists()  # without --no-exec the revision is imported (and renders the same)


def test_static_reading_takes_literals_from_project_modules(tmp_path):
    """A model's __tablename__ is read from the project's source, never imported."""
    pkg = tmp_path / "shopapp"
    (pkg / "db" / "versions").mkdir(parents=True)
    for d in (pkg, pkg / "db", pkg / "db" / "versions"):
        (d / "__init__.py").write_text("")
    (pkg / "models.py").write_text("import not_installed_dependency\n\nTABLE = 'orders'\n\n"
                                   "class Order:\n    __tablename__ = 'orders'\n")
    (pkg / "db" / "versions" / "r001_x.py").write_text(
        "import time\nfrom alembic import op\nimport sqlalchemy as sa\n"
        "from shopapp.models import Order, TABLE\n\nrevision = 'r001'\ndown_revision = None\n\n\n"
        "def name_from_database():\n    return sa.inspect(op.get_bind()).get_foreign_keys('orders')[0]['name']\n\n\n"
        "def upgrade():\n"
        "    op.execute(\"SET lock_timeout = '1s'\")\n"
        "    op.drop_column(Order.__tablename__, 'legacy')\n"
        "    op.add_column(TABLE, sa.Column('at', sa.Integer(), default=lambda: int(time.time())))\n"
        "    fk = name_from_database()\n"
        "    op.drop_constraint(fk, Order.__tablename__, type_='foreignkey')\n\n\n"
        "def downgrade():\n    op.execute('SELECT 1')\n")
    result = check(pkg / "db" / "versions", tmp_path)
    # the foreign key's name is only known from the database: rendered as "<fk>", no finding lost
    assert [(f.rule, f.span.line, f.table) for f in result.findings] == [("drop-column", 16, "orders"),
                                                                         ("drop-constraint", 19, "orders")]


HISTORY_REV = """
def upgrade():
    op.create_table("users", sa.Column("id", sa.BigInteger(), primary_key=True),
                    sa.Column("email", sa.String(100)), sa.Column("age", sa.Integer()))
    op.create_table("orders", sa.Column("id", sa.BigInteger(), primary_key=True),
                    sa.Column("user_id", sa.BigInteger()))
    op.create_index("ix_orders_user_id", "orders", ["user_id"])
"""

# rule, the op call (line 10 of the second revision; line 9 sets the lock timeout)
EVERY_RULE = [
    ("drop-column", 'op.drop_column("users", "age")'),
    ("drop-table", 'op.drop_table("orders")'),
    ("rename-column", 'op.alter_column("users", "age", new_column_name="years")'),
    ("rename-table", 'op.rename_table("orders", "purchases")'),
    ("not-null-without-default", 'op.add_column("users", sa.Column("nick", sa.Text(), nullable=False))'),
    ("volatile-default", 'op.add_column("users", sa.Column("token", sa.dialects.postgresql.UUID(), server_default=sa.text("gen_random_uuid()")))'),
    ("change-column-type", 'op.alter_column("users", "age", type_=sa.BigInteger(), existing_type=sa.Integer())'),
    ("set-not-null", 'op.alter_column("users", "email", nullable=False, existing_type=sa.String(100))'),
    ("non-concurrent-index", 'op.create_index("ix_users_email", "users", ["email"])'),
    ("non-concurrent-drop-index", 'op.drop_index("ix_orders_user_id", table_name="orders")'),
    ("validating-foreign-key", 'op.create_foreign_key("fk_orders_user", "orders", "users", ["user_id"], ["id"])'),
    ("validating-check-constraint", 'op.create_check_constraint("ck_age", "users", "age > 0")'),
    ("add-unique-constraint", 'op.create_unique_constraint("uq_users_email", "users", ["email"])'),
    ("concurrently-in-transaction", 'op.create_index("ix_a", "users", ["age"], postgresql_concurrently=True)'),
    ("table-rewrite", 'op.execute("VACUUM FULL users")'),
    ("truncate-table", 'op.execute("TRUNCATE orders")'),
    ("unbatched-backfill", 'op.execute(sa.text("UPDATE users SET age = 0"))'),
    ("unrecognized-statement", 'op.execute("ALTER TABLE users OWNER TO reporting")'),
    ("not-analyzed", 'op.execute("ALTER TABBLE users DROP COLUMN age")'),
    ("bad-suppression", 'op.add_column("users", sa.Column("x", sa.Text()))  # migsafe: ignore[drop-column]'),
]


@pytest.mark.parametrize("rule, call", EVERY_RULE, ids=[r for r, _ in EVERY_RULE])
def test_every_rule_through_an_alembic_op(tmp_path, rule, call):
    versions = revisions(tmp_path, HISTORY_REV, f"""
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            {call}
    """)
    result = check(versions, tmp_path, start_after={"alembic": "r001"})
    assert (rule, 10) in {(f.rule, f.span.line) for f in result.findings}, found(result)


def test_missing_lock_timeout_through_alembic(tmp_path):
    versions = revisions(tmp_path, HISTORY_REV, """
        def upgrade():
            op.add_column("users", sa.Column("x", sa.Text()))
    """)
    assert found(check(versions, tmp_path, start_after={"alembic": "r001"})) == [
        ("r002_x.py", "missing-lock-timeout", 9)]


def test_metadata_create_all_through_the_bind_renders(tmp_path):
    versions = revisions(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            meta = sa.MetaData()
            sa.Table("events", meta, sa.Column("id", sa.Integer(), primary_key=True))
            meta.create_all(op.get_bind())
            op.create_index("ix_events_id", "events", ["id"])
    """)
    result = check(versions, tmp_path)
    assert found(result) == []  # the table is new in this revision, so its index is fine
    assert not any(f.rule == "not-analyzed" for f in result.findings)


def test_project_helper_statements_point_at_the_revision_call(tmp_path):
    pkg = tmp_path / "app"
    (pkg / "migrations" / "versions").mkdir(parents=True)
    for d in (pkg, pkg / "migrations", pkg / "migrations" / "versions"):
        (d / "__init__.py").write_text("")
    (pkg / "migrations" / "utils.py").write_text(
        "import not_installed\nfrom alembic import op\n\n\n\n\n\n\n\n\n\n\n"
        "def add_columns(table, *columns):\n    for column in columns:\n        op.add_column(table, column)\n\n\n"
        "def migrate_data(session):\n    session.query(Thing).update({'x': 1})\n    mystery(session)\n")
    (pkg / "migrations" / "versions" / "r001_x.py").write_text(
        "from alembic import op\nimport sqlalchemy as sa\nfrom app.migrations.utils import add_columns, migrate_data\n\n"
        "revision = 'r001'\ndown_revision = None\n\n\ndef upgrade():\n"
        "    op.execute(\"SET lock_timeout = '1s'\")\n"
        "    add_columns('users', sa.Column('a', sa.Text(), nullable=False), sa.Column('b', sa.Text()))\n"
        "    migrate_data(None)\n\n\ndef downgrade():\n    op.execute('SELECT 1')\n")
    result = check(pkg / "migrations" / "versions", tmp_path)
    # both columns added through the helper; the finding points at the revision's call (line 11)
    assert [(f.rule, f.span.line, f.column) for f in result.findings] == [("not-null-without-default", 11, "a")]


def test_a_value_only_the_project_knows_is_said_in_words(tmp_path):
    """A library that refuses a value static reading could not know names its class in its error:
    the message says instead what the value is (as written) and why it is not known."""
    pkg = tmp_path / "shopapp"
    (pkg / "db" / "versions").mkdir(parents=True)
    for d in (pkg, pkg / "db", pkg / "db" / "versions"):
        (d / "__init__.py").write_text("")
    (pkg / "constants.py").write_text("from not_installed_dependency import states\n\nONLINE = states.ONLINE\n")
    (pkg / "models.py").write_text("class Span:\n    __tablename__ = 'spans'\n")
    (pkg / "db" / "versions" / "r001_x.py").write_text(
        "from alembic import op\nimport sqlalchemy as sa\nfrom shopapp import constants\nfrom shopapp.models import Span\n\n"
        "revision = 'r001'\ndown_revision = None\n\n\n"
        "def upgrade():\n"
        "    op.add_column('lb', sa.Column('status', sa.String(16), server_default=constants.ONLINE))\n"
        "    op.execute(sa.update(Span).values(n=1))\n\n\n"
        "def downgrade():\n    op.execute('SELECT 1')\n")
    result = check(pkg / "db" / "versions", tmp_path, no_exec=True)
    said = {f.span.line: f.message.partition("Could not read this operation without running the project: ")[2]
            for f in result.findings if f.rule == "not-analyzed"}
    assert "constants.ONLINE" in said[11] and "is only known when the project runs" in said[11]
    assert said[12].endswith("got the project's class Span (read from its source without running it: only its class"
                             " attributes are known).")
    assert "migsafe" not in " ".join(said.values())

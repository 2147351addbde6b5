"""What real revisions do offline mode cannot, each a minimal revision of a case met in real
projects (benchmarks/corpus.py): read by rendering or statically, never lost, never a false alarm."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import sqlalchemy
from test_alembic_source import check, found, revisions

from migsafe.sources.alembic.load import load_alembic_migrations
from migsafe.sources.alembic.static_values import message
from migsafe.sources.core.tracing import describe


def loaded(versions: Path, dialect: str = "postgresql", execute: bool = True):
    """The revisions as the source hands them to the engine (how each was read, what failed)."""
    return [m for m, _ in load_alembic_migrations([versions], versions.parent, versions.parent, dialect, None,
                                                  execute=execute)]


def test_alembic_context_as_env_py_has_it(tmp_path):
    """`from alembic import context` works; is_offline_mode() is False (the revision's live-database
    branch is the one judged) and get_context() is the migration context of the dialect."""
    versions = revisions(tmp_path, """
        from alembic import context

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            if context.is_offline_mode():
                return
            if context.get_context().dialect.name == "postgresql":
                op.drop_column("users", "legacy")
    """)
    [mig] = loaded(versions)
    assert (mig.how, mig.error) == ("rendered", None)
    assert found(check(versions, tmp_path)) == [("r001_x.py", "drop-column", 15)]


@pytest.mark.parametrize("execute", [True, False])
def test_metadata_reflect_and_autoload_offline(tmp_path, execute):
    """Reflection by name gives the table as declared; the DDL around it is read either way."""
    versions = revisions(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            meta = sa.MetaData()
            meta.reflect(bind=op.get_bind(), only=("users", "orders"))
            users = sa.Table("users", meta)
            orders = sa.Table("orders", sa.MetaData(), autoload_with=op.get_bind())
            op.drop_column("users", "legacy")
    """)
    [mig] = loaded(versions, execute=execute)
    assert (mig.how, mig.error, mig.unreadable) == ("rendered" if execute else "static", None, [])
    assert found(check(versions, tmp_path, no_exec=not execute)) == [("r001_x.py", "drop-column", 14)]


def test_reflected_columns_used_in_data_code_fall_back_to_static_reading(tmp_path):
    versions = revisions(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            meta = sa.MetaData()
            meta.reflect(bind=op.get_bind(), only=("users",))
            users = sa.Table("users", meta)
            conn = op.get_bind()
            conn.execute(users.update().values(flag=users.c.legacy))
            op.drop_column("users", "legacy")
    """)
    [mig] = loaded(versions)
    assert (mig.how, mig.error, mig.unreadable) == ("static", None, [])
    assert found(check(versions, tmp_path)) == [("r001_x.py", "drop-column", 15)]


def test_sqlmodel_autostring_without_sqlmodel_installed(tmp_path):
    """Revisions sqlmodel's autogenerate wrote name its type; it is a VARCHAR(255) on MySQL."""
    versions = revisions(tmp_path, """
        import sqlmodel
        from sqlmodel.sql.sqltypes import AutoString

        def upgrade():
            op.add_column("users", sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False))
            op.add_column("users", sa.Column("nick", AutoString(), nullable=True))
    """)
    [mig] = loaded(versions, dialect="mysql")
    assert (mig.error, mig.unreadable) == (None, [])
    assert [s.sql for s in mig.statements] == ["ALTER TABLE users ADD COLUMN name VARCHAR(255) NOT NULL",
                                               "ALTER TABLE users ADD COLUMN nick VARCHAR(255)"]


def test_placeholders_stand_only_for_names(tmp_path):
    """A constraint name only the database knows is a name; an unknown type or SQL text is not."""
    versions = revisions(tmp_path, """
        from myapp import types, queries  # not installed

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.drop_constraint(types.fk_name("orders"), "orders", type_="foreignkey")
            op.add_column("orders", sa.Column("guid", types.GUID(), nullable=True))
            op.alter_column("orders", "note", type_=types.GUID())
            op.execute(queries.BACKFILL)
    """)
    [mig] = loaded(versions)
    assert [s.sql for s in mig.statements if "orders" in s.sql] == [
        "ALTER TABLE orders DROP CONSTRAINT \"<types.fk_name('orders')>\""]
    assert [line for line, _ in mig.unreadable] == [13, 14, 15]
    rules = [(f.rule, f.span.line) for f in check(versions, tmp_path).findings]
    # the drop of a foreign key under a run-time name is judged as one (a warning)
    assert rules == [("drop-constraint", 12), ("not-analyzed", 13), ("not-analyzed", 14), ("not-analyzed", 15)]


def test_batch_that_alembic_refuses_on_exit_is_unreadable_not_fatal(tmp_path):
    """A batch writes its SQL when the `with` block ends; an error there is that block's only."""
    versions = revisions(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            with op.batch_alter_table("users") as batch_op:
                batch_op.drop_constraint(None, type_="foreignkey")
            op.drop_column("orders", "legacy")
            with op.batch_alter_table("users", recreate="always") as batch_op:
                batch_op.drop_column("uuid")
    """)
    result = check(versions, tmp_path)
    assert [(f.rule, f.span.line) for f in result.findings] == [
        ("not-analyzed", 10), ("drop-column", 12), ("table-rewrite", 13)]
    assert "CompileError: Can't emit DROP CONSTRAINT" in result.findings[0].message


def test_bare_tuple_statements_and_unknown_loops_are_read(tmp_path):
    """`batch_op.add_column(...),` (a stray comma) is still the call; a loop over values only the
    project knows is read once, its names standing in."""
    versions = revisions(tmp_path, """
        from myapp import TABLES  # not installed

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            with op.batch_alter_table("users") as batch_op:
                (batch_op.add_column(sa.Column("flag", sa.Boolean(), nullable=False)),)
            for table in TABLES:
                with op.batch_alter_table(table) as batch_op:
                    batch_op.drop_column("legacy")
            offset = 0
            while offset < len(TABLES):
                op.drop_column("audit", "stale")
                offset += 100
    """)
    [mig] = loaded(versions)
    assert (mig.how, mig.unreadable) == ("static", [])
    assert [s.sql for s in mig.statements if "DROP" in s.sql or "ADD" in s.sql] == [
        "ALTER TABLE users ADD COLUMN flag BOOLEAN NOT NULL",
        'ALTER TABLE "<table>" DROP COLUMN legacy',
        "ALTER TABLE audit DROP COLUMN stale"]


def test_bulk_insert_values_are_deterministic(tmp_path):
    """Values of an untyped column are written as literals of their Python type; a project type's
    value (here the time of the run) is one fixed placeholder, so two runs write the same SQL."""
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "types.py").write_text(
        "import not_installed\nfrom sqlalchemy import types\n\n\n"
        "class UtcDateTime(types.TypeDecorator):\n    impl = types.DateTime\n")
    versions = revisions(tmp_path, """
        from datetime import datetime, timezone
        from myapp.types import UtcDateTime

        def upgrade():
            jobs = sa.table("jobs", sa.column("status"), sa.column("at", UtcDateTime()))
            op.bulk_insert(jobs, [{"status": "done", "at": datetime.now(timezone.utc)}])
            op.execute(jobs.update().where(jobs.c.status.in_([0, 1])).values(status=5))
    """)
    first, second = loaded(versions), loaded(versions)
    assert (first[0].error, first[0].unreadable) == (None, [])
    sql = [s.sql for s in first[0].statements if "jobs" in s.sql]
    assert sql == ["INSERT INTO jobs (status, at) VALUES ('done', '<UtcDateTime value>')",
                   "UPDATE jobs SET status=5 WHERE jobs.status IN (0, 1)"]
    assert sql == [s.sql for s in second[0].statements if "jobs" in s.sql]


def test_messages_carry_no_object_addresses():
    class Thing:
        pass

    assert describe(ValueError(f"bad {Thing()}\nmore"), message) == (
        "ValueError: bad <test_alembic_offline.test_messages_carry_no_object_addresses.<locals>.Thing object>")


def test_unreadable_create_table_still_creates_the_table(tmp_path):
    """A server default only the project knows, in a table being created, changes nothing judged
    (no row gets it): the table is read, and an index on it in the same migration is no lock on a
    live table. Also through a helper that passes `*columns` on. (Added to an existing table it
    is said: test_alembic_unknown_values.py.)"""
    versions = revisions(tmp_path, """
        from myapp.types import GUID  # not installed

        def create_table(name, *columns):
            op.create_table(name, *columns)

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.create_table("tokens", sa.Column("id", sa.Integer()), sa.Column("guid", sa.Text(), server_default=GUID.sql))
            op.create_index("ix_tokens_id", "tokens", ["id"])
            create_table("keys", sa.Column("id", sa.Integer()), sa.Column("guid", sa.Text(), server_default=GUID.sql))
            op.create_index("ix_keys_id", "keys", ["id"])
            op.create_index("ix_users_id", "users", ["id"])
    """)
    result = check(versions, tmp_path)
    assert [(f.rule, f.span.line) for f in result.findings] == [("non-concurrent-index", 19)]
    assert "DEFAULT '<GUID.sql>'" in loaded(versions)[0].statements[2].sql


def test_sqlalchemy_utils_types_without_it_installed(tmp_path):
    versions = revisions(tmp_path, """
        from sqlalchemy_utils import UUIDType
        import sqlalchemy_utils

        def upgrade():
            op.add_column("users", sa.Column("uuid", UUIDType(binary=True), nullable=True))
            op.add_column("users", sa.Column("key", sqlalchemy_utils.types.uuid.UUIDType(native=False)))
    """)
    sql = {d: [s.sql for s in loaded(versions, dialect=d)[0].statements if "users" in s.sql]
           for d in ("postgresql", "mysql")}
    assert sql == {"postgresql": ["ALTER TABLE users ADD COLUMN uuid UUID", "ALTER TABLE users ADD COLUMN key BINARY(16)"],
                   "mysql": ["ALTER TABLE users ADD COLUMN uuid BINARY(16)", "ALTER TABLE users ADD COLUMN `key` BINARY(16)"]}


def project_module(tmp_path: Path, text: str) -> None:
    """myapp/db.py next to the versions folder; it imports something not installed, so a
    revision importing it can only be read statically."""
    (tmp_path / "myapp").mkdir(exist_ok=True)
    (tmp_path / "myapp" / "db.py").write_text("import not_installed\n" + textwrap.dedent(text))


def test_project_classes_read_from_source(tmp_path):
    """Class attributes made with SQLAlchemy, a dataclass and its one-line properties, and a SQL
    function built as SQLAlchemy's @compiles recipe (only for the project's own class)."""
    project_module(tmp_path, """
        from dataclasses import dataclass

        import sqlalchemy as sa
        from sqlalchemy.ext.compiler import compiles
        from sqlalchemy.sql.expression import FunctionElement

        PRECISION = 6


        class Types:
            UniqueText = sa.String(512)


        @dataclass(frozen=True)
        class ForeignKey:
            table: str
            referent_table: str
            local_cols: list

            @property
            def constraint_name(self) -> str:
                return f"fk_{self.table}_{self.local_cols[0]}_{self.referent_table}"


        class utcnow(FunctionElement):
            type = sa.DateTime()


        @compiles(utcnow, "mysql")
        def _mysql(element, compiler, **kw):
            return f"CURRENT_TIMESTAMP({PRECISION})"


        @compiles(utcnow)
        def _default(element, compiler, **kw):
            return "CURRENT_TIMESTAMP"


        @compiles(sa.types.Float, "mysql")
        def _double(element, compiler, **kw):
            return "DOUBLE"
    """)
    versions = revisions(tmp_path, """
        from myapp.db import ForeignKey, Types, utcnow

        KEYS = [ForeignKey(table="orders", referent_table="users", local_cols=["user_id"])]

        def upgrade():
            op.alter_column("orders", "name", type_=Types.UniqueText, existing_type=sa.Text())
            op.create_table("events", sa.Column("at", sa.DateTime(), server_default=utcnow()),
                            sa.Column("score", sa.Float()))
            for key in KEYS:
                op.create_foreign_key(key.constraint_name, key.table, key.referent_table, key.local_cols, ["id"])
    """)
    sql = {d: [s.sql for s in loaded(versions, dialect=d)[0].statements if s.sql.startswith(("ALTER", "CREATE"))]
           for d in ("postgresql", "mysql")}
    assert sql["postgresql"] == [
        "ALTER TABLE orders ALTER COLUMN name TYPE VARCHAR(512)",
        "CREATE TABLE events (\n    at TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP, \n    score FLOAT\n)",
        "ALTER TABLE orders ADD CONSTRAINT fk_orders_user_id_users FOREIGN KEY(user_id) REFERENCES users (id)"]
    assert "at DATETIME DEFAULT CURRENT_TIMESTAMP(6)" in sql["mysql"][1] and "score FLOAT" in sql["mysql"][1]


def test_data_code_through_the_bind_when_read_statically(tmp_path):
    """Static reading: SQL sent through the bind is read when it can be; a query it cannot read
    (rows of a reflected table) is data code, not an unreadable op; a project context manager
    opened before a batch in the same `with` does not hide the batch."""
    project_module(tmp_path, """
        import contextlib

        @contextlib.contextmanager
        def quiet():
            yield
    """)
    versions = revisions(tmp_path, """
        from myapp.db import quiet

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            conn = op.get_bind()
            if op.get_bind().engine.name == "postgresql":
                conn.execute(sa.text("ALTER TABLE users DROP COLUMN legacy"))
            meta = sa.MetaData()
            meta.reflect(only=("identity",), bind=op.get_bind())
            found = op.get_bind().execute(sa.select(meta.tables["identity"].c.id).limit(1)).scalar()
            with quiet(), op.batch_alter_table("orders") as batch_op:
                batch_op.drop_column("stale")
    """)
    [mig] = loaded(versions)
    assert (mig.how, mig.error, mig.unreadable) == ("static", None, [])
    assert [(f.rule, f.span.line) for f in check(versions, tmp_path).findings] == [
        ("drop-column", 14), ("drop-column", 19)]


def test_helper_of_ifs_and_returns_is_evaluated_in_an_expression(tmp_path):
    versions = revisions(tmp_path, """
        from myapp import models  # not installed

        def id_type(dialect_name):
            \"\"\"The id column's type.\"\"\"
            if dialect_name == "postgresql":
                kind = sa.BigInteger()
                return kind
            return sa.String(36)

        def upgrade():
            op.add_column("task", sa.Column("id", id_type(op.get_bind().dialect.name), nullable=True))
            op.add_column("task", sa.Column("ref", id_type("mysql"), nullable=True))
            op.add_column("task", sa.Column("other", id_type(models.DIALECT), nullable=True))
    """)
    [mig] = loaded(versions)
    assert [s.sql for s in mig.statements if "task" in s.sql] == [
        "ALTER TABLE task ADD COLUMN id BIGINT", "ALTER TABLE task ADD COLUMN ref VARCHAR(36)"]
    assert mig.unreadable == [(20, "models is defined outside what migsafe can read without running the project")]


@pytest.mark.skipif(sqlalchemy.__version__ < "2", reason="the model uses mapped_column(), new in SQLAlchemy 2.0")
def test_project_modules_two_levels_deep_and_next_to_env_py(tmp_path):
    """A helper module the revision imports may use another project module; helpers kept next
    to env.py import as top-level modules; a model's column is a column of its table; a function
    defined inside a function is followed; `packaging` versions compare."""
    (tmp_path / "env.py").write_text("")
    (tmp_path / "migration_utils.py").write_text(textwrap.dedent("""
        from myapp.db import Job, utcnow

        def create_jobs(op):
            import sqlalchemy as sa
            op.create_table("runs", sa.Column("at", sa.DateTime(), server_default=utcnow()),
                            sa.Column("job_id", sa.Integer(), sa.ForeignKey(Job.id)))
    """))
    project_module(tmp_path, """
        import sqlalchemy as sa
        from sqlalchemy.ext.compiler import compiles
        from sqlalchemy.orm import mapped_column
        from sqlalchemy.sql.expression import FunctionElement


        class utcnow(FunctionElement):
            type = sa.DateTime()


        @compiles(utcnow)
        def _default(element, compiler, **kw):
            return "CURRENT_TIMESTAMP"


        class Job:
            __tablename__ = "jobs"
            id = mapped_column(sa.Integer, primary_key=True)
    """)
    versions = revisions(tmp_path, """
        import alembic
        from packaging.version import Version
        from migration_utils import create_jobs

        def upgrade():
            def drop(table):
                op.drop_column(table, "stale")
            create_jobs(op)
            if Version(alembic.__version__) >= Version("1.7.0"):
                drop("users")
    """)
    [mig] = loaded(versions)
    assert (mig.how, mig.unreadable) == ("static", [])
    assert [s.sql for s in mig.statements if s.sql.startswith(("CREATE", "ALTER"))] == [
        "CREATE TABLE runs (\n    at TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP, \n    job_id INTEGER, \n"
        "    FOREIGN KEY(job_id) REFERENCES jobs (id)\n)",
        "ALTER TABLE users DROP COLUMN stale"]


def test_known_side_of_a_conditional_and_unknown_existing_type(tmp_path):
    """`[] if <known> else <project value>` is the side taken; an unknown `existing_type=` is left
    out where the database does not need it (PostgreSQL), and unreadable where it does (MySQL)."""
    versions = revisions(tmp_path, """
        from myapp import OLD_ARGS, reflected_length  # not installed

        def upgrade():
            table_args = [] if sa.__version__ >= "1" else OLD_ARGS
            with op.batch_alter_table("runs", table_args=table_args) as batch_op:
                batch_op.drop_column("stale")
            op.alter_column("users", "name", nullable=False, existing_type=sa.String(reflected_length()))
    """)
    [mig] = loaded(versions)
    assert (mig.how, mig.unreadable) == ("static", [])
    assert [s.sql for s in mig.statements if "ALTER" in s.sql] == [
        "ALTER TABLE runs DROP COLUMN stale", "ALTER TABLE users ALTER COLUMN name SET NOT NULL"]
    [mysql] = loaded(versions, dialect="mysql")
    assert [line for line, _ in mysql.unreadable] == [14]


def test_existing_type_is_the_old_type_when_history_does_not_know_the_column(tmp_path):
    """`existing_type=` is what the column is before the change: a widening of a VARCHAR is
    binary compatible, INTEGER to BIGINT rewrites. A column the history made wins over it."""
    versions = revisions(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.alter_column("users", "name", type_=sa.String(50), existing_type=sa.String(20),
                            existing_nullable=False)
            op.alter_column("users", "id", type_=sa.BigInteger(), existing_type=sa.Integer())
            op.create_table("tags", sa.Column("label", sa.Integer()))
    """, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.alter_column("tags", "label", type_=sa.String(50), existing_type=sa.String(20))
    """)
    result = check(versions, tmp_path)
    assert [(Path(f.path).name, f.rule, f.span.line) for f in result.findings] == [
        ("r001_x.py", "change-column-type", 12), ("r002_x.py", "change-column-type", 10)]
    assert "users.id to BIGINT rewrites the table" in result.findings[0].message
    assert "tags.label to VARCHAR(50) rewrites the table" in result.findings[1].message  # INTEGER, as created


@pytest.mark.parametrize("execute", [True, False])
def test_unknown_column_type_in_a_new_table(tmp_path, execute):
    """A type only the project knows changes nothing a CREATE TABLE locks: the table is read
    (the type written as unknown, and a later change of it judged as one that may rewrite), while
    adding such a column stays not-analyzed. A Python-side default never reaches the DDL."""
    versions = revisions(tmp_path, """
        from myapp.models import StringID, ID_LEN, Status  # not installed

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.create_table(
                "deadline",
                sa.Column("id", sa.Integer(), primary_key=True),
                sa.Column("dag_id", StringID(length=ID_LEN), sa.ForeignKey("dag.id"), nullable=True),
                sa.Column("state", sa.String(20), default=Status.to_string(Status.READY)),
            )
            op.add_column("dag", sa.Column("owner", StringID(length=ID_LEN), nullable=True))
    """, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.alter_column("deadline", "dag_id", type_=sa.String(300))
    """)
    first, second = loaded(versions, execute=execute)
    assert first.how == "static" and [line for line, _ in first.unreadable] == [18]
    create = next(s.sql for s in first.statements if s.sql.startswith("CREATE TABLE"))
    assert re.search(r"dag_id unknown_stringid_[0-9a-f]{8},", create) and "state VARCHAR(20)," in create
    assert "FOREIGN KEY(dag_id) REFERENCES dag (id)" in create
    result = check(versions, tmp_path, no_exec=not execute)
    assert [(Path(f.path).name, f.rule, f.span.line) for f in result.findings] == [
        ("r001_x.py", "unindexed-foreign-key", 12),  # the new table's dag_id: indexed cheapest now
        ("r001_x.py", "not-analyzed", 18), ("r002_x.py", "change-column-type", 10)]
    assert "current type is not known" in result.findings[2].message


def test_what_env_py_imports_is_imported_before_rendering(tmp_path):
    """env.py imports the models that register the tables a revision looks up; those imports
    are made (env.py itself never runs), and one that fails is passed over."""
    (tmp_path / "envapp").mkdir()
    (tmp_path / "envapp/__init__.py").write_text("")
    (tmp_path / "envapp/db.py").write_text("import sqlalchemy as sa\nmetadata = sa.MetaData()\n")
    (tmp_path / "envapp/models.py").write_text(
        "import sqlalchemy as sa\nfrom envapp.db import metadata\n"
        "users = sa.Table('users', metadata, sa.Column('legacy', sa.Integer()))\n")
    (tmp_path / "env.py").write_text(textwrap.dedent("""
        from envapp import models
        import envapp_plugins  # not installed
        raise SystemExit("env.py must not run")
    """))
    versions = revisions(tmp_path, """
        from envapp.db import metadata

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            users = metadata.tables["users"]
            op.drop_column(users.name, users.c.legacy.name)
    """)
    [mig] = loaded(versions)
    assert (mig.how, mig.error, mig.unreadable) == ("rendered", None, [])
    assert found(check(versions, tmp_path)) == [("r001_x.py", "drop-column", 13)]


def test_unknown_column_type_in_a_batch_is_that_call_only(tmp_path):
    """Outside a new table an unknown type stays unreadable: in a batch, on the batch_op call's
    own line, and the rest of the block is still read."""
    versions = revisions(tmp_path, """
        from myapp.models import StringID, ID_LEN  # not installed

        def upgrade():
            with op.batch_alter_table("dag") as batch_op:
                batch_op.add_column(sa.Column("owner", StringID(length=ID_LEN), nullable=True))
                batch_op.drop_column("legacy")
    """)
    [mig] = loaded(versions)
    assert [line for line, _ in mig.unreadable] == [12]
    assert "ALTER TABLE dag DROP COLUMN legacy" in [s.sql for s in mig.statements]


def test_deep_recursion_in_data_code_is_not_unreadable(tmp_path):
    """A helper recursing deeper than the reader follows, over data only (a JSON layout), writes
    no SQL; one that reaches op at that depth is still reported."""
    versions = revisions(tmp_path, """
        def add_parent_ids(node, layout):
            for child in node.get("children") or []:
                add_parent_ids(layout[child], layout)

        def drop_all(tables):
            if tables:
                op.drop_table(tables[0])
                drop_all(tables[1:])

        def upgrade():
            add_parent_ids({"children": ["a"]}, {"a": {"children": ["a"]}})
            drop_all(["t%d" % i for i in range(20)])
    """)
    [mig] = loaded(versions, execute=False)
    assert mig.how == "static" and [line for line, _ in mig.unreadable] == [15]
    assert "drop_all() nests too deep" in mig.unreadable[0][1]
    # Run, the endless recursion fails as `alembic upgrade` would: the revision's own error, not
    # a reason to read it statically.
    [mig] = loaded(versions)
    assert mig.how == "raised" and mig.error.startswith("upgrade() raised RecursionError")


@pytest.mark.parametrize("execute", [True, False])
def test_bulk_insert_of_values_only_the_project_knows_is_read(tmp_path, execute):
    """Rows whose values come from the project (oslo's `timeutils.utcnow()`, a hashed password)
    change no schema: the INSERT is read with NULL for them, and the rest of the revision too."""
    versions = revisions(tmp_path, """
        from oslo_utils import timeutils  # not installed

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            workers = op.create_table("workers", sa.Column("id", sa.Integer, primary_key=True),
                                      sa.Column("created_at", sa.DateTime), sa.Column("status", sa.String(20)))
            now = timeutils.utcnow()
            op.bulk_insert(workers, [{"id": 1, "created_at": now, "status": "OK"}])
            op.drop_column("users", "legacy")
    """)
    [mig] = loaded(versions, execute=execute)
    assert (mig.error, mig.unreadable) == (None, [])
    insert = next(s.sql for s in mig.statements if s.sql.startswith("INSERT"))
    assert "NULL" in insert and "'OK'" in insert
    assert found(check(versions, tmp_path, no_exec=not execute)) == [("r001_x.py", "drop-column", 16)]


def test_an_operation_of_a_plugin_not_installed_is_named_at_its_line(tmp_path):
    """`op.sync_enum_values` (alembic-autogenerate-enums) where the plugin is not installed: that
    call is not-analyzed, the rest of the revision is read."""
    versions = revisions(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.sync_enum_values("public", "status", ["a", "b"], [("users", "status")])
            op.drop_column("users", "legacy")
    """)
    result = check(versions, tmp_path)
    assert found(result) == [("r001_x.py", "not-analyzed", 10), ("r001_x.py", "drop-column", 11)]
    assert "op.sync_enum_values is no Alembic operation" in result.findings[0].message


def test_a_revision_without_upgrade_is_said_once(tmp_path):
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "a1.py").write_text("revision = 'a1'\ndown_revision = None\n")
    [mig] = loaded(versions)
    assert mig.error == "the revision has no upgrade() function"

"""Revisions of projects not installed where migsafe runs (benchmarks/corpus.py: lemur, pgadmin4,
mindsdb), each a minimal revision of a shape met there: what it does to the schema is judged, or
said not-analyzed at its line; never passed over."""

from __future__ import annotations

import textwrap

import pytest
from test_alembic_offline import loaded
from test_alembic_source import check, found, revisions

# Importing a module that is not installed makes rendering fail: the revision is read statically.
# (indented as the revision bodies below are, which revisions() dedents)
NOT_INSTALLED = "\n        import not_installed_app\n"


def statements(versions, n: int = -1, **kw) -> list[str]:
    return [s.sql.rstrip(";") for s in loaded(versions, **kw)[n].statements if s.sql not in ("BEGIN", "COMMIT")]


def project_module(tmp_path, name: str, text: str) -> None:
    """myapp/<name>.py beside the versions folder, importing something not installed."""
    (tmp_path / "myapp").mkdir(exist_ok=True)
    (tmp_path / "myapp" / f"{name}.py").write_text(textwrap.dedent(NOT_INSTALLED + text))


@pytest.mark.parametrize("no_exec", [False, True])
def test_nested_loop_targets_are_unpacked(tmp_path, no_exec):
    """mindsdb f64112749455: `for name, (table, columns) in NEW.items():`."""
    versions = revisions(tmp_path, NOT_INSTALLED + """
        NEW = {"uq_a": ("a", ["x", "y"]), "uq_b": ("b", ["z"])}

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            for name, (table, columns) in NEW.items():
                op.create_unique_constraint(name, table, columns)
            for first, *rest in [("c", "d", "e")]:
                op.drop_column(first, rest[-1])
    """)
    assert [f for f in found(check(versions, tmp_path, no_exec=no_exec)) if f[1] != "new-write-restriction"] == [
        ("r001_x.py", "add-unique-constraint", 15), ("r001_x.py", "add-unique-constraint", 15),
        ("r001_x.py", "drop-column", 17)]


@pytest.mark.parametrize("no_exec", [False, True])
def test_file_operations_of_the_standard_library_change_no_schema(tmp_path, no_exec):
    """mindsdb 3d5e70105df7: a revision moving the project's data folders (shutil, pathlib) does
    no DDL there; SQL read from a file stays unknown."""
    versions = revisions(tmp_path, NOT_INSTALLED + """
        import shutil
        from pathlib import Path

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            root = Path("/var/lib/app")
            if (root / "old").is_dir():
                shutil.rmtree(root / "old")
            Path("/tmp/x").unlink()
            op.drop_column("a", "legacy")
            op.execute(Path("upgrade.sql").read_text())
    """)
    result = check(versions, tmp_path, no_exec=no_exec)
    assert found(result) == [("r001_x.py", "drop-column", 19), ("r001_x.py", "not-analyzed", 20)]
    assert "Path" in result.findings[1].message


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_json_values_render_as_the_text_sent(tmp_path, dialect):
    """mindsdb f6dc924079fa, 9f150e4f9a05: a JSON value has no SQL literal in SQLAlchemy; a live
    database is sent its JSON text."""
    versions = revisions(tmp_path, """
        def upgrade():
            t = sa.table("p", sa.column("id", sa.Integer), sa.column("meta", sa.JSON))
            op.execute(t.update().values(meta={}))
            op.bulk_insert(t, [{"id": 1, "meta": {"is_default": True}}])
    """)
    [mig] = loaded(versions, dialect=dialect)
    assert (mig.how, mig.error) == ("rendered", None)
    assert statements(versions, dialect=dialect) == [
        "UPDATE p SET meta='{}'", """INSERT INTO p (id, meta) VALUES (1, '{"is_default": true}')"""]


@pytest.mark.parametrize("no_exec", [False, True])
def test_ddl_sent_through_the_bind_is_read_statically(tmp_path, no_exec):
    """pgadmin4 09d53fca90c7: SQLAlchemy's own DDL and reflection through op.get_bind(), read
    without running the revision; the same through an object of the project is not-analyzed."""
    versions = revisions(tmp_path, """
        def upgrade():
            op.create_table("role", sa.Column("id", sa.Integer), sa.Column("name", sa.String))
    """, NOT_INSTALLED + """
        from myapp.models import db

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            bind = op.get_bind()
            sa.Index("ix_role_name", sa.Table("role", sa.MetaData(), sa.Column("name", sa.String)).c.name).create(bind)
            meta = sa.MetaData()
            meta.reflect(op.get_bind(), only=("role",))
            role = sa.Table("role", meta)
            op.execute(role.update().where(role.c.name == "a").values(name="b"))
            db.metadata.create_all(db.engine)
    """)
    project_module(tmp_path, "models", """
        from flask_sqlalchemy import SQLAlchemy

        db = SQLAlchemy()
    """)
    assert loaded(versions)[-1].how == "static"
    assert [s for s in statements(versions, execute=not no_exec) if s.startswith(("CREATE", "UPDATE"))] == [
        "CREATE INDEX ix_role_name ON role (name)", "UPDATE role SET name='b' WHERE role.name = 'a'"]
    result = check(versions, tmp_path, no_exec=no_exec)
    assert found(result) == [("r002_x.py", "non-concurrent-index", 15), ("r002_x.py", "not-analyzed", 20)]
    assert "db.metadata.create_all() on an object only the running project has" in result.findings[-1].message


@pytest.mark.parametrize("no_exec", [False, True])
def test_helper_whose_value_is_kept_is_still_followed(tmp_path, no_exec):
    """pgadmin4 09d53fca90c7: `version = get_version_for_migration(op)`, a helper of the project
    that reads a row: what it does is read, its value is unknown (both sides of `if version < 2`)."""
    project_module(tmp_path, "setup", """
        def get_version(op):
            op.drop_column("version", "legacy")
            try:
                row = op.get_bind().execute(sa.text("SELECT value FROM version")).first()
            except Exception:
                return -1
            return row.value if row else -1
    """)
    versions = revisions(tmp_path, NOT_INSTALLED + """
        from myapp.setup import get_version

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            version = get_version(op)
            if version < 2:
                op.drop_column("server", "comment")
    """)
    assert found(check(versions, tmp_path, no_exec=no_exec)) == [("r001_x.py", "drop-column", 14),
                                                                 ("r001_x.py", "drop-column", 16)]


@pytest.mark.parametrize("no_exec", [False, True])
def test_values_written_that_only_the_project_knows_are_null(tmp_path, no_exec):
    """pgadmin4 1f0eddc8fc79, 09d53fca90c7: `.values(permissions=",".join(Perms.list()))` of a
    class of the project; the UPDATE is still judged, the value shown as NULL."""
    project_module(tmp_path, "perms", """
        class Perms:
            @classmethod
            def list(cls):
                return [p for p in dir(cls)]
    """)
    versions = revisions(tmp_path, NOT_INSTALLED + """
        from myapp.perms import Perms

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            role = sa.table("role", sa.column("name"), sa.column("permissions"))
            op.execute(role.update().where(role.c.name == "User").values(permissions=",".join(Perms.list())))
    """)
    [mig] = loaded(versions, execute=not no_exec)
    assert (mig.error, mig.unreadable) == (None, [])
    assert "UPDATE role SET permissions=NULL WHERE role.name = 'User'" in statements(versions, execute=not no_exec)


@pytest.mark.parametrize("no_exec", [False, True])
def test_bulk_insert_rows_made_by_a_comprehension(tmp_path, no_exec):
    """pgadmin4 e6ed5dac37c2, ac2c2e27dc2d: rows made from known names with an id read back, and
    rows only the project has (one row stands for them)."""
    versions = revisions(tmp_path, NOT_INSTALLED + """
        def upgrade():
            conn = op.get_bind()
            prefs = sa.table("prefs", sa.column("cid", sa.Integer), sa.column("name", sa.String))
            cid = conn.execute(sa.text("SELECT id FROM category")).scalar()
            op.bulk_insert(prefs, [{"cid": cid, "name": name} for name in ["find", "replace"]])
            op.bulk_insert(prefs, [{"cid": row[0], "name": row[1]} for row in not_installed_app.old_rows()])
    """)
    [mig] = loaded(versions, execute=not no_exec)
    assert (mig.error, mig.unreadable) == (None, [])
    assert [s for s in statements(versions, execute=not no_exec) if s.startswith("INSERT")] == [
        "INSERT INTO prefs (cid, name) VALUES (NULL, 'find')", "INSERT INTO prefs (cid, name) VALUES (NULL, 'replace')",
        "INSERT INTO prefs (cid, name) VALUES (NULL, NULL)"]


def test_sqlalchemy_utils_arrow_type_without_it_installed(tmp_path):
    """lemur 9392b9f9a805: `sa.Column("last_updated", ArrowType, ...)` (a DateTime in sqlalchemy_utils)."""
    versions = revisions(tmp_path, """
        from sqlalchemy_utils import ArrowType

        def upgrade():
            op.add_column("certs", sa.Column("updated", ArrowType, server_default=sa.text("now()"), nullable=False))
    """)
    assert statements(versions) == ["ALTER TABLE certs ADD COLUMN updated TIMESTAMP WITHOUT TIME ZONE"
                                    " DEFAULT now() NOT NULL"]


def test_modules_beside_a_script_folder_that_is_no_package(tmp_path):
    """pgadmin4: Flask-Migrate's migrations/ beside the application's modules (`import config`,
    `from app.constants import X`), which run from that folder."""
    (tmp_path / "config.py").write_text("DEFAULT_KIND = 'databases'\n")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "env.py").write_text("from alembic import context\n")
    versions = revisions(tmp_path / "migrations", NOT_INSTALLED + """
        import config

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.add_column("server", sa.Column("kind", sa.String(32), server_default=config.DEFAULT_KIND))
    """)
    [mig] = loaded(versions)
    assert (mig.how, mig.unreadable) == ("static", [])
    assert "ALTER TABLE server ADD COLUMN kind VARCHAR(32) DEFAULT 'databases'" in statements(versions)


def test_index_naming_a_column_twice(tmp_path):
    """lemur 412b22cb656a (SQLAlchemy 1.3): an index on ["certificate_id", "certificate_id"]."""
    versions = revisions(tmp_path, """
        def upgrade():
            op.create_index("ix_pair", "pairs", ["cert_id", "cert_id"], unique=True)
    """)
    assert statements(versions) == ["CREATE UNIQUE INDEX ix_pair ON pairs (cert_id, cert_id)"]


PLUGIN = '''
import sqlalchemy as sa
from alembic.operations import MigrateOperation, Operations


@Operations.register_operation("sync_values")
class SyncValues(MigrateOperation):
    def __init__(self, name, new):
        self.name, self.new = name, new

    @classmethod
    def sync_values(cls, operations, name, new):
        with operations.get_bind().connect() as conn:  # (as alembic-autogenerate-enums does)
            conn.execute(sa.text("COMMIT"))
            for value in new:
                conn.execute(sa.text(f"ALTER TYPE {name} ADD VALUE '{value}'"))
'''


def test_operation_of_a_plugin_installed_is_rendered(tmp_path):
    """lemur: `op.sync_enum_values(...)` of alembic-autogenerate-enums, which env.py imports: where
    the plugin is installed, what it sends through the bind is judged (test_alembic_offline has it
    not installed: not-analyzed)."""
    (tmp_path / "env.py").write_text("import enum_plugin\n")
    (tmp_path / "enum_plugin.py").write_text(PLUGIN)
    versions = revisions(tmp_path, """
        def upgrade():
            op.sync_values("kind", ["b"])
    """)
    assert "ALTER TYPE kind ADD VALUE 'b'" in statements(versions)
    assert "not-analyzed" not in [f.rule for f in check(versions, tmp_path).findings]


def test_call_of_a_library_not_installed_names_it(tmp_path):
    """pgadmin4 fdc58d9bd449: `Security(app, datastore)` of flask_security, not installed here."""
    versions = revisions(tmp_path, NOT_INSTALLED + """
        from flask_security import Security

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            Security(None, None)
            op.drop_column("a", "legacy")
    """)
    result = check(versions, tmp_path)
    assert found(result) == [("r001_x.py", "not-analyzed", 14), ("r001_x.py", "drop-column", 15)]
    assert "calls Security() of flask_security, which migsafe cannot read where it runs" in result.findings[0].message


@pytest.mark.parametrize("no_exec", [False, True])
def test_list_filtered_by_what_only_the_database_knows(tmp_path, no_exec):
    """pgadmin4 sharedserver_feature_parity: columns added only where reflection (unknown to a
    history that starts from tables made elsewhere) does not list them: each is read."""
    versions = revisions(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            existing = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("server")}
            new = [("a", sa.Column("a", sa.Integer, nullable=False)), ("b", sa.Column("b", sa.Text))]
            to_add = [col for name, col in new if name not in existing]
            if to_add:
                for col in to_add:
                    op.add_column("server", col)
            if len(to_add) > 1:
                op.drop_column("server", "legacy")
    """)
    [mig] = loaded(versions, execute=not no_exec)
    assert (mig.error, mig.unreadable) == (None, [])
    assert [s for s in statements(versions, execute=not no_exec) if s.startswith("ALTER")] == [
        "ALTER TABLE server ADD COLUMN a INTEGER NOT NULL", "ALTER TABLE server ADD COLUMN b TEXT",
        "ALTER TABLE server DROP COLUMN legacy"]


@pytest.mark.parametrize("no_exec", [False, True])
def test_relative_import_inside_a_project_package(tmp_path, no_exec):
    """pgadmin4 09d53fca90c7: `from pgadmin.setup import get_version`, which setup/__init__.py
    takes `from .db_version import get_version`."""
    (tmp_path / "myapp" / "setup").mkdir(parents=True)
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "setup" / "__init__.py").write_text(
        NOT_INSTALLED.strip() + "\nfrom .db_version import helper\nfrom ..constants import LEGACY\n")
    (tmp_path / "myapp" / "setup" / "db_version.py").write_text("def helper(op, column):\n"
                                                                "    op.drop_column('server', column)\n")
    (tmp_path / "myapp" / "constants.py").write_text("LEGACY = 'legacy'\n")
    versions = revisions(tmp_path, NOT_INSTALLED + """
        from myapp.setup import helper, LEGACY

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            helper(op, LEGACY)
    """)
    assert "ALTER TABLE server DROP COLUMN legacy" in statements(versions, execute=not no_exec)
    assert found(check(versions, tmp_path, no_exec=no_exec)) == [("r001_x.py", "drop-column", 14)]


def test_what_follows_a_return_taken_when_no_rows_were_read(tmp_path):
    """`if not state: return` after a query, then DDL (zenml ff538a321a92 has an UPDATE there):
    offline a query reads back no rows, so the rendering returned there; the DDL that follows is
    said, not passed (rows written are data an empty database does not have, as everywhere)."""
    versions = revisions(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            conn = op.get_bind()
            state = conn.execute(
                sa.text("SELECT state FROM settings")
            ).scalar()
            if not state:
                return
            conn.execute(sa.text("UPDATE settings SET state = 'x'"))
            conn.execute(sa.text("SELECT 1"))
            op.drop_column("settings", "legacy")
    """)
    [mig] = loaded(versions)
    assert mig.how == "rendered"
    assert [line for line, _ in mig.unreadable] == [18]  # the drop
    assert "else the `if` at line 14 returns" in mig.unreadable[0][1]


@pytest.mark.parametrize("no_exec", [False, True])
def test_helper_looking_up_a_name_or_else_raising(tmp_path, no_exec):
    """mlflow 0584bdc529eb: a helper returns the foreign key's name found by reflection, or raises;
    read without the database, the name is unknown, not the raise taken."""
    versions = revisions(tmp_path, NOT_INSTALLED + """
        def fk_name():
            table = sa.Table("datasets", sa.MetaData(), autoload_with=op.get_bind())
            for fk in table.foreign_key_constraints:
                return fk.name
            raise RuntimeError("no foreign key")

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            name = fk_name()
            op.drop_constraint(name, "datasets", type_="foreignkey")
    """)
    [mig] = loaded(versions, execute=not no_exec)
    assert (mig.how, mig.error, mig.unreadable) == ("static", None, [])
    assert 'ALTER TABLE datasets DROP CONSTRAINT "<name>"' in statements(versions, execute=not no_exec)


@pytest.mark.parametrize("no_exec", [False, True])
def test_upgrade_is_called_without_arguments(tmp_path, no_exec):
    """mindsdb 9f150e4f9a05: `def upgrade(op=None): if op is None: return` (its own runner passes op
    for new installs; `alembic upgrade` calls upgrade() and nothing is done), read as rendered."""
    versions = revisions(tmp_path, NOT_INSTALLED + """
        def upgrade(op=None):
            if op is None:
                return
            op.drop_column("a", "legacy")
    """)
    [mig] = loaded(versions, execute=not no_exec)
    assert (mig.how, mig.error, statements(versions, execute=not no_exec)) == ("static", None, [])


def test_an_early_return_not_taken_offline_says_nothing(tmp_path):
    """ckan 083: `if count[0] > 0: return` over an aggregate (offline one row, count 0): the drops
    after it rendered, and are judged."""
    versions = revisions(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            existing = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM related")).fetchone()
            if existing[0] > 0:
                return
            op.drop_table("related")
    """)
    [mig] = loaded(versions)
    assert (mig.how, mig.unreadable) == ("rendered", [])
    assert found(check(versions, tmp_path)) == [("r001_x.py", "drop-table", 13)]


@pytest.mark.parametrize("no_exec", [False, True])
def test_reflection_not_answered_is_no_ddl_missed(tmp_path, no_exec):
    """nova 8f2f1571d55b: `meta.reflect(bind=connection)` on a first revision (no history to answer
    from); the DDL after it is read."""
    versions = revisions(tmp_path, NOT_INSTALLED + """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            meta = sa.MetaData()
            meta.reflect(bind=op.get_bind())
            op.drop_column("a", "legacy")
    """)
    [mig] = loaded(versions, execute=not no_exec)
    assert (mig.how, mig.unreadable) == ("static", [])
    assert found(check(versions, tmp_path, no_exec=no_exec)) == [("r001_x.py", "drop-column", 14)]


@pytest.mark.parametrize("no_exec", [False, True])
def test_enum_class_nested_in_a_model_of_the_revision(tmp_path, no_exec):
    """optuna v3.0.0.c: `sa.Enum(Model.ValueType).create(bind, checkfirst=True)`, the enum.Enum
    declared inside a model class of the revision."""
    versions = revisions(tmp_path, NOT_INSTALLED + """
        import enum

        class IntermediateValueModel:
            class ValueType(enum.Enum):
                FINITE = 1
                INF_POS = 2

            __tablename__ = "trial_values"

        def upgrade():
            sa.Enum(IntermediateValueModel.ValueType).create(op.get_bind(), checkfirst=True)
    """)
    [mig] = loaded(versions, execute=not no_exec)
    assert (mig.how, mig.unreadable) == ("static", [])
    assert statements(versions, execute=not no_exec) == ["CREATE TYPE valuetype AS ENUM ('FINITE', 'INF_POS')"]

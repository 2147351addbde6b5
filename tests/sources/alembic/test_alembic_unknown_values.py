"""Revisions read without their project (static reading: the project is not installed), where a
value only the project knows does not decide what the DDL does: judged, never skipped; where it
does decide, not-analyzed at its line naming it. Each the minimal revision of a real one
(benchmarks/corpus.py: zenml, ironic, octavia)."""

from __future__ import annotations

import textwrap

import pytest
from test_alembic_offline import loaded
from test_alembic_source import check, found, revisions

QUIET = {"ignore": ["missing-lock-timeout", "irreversible-migration"]}
ROLES = """
    def upgrade():
        op.create_table("roles", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(20)))
"""
# Imported by the revisions below: not installed, so they are read statically.
NOT_INSTALLED = "\n        from myapp.clock import utc_now\n"


def statements(versions, execute=True, dialect="postgresql") -> list[str]:
    mig = loaded(versions, dialect, execute)[-1]
    assert (mig.how, mig.error) == ("static", None)
    return [" ".join(s.sql.rstrip(";").split()) for s in mig.statements if s.sql not in ("BEGIN", "COMMIT")]


def unread(versions, tmp_path, dialect="postgresql", **kw) -> list[tuple[int, str]]:
    result = check(versions, tmp_path, dialect=dialect, **QUIET, **kw)
    return [(f.span.line, f.message) for f in result.findings if f.rule == "not-analyzed"]


@pytest.mark.parametrize("execute", [True, False])
def test_metadata_reflected_through_the_bind_is_filled_when_read_statically(tmp_path, execute):
    """zenml 5994f9ad0489: `meta.reflect(bind=op.get_bind(), only=...)` was taken for data code and
    skipped, so the reflected table had no columns and its bulk_insert was not-analyzed
    (`KeyError: 'id'`); `meta.create_all(bind)` sends DDL through the bind and was never read."""
    versions = revisions(tmp_path, ROLES, NOT_INSTALLED + """
        def upgrade():
            meta = sa.MetaData()
            meta.reflect(bind=op.get_bind(), only=("roles",))
            op.bulk_insert(sa.Table("roles", meta), [{"id": 1, "name": "admin"}])
            extra = sa.MetaData()
            tags = sa.Table("tags", extra, sa.Column("id", sa.Integer, primary_key=True))
            extra.create_all(op.get_bind())
            tags.drop(op.get_bind())
    """)
    assert statements(versions, execute) == ["INSERT INTO roles (id, name) VALUES (1, 'admin')",
                                             "CREATE TABLE tags ( id SERIAL NOT NULL, PRIMARY KEY (id) )",
                                             "DROP TABLE tags"]
    assert unread(versions, tmp_path, no_exec=not execute) == []


@pytest.mark.parametrize("execute", [True, False])
def test_ddl_per_row_read_back_is_said_when_read_statically(tmp_path, execute):
    """Rendered, DDL in a loop over rows read back is said not judged (offline there are no rows);
    read statically it was skipped in silence, the loop running over none."""
    versions = revisions(tmp_path, ROLES, NOT_INSTALLED + """
        def upgrade():
            rows = op.get_bind().execute(sa.text("SELECT name FROM roles")).fetchall()
            for row in rows:
                op.drop_column("roles", "name")
            for row in op.get_bind().execute(sa.text("SELECT id FROM roles")):
                op.drop_column("roles", "id")
    """)
    assert [line for line, why in unread(versions, tmp_path, no_exec=not execute) if "per row" in why] == [12, 14]


def test_a_write_with_values_only_the_project_knows_is_rendered_with_null(tmp_path):
    """ironic c14cef6dfedf, 493d8f27f235, zenml 41b28cae31ce: `op.execute(t.update().values(...))`
    with a value from the project's configuration: a value changes no schema and locks nothing
    beyond the rows written (as through the bind). In DDL the value would decide what it does."""
    versions = revisions(tmp_path, ROLES, """
        from sqlalchemy.sql import table, column

        from myapp.conf import CONF

        roles = table("roles", column("name", sa.String))

        def upgrade():
            op.execute(roles.update().values({"name": CONF.default_name}))
            op.execute(roles.update().values(name=CONF.default_name).where(roles.c.name.is_(None)))
            op.execute(sa.text("ALTER TABLE roles ALTER COLUMN name SET DEFAULT :v").bindparams(v=CONF.default_name))
    """)
    assert statements(versions) == ["UPDATE roles SET name=NULL", "UPDATE roles SET name=NULL WHERE roles.name IS NULL"]
    assert found(check(versions, tmp_path, **QUIET)) == [("r002_x.py", "unbatched-backfill", 15),
                                                         ("r002_x.py", "not-analyzed", 17)]


def test_bulk_insert_of_rows_only_the_project_knows_is_an_insert_into_its_table(tmp_path):
    """zenml 8ad841ad9bfe: rows built from rows read back and the project's clock. Whatever they
    are, an INSERT into the table is what is judged; of a table only the project knows, nothing is."""
    versions = revisions(tmp_path, ROLES, NOT_INSTALLED + """
        from myapp.models import tables

        roles = sa.table("roles", sa.column("id", sa.Integer), sa.column("name", sa.String))

        def upgrade():
            now = utc_now()
            names = [{"name": n, "at": now} for (n,) in op.get_bind().execute(sa.text("SELECT x FROM y"))]
            if names:
                op.bulk_insert(roles, names)
            op.bulk_insert(tables.audit, names)
    """)
    assert statements(versions) == ["-- op.bulk_insert(roles, rows only the project knows): INSERT INTO roles ..."]
    assert [line for line, _ in unread(versions, tmp_path)] == [19]


def test_oslo_db_types_without_it_installed(tmp_path):
    """ironic e918ff30eb42 (OpenStack revisions name oslo.db's types): TEXT to LONGTEXT on MySQL."""
    versions = revisions(tmp_path, """
        def upgrade():
            op.create_table("nodes", sa.Column("id", sa.Integer, primary_key=True), sa.Column("info", sa.Text))
    """, """
        from oslo_db.sqlalchemy import types as db_types

        def upgrade():
            op.alter_column("nodes", "info", existing_type=db_types.JsonEncodedDict.impl,
                            type_=db_types.JsonEncodedDict(mysql_as_long=True).impl)
            op.add_column("nodes", sa.Column("deleted", db_types.SoftDeleteInteger()))
            op.add_column("nodes", sa.Column("tags", db_types.JsonEncodedList(mysql_as_medium=True)))
    """)
    assert statements(versions, dialect="mysql") == ["ALTER TABLE nodes MODIFY info LONGTEXT NULL",
                                                      "ALTER TABLE nodes ADD COLUMN deleted INTEGER",
                                                      "ALTER TABLE nodes ADD COLUMN tags MEDIUMTEXT"]
    assert ("r002_x.py", "change-column-type", 11) in found(check(versions, tmp_path, dialect="mysql", **QUIET))


def test_a_server_default_only_the_project_knows(tmp_path):
    """octavia 034b2dc2f3e0, 52377704420e: `server_default=constants.ONLINE`, where the project's
    constants module takes ONLINE from a library not installed (it read `ArgumentError: ... got
    _Unknown`, and nothing else of the op was judged). In a new table it changes nothing judged.
    Added to an existing table, whether it is a constant decides what the statement does: the op
    is judged taking it for one (here: NOT NULL added with a default the migration drops again)
    and said not analyzed for it, naming it."""
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "constants.py").write_text(textwrap.dedent("""
        from otherlib import constants as lib_consts

        ONLINE = lib_consts.ONLINE
        LENGTH = 16
    """))
    versions = revisions(tmp_path, ROLES, """
        from myapp import constants

        def upgrade():
            op.create_table("pools", sa.Column("status", sa.String(16), server_default=constants.ONLINE))
            op.add_column("roles", sa.Column("status", sa.String(constants.LENGTH), nullable=False,
                                             server_default=constants.ONLINE))
            op.alter_column("roles", "status", existing_type=sa.String(16), server_default=None)
            op.alter_column("roles", "name", existing_type=sa.String(20), server_default=constants.ONLINE)
    """)
    assert statements(versions, dialect="mysql")[1:4] == [
        "ALTER TABLE roles ADD COLUMN status VARCHAR(16) NOT NULL DEFAULT '<constants.ONLINE>'",
        "ALTER TABLE roles ALTER COLUMN status DROP DEFAULT",
        "ALTER TABLE roles ALTER COLUMN name SET DEFAULT '<constants.ONLINE>'"]
    assert found(check(versions, tmp_path, dialect="mysql", **QUIET)) == [
        ("r002_x.py", "not-analyzed", 12), ("r002_x.py", "not-null-without-default", 14),
        ("r002_x.py", "not-analyzed", 15)]
    assert unread(versions, tmp_path, dialect="mysql")[0] == (12, (
        "Could not read this operation without running the project: the server default `constants.ONLINE` is only"
        " known when the project runs; the rest of the operation is judged taking it for a constant (were it an"
        " expression computed for each row, what the statement rewrites or locks could differ)"))


def test_a_constant_of_a_module_not_installed_is_named_not_handed_to_sqlalchemy(tmp_path):
    """A value of the project's module that could not be read reaches no library, which would
    refuse it in its own words (here `TypeError: %d format: a real number is required, not
    _Unknown`): the reason names it."""
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "constants.py").write_text(textwrap.dedent("""
        from otherlib import constants as lib_consts

        ONLINE = lib_consts.ONLINE
    """))
    versions = revisions(tmp_path, ROLES, """
        from myapp import constants

        def upgrade():
            op.add_column("roles", sa.Column("status", sa.String(constants.ONLINE)))
    """)
    assert unread(versions, tmp_path, dialect="mysql") == [
        (11, "Could not read this operation without running the project: myapp.constants.ONLINE is only known"
             " when the project runs")]


def test_a_logger_of_the_project_writes_no_sql(tmp_path):
    """langflow 4e5980a44eaa: `from lfx.log.logger import logger` (not installed), then
    `logger.debug(...)` beside the batch operations: each call was not-analyzed as a function of
    the project that may change the schema. A log call given nothing that runs code is read past;
    one whose argument calls something of the project is not."""
    versions = revisions(tmp_path, ROLES, """
        from myapp.log import logger
        from myapp.clock import count_rows

        def upgrade():
            with op.batch_alter_table("roles") as batch_op:
                batch_op.add_column(sa.Column("note", sa.Text()))
                logger.debug(f"added note to {'roles'!r}, {len('roles')} letters")
                logger.warning("roles has %s rows", count_rows(op.get_bind()))
    """)
    assert statements(versions)[:1] == ["ALTER TABLE roles ADD COLUMN note TEXT"]
    [(line, message)] = unread(versions, tmp_path)
    assert "logger.warning()" in message  # the debug line above it is read past


@pytest.mark.parametrize("dialect, sql", [("postgresql", "UUID"), ("sqlite", "CHAR(32)")])
def test_sqlmodel_types_without_it_installed(tmp_path, dialect, sql):
    """langflow 012fb73ac359: `sqlmodel.sql.sqltypes.types.Uuid()` (sqltypes imports SQLAlchemy's
    `types`) and older autogenerate's `sqlmodel.sql.sqltypes.GUID()`, sqlmodel not installed."""
    versions = revisions(tmp_path, ROLES, NOT_INSTALLED + """
        import sqlmodel

        def upgrade():
            op.add_column("roles", sa.Column("guid", sqlmodel.sql.sqltypes.GUID(), nullable=True))
    """)
    assert statements(versions, dialect=dialect) == [f"ALTER TABLE roles ADD COLUMN guid {sql}"]
    assert unread(versions, tmp_path, dialect=dialect) == []

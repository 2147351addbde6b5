"""What a revision asks the database, answered offline as a database that ran the history would
answer (issue 15: reflection-gated DDL vanished), what it raises, and the connection attributes
SQLAlchemy code commonly touches. Each case is the minimal revision that showed it on a real project."""

from __future__ import annotations

import pytest
from test_alembic_source import check, revisions

from migsafe.sources.alembic.load import load_alembic_migrations

QUIET = {"ignore": ["missing-lock-timeout", "irreversible-migration"]}

# The history the reflecting revisions run after: users (id pk, email unique index, legacy, org_id
# fk -> orgs, a check), all made by revisions, so the replayed schema is the whole database.
CREATED = """
    def upgrade():
        op.create_table("orgs", sa.Column("id", sa.Integer, primary_key=True))
        op.create_table(
            "users",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("email", sa.String(50), nullable=False),
            sa.Column("legacy", sa.Text),
            sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id", name="fk_users_org")),
            sa.CheckConstraint("length(email) > 3", name="ck_email"),
        )
        op.create_index("ix_users_email", "users", ["email"], unique=True)
        op.create_unique_constraint("uq_users_legacy", "users", ["legacy"])
"""
# users.org_id references orgs and leads no index: a warning at the create_table of users (line 10).
UNINDEXED_FK = ("r001_x.py", "unindexed-foreign-key", 10)


def findings(versions, tmp_path, execute=True):
    result = check(versions, tmp_path, no_exec=not execute, **QUIET)
    return [(f.path.rsplit("/", 1)[-1], f.rule, f.span.line) for f in result.findings]


def loaded(versions, execute=True):
    return [m for m, _ in load_alembic_migrations([versions], versions.parent, versions.parent, "postgresql", None,
                                                  execute=execute)]


@pytest.mark.parametrize("inspect", ["sa.inspect", "sa.engine.reflection.Inspector.from_engine"])
@pytest.mark.parametrize("execute", [True, False])
def test_drop_gated_on_reflected_columns_is_judged(tmp_path, execute, inspect):
    """`Inspector.from_engine(conn)`, the spelling before sa.inspect (open-webui 1af9b942657b), is
    answered the same: it used to reflect through SQLAlchemy's own catalog queries, whose empty
    answer was taken for rows read back (the DDL after it said not judged)."""
    versions = revisions(tmp_path, CREATED, f"""
        def upgrade():
            insp = {inspect}(op.get_bind())
            if "legacy" in [c["name"] for c in insp.get_columns("users")]:
                op.drop_column("users", "legacy")
            if "ghost" in [c["name"] for c in insp.get_columns("users")]:
                op.drop_column("users", "ghost")
    """)
    # Not run (--no-exec), the list comprehension is read as well, over the same replayed history.
    assert findings(versions, tmp_path, execute) == [UNINDEXED_FK, ("r002_x.py", "drop-column", 11)]
    assert loaded(versions, execute)[1].how == ("rendered" if execute else "static")


def test_every_inspector_question_answers_from_the_history(tmp_path):
    versions = revisions(tmp_path, CREATED, """
        def upgrade():
            insp = sa.inspect(op.get_bind())
            assert insp.has_table("users") and not insp.has_table("ghost")
            assert sorted(insp.get_table_names()) == ["orgs", "users"]
            columns = {c["name"]: c for c in insp.get_columns("users")}
            assert isinstance(columns["email"]["type"], sa.String) and columns["email"]["type"].length == 50
            assert columns["email"]["nullable"] is False and columns["legacy"]["nullable"] is True
            assert insp.get_pk_constraint("users")["constrained_columns"] == ["id"]
            [fk] = insp.get_foreign_keys("users")
            assert (fk["name"], fk["constrained_columns"], fk["referred_table"], fk["referred_columns"]) == (
                "fk_users_org", ["org_id"], "orgs", ["id"])
            assert [i["name"] for i in insp.get_indexes("users")] == ["ix_users_email"]
            assert insp.has_index("users", "ix_users_email")
            assert [u["name"] for u in insp.get_unique_constraints("users")] == ["uq_users_legacy"]
            assert [c["name"] for c in insp.get_check_constraints("users")] == ["ck_email"]
            meta = sa.MetaData()
            meta.reflect(bind=op.get_bind())
            assert sorted(meta.tables) == ["orgs", "users"] and meta.tables["users"].c.id.primary_key
            users = sa.Table("users", sa.MetaData(), autoload_with=op.get_bind())
            op.alter_column("users", "email", type_=sa.Integer(), existing_type=users.c.email.type,
                            postgresql_using="email::integer")
    """)
    [_, mig] = loaded(versions)
    assert (mig.how, mig.error, mig.unreadable) == ("rendered", None, [])
    assert findings(versions, tmp_path) == [UNINDEXED_FK, ("r002_x.py", "change-column-type", 27)]


def test_reflection_sees_what_the_revision_itself_did_so_far(tmp_path):
    versions = revisions(tmp_path, CREATED, """
        def upgrade():
            op.add_column("users", sa.Column("nickname", sa.Text))
            insp = sa.inspect(op.get_bind())
            for column in insp.get_columns("users"):
                if column["name"] == "nickname":
                    op.create_index("ix_nick", "users", ["nickname"])
    """)
    # the index is built while add_column's ACCESS EXCLUSIVE lock (line 9) is still held
    assert findings(versions, tmp_path) == [UNINDEXED_FK, ("r002_x.py", "lock-held-across-statements", 13),
                                            ("r002_x.py", "non-concurrent-index", 13)]


def test_a_table_the_history_never_knew_is_unknown_not_absent(tmp_path):
    """A first revision reflecting a table made before Alembic: the history cannot say, so both
    sides of the branch are read rather than the drop skipped."""
    versions = revisions(tmp_path, """
        def upgrade():
            if sa.inspect(op.get_bind()).has_table("legacy_things"):
                op.drop_table("legacy_things")
    """)
    [mig] = loaded(versions)
    assert mig.how == "static"
    assert findings(versions, tmp_path) == [("r001_x.py", "drop-table", 10)]


def test_a_revision_that_could_not_be_read_makes_the_history_unknown(tmp_path):
    versions = revisions(tmp_path, CREATED, """
        def upgrade():
            import the_app_that_is_not_installed
            the_app_that_is_not_installed.make_tables(op)
    """, """
        def upgrade():
            if not sa.inspect(op.get_bind()).has_table("made_by_the_app"):
                return
            op.drop_column("made_by_the_app", "x")
    """)
    assert ("r003_x.py", "drop-column", 11) in findings(versions, tmp_path)


@pytest.mark.parametrize("failing, line", [
    ('raise RuntimeError("run the data fix by hand first")', 11),
    ("1 / 0", 11),
    ('int("x")', 11),
    ("assert False, 'not on this database'", 11),
])
def test_a_revision_that_raises_is_not_analyzed_at_the_raise(tmp_path, failing, line):
    versions = revisions(tmp_path, CREATED, f"""
        def upgrade():
            op.add_column("users", sa.Column("flag", sa.Boolean, nullable=False))
            op.drop_column("users", "legacy")
            {failing}
            op.drop_table("orgs")
    """)
    assert findings(versions, tmp_path) == [
        UNINDEXED_FK, ("r002_x.py", "not-null-without-default", 9), ("r002_x.py", "drop-column", 10),
        ("r002_x.py", "not-analyzed", line)]
    [_, mig] = loaded(versions)
    assert mig.how == "raised" and mig.error.startswith("upgrade() raised ")


@pytest.mark.parametrize("failing", ['raise RuntimeError("stop")', "assert 1 == 2"])
def test_static_reading_stops_at_a_raise_too(tmp_path, failing):
    versions = revisions(tmp_path, f"""
        def upgrade():
            op.drop_column("users", "legacy")
            if op.get_context().dialect.name == "sqlite":
                raise NotImplementedError("not on sqlite")
            try:
                raise ValueError("caught")
            except ValueError:
                pass
            {failing}
            op.drop_table("orgs")
    """)
    assert findings(versions, tmp_path, execute=False) == [
        ("r001_x.py", "drop-column", 9), ("r001_x.py", "not-analyzed", 16)]


def test_sessions_and_connection_attributes_work_offline(tmp_path):
    versions = revisions(tmp_path, CREATED, """
        import sqlalchemy.orm

        def upgrade():
            bind = op.get_bind()
            assert bind.engine.url.get_backend_name() == "postgresql" and bind.dialect.name == "postgresql"
            bind.get_transaction().commit()
            users = sa.Table("users", sa.MetaData(), autoload_with=bind)
            session = sa.orm.Session(bind=bind)
            for row in session.query(users).filter(users.c.legacy.is_(None)).all():
                raise AssertionError("offline there are no rows")
            session.execute(sa.update(users).values(legacy="x"))
            session.commit()
            op.add_column("users", sa.Column("note", sa.Text))
            op.create_unique_constraint("uq_users_email", "users", ["email"])
    """)
    [_, mig] = loaded(versions)
    assert (mig.how, mig.error, mig.unreadable) == ("rendered", None, [])
    assert findings(versions, tmp_path) == [UNINDEXED_FK, ("r002_x.py", "unbatched-backfill", 18),
                                            ("r002_x.py", "add-unique-constraint", 21)]


def test_an_error_after_a_query_with_no_rows_is_read_statically(tmp_path):
    """Offline a query returns no rows; `row[0]` then fails where the live database had a row:
    not the revision's fault, so it is read without running it, and its DDL is judged."""
    versions = revisions(tmp_path, CREATED, """
        def upgrade():
            bind = op.get_bind()
            if bind.dialect.server_version_info >= (11,):
                first = bind.execute(sa.text("SELECT id FROM users LIMIT 1")).fetchone()[0]
            op.drop_column("users", "legacy")
    """)
    [_, mig] = loaded(versions)
    assert (mig.how, mig.error) == ("static", None)
    assert findings(versions, tmp_path) == [UNINDEXED_FK, ("r002_x.py", "drop-column", 12)]


def test_ddl_that_depends_on_rows_read_back_is_said_not_judged(tmp_path):
    versions = revisions(tmp_path, CREATED, """
        def upgrade():
            bind = op.get_bind()
            for (name,) in bind.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'users'")):
                op.drop_index(name, table_name="users")
            rows = bind.execute(sa.text("SELECT id FROM orgs")).fetchall()
            for row in rows:
                bind.execute(sa.text("UPDATE users SET org_id = :id").bindparams(id=row.id))  # data, not DDL
            if bind.execute(sa.text("SELECT 1 FROM users WHERE legacy IS NOT NULL LIMIT 1")).scalar():
                op.execute("ALTER TABLE users ALTER COLUMN legacy SET NOT NULL")
            op.drop_column("users", "legacy")
    """)
    [_, mig] = loaded(versions)
    assert (mig.how, [line for line, _ in mig.unreadable]) == ("rendered", [10, 15])
    assert findings(versions, tmp_path) == [UNINDEXED_FK, ("r002_x.py", "not-analyzed", 10),
                                            ("r002_x.py", "not-analyzed", 15), ("r002_x.py", "drop-column", 17)]


def test_an_aggregate_query_gives_its_one_row(tmp_path):
    """An empty table still counts: `SELECT count(*)` and the ORM's `.count()` give 0, so a
    revision's own data check passes as on an empty database and its DDL is judged."""
    versions = revisions(tmp_path, CREATED, """
        import sqlalchemy.orm

        def upgrade():
            bind = op.get_bind()
            users = sa.Table("users", sa.MetaData(), autoload_with=bind)
            if sa.orm.Session(bind=bind).query(users).filter(users.c.legacy.isnot(None)).count() != 0:
                raise ValueError("legacy values left")
            n = bind.execute(sa.text("SELECT COUNT(*) FROM users WHERE legacy = :v"), {"v": "x"}).scalar()
            assert n == 0, n
            top = bind.execute(sa.select(sa.func.max(users.c.id))).scalar()
            assert top is None
            op.drop_column("users", "legacy")
    """)
    [_, mig] = loaded(versions)
    assert (mig.how, mig.error) == ("rendered", None)
    assert findings(versions, tmp_path) == [UNINDEXED_FK, ("r002_x.py", "drop-column", 19)]


def test_a_raise_on_rows_read_back_is_read_both_ways(tmp_path):
    """A revision checking its own work in the catalog (`if index is None: raise`): offline the
    query has no rows, so whether it raises is unknown; static reading reads on."""
    versions = revisions(tmp_path, CREATED, """
        def upgrade():
            with op.get_context().autocommit_block():
                if op.get_context().as_sql:
                    raise RuntimeError("needs an online migration")
                op.create_index("ix_legacy", "users", ["legacy"], postgresql_concurrently=True)
                found = op.get_bind().exec_driver_sql("SELECT indisvalid FROM pg_index").first()
                if found is None or not found[0]:
                    raise RuntimeError("index missing after creation")
            op.drop_column("users", "legacy")
    """)
    assert findings(versions, tmp_path) == [UNINDEXED_FK, ("r002_x.py", "drop-column", 16)]


@pytest.mark.parametrize("execute", [True, False])
def test_a_type_only_the_project_knows_is_not_reflected_as_none(tmp_path, execute):
    """open-webui b10670c03dd5: `if isinstance(types["info"], sa.Text): <convert to JSON>` on a
    column the history made with the project's own JSONField (not installed): reflected as
    NullType, the conversion was skipped in silence. The type is unknown when read, so the
    revision is read both ways; reading only the names still renders."""
    versions = revisions(tmp_path, """
        from myapp.fields import JSONField

        def upgrade():
            op.create_table("users", sa.Column("id", sa.Integer, primary_key=True), sa.Column("info", JSONField()))
    """, """
        def upgrade():
            insp = sa.inspect(op.get_bind())
            if "info" in [c["name"] for c in insp.get_columns("users")]:
                op.add_column("users", sa.Column("note", sa.Text))
            types = {c["name"]: c["type"] for c in insp.get_columns("users")}
            if isinstance(types.get("info"), sa.Text):
                op.alter_column("users", "info", type_=sa.JSON(), postgresql_using="info::json")
    """)
    assert ("r002_x.py", "change-column-type", 14) in findings(versions, tmp_path, execute)
    assert loaded(versions, execute)[1].how == "static"

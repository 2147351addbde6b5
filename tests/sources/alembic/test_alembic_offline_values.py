"""Offline rendering against what the real database ran (scripts/differential.py, issue 18): each
a minimal revision of a difference found, checked on the rendered statements and the findings."""

from __future__ import annotations

import pytest
import sqlalchemy

from test_alembic_offline import loaded
from test_alembic_source import check, found, revisions

TABLE = """
    def upgrade():
        op.execute("SET lock_timeout = '1s'")
        op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("created_at", sa.DateTime),
                        sa.Column("name", sa.String))
"""


def rendered(versions, n: int = -1) -> list[str]:
    """The statements of the n-th revision, BEGIN/COMMIT and lock_timeout left out."""
    mig = loaded(versions)[n]
    assert (mig.how, mig.error) == ("rendered", None)
    return [s.sql.rstrip(";") for s in mig.statements
            if s.sql not in ("BEGIN", "COMMIT") and "lock_timeout" not in s.sql]


def test_data_modifying_with_is_rendered_and_judged(tmp_path):
    """prefect 14dc68cc5853, airflow 0042: a WITH whose body writes is a write, not a query."""
    versions = revisions(tmp_path, TABLE, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            conn = op.get_bind()
            conn.execute(sa.text("WITH names AS (SELECT id FROM t) UPDATE t SET name = 'a'"))
            conn.execute(sa.text("with gone as (delete from t returning id) select count(*) from gone"))
            conn.execute(sa.text("WITH names AS (SELECT id FROM t) SELECT * FROM names"))
    """)
    assert rendered(versions) == ["WITH names AS (SELECT id FROM t) UPDATE t SET name = 'a'",
                                  "with gone as (delete from t returning id) select count(*) from gone"]
    # both writes judged: the UPDATE, and the DELETE a SELECT reads the RETURNING of
    assert found(check(versions, tmp_path)) == [("r002_x.py", "unbatched-backfill", 11),
                                                ("r002_x.py", "unbatched-backfill", 12)]


def test_bound_values_render_as_the_literals_sent(tmp_path):
    """airflow 0101: `created_at = :v` with a value rendered `created_at = NULL` (also on
    SQLAlchemy 1.4, which has no literal of dates, times and UUIDs: written as 2.0 writes them)."""
    versions = revisions(tmp_path, TABLE, """
        import datetime
        import uuid

        class Opaque:
            pass

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            conn = op.get_bind()
            conn.execute(sa.text("UPDATE t SET created_at = :v"), {"v": datetime.datetime(2020, 1, 2, 3, 4, 5)})
            conn.execute(sa.text("UPDATE t SET name = :n WHERE id = :id").bindparams(n="x", id=7))
            conn.execute(sa.text("UPDATE t SET name = :n WHERE id = :id"), [{"n": "a", "id": 1}, {"n": "b", "id": 2}])
            t = sa.table("t", sa.column("id"), sa.column("name"))
            conn.execute(t.update().where(t.c.id == sa.bindparam("key")), {"key": 3, "name": "c"})
            conn.execute(sa.text("UPDATE t SET name = :n, created_at = :v"),
                         {"n": Opaque(), "v": datetime.date(2020, 1, 2)})
            conn.execute(sa.text("UPDATE t SET name = :n"), {"n": uuid.UUID(int=5)})
            typed = sa.table("t", sa.column("created_at", sa.DateTime), sa.column("name", sa.Time))
            conn.execute(typed.update().values(created_at=datetime.datetime(2021, 1, 1, 0, 0, 0, 5),
                                               name=datetime.time(1, 2)))
    """)
    assert rendered(versions) == [
        "UPDATE t SET created_at = '2020-01-02 03:04:05'",
        "UPDATE t SET name = 'x' WHERE id = 7",
        "UPDATE t SET name = 'a' WHERE id = 1",
        "UPDATE t SET name = 'b' WHERE id = 2",
        "UPDATE t SET name='c' WHERE t.id = 3",
        "UPDATE t SET name = NULL, created_at = '2020-01-02'",  # a value with no SQL literal: unknown
        "UPDATE t SET name = '00000000-0000-0000-0000-000000000005'",
        "UPDATE t SET created_at='2021-01-01 00:00:00.000005', name='01:02:00'",
    ]


def test_driver_sql_renders_the_parameters_the_driver_sends(tmp_path):
    """`exec_driver_sql(sql, params)` in the driver's paramstyle: each set of values rendered into
    the statement as the driver formats it (`%%` is `%` then); a ':' is not a SQLAlchemy bind."""
    versions = revisions(tmp_path, TABLE, """
        import datetime

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            conn = op.get_bind()
            conn.exec_driver_sql("UPDATE t SET name = %(n)s WHERE name LIKE 'a%%'", {"n": "it's"})
            conn.exec_driver_sql("UPDATE t SET created_at = %s WHERE id = %s",
                                 [(datetime.datetime(2020, 1, 2), 1), (None, 2)])
            conn.exec_driver_sql("UPDATE t SET name = 'a:b' WHERE id = 3")
            conn.exec_driver_sql("UPDATE t SET name = %(missing)s", {"n": 1})
    """)
    assert rendered(versions) == [
        "UPDATE t SET name = 'it''s' WHERE name LIKE 'a%'",
        "UPDATE t SET created_at = '2020-01-02 00:00:00' WHERE id = 1",
        "UPDATE t SET created_at = NULL WHERE id = 2",
        "UPDATE t SET name = 'a:b' WHERE id = 3",
        "UPDATE t SET name = %(missing)s",  # values that do not fit: as written (the driver would fail)
    ]


def test_percent_sign_is_not_escaped_in_rendered_sql(tmp_path):
    """airflow 0000_2_6_2: `LIKE 'a%'` rendered as `LIKE 'a%%'` (the driver's paramstyle escaping)."""
    versions = revisions(tmp_path, TABLE, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.execute("UPDATE t SET name = 'b' WHERE name LIKE 'a%'")
            op.get_bind().execute(sa.text("UPDATE t SET name = :n WHERE name LIKE 'c%'"), {"n": "50%"})
            t = sa.table("t", sa.column("name"))
            op.execute(t.delete().where(t.c.name.like("d%")))
    """)
    assert rendered(versions) == ["UPDATE t SET name = 'b' WHERE name LIKE 'a%'",
                                  "UPDATE t SET name = '50%' WHERE name LIKE 'c%'",
                                  "DELETE FROM t WHERE t.name LIKE 'd%'"]


def test_enum_type_the_history_made_is_not_created_again(tmp_path):
    """optuna v2.4.0.a: a table using an Enum an earlier revision created rendered CREATE TYPE again."""
    versions = revisions(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.create_table("t", sa.Column("id", sa.Integer, primary_key=True),
                            sa.Column("state", sa.Enum("a", "b", name="state")))
    """, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.create_table("u", sa.Column("id", sa.Integer, primary_key=True),
                            sa.Column("state", sa.Enum("a", "b", name="state")))
            sa.Enum("a", "b", name="state").create(op.get_bind())
            sa.Enum("x", name="kind").create(op.get_bind())
            sa.Enum("x", name="gone").drop(op.get_bind(), checkfirst=True)
            sa.Enum("x", name="kind").drop(op.get_bind(), checkfirst=True)
    """)
    statements = rendered(versions)
    assert [s for s in statements if "TYPE" in s] == ["CREATE TYPE kind AS ENUM ('x')", "DROP TYPE kind"]
    assert statements[0].startswith("CREATE TABLE u")


def test_enum_type_unknown_to_an_incomplete_history_is_rendered(tmp_path):
    """A history that starts from tables made elsewhere does not tell which types exist: as before."""
    versions = revisions(tmp_path, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.add_column("legacy", sa.Column("note", sa.String))
    """, """
        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            sa.Enum("x", name="kind").drop(op.get_bind(), checkfirst=True)
            op.create_table("u", sa.Column("id", sa.Integer, primary_key=True),
                            sa.Column("kind", sa.Enum("x", name="kind")))
    """)
    assert [s for s in rendered(versions) if "TYPE" in s] == ["DROP TYPE kind", "CREATE TYPE kind AS ENUM ('x')"]


def test_values_only_the_project_knows_render_as_null_when_read_statically(tmp_path):
    """airflow 0042, 0101 read without their project: `{"now": timezone.utcnow()}`,
    `.bindparams(batch_size=conf.getint(...))` are unknown, the writes are still rendered."""
    versions = revisions(tmp_path, TABLE, """
        from myapp import clock, settings

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            conn = op.get_bind()
            conn.execute(sa.text("UPDATE t SET created_at = :now, name = :name"), {"now": clock.now(), "name": "a%"})
            result = conn.execute(sa.text("WITH b AS (SELECT id FROM t LIMIT :n) UPDATE t SET name = 'x' FROM b"
                                          " WHERE t.id = b.id").bindparams(n=settings.size))
    """)
    assert loaded(versions)[-1].how == "static"
    statements = [s.sql.rstrip(";") for s in loaded(versions)[-1].statements]
    assert "UPDATE t SET created_at = NULL, name = 'a%'" in statements
    assert "WITH b AS (SELECT id FROM t LIMIT NULL) UPDATE t SET name = 'x' FROM b WHERE t.id = b.id" in statements
    assert found(check(versions, tmp_path)) == [("r002_x.py", "unbatched-backfill", 13)]

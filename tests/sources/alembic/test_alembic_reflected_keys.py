"""`Table(name, metadata, autoload_with=bind)` offline gives the table's foreign keys too, as
SQLAlchemy's reflection does (the target reflected with it), from the replayed history."""

from __future__ import annotations

from test_alembic_offline import loaded
from test_alembic_source import check, found, revisions

HISTORY = """
    def upgrade():
        op.create_table("experiments", sa.Column("experiment_id", sa.Integer, primary_key=True))
        op.create_table("datasets", sa.Column("id", sa.Integer, primary_key=True),
                        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id")))
        op.create_index("ix_datasets_experiment_id", "datasets", ["experiment_id"])
"""


def test_a_foreign_key_found_by_what_it_refers_to_is_dropped(tmp_path):
    """mlflow 0584bdc529eb: the unnamed foreign key is looked up among the reflected table's
    constraints by its target, then dropped and made again with ON DELETE CASCADE. Offline the
    reflected table had no foreign keys, so the revision raised its own "unable to find" error."""
    versions = revisions(tmp_path, HISTORY, """
        def fk_name():
            datasets = sa.Table("datasets", sa.MetaData(), autoload_with=op.get_bind())
            for constraint in datasets.foreign_key_constraints:
                if constraint.referred_table.name == "experiments" and constraint.column_keys[0] == "experiment_id":
                    return constraint.name
            raise RuntimeError("Unable to find the foreign key constraint")

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.drop_constraint(fk_name(), "datasets", type_="foreignkey")
            op.create_foreign_key("fk_datasets_experiment_id_experiments", "datasets", "experiments",
                                  ["experiment_id"], ["experiment_id"], ondelete="CASCADE")
    """)
    mig = loaded(versions)[-1]
    assert (mig.how, mig.error) == ("rendered", None)
    assert [s.sql for s in mig.statements if "datasets" in s.sql][0] == \
        "ALTER TABLE datasets DROP CONSTRAINT datasets_experiment_id_fkey"
    # (dropped and made again: judged as the new key's validation, under the drop's lock)
    assert found(check(versions, tmp_path)) == [("r002_x.py", "lock-held-across-statements", 18),
                                                ("r002_x.py", "validating-foreign-key", 18)]


def test_a_raise_after_reflecting_a_table_the_history_knows_in_part_is_read_statically(tmp_path):
    """mlflow 0584bdc529eb, installed: experiments was made outside the history, so the replayed
    datasets table has its key without a target to point at, and the revision raised its own
    "not found", which a live database would not: like a raise on rows read back, it is read
    statically (the key's name then computed at run time)."""
    versions = revisions(tmp_path, """
        def upgrade():
            op.create_table("datasets", sa.Column("id", sa.Integer, primary_key=True),
                            sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id")))
            op.create_index("ix_datasets_experiment_id", "datasets", ["experiment_id"])
    """, """
        def fk_name():
            datasets = sa.Table("datasets", sa.MetaData(), autoload_with=op.get_bind())
            for constraint in datasets.foreign_key_constraints:
                if constraint.referred_table.name == "experiments":
                    return constraint.name
            raise RuntimeError("Unable to find the foreign key constraint")

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.drop_constraint(fk_name(), "datasets", type_="foreignkey")
    """)
    mig = loaded(versions)[-1]
    assert (mig.how, mig.error, mig.unreadable) == ("static", None, [])
    assert [s.sql for s in mig.statements if "datasets" in s.sql] == ['ALTER TABLE datasets DROP CONSTRAINT "<fk_name()>"']

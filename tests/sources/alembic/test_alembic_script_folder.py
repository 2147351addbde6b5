"""The script folder (env.py's) of revisions kept deeper than versions/ (version_locations such as
prefect's versions/postgresql/): what env.py imports is imported before rendering, as there."""

from __future__ import annotations

import textwrap

from test_alembic_offline import loaded
from test_alembic_source import check, found, revisions

from migsafe.sources.alembic.runner import alembic_sets_lock_timeout


def test_env_py_above_a_nested_version_location_is_found(tmp_path):
    """prefect (installed): revisions do `import prefect` and use prefect.server.utilities.database,
    a submodule only env.py imports. env.py was looked for right above the revision's folder
    only, so 30 revisions raised AttributeError (not-analyzed) in a project's own venv."""
    app = tmp_path / "scripts" / "deepenvapp"  # (next to env.py: on the import path, as the project's)
    (app / "utilities").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "utilities/__init__.py").write_text("")
    (app / "utilities/database.py").write_text(
        "import sqlalchemy as sa\n\nclass Timestamp(sa.types.TypeDecorator):\n"
        "    impl = sa.DateTime\n    cache_ok = True\n")
    (tmp_path / "scripts" / "versions").mkdir()
    (tmp_path / "scripts" / "env.py").write_text(textwrap.dedent("""
        from deepenvapp.utilities.database import Timestamp
        raise SystemExit("env.py must not run")
    """))
    nested = revisions(tmp_path, """
        import deepenvapp

        def upgrade():
            op.execute("SET lock_timeout = '1s'")
            op.add_column("flows", sa.Column("at", deepenvapp.utilities.database.Timestamp(), nullable=False))
    """).rename(tmp_path / "scripts" / "versions" / "postgresql")

    [mig] = loaded(nested)
    assert (mig.how, mig.error) == ("rendered", None)
    assert found(check(nested, tmp_path)) == [("r001_x.py", "not-null-without-default", 12)]



def test_lock_timeout_set_by_env_py_above_a_nested_version_location(tmp_path):
    """The runner's own lock timeout (env.py, read as text) is found from versions/postgresql/ too."""
    nested = tmp_path / "scripts" / "versions" / "postgresql"
    nested.mkdir(parents=True)
    (tmp_path / "scripts" / "env.py").write_text(
        "def run_migrations_online(connection):\n    connection.exec_driver_sql(\"SET lock_timeout = '5s'\")\n")
    assert alembic_sets_lock_timeout([nested]) and not alembic_sets_lock_timeout([tmp_path / "scripts"])

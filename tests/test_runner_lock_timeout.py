"""missing-lock-timeout stays quiet where the migration runner sets the timeout itself (issue 19:
a quarter of all findings on real projects were this warning, wrongly, on such projects)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from migsafe import engine
from migsafe.config import load_settings
from migsafe.rules import default_severities
from migsafe.sources.core.lock_timeout import sets_lock_timeout

REVISION = """from alembic import op
revision = "a1"
down_revision = None


def upgrade():
    op.drop_column("users", "legacy")


def downgrade():
    op.execute("SELECT 1")
"""


def rules(path: Path, **overrides) -> list[str]:
    settings = load_settings(None, {k.replace("_", "-"): v for k, v in overrides.items()}, set(default_severities()))
    return sorted({f.rule for f in engine.check([path], settings, path).findings})


def alembic_project(tmp_path: Path, env_py: str) -> Path:
    (tmp_path / "alembic" / "versions").mkdir(parents=True)
    (tmp_path / "alembic" / "env.py").write_text(textwrap.dedent(env_py))
    (tmp_path / "alembic" / "versions" / "a1_drop.py").write_text(REVISION)
    return tmp_path


@pytest.mark.parametrize("env_py, quiet", [
    ('engine = engine_from_config(cfg, connect_args={"options": "-c lock_timeout=5s"})', True),
    ('connection.execute(text("SET lock_timeout = \'5s\'"))', True),
    ("connection.exec_driver_sql(\"SET SESSION lock_timeout TO '2s'\")", True),
    ("connection.execute(text(\"SELECT set_config('lock_timeout', '5s', false)\"))", True),
    ('# connection.execute(text("SET lock_timeout = \'5s\'"))  (commented out)', False),
    ("context.configure(connection=connection, target_metadata=None)", False),
])
def test_alembic_env_py_that_sets_it(tmp_path, env_py, quiet):
    project = alembic_project(tmp_path, env_py)
    assert ("missing-lock-timeout" in rules(project)) is not quiet
    assert "drop-column" in rules(project)


def test_config_key_says_the_runner_sets_it(tmp_path):
    project = alembic_project(tmp_path, "context.configure(connection=connection)")
    assert "missing-lock-timeout" in rules(project)
    assert "missing-lock-timeout" not in rules(project, runner_sets_lock_timeout=True)


@pytest.mark.parametrize("settings_text, quiet", [
    ('DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql",'
     ' "OPTIONS": {"options": "-c lock_timeout=3000"}}}', True),
    ('DATABASES = {"default": {"ENGINE": "django_zero_downtime_migrations.backends.postgres"}}\n'
     'ZERO_DOWNTIME_MIGRATIONS_LOCK_TIMEOUT = "2s"', True),
    ('DATABASES = {"default": {"ENGINE": "django_zero_downtime_migrations.backends.postgres"}}\n'
     "ZERO_DOWNTIME_MIGRATIONS_LOCK_TIMEOUT = None", False),
    ('DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql"}}', False),
])
def test_django_settings_that_set_it(tmp_path, settings_text, quiet):
    app = tmp_path / "shop"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").touch()
    (app / "migrations" / "__init__.py").touch()
    (app / "migrations" / "0001_initial.py").write_text(textwrap.dedent("""\
        from django.db import migrations


        class Migration(migrations.Migration):
            dependencies = []
            operations = [migrations.RunSQL("ALTER TABLE users DROP COLUMN legacy", migrations.RunSQL.noop)]
    """))
    (tmp_path / "site_settings").mkdir()
    (tmp_path / "site_settings" / "__init__.py").touch()
    (tmp_path / "site_settings" / "production.py").write_text(settings_text + "\n")
    found = rules(tmp_path, no_exec=True, django_settings="site_settings.production")
    assert ("missing-lock-timeout" in found) is not quiet
    assert "drop-column" in found


def test_mysql_init_command():
    assert sets_lock_timeout('OPTIONS = {"init_command": "SET SESSION lock_wait_timeout = 5"}')
    assert not sets_lock_timeout('OPTIONS = {"init_command": "SET sql_mode=\'STRICT_TRANS_TABLES\'"}')

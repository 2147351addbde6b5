"""Write migrations of each framework after a history that creates the tables, and check them."""

from __future__ import annotations

from pathlib import Path

from migsafe.config import load_settings
from migsafe.engine import check
from migsafe.rules import default_severities

SETUP = """CREATE TABLE users (id bigint PRIMARY KEY, email varchar(100), name text, age integer);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, status text, quantity integer);
CREATE INDEX orders_status_idx ON orders (status)"""

ALEMBIC_HEADER = '''from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "{rev}"
down_revision = {down}


'''


def write_migrations(root: Path, source: str, codes: list[str]) -> Path:
    """SETUP, then each code as the next migration of `source`; returns the folder to check."""
    root.mkdir(parents=True)
    if source == "sql":
        (root / "V1__setup.sql").write_text(SETUP + ";\n")
        for n, code in enumerate(codes, 2):
            (root / f"V{n}__step.sql").write_text(code + "\n")
    elif source == "alembic":
        versions = root / "versions"
        versions.mkdir()
        (root / "V1__setup.sql").write_text(SETUP + ";\n")  # SQL history is replayed first
        down = "None"
        for n, code in enumerate(codes, 1):
            rev = f"r{n:04d}"
            (versions / f"{rev}.py").write_text(ALEMBIC_HEADER.format(rev=rev, down=down) + code + "\n")
            down = repr(rev)
    else:
        migrations = root / "shop" / "migrations"
        migrations.mkdir(parents=True)
        (root / "shop" / "__init__.py").write_text("")
        (migrations / "__init__.py").write_text("")
        statements = ", ".join(repr(s) for s in SETUP.split(";\n"))
        (migrations / "0001_setup.py").write_text(
            "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
            f"    operations = [migrations.RunSQL([{statements}], migrations.RunSQL.noop)]\n")
        previous = "0001_setup"
        for n, code in enumerate(codes, 2):
            name = f"{n:04d}_step"
            dependency = f"    dependencies = [(\"shop\", \"{previous}\")]\n"
            code = code.replace("class Migration(migrations.Migration):\n",
                                "class Migration(migrations.Migration):\n" + dependency, 1)
            assert dependency in code, code
            (migrations / f"{name}.py").write_text(code + "\n")
            previous = name
    return root


def run_check(root: Path, source: str, dialect: str | None = None):
    history = {"sql": {"sql": "V1__setup.sql"}, "alembic": {"sql": "V1__setup.sql"},
               "django": {"django": {"shop": "0001_setup"}}}[source]
    options = {"start-after": history} | ({"dialect": dialect} if dialect else {})
    settings = load_settings(None, options, set(default_severities()))
    return check([root], settings, cwd=root).findings

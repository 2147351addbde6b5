"""Alembic fixes name their objects by the project's MetaData(naming_convention=...), read from
env.py and the modules it imports without running them (fixes/naming.py)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from migsafe import plans as P
from migsafe.fixes.naming import Converted, follow, read_convention
from tests.fixes.test_layout import one_line

CONVENTION = '''{
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}'''

MODELS = f'''from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {CONVENTION}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
'''

ENV = "from alembic import context\nfrom shop.models import Base\n\ntarget_metadata = Base.metadata\n"

HISTORY = '''def upgrade():
    op.execute("CREATE TABLE users (id bigint PRIMARY KEY, email text)")
    op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, quantity integer)")
'''

# One unsafe change per rule, each leaving the object unnamed, and one CHECK the migration names.
CHANGES = {
    "non-concurrent-index": 'op.execute("CREATE INDEX ON orders (user_id)")',
    "add-unique-constraint": 'op.create_unique_constraint(None, "users", ["email"])',
    "validating-foreign-key": 'op.execute("ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users (id)")',
    "validating-check-constraint": 'op.execute("ALTER TABLE orders ADD CHECK (quantity > 0)")',
    "named-check": 'op.create_check_constraint("positive", "orders", "quantity > 0")',
}


def alembic_project(root: Path, env: str, models: str | None = MODELS) -> Path:
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = migrations\nprepend_sys_path = .\n")
    (root / "migrations" / "env.py").write_text(env)
    if models is not None:
        (root / "shop").mkdir()
        (root / "shop" / "__init__.py").write_text("")
        (root / "shop" / "models.py").write_text(models)
    head = 'from alembic import op\nimport sqlalchemy as sa\n\nrevision = "{rev}"\ndown_revision = {down}\n\n\n'
    (root / "migrations" / "versions" / "r1.py").write_text(head.format(rev="r1", down=None) + HISTORY)
    body = "def upgrade():\n" + "".join(f"    {c}\n" for c in CHANGES.values())
    (root / "migrations" / "versions" / "r2.py").write_text(head.format(rev="r2", down='"r1"') + body)
    return root


def fix_code(run_cli, root: Path, *flags: str) -> dict[str, str]:
    """Per rule (and line), the code of its fix's steps, each call on one line (as laid out at a
    reviewer's width, a long call spans several)."""
    code, out, err = run_cli(["check", "--no-cache", "--format", "json", *flags, "."], cwd=root)
    assert code in (0, 1), err
    found = json.loads(out)["findings"]
    return {f"{f['rule']}:{f['line']}": one_line("\n".join(s["code"] for s in f["fix"]["steps"])) for f in found}


def test_fixes_name_their_objects_by_the_convention(tmp_path, run_cli):
    code = fix_code(run_cli, alembic_project(tmp_path, ENV))
    index = code["non-concurrent-index:9"]
    assert 'op.create_index(op.f("ix_orders_user_id"), "orders", ["user_id"], postgresql_concurrently=True)' in index
    assert 'op.drop_index(op.f("ix_orders_user_id"), postgresql_concurrently=True)' in index
    unique = code["add-unique-constraint:10"]
    assert 'op.create_index(op.f("uq_users_email"), "users", ["email"], unique=True' in unique
    assert "ADD CONSTRAINT uq_users_email UNIQUE USING INDEX uq_users_email" in unique
    assert "users_email_key" not in unique
    foreign = code["validating-foreign-key:11"]
    assert "ADD CONSTRAINT fk_orders_user_id_users FOREIGN KEY (user_id) REFERENCES users NOT VALID" in foreign
    assert "VALIDATE CONSTRAINT fk_orders_user_id_users" in foreign
    assert 'op.drop_constraint(op.f("fk_orders_user_id_users"), "orders")' in foreign
    check = code["validating-check-constraint:12"]
    assert 'op.create_check_constraint(op.f("ck_orders_check"), "orders", "quantity > 0"' in check
    assert "VALIDATE CONSTRAINT ck_orders_check" in check
    # A name the migration gives goes through %(constraint_name)s, as SQLAlchemy does with it.
    named = code["validating-check-constraint:13"]
    assert 'op.create_check_constraint(op.f("ck_orders_positive")' in named
    assert "VALIDATE CONSTRAINT ck_orders_positive" in named


def test_the_convention_is_read_without_running_the_project(tmp_path, run_cli):
    models = "raise SystemExit('the project is never run')\n" + MODELS
    code = fix_code(run_cli, alembic_project(tmp_path, ENV, models), "--no-exec")
    assert 'op.f("ix_orders_user_id")' in code["non-concurrent-index:9"]


def test_without_a_convention_names_stay_as_postgresql_gives_them(tmp_path, run_cli):
    env = "from alembic import context\n\ntarget_metadata = None\n"
    code = fix_code(run_cli, alembic_project(tmp_path, env, models=None))
    assert 'op.create_index("orders_user_id_idx", "orders", ["user_id"], postgresql_concurrently=True)' \
        in code["non-concurrent-index:9"]
    assert "ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key" in code["add-unique-constraint:10"]
    assert "op.f(" not in "".join(code.values())


@pytest.mark.parametrize("convention", ["make_convention()", "{**BASE}", "{'ix': PREFIX + '%(column_0_label)s'}"])
def test_a_convention_not_written_as_literals_leaves_names_as_they_are(tmp_path, run_cli, convention):
    models = MODELS.replace("naming_convention=NAMING_CONVENTION", f"naming_convention={convention}")
    code = fix_code(run_cli, alembic_project(tmp_path, ENV, models))
    assert '"orders_user_id_idx"' in code["non-concurrent-index:9"] and "op.f(" not in "".join(code.values())


def read(tmp_path: Path, env: str, **modules: str) -> dict[str, str]:
    for name, text in modules.items():
        path = tmp_path / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    (tmp_path / "migrations").mkdir(exist_ok=True)
    (tmp_path / "migrations" / "env.py").write_text(textwrap.dedent(env))
    return read_convention(tmp_path / "migrations" / "env.py")


@pytest.mark.parametrize("env, modules", [
    # written in env.py itself, a dict() call, SQLAlchemy's classes as keys
    ("import sqlalchemy as sa\ntarget_metadata = sa.MetaData(naming_convention=dict(ix='ix_%(column_0_label)s'))\n", {}),
    ("from sqlalchemy import Index, MetaData\nC = {Index: 'ix_%(column_0_label)s'}\n"
     "target_metadata = MetaData(naming_convention=C)\n", {}),
    # declarative_base(metadata=...), a module imported whole, a package's submodule
    ("from app import models\ntarget_metadata = models.Base.metadata\n",
     {"app/__init__": "", "app/models": """
        from sqlalchemy import MetaData
        from sqlalchemy.orm import declarative_base
        from app.conventions import NAMES
        Base = declarative_base(metadata=MetaData(naming_convention=NAMES))
        """, "app/conventions": "NAMES = {'ix': 'ix_%(column_0_label)s'}\n"}),
    ("import app.db\ntarget_metadata = app.db.metadata\n",
     {"app/__init__": "", "app/db": "from sqlalchemy import MetaData\n"
                                      "metadata = MetaData(naming_convention={'ix': 'ix_%(column_0_label)s'})\n"}),
    # a base class's metadata, Flask-SQLAlchemy, context.configure(target_metadata=...), src/ layout
    ("from src_app.models import Order\n\ndef run():\n    context.configure(target_metadata=Order.metadata)\n",
     {"src/src_app/__init__": "", "src/src_app/models": """
        from sqlalchemy import MetaData
        from sqlalchemy.orm import DeclarativeBase
        class Base(DeclarativeBase):
            metadata = MetaData(naming_convention={"ix": "ix_%(column_0_label)s"})
        class Order(Base):
            __tablename__ = "orders"
        """}),
    ("from ext import db\ntarget_metadata = db.Model.metadata\n",
     {"ext": """
        from flask_sqlalchemy import SQLAlchemy
        from sqlalchemy import MetaData
        db = SQLAlchemy(metadata=MetaData(naming_convention={"ix": "ix_%(column_0_label)s"}))
        """}),
])
def test_the_convention_is_followed_through_the_project_s_modules(tmp_path, env, modules):
    assert read(tmp_path, env, **modules) == {"ix": "ix_%(column_0_label)s"}


@pytest.mark.parametrize("env", [
    "target_metadata = current_app.extensions['migrate'].db.metadata\n",  # known only when run
    "from nowhere import Base\ntarget_metadata = Base.metadata\n",
    "target_metadata = a = a\n",  # a cycle
    "def f(:\n",  # not Python
])
def test_what_cannot_be_read_gives_no_convention(tmp_path, env):
    assert read(tmp_path, env) == {}


def test_names_that_the_plan_s_own_sql_quotes_are_kept_and_unknown_tokens_leave_a_name():
    convention = {"ix": "ix_%(column_0_label)s", "fk": "fk_%(referred_column_0_name)s"}
    plan = P.Plan("s", [P.Phase("single", "t", [
        P.CreateIndexConcurrently("orders_p1", "orders_p1_user_id_idx", ("user_id",)),
        P.Statement("ALTER INDEX orders_user_id_idx ATTACH PARTITION orders_p1_user_id_idx"),
        P.AddForeignKeyNotValid("orders", "orders_user_id_fkey", ("user_id",), "users"),
        P.CreateIndexConcurrently("orders", "orders_lower_idx", ("lower(email)",)),
    ])])
    actions = follow(plan, convention).phases[0].actions
    assert [a.name for a in actions if hasattr(a, "name")] == [
        "orders_p1_user_id_idx", "orders_user_id_fkey", "orders_lower_idx"]
    assert all(isinstance(a.name, Converted) for a in actions if hasattr(a, "name"))

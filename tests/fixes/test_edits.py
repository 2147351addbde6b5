"""fix.edits: each kind, applied, leaves a file migsafe checks with no finding of the rule it fixed
(and no new one); where the rewrite would not be safe, no edit is offered."""

from __future__ import annotations

import pytest

from migsafe.config import load_settings
from migsafe.engine import check
from migsafe.fixes.edits import apply_edits
from migsafe.model import Edit
from migsafe.rules import default_severities
from tests.fixes.conftest import SETUP, run_check, write_migrations

# rule -> unsafe statement (after SETUP) whose finding carries edits
FIXABLE = {
    "non-concurrent-index": "CREATE INDEX orders_user_idx ON orders (user_id)",
    "validating-foreign-key": "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id)"
                              " ON DELETE CASCADE",
    "validating-check-constraint": "ALTER TABLE orders ADD CONSTRAINT orders_qty_positive CHECK (quantity > 0)",
    "add-unique-constraint": "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email)",
    "missing-lock-timeout": "ALTER TABLE users ALTER COLUMN email SET DEFAULT 'x'",
    "non-concurrent-drop-index": "DROP INDEX orders_status_idx",
}


# The warnings about what the running app writes: no rewrite settles them, a reviewer does.
INTENT = {"new-write-restriction", "unindexed-foreign-key"}


def findings(tmp_path, text: str, **config):
    (tmp_path / "V1__setup.sql").write_text(SETUP + ";\n")
    (tmp_path / "V2__change.sql").write_bytes(text.encode())
    settings = load_settings(None, {"start-after": {"sql": "V1__setup.sql"}, **config}, set(default_severities()))
    return check([tmp_path], settings, cwd=tmp_path).findings


def edits_of(found, rule):
    hits = [f for f in found if f.rule == rule]
    assert hits, f"no {rule} finding: {[f.rule for f in found]}"
    return hits[0].fix.edits


@pytest.mark.parametrize("rule", sorted(FIXABLE))
def test_each_edit_fixes_its_rule_and_raises_nothing_new(tmp_path, rule):
    text = f"-- a change\n{FIXABLE[rule]};\n"
    before = findings(tmp_path, text)
    edits = edits_of(before, rule)
    assert edits and all(e.path == "V2__change.sql" for e in edits)
    fixed = apply_edits(text, edits)
    after = findings(tmp_path, fixed)
    assert rule not in {f.rule for f in after}, fixed
    assert {f.rule for f in after} <= {f.rule for f in before}, fixed


def test_all_edits_of_a_file_together(tmp_path):
    text = "\n".join(f"{s};" for s in FIXABLE.values()) + "\n"
    before = findings(tmp_path, text)
    edits = [e for f in before for e in f.fix.edits]
    fixed = apply_edits(text, edits)
    assert fixed.startswith("SET lock_timeout = '5s';\nCREATE INDEX CONCURRENTLY orders_user_idx")
    assert "ON DELETE CASCADE NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;\n" in fixed
    assert ("CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);\n"
            "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;\n") in fixed
    assert "DROP INDEX CONCURRENTLY orders_status_idx;\n" in fixed
    assert [f for f in findings(tmp_path, fixed) if f.rule not in INTENT] == []


UNSAFE_TO_REWRITE = {
    # CONCURRENTLY / a separate VALIDATE need the statement outside a transaction block
    "inside BEGIN": ("BEGIN;\n{s};\nCOMMIT;\n", {}),
    "per-file transaction": ("{s};\n", {"sql-transaction": "per-file"}),
    "dbmate transaction": ("-- migrate:up\n{s};\n-- migrate:down\n", {}),
}


@pytest.mark.parametrize("case", sorted(UNSAFE_TO_REWRITE))
@pytest.mark.parametrize("rule", ["non-concurrent-index", "validating-foreign-key", "validating-check-constraint",
                                  "add-unique-constraint", "non-concurrent-drop-index"])
def test_no_edit_inside_a_transaction(tmp_path, rule, case):
    template, config = UNSAFE_TO_REWRITE[case]
    assert edits_of(findings(tmp_path, template.format(s=FIXABLE[rule]), **config), rule) == []


@pytest.mark.parametrize("rule, statement", [
    ("validating-check-constraint", "ALTER TABLE orders ADD CHECK (quantity > 0)"),  # VALIDATE must name it
    ("validating-foreign-key", "ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users (id)"),
    ("validating-check-constraint", "ALTER TABLE orders ADD COLUMN n int, ADD CONSTRAINT c CHECK (quantity > 0)"),
    ("add-unique-constraint", "ALTER TABLE users ADD CONSTRAINT u UNIQUE (email) INCLUDE (name)"),
    ("add-unique-constraint", "ALTER TABLE users ADD CONSTRAINT u UNIQUE (email) DEFERRABLE"),
    ("add-unique-constraint", "ALTER TABLE IF EXISTS users ADD CONSTRAINT u UNIQUE (email)"),
    ("non-concurrent-drop-index", "DROP INDEX orders_status_idx CASCADE"),  # CONCURRENTLY cannot cascade
])
def test_no_edit_where_the_rewrite_would_change_meaning(tmp_path, rule, statement):
    assert edits_of(findings(tmp_path, statement + ";\n"), rule) == []


def test_edit_positions_on_indented_multiline_crlf_file(tmp_path):
    text = ("-- x\r\n  CREATE UNIQUE\r\n  INDEX users_name_idx ON users (name);\r\n"
            "  ALTER TABLE users ALTER COLUMN email SET DEFAULT 'x';\r\n")
    edits = sorted((e for f in findings(tmp_path, text) for e in f.fix.edits), key=lambda e: e.line)
    assert [(e.line, e.column, e.end_line, e.end_column, e.replacement) for e in edits] == [
        (2, 3, 2, 3, "SET lock_timeout = '5s';\n  "), (3, 8, 3, 8, " CONCURRENTLY")]
    assert apply_edits(text, edits) == (
        "-- x\r\n  SET lock_timeout = '5s';\r\n  CREATE UNIQUE\r\n  INDEX CONCURRENTLY users_name_idx ON users (name);\r\n"
        "  ALTER TABLE users ALTER COLUMN email SET DEFAULT 'x';\r\n")


def test_apply_keeps_bom_and_rejects_overlaps():
    assert apply_edits("\ufeffab\ncd", [Edit("f", 2, 2, 2, 3, "X")]) == "\ufeffab\ncX"
    with pytest.raises(ValueError, match="overlap"):
        apply_edits("abcdef", [Edit("f", 1, 1, 1, 4, "x"), Edit("f", 1, 2, 1, 5, "y")])
    with pytest.raises(ValueError, match="outside"):
        apply_edits("abc", [Edit("f", 3, 1, 3, 1, "x")])
    # an insertion where a replacement starts goes before it
    assert apply_edits("abc", [Edit("f", 1, 1, 1, 4, "X"), Edit("f", 1, 1, 1, 1, "S;")]) == "S;X"


def test_django_and_raw_alembic_sql_carry_no_edits(tmp_path):
    from tests.fixes.test_plans_self_check import unsafe_migration  # op.execute / RunSQL of the statement

    for source in ("alembic", "django"):
        root = write_migrations(tmp_path / source, source, [unsafe_migration(source, FIXABLE["non-concurrent-index"])])
        found = [f for f in run_check(root, source) if f.rule == "non-concurrent-index"]
        assert found and all(f.fix.edits == [] for f in found)


ALEMBIC_INDEX = ('def upgrade():\n    op.create_index(\n        "orders_user_idx", "orders", ["user_id"],  # why\n    )\n'
                 '\n\ndef downgrade():\n    op.drop_index("orders_user_idx")')


def test_alembic_create_index_goes_concurrent_in_an_autocommit_block(tmp_path):
    root = write_migrations(tmp_path / "a", "alembic", [ALEMBIC_INDEX])
    [found] = [f for f in run_check(root, "alembic") if f.rule == "non-concurrent-index"]
    path = root / found.path
    path.write_text(apply_edits(path.read_text(), found.fix.edits))
    assert ('def upgrade():\n    with op.get_context().autocommit_block():\n        op.create_index(\n'
            '            "orders_user_idx", "orders", ["user_id"], postgresql_concurrently=True,  # why\n        )\n'
            ) in path.read_text()
    assert run_check(root, "alembic") == []


def test_no_alembic_edit_when_the_block_would_split_the_migration(tmp_path):
    # autocommit_block() commits what ran before it: with another op the migration would stop being atomic
    two = ALEMBIC_INDEX.replace("def upgrade():\n", 'def upgrade():\n    op.add_column("orders", sa.Column("n", sa.Integer()))\n')
    root = write_migrations(tmp_path / "a", "alembic", [two])
    assert [f.fix.edits for f in run_check(root, "alembic") if f.rule == "non-concurrent-index"] == [[]]


def test_mysql_lock_timeout_prelude(tmp_path):
    text = "ALTER TABLE users RENAME COLUMN name TO full_name;\n"
    edits = edits_of(findings(tmp_path, text, dialect="mysql"), "missing-lock-timeout")
    fixed = apply_edits(text, edits)
    assert fixed.startswith("SET SESSION lock_wait_timeout = 5;\n")
    assert "missing-lock-timeout" not in {f.rule for f in findings(tmp_path, fixed, dialect="mysql")}


# Python migrations: each rewrite applied leaves a migration migsafe checks clean of the rule it fixed.

def fix_python(root, source: str, rule: str) -> str:
    """Apply the edits of every finding (as `migsafe fix` does) after checking that `rule` is
    among them; returns the rewritten text of the one changed migration."""
    from migsafe.fixes.edits import rewrites

    before = run_check(root, source)
    assert any(f.rule == rule and f.fix.edits for f in before), [(f.rule, f.fix and f.fix.edits) for f in before]
    edits, blocked = rewrites(before)
    assert not blocked and len(edits) == 1
    [(path, file_edits)] = edits.items()
    (root / path).write_bytes(apply_edits((root / path).read_bytes().decode(), file_edits).encode())
    after = run_check(root, source)
    assert rule not in {f.rule for f in after}
    assert {f.rule for f in after} <= {f.rule for f in before}
    return (root / path).read_bytes().decode()


ALEMBIC_CONSTRAINT = ('def upgrade():\n    op.alter_column("users", "email", server_default="x")\n'
                      '    {call}  # why\n\n\ndef downgrade():\n    op.drop_constraint("c", "orders")')


@pytest.mark.parametrize("rule, call, last_argument, validate", [
    ("validating-foreign-key", 'op.create_foreign_key("orders_user_fk", "orders", "users", ["user_id"], ["id"])',
     '["id"]', "orders_user_fk"),
    ("validating-check-constraint", 'op.create_check_constraint(\n        "orders_qty_positive", "orders", "quantity > 0"\n    )',
     '"quantity > 0"', "orders_qty_positive"),
])
def test_alembic_constraint_goes_not_valid_with_validate_in_an_autocommit_block(tmp_path, rule, call, last_argument,
                                                                                validate):
    root = write_migrations(tmp_path / "a", "alembic", [ALEMBIC_CONSTRAINT.format(call=call)])
    fixed = fix_python(root, "alembic", rule)
    closed = call.replace(last_argument, last_argument + ", postgresql_not_valid=True")
    assert ('def upgrade():\n    op.execute("SET lock_timeout = \'5s\'")\n    op.alter_column(' in fixed)
    assert (f"    {closed}  # why\n    with op.get_context().autocommit_block():\n"
            f'        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT {validate}")\n\n\ndef downgrade') in fixed
    assert [f.rule for f in run_check(root, "alembic") if f.rule not in INTENT] == []


def test_no_alembic_constraint_edit_when_an_op_follows(tmp_path):
    # the autocommit block would commit the ops before it and run the ones after outside the transaction
    code = ALEMBIC_CONSTRAINT.format(call='op.create_check_constraint("c", "orders", "quantity > 0")').replace(
        "  # why\n", '\n    op.add_column("orders", sa.Column("n", sa.Integer()))\n')
    root = write_migrations(tmp_path / "a", "alembic", [code])
    assert [f.fix.edits for f in run_check(root, "alembic") if f.rule == "validating-check-constraint"] == [[]]


def test_alembic_lock_timeout_prelude_after_the_docstring_keeps_crlf(tmp_path):
    code = ('def upgrade():\r\n    """Rename."""\r\n    op.alter_column("users", "name", new_column_name="full_name")'
            '\r\n\r\n\r\ndef downgrade():\r\n    op.alter_column("users", "full_name", new_column_name="name")')
    root = write_migrations(tmp_path / "a", "alembic", [code])
    fixed = fix_python(root, "alembic", "missing-lock-timeout")
    assert ('def upgrade():\r\n    """Rename."""\r\n    op.execute("SET lock_timeout = \'5s\'")\r\n'
            '    op.alter_column("users", "name"') in fixed


DJANGO_INITIAL = '''from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.CreateModel(
            name="Order",
            fields=[("id", models.BigAutoField(primary_key=True)), ("user_id", models.BigIntegerField()),
                    ("status", models.TextField())],
            options={"indexes": [models.Index(fields=["status"], name="orders_status_idx")]},
        ),
    ]
'''
DJANGO_STEP = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_setup")]

    operations = [
{operations}
    ]
'''
ADD_INDEX = ('        migrations.AddIndex(\n            model_name="order",\n'
             '            index=models.Index(fields=["user_id"], name="orders_user_idx"),\n        ),')
REMOVE_INDEX = '        migrations.RemoveIndex(model_name="order", name="orders_status_idx"),'


def django_project(root, *operations: str):
    """A Django app whose history (0001_setup) makes the Order model; then one migration of `operations`."""
    migrations = root / "shop" / "migrations"
    migrations.mkdir(parents=True)
    for init in (root / "shop" / "__init__.py", migrations / "__init__.py"):
        init.write_text("")
    (migrations / "0001_setup.py").write_text(DJANGO_INITIAL)
    (migrations / "0002_step.py").write_text(DJANGO_STEP.format(operations="\n".join(operations)))
    return root


def test_django_index_operations_go_concurrent_outside_the_transaction(tmp_path):
    root = django_project(tmp_path / "d", ADD_INDEX, REMOVE_INDEX)
    fixed = fix_python(root, "django", "non-concurrent-index")
    assert fixed == (
        "from django.db import migrations, models\n"
        "from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently\n\n\n"
        "class Migration(migrations.Migration):\n    dependencies = [(\"shop\", \"0001_setup\")]\n\n"
        "    atomic = False\n    operations = [\n"
        "        migrations.RunSQL(\"SET lock_timeout = '5s'\", migrations.RunSQL.noop),\n"
        + ADD_INDEX.replace("migrations.AddIndex", "AddIndexConcurrently") + "\n"
        + REMOVE_INDEX.replace("migrations.RemoveIndex", "RemoveIndexConcurrently") + "\n    ]\n")
    assert run_check(root, "django") == []


def test_django_lock_timeout_prelude(tmp_path):
    alter = '        migrations.AlterField(model_name="order", name="status", field=models.TextField(null=True)),'
    root = django_project(tmp_path / "d", alter)
    fixed = fix_python(root, "django", "missing-lock-timeout")
    assert ("    operations = [\n        migrations.RunSQL(\"SET lock_timeout = '5s'\", migrations.RunSQL.noop),\n"
            + alter + "\n") in fixed


@pytest.mark.parametrize("other", [
    '        migrations.AddField(model_name="order", name="n", field=models.IntegerField(null=True)),',
    '        migrations.RunSQL("SELECT 1", migrations.RunSQL.noop),',
])
def test_no_django_index_edit_with_other_operations(tmp_path, other):
    # atomic = False would take the transaction from the other operation too
    root = django_project(tmp_path / "d", ADD_INDEX, other)
    assert [f.fix.edits for f in run_check(root, "django") if f.rule == "non-concurrent-index"] == [[]]


def test_alembic_mysql_lock_timeout_prelude(tmp_path):
    code = ('def upgrade():\n    op.alter_column("users", "name", new_column_name="full_name", existing_type=sa.Text())'
            '\n\n\ndef downgrade():\n    pass')
    root = write_migrations(tmp_path / "a", "alembic", [code])
    settings = load_settings(None, {"start-after": {"sql": "V1__setup.sql"}, "dialect": "mysql"},
                             set(default_severities()))
    [found] = [f for f in check([root], settings, cwd=root).findings if f.rule == "missing-lock-timeout"]
    path = root / found.path
    path.write_text(apply_edits(path.read_text(), found.fix.edits))
    assert 'def upgrade():\n    op.execute("SET SESSION lock_wait_timeout = 5")\n    op.alter_column(' in path.read_text()
    assert "missing-lock-timeout" not in {f.rule for f in check([root], settings, cwd=root).findings}


def test_django_remove_index_keeps_an_existing_atomic_false_and_refuses_atomic_true(tmp_path):
    root = django_project(tmp_path / "d", REMOVE_INDEX)
    step = root / "shop" / "migrations" / "0002_step.py"
    step.write_text(step.read_text().replace("    operations = [", "    atomic = False\n\n    operations = ["))
    fixed = fix_python(root, "django", "non-concurrent-drop-index")
    assert fixed.count("atomic = False") == 1 and "RemoveIndexConcurrently(model_name" in fixed
    assert "from django.contrib.postgres.operations import RemoveIndexConcurrently\n" in fixed
    assert run_check(root, "django") == []
    other = django_project(tmp_path / "e", REMOVE_INDEX)
    step = other / "shop" / "migrations" / "0002_step.py"
    step.write_text(step.read_text().replace("    operations = [", "    atomic = True\n\n    operations = ["))
    assert [f.fix.edits for f in run_check(other, "django") if f.rule == "non-concurrent-drop-index"] == [[]]


def test_alembic_create_index_rewrite_keeps_crlf_line_breaks(tmp_path):
    root = write_migrations(tmp_path / "a", "alembic", [ALEMBIC_INDEX.replace("\n", "\r\n")])
    fixed = fix_python(root, "alembic", "non-concurrent-index")
    assert ('def upgrade():\r\n    with op.get_context().autocommit_block():\r\n        op.create_index(\r\n'
            '            "orders_user_idx", "orders", ["user_id"], postgresql_concurrently=True,  # why\r\n        )\r\n'
            ) in fixed


def test_source_segment_is_asts_own():
    """fixes.source_segment (lines split once per text) cuts what ast.get_source_segment cuts,
    whatever the line endings and non-ASCII characters before the node."""
    import ast

    from migsafe.fixes import source_segment

    text = ("x = 'é'\r\nfield = models.CharField(\n    verbose_name='ü', max_length=2)\rother = [1,\n2]\n"
            "tail = call('\f', 3)  # a form feed inside a line is no line break for Python\n")
    nodes = [n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.expr)]
    assert len(nodes) > 10
    for node in nodes:
        assert source_segment(text, node) == ast.get_source_segment(text, node)

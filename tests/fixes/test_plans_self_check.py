"""Every rendered plan passes migsafe itself: a fix that fails its own linter is a bug.

For each rule with a plan and each framework, a real finding is produced from an unsafe migration
after a history that creates the tables; its fix steps are written as the next migrations of the
same framework and checked again: no error-severity finding may remain.
"""

from __future__ import annotations

import pytest

from tests.fixes.conftest import SETUP, run_check, write_migrations
from tests.fixes.test_layout import one_line

# rule -> (the unsafe statement, the value an author writes where the plan cannot know it)
CASES = {
    "add-unique-constraint": ("ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email)", None),
    "change-column-type": ("ALTER TABLE orders ALTER COLUMN quantity TYPE bigint", None),
    "drop-column": ("ALTER TABLE users DROP COLUMN name", None),
    "drop-table": ("DROP TABLE orders", None),
    "missing-lock-timeout": ("ALTER TABLE users ALTER COLUMN email SET DEFAULT 'x'", None),
    "non-concurrent-drop-index": ("DROP INDEX orders_status_idx", None),
    "non-concurrent-index": ("CREATE INDEX orders_user_idx ON orders (user_id)", None),
    "not-null-without-default": ("ALTER TABLE users ADD COLUMN country text NOT NULL", "'xx'"),
    "rename-column": ("ALTER TABLE users RENAME COLUMN name TO full_name", None),
    "rename-table": ("ALTER TABLE orders RENAME TO purchases", None),
    "set-not-null": ("ALTER TABLE users ALTER COLUMN email SET NOT NULL", "''"),
    "truncate-table": ("TRUNCATE orders", None),
    "validating-check-constraint": ("ALTER TABLE orders ADD CONSTRAINT orders_qty_positive CHECK (quantity > 0)", None),
    "validating-foreign-key": ("ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id)"
                               " REFERENCES users (id)", None),
    "volatile-default": ("ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid()", None),
    # issue 20: columns and constraints
    "drop-constraint": ("ALTER TABLE users DROP CONSTRAINT users_pkey", None),
    "new-write-restriction": ("ALTER TABLE orders ADD CONSTRAINT orders_qty_positive CHECK (quantity > 0) NOT VALID",
                              None),
    "unindexed-foreign-key": ("ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id)"
                              " REFERENCES users (id) NOT VALID", None),
}
SOURCES = ("sql", "alembic", "django")


def unsafe_migration(source: str, statement: str) -> str:
    if source == "sql":
        return statement + ";"
    if source == "alembic":
        return f"def upgrade():\n    op.execute({statement!r})\n\n\ndef downgrade():\n    pass"
    return ("from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
            f"    operations = [migrations.RunSQL({statement!r}, migrations.RunSQL.noop)]")


def only_comments(code: str) -> bool:
    return all(not ln.strip() or ln.lstrip().startswith(("#", "--")) for ln in code.splitlines())


def finding_for(tmp_path, source: str, rule: str):
    findings = run_check(write_migrations(tmp_path / "unsafe", source, [unsafe_migration(source, CASES[rule][0])]),
                         source)
    hits = [f for f in findings if f.rule == rule]
    assert hits, f"no {rule} finding from {CASES[rule][0]}: {[f.rule for f in findings]}"
    return hits[0]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("rule", sorted(CASES))
def test_rendered_plan_passes_migsafe(tmp_path, rule, source):
    found = finding_for(tmp_path, source, rule)
    value = CASES[rule][1]
    codes = [step.code.replace("<value>", value) if value else step.code for step in found.fix.steps
             if not only_comments(step.code)]  # a code change between deploys: no migration
    assert not any("<" in c and ">" in c and "<value>" in c for c in codes)
    assert all(step.language == ("sql" if source == "sql" else "python") for step in found.fix.steps)
    findings = run_check(write_migrations(tmp_path / "fixed", source, codes), source)
    errors = [f"{f.rule} at {f.path}:{f.span.line}: {f.message}" for f in findings if f.severity.value == "error"]
    assert not errors, "\n\n".join(codes) + "\n\n" + "\n".join(errors)


MODEL = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_setup")]
    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.CreateModel(name="Member", fields=[
            ("id", models.BigAutoField(primary_key=True)),
            ("nick", models.CharField(max_length=40, null=True)),
        ], options={"db_table": "users"})]),
    ]
'''

# Django operations whose finding knows the model and field: the plan uses Django operations on them.
NATIVE = {
    "drop-column": ('migrations.RemoveField(model_name="member", name="nick")',
                    'state_operations=[migrations.RemoveField(model_name="member", name="nick")]'),
    "not-null-without-default": (
        'migrations.AddField(model_name="member", name="score", field=models.IntegerField(default=0))',
        # the default stays in the database (and Django 5.0+'s db_default is offered)
        'database_operations=[migrations.RunSQL("ALTER TABLE users ADD COLUMN score integer DEFAULT 0 NOT NULL"'),
    "non-concurrent-index": (
        'migrations.AddIndex(model_name="member", index=models.Index(fields=["nick"], name="member_nick_idx"))',
        'AddIndexConcurrently(model_name="member", index=models.Index(fields=["nick"], name="member_nick_idx"))'),
}


@pytest.mark.parametrize("rule", sorted(NATIVE))
def test_django_plan_names_the_model_and_field(tmp_path, rule):
    operation, expected = NATIVE[rule]
    root = write_migrations(tmp_path / "unsafe", "django", [])
    migrations = root / "shop" / "migrations"
    (migrations / "0002_model.py").write_text(MODEL)
    (migrations / "0003_change.py").write_text(MODEL.replace('"0001_setup"', '"0002_model"').split("    operations")[0]
                                              + f"    operations = [\n        {operation},\n    ]\n")
    found = [f for f in run_check(root, "django") if f.rule == rule and f.path.endswith("0003_change.py")]
    assert found, rule
    codes = [s.code for s in found[0].fix.steps]
    assert any(expected in one_line(c) for c in codes), "\n\n".join(codes)
    # and the steps pass migsafe, after the same history
    for n, code in enumerate(c.replace("<value>", "0") for c in codes if not only_comments(c)):
        code = code.replace("class Migration(migrations.Migration):\n", "class Migration(migrations.Migration):\n"
                            f'    dependencies = [("shop", "{n + 2:04d}_{"model" if n == 0 else "step"}")]\n', 1)
        (migrations / f"{n + 3:04d}_step.py").write_text(code)
    (migrations / "0003_change.py").unlink()
    (migrations / "0003_step.py").exists() or pytest.fail("no step written")
    errors = [f"{f.rule} {f.path}:{f.span.line} {f.message}" for f in run_check(root, "django")
              if f.severity.value == "error"]
    assert not errors, "\n\n".join(codes) + "\n" + "\n".join(errors)


# MySQL/MariaDB and SQLite: each rule whose finding has a plan there, in the engine's own spelling.
ENGINE_CASES = {
    "mysql": {
        "change-column-type": "ALTER TABLE orders MODIFY quantity bigint",
        "drop-column": "ALTER TABLE users DROP COLUMN name",
        "drop-table": "DROP TABLE orders",
        "missing-lock-timeout": "ALTER TABLE users ALTER COLUMN email SET DEFAULT 'x'",
        "not-null-without-default": "ALTER TABLE users ADD COLUMN country varchar(2) NOT NULL",
        "rename-column": "ALTER TABLE users RENAME COLUMN name TO full_name",
        "rename-table": "RENAME TABLE orders TO purchases",
        "set-not-null": "ALTER TABLE users MODIFY email varchar(100) NOT NULL, LOCK=SHARED",
        "table-rewrite": "ALTER TABLE users ADD COLUMN nick varchar(20), ALGORITHM=COPY",
        "truncate-table": "TRUNCATE TABLE orders",
        "validating-check-constraint": "ALTER TABLE orders ADD CONSTRAINT orders_qty CHECK (quantity > 0)",
        "validating-foreign-key": "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id)"
                                  " REFERENCES users (id)",
        "volatile-default": "ALTER TABLE users ADD COLUMN seq bigint AUTO_INCREMENT UNIQUE",
    },
    "sqlite": {
        "add-unique-constraint": "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email)",
        "change-column-type": "ALTER TABLE orders ALTER COLUMN quantity TYPE bigint",
        "drop-column": "ALTER TABLE users DROP COLUMN name",
        "drop-table": "DROP TABLE orders",
        "not-null-without-default": "ALTER TABLE users ADD COLUMN country text NOT NULL",
        "rename-column": "ALTER TABLE users RENAME COLUMN name TO full_name",
        "rename-table": "ALTER TABLE orders RENAME TO purchases",
        "set-not-null": "ALTER TABLE users ALTER COLUMN email SET NOT NULL",
        "table-rewrite": "ALTER TABLE users ALTER COLUMN age SET DEFAULT 1",
        "validating-check-constraint": "ALTER TABLE orders ADD CONSTRAINT orders_qty CHECK (quantity > 0)",
        "validating-foreign-key": "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id)"
                                  " REFERENCES users (id)",
        "volatile-default": "ALTER TABLE users ADD COLUMN token text UNIQUE",
    },
}
ENGINE_PARAMS = [(d, r) for d in ENGINE_CASES for r in sorted(ENGINE_CASES[d])]
PG_ONLY = ("ctid", "plpgsql", "$$", "NOT VALID", "CONCURRENTLY", "SET lock_timeout", "USING INDEX",
           "VALIDATE CONSTRAINT", "pg_repack", "EXECUTE FUNCTION", "postgresql_")
# What the author writes where a step has a placeholder: a value, and for SQLite's rebuild the
# new table's definition (the table as SETUP creates it) and the copied columns.
FILL = {"<value>": "'xx'", "SELECT ...": "SELECT *",
        "(...)": lambda code: _definition(code.split("CREATE TABLE ")[1].split("_new")[0])}


def _definition(table: str) -> str:
    line = next(ln for ln in SETUP.splitlines() if ln.startswith(f"CREATE TABLE {table} "))
    return line.split(f"CREATE TABLE {table} ")[1].rstrip(";")


def fill(code: str) -> str:
    for placeholder, value in FILL.items():
        if placeholder in code:
            code = code.replace(placeholder, value(code) if callable(value) else value)
    return code


def engine_steps(tmp_path, dialect: str, rule: str, source: str = "sql") -> list[str]:
    """The migration steps of `rule`'s finding on `dialect`, placeholders filled."""
    statement = ENGINE_CASES[dialect][rule]
    findings = run_check(write_migrations(tmp_path / "unsafe", source, [unsafe_migration(source, statement)]),
                         source, dialect)
    hits = [f for f in findings if f.rule == rule]
    assert hits, f"no {rule} finding on {dialect} from {statement}: {[f.rule for f in findings]}"
    assert hits[0].fix is not None and hits[0].fix.steps
    codes = [step.code for step in hits[0].fix.steps]
    # Python comments are prose (Django's "atomic = False  # CONCURRENTLY and batch commits ..."); SQL is checked
    code_lines = [ln.split("  #")[0] for c in codes for ln in c.splitlines() if not ln.lstrip().startswith("#")]
    leaked = [s for s in PG_ONLY for ln in code_lines if s in ln]
    assert not leaked, f"PostgreSQL-only {leaked} in a {dialect} plan:\n\n" + "\n\n".join(codes)
    return [fill(c) for c in codes if not only_comments(c)]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("dialect, rule", ENGINE_PARAMS)
def test_engine_plan_is_its_own_and_passes_migsafe(tmp_path, dialect, rule, source):
    codes = engine_steps(tmp_path, dialect, rule, source)
    assert not any("<" in c and ">" in c and "..." in c for c in codes), codes
    findings = run_check(write_migrations(tmp_path / "fixed", source, codes), source, dialect)
    errors = [f"{f.rule} at {f.path}:{f.span.line}: {f.message}" for f in findings if f.severity.value == "error"]
    assert not errors, "\n\n".join(codes) + "\n\n" + "\n".join(errors)


def test_django_plan_adds_its_own_statement_as_run_sql(tmp_path):
    """drop-column's first step makes a NOT NULL column nullable (acknowledged drop-not-null): that
    statement is the plan's, so it is RunSQL, never a copy of the user's RemoveField (which dropped it)."""
    root = write_migrations(tmp_path / "unsafe", "django", [])
    migrations = root / "shop" / "migrations"
    (migrations / "0002_model.py").write_text(MODEL.replace("max_length=40, null=True", "max_length=40").replace(
        "migrations.SeparateDatabaseAndState(state_operations=[migrations.CreateModel(", "migrations.CreateModel(")
        .replace('], options={"db_table": "users"})]),', '], options={"db_table": "members"}),'))
    (migrations / "0003_change.py").write_text(MODEL.replace('"0001_setup"', '"0002_model"').split("    operations")[0]
                                              + '    operations = [\n        migrations.RemoveField(model_name="member",'
                                                ' name="nick"),\n    ]\n')
    found = [f for f in run_check(root, "django") if f.rule == "drop-column" and f.path.endswith("0003_change.py")]
    first = found[0].fix.steps[0].code
    assert 'migrations.RunSQL("ALTER TABLE members ALTER COLUMN nick DROP NOT NULL"' in one_line(first), first
    assert "ignore[drop-not-null]" in first
    assert first.count("RemoveField") == 1 and "state_operations=[migrations.RemoveField" in one_line(first), first

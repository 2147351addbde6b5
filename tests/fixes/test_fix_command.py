"""`migsafe fix` end to end: writes, --dry-run, idempotence, atomic writes that keep the mode,
files left untouched (and listed) where no safe rewrite exists, filters and exit codes."""

from __future__ import annotations

import os
import stat

import pytest

from tests.fixes.conftest import SETUP, write_migrations
from tests.fixes.test_edits import FIXABLE
from tests.fixes.test_plans_self_check import unsafe_migration

# The warnings about what the running app writes: no rewrite settles them, a reviewer does.
INTENT = 'ignore = ["new-write-restriction", "unindexed-foreign-key"]\n'
HISTORY = '[tool.migsafe]\nstart-after = { sql = "V1__setup.sql" }\n' + INTENT
ALL = "\n".join(f"{s};" for s in FIXABLE.values()) + "\n"


def project(tmp_path, *changes: str, config: str = HISTORY):
    root = write_migrations(tmp_path / "p", "sql", list(changes))
    (root / "pyproject.toml").write_text(config)
    return root


def test_fix_rewrites_every_fixable_rule_and_a_second_run_changes_nothing(tmp_path, run_cli):
    root = project(tmp_path, ALL)
    code, out, err = run_cli(["fix", "."], cwd=root)
    assert code == 0, err
    assert "fixed 6 findings in 1 file; 0 findings left" in err
    fixed = (root / "V2__step.sql").read_text()
    assert "CONCURRENTLY orders_user_idx" in fixed and fixed.startswith("SET lock_timeout = '5s';\n")
    assert run_cli(["check", "--no-cache", "."], cwd=root)[0] == 0
    code, out, err = run_cli(["fix", "."], cwd=root)
    assert code == 0 and "fixed 0 findings in 0 files" in err
    assert (root / "V2__step.sql").read_text() == fixed


def test_dry_run_prints_the_patch_and_writes_nothing(tmp_path, run_cli):
    root = project(tmp_path, FIXABLE["non-concurrent-index"] + ";")
    before = (root / "V2__step.sql").stat()
    code, out, err = run_cli(["fix", "--dry-run", "."], cwd=root)
    assert code == 0, err
    assert out == ("--- a/V2__step.sql\n+++ b/V2__step.sql\n@@ -1 +1 @@\n"
                   "-CREATE INDEX orders_user_idx ON orders (user_id);\n"
                   "+CREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id);\n")
    assert "would fix 1 finding in 1 file" in err
    after = (root / "V2__step.sql").stat()
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)


def test_write_is_atomic_and_keeps_the_mode(tmp_path, run_cli, monkeypatch):
    root = project(tmp_path, FIXABLE["validating-check-constraint"] + ";")
    path = root / "V2__step.sql"
    path.chmod(0o640)
    inode = path.stat().st_ino
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (replaced.append((a, b)), real_replace(a, b))[1])
    assert run_cli(["fix", "."], cwd=root)[0] == 0
    assert [os.path.dirname(a) for a, _ in replaced] == [str(root)] and replaced[0][1] == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.stat().st_ino != inode
    assert sorted(p.name for p in root.iterdir()) == ["V1__setup.sql", "V2__step.sql", "pyproject.toml"]


def test_file_without_a_safe_rewrite_is_left_untouched_and_listed(tmp_path, run_cli):
    # inside BEGIN the index cannot be built CONCURRENTLY: the whole file stays as it is
    inside = f"BEGIN;\n{FIXABLE['non-concurrent-index']};\n{FIXABLE['missing-lock-timeout']};\nCOMMIT;"
    root = project(tmp_path, inside, FIXABLE["non-concurrent-index"].replace("user_id", "status") + ";")
    code, out, err = run_cli(["fix", "."], cwd=root)
    assert code == 1  # the index inside BEGIN is still an error
    assert (root / "V2__step.sql").read_text() == inside + "\n"
    assert "left V2__step.sql untouched: no safe mechanical rewrite for non-concurrent-index at line 2" in err
    assert "CONCURRENTLY" in (root / "V3__step.sql").read_text()


def test_a_rewrite_that_would_unsuppress_a_finding_is_taken_back(tmp_path, run_cli):
    # The prelude would land between a suppression comment and the statement it silences.
    text = ("-- migsafe: ignore[non-concurrent-index] small table\n"
            f"{FIXABLE['non-concurrent-index']};\n{FIXABLE['missing-lock-timeout']};")
    root = project(tmp_path, text)
    code, out, err = run_cli(["fix", "."], cwd=root)
    assert "left V2__step.sql untouched: the rewrite would raise non-concurrent-index" in err
    assert (root / "V2__step.sql").read_text() == text + "\n"
    assert code == 0  # what is left is a warning


def test_select_ignore_and_start_after_are_respected(tmp_path, run_cli):
    root = project(tmp_path, ALL)
    code, out, err = run_cli(["fix", "--dry-run", "--select", "non-concurrent-index", "."], cwd=root)
    added = [ln for ln in out.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    assert added == ["+CREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id);"] and code == 0
    code, out, err = run_cli(["fix", "--dry-run", "--ignore", "missing-lock-timeout", "."], cwd=root)
    assert "lock_timeout" not in out and "CONCURRENTLY" in out
    # history (at or before start-after) is never rewritten
    (root / "pyproject.toml").write_text('[tool.migsafe]\nstart-after = { sql = "V2__step.sql" }\n')
    code, out, err = run_cli(["fix", "."], cwd=root)
    assert code == 0 and out == "" and "fixed 0 findings in 0 files" in err


@pytest.mark.parametrize("source", ["alembic", "django"])
def test_python_migrations_are_listed_not_rewritten(tmp_path, run_cli, source):
    root = write_migrations(tmp_path / "p", source, [unsafe_migration(source, FIXABLE["non-concurrent-index"])])
    history = 'sql = "V1__setup.sql"' if source == "alembic" else 'django = { shop = "0001_setup" }'
    (root / "pyproject.toml").write_text(f"[tool.migsafe]\nstart-after = {{ {history} }}\n")
    files = {p: p.read_bytes() for p in root.rglob("*.py")}
    code, out, err = run_cli(["fix", "."], cwd=root)
    assert code == 1 and "untouched: no safe mechanical rewrite for non-concurrent-index" in err
    assert {p: p.read_bytes() for p in root.rglob("*.py")} == files


def test_bad_path_exits_2(tmp_path, run_cli):
    code, out, err = run_cli(["fix", "nowhere"], cwd=tmp_path)
    assert code == 2 and err.count("\n") == 1 and "nowhere" in err


def test_alembic_revision_is_rewritten_once(tmp_path, run_cli):
    from tests.fixes.test_edits import ALEMBIC_INDEX

    root = write_migrations(tmp_path / "p", "alembic", [ALEMBIC_INDEX])
    (root / "pyproject.toml").write_text(HISTORY)
    code, out, err = run_cli(["fix", "."], cwd=root)
    assert code == 0 and "fixed 1 finding in 1 file" in err, err
    text = (root / "versions" / "r0001.py").read_text()
    assert "autocommit_block" in text and "postgresql_concurrently=True" in text
    assert run_cli(["fix", "."], cwd=root)[0] == 0
    assert (root / "versions" / "r0001.py").read_text() == text


def python_project(tmp_path, source: str):
    """An Alembic or a Django project whose one new migration holds every rewrite of its framework."""
    from tests.fixes.test_edits import ADD_INDEX, ALEMBIC_CONSTRAINT, REMOVE_INDEX, django_project

    if source == "alembic":
        call = 'op.create_foreign_key("orders_user_fk", "orders", "users", ["user_id"], ["id"])'
        root = write_migrations(tmp_path / "p", "alembic", [ALEMBIC_CONSTRAINT.format(call=call)])
        (root / "pyproject.toml").write_text(HISTORY)
        return root, root / "versions" / "r0001.py"
    root = django_project(tmp_path / "p", ADD_INDEX, REMOVE_INDEX)
    (root / "pyproject.toml").write_text('[tool.migsafe]\nstart-after = { django = { shop = "0001_setup" } }\n' + INTENT)
    return root, root / "shop" / "migrations" / "0002_step.py"


@pytest.mark.parametrize("source, fixes, added", [
    ("alembic", 2, ['+    op.execute("SET lock_timeout = \'5s\'")',
                    '+    op.create_foreign_key("orders_user_fk", "orders", "users", ["user_id"], ["id"],'
                    ' postgresql_not_valid=True)  # why',
                    "+    with op.get_context().autocommit_block():",
                    '+        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk")']),
    ("django", 3, ["+from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently",
                   "+    atomic = False",
                   "+        migrations.RunSQL(\"SET lock_timeout = '5s'\", migrations.RunSQL.noop),",
                   "+        AddIndexConcurrently(",
                   '+        RemoveIndexConcurrently(model_name="order", name="orders_status_idx"),']),
])
def test_python_project_dry_run_then_fix_then_nothing_left(tmp_path, run_cli, source, fixes, added):
    root, migration = python_project(tmp_path, source)
    original = migration.read_bytes()
    code, out, err = run_cli(["fix", "--dry-run", "."], cwd=root)
    assert code == 0 and f"would fix {fixes} findings in 1 file; 0 findings left" in err, err
    assert [ln for ln in out.splitlines() if ln.startswith("+") and not ln.startswith("+++")] == added
    assert migration.read_bytes() == original
    code, out, err = run_cli(["fix", "."], cwd=root)
    assert code == 0 and f"fixed {fixes} findings in 1 file; 0 findings left" in err, err
    assert run_cli(["check", "--no-cache", "."], cwd=root)[0] == 0
    fixed = migration.read_bytes()
    code, out, err = run_cli(["fix", "."], cwd=root)
    assert code == 0 and "fixed 0 findings in 0 files" in err
    assert migration.read_bytes() == fixed

"""The cache never changes a verdict, and an edit invalidates exactly what it can change.

Every test runs the real CLI on copies of the fixtures, with the cache directory the autouse
fixture in conftest.py gives it (empty at the start of each test).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from migsafe.cache import Cache
from migsafe.sources.core import worker
from migsafe.sql import translate as translate_module

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REVISION_3 = "migrations/versions/3c4d5e6f7a8b_safe_changes.py"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """An Alembic project and an SQL project side by side, in a folder of their own."""
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "alembic_shop", project / "shop")
    shutil.copytree(FIXTURES / "demo", project / "sql")
    (project / "migsafe.toml").write_text("")  # no config from above applies
    return project


@pytest.fixture
def rendered(monkeypatch) -> list[str]:
    """Names of the revision files the worker was asked to render, in order."""
    calls: list[str] = []
    original = worker.Renderer.render

    def render(self, path, *args, **kwargs):
        calls.append(Path(path).name)
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(worker.Renderer, "render", render)
    return calls


def check(run_cli, project: Path, *args: str) -> tuple[int, str]:
    code, out, err = run_cli(["check", ".", "--format", "json", *args], cwd=project)
    assert code in (0, 1), err
    return code, out


def revisions(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "shop/migrations/versions").glob("*.py"))


def test_the_same_report_with_and_without_cache_cold_warm_and_after_an_edit(run_cli, shop, rendered):
    baseline = check(run_cli, shop, "--no-cache")
    assert check(run_cli, shop) == baseline  # cold: fills the cache
    rendered.clear()
    assert check(run_cli, shop) == baseline  # warm: nothing is rendered again
    assert rendered == []

    path = shop / "shop" / REVISION_3
    path.write_text(path.read_text().replace('op.add_column("users", sa.Column("phone"',
                                             'op.drop_column("users", "email")\n    op.add_column("users", sa.Column("phone"'))
    edited = check(run_cli, shop, "--no-cache")
    assert edited != baseline and '"drop-column"' in edited[1]  # the edit matters...
    assert check(run_cli, shop) == edited  # ...and the cache does not hide it
    assert check(run_cli, shop) == edited

    sql = shop / "sql" / "V6__orders_cleanup.sql"
    sql.write_text("-- nothing dropped any more\nSELECT 1;\n")
    assert check(run_cli, shop) == check(run_cli, shop, "--no-cache") != edited


def test_an_edited_revision_is_rendered_again_with_those_after_it_only(run_cli, shop, rendered):
    check(run_cli, shop)
    names = revisions(shop)
    rendered.clear()
    path = shop / "shop" / REVISION_3
    path.write_text(path.read_text() + "\n# edited\n")
    check(run_cli, shop)
    assert rendered == names[2:]  # revisions 1 and 2 ran before it: unchanged


def test_a_new_revision_is_the_only_one_rendered_as_pre_commit_runs_it(run_cli, shop, rendered):
    check(run_cli, shop)
    rendered.clear()
    new = shop / "shop/migrations/versions/6f7a8b9c0d1e_add_note.py"
    new.write_text('revision = "6f7a8b9c0d1e"\ndown_revision = "5e6f7a8b9c0d"\n\nfrom alembic import op\n'
                   'import sqlalchemy as sa\n\n\ndef upgrade():\n    op.add_column("users", sa.Column("note", sa.Text()))\n\n\n'
                   'def downgrade():\n    op.drop_column("users", "note")\n')
    code, out, err = run_cli(["check", str(new.relative_to(shop)), "--format", "json"], cwd=shop)
    assert code in (0, 1), err
    assert rendered == [new.name]
    assert (code, out) == run_cli(["check", str(new.relative_to(shop)), "--format", "json", "--no-cache"], cwd=shop)[:2]


def test_a_statement_is_translated_once_then_its_facts_come_from_the_cache(run_cli, shop, monkeypatch):
    calls: list[str] = []
    original = translate_module.translate
    monkeypatch.setattr(translate_module, "translate", lambda sql, dialect: calls.append(sql) or original(sql, dialect))
    sql = shop / "sql" / "V6__orders_cleanup.sql"
    sql.write_text(sql.read_text() + "\nALTER TABLE orders DROP COLUMN status;\n")  # a statement met twice
    first = check(run_cli, shop)
    assert sorted(calls) == sorted(set(calls)) and "ALTER TABLE orders DROP COLUMN status" in calls
    calls.clear()
    sql.write_text(sql.read_text() + "ALTER TABLE orders DROP COLUMN note;\n")  # the whole result is stale
    edited = check(run_cli, shop)
    assert calls == ["ALTER TABLE orders DROP COLUMN note"]  # only the new text is translated
    assert edited == check(run_cli, shop, "--no-cache") != first


def test_an_edited_module_the_revisions_could_import_renders_them_all_again(run_cli, shop, rendered):
    check(run_cli, shop)
    rendered.clear()
    (shop / "shop" / "helpers.py").write_text("LIMIT = 5\n")
    check(run_cli, shop)
    assert rendered == revisions(shop)


def test_a_setting_is_part_of_the_key(run_cli, shop):
    check(run_cli, shop)
    for args in (["--ignore", "drop-column"], ["--target-version", "10"], ["--no-exec"]):
        assert check(run_cli, shop, *args) == check(run_cli, shop, *args, "--no-cache"), args


def test_no_cache_neither_reads_nor_writes(run_cli, shop):
    check(run_cli, shop, "--no-cache")
    assert not any(Path(os.environ["MIGSAFE_CACHE_DIR"]).rglob("*"))


def test_a_corrupt_cache_is_a_miss(run_cli, shop):
    baseline = check(run_cli, shop, "--no-cache")
    check(run_cli, shop)
    entries = [p for p in Path(os.environ["MIGSAFE_CACHE_DIR"]).rglob("*") if p.is_file()]
    assert entries
    for n, entry in enumerate(entries):
        data = entry.read_bytes()
        # truncated, bit-flipped, emptied, replaced by text
        entry.write_bytes([data[: len(data) // 2], data[:-1] + bytes([data[-1] ^ 1]), b"", b"not a cache entry"][n % 4])
    assert check(run_cli, shop) == baseline
    assert check(run_cli, shop) == baseline  # rewritten whole


def test_an_unusable_cache_directory_is_ignored(run_cli, shop, tmp_path, monkeypatch):
    baseline = check(run_cli, shop, "--no-cache")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MIGSAFE_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    assert check(run_cli, shop) == baseline
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    monkeypatch.setenv("MIGSAFE_CACHE_DIR", str(readonly))
    try:
        assert check(run_cli, shop) == baseline
    finally:
        readonly.chmod(0o700)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_an_entry_can_only_rebuild_migsafe_data(tmp_path, monkeypatch):
    cache = Cache(tmp_path / "cache")
    cache.put("k" * 64, _Evil())
    assert any((tmp_path / "cache").rglob("*"))  # written...
    monkeypatch.chdir(tmp_path)
    assert cache.get("k" * 64, object) is None  # ...but refused, and nothing ran
    assert not (tmp_path / "pwned").exists()


def test_many_statements_are_translated_half_in_another_process_to_the_same_facts(tmp_path, monkeypatch):
    from migsafe import cache as C
    from migsafe.sql.translate import translate

    import threading

    monkeypatch.setattr(C, "cpus", lambda: 2)
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # (whatever other tests left running)
    texts = [f"ALTER TABLE t{n} ADD COLUMN c{n} integer NOT NULL DEFAULT {n}" for n in range(C.PARALLEL_FROM + 10)]
    texts += texts[:50]  # repeated texts are translated once
    few = C.Translations(C.Cache(None), "postgresql", tmp_path)
    few.prefetch(texts[:10])
    assert few.used == {}  # too few to pay for a process: facts() translates them as asked
    many = C.Translations(C.Cache(None), "postgresql", tmp_path)
    many.prefetch(texts)
    assert list(many.used) == list(dict.fromkeys(texts))
    assert all(many.used[t] == translate(t, "postgresql") for t in texts)


@pytest.fixture(scope="module")
def cache_dir_seen_by_module_fixtures():
    from migsafe.cache import cache_dir

    return cache_dir()


def test_module_scoped_fixtures_never_use_the_users_cache(cache_dir_seen_by_module_fixtures):
    """Module-scoped fixtures run before the autouse fixture that gives each test its own cache:
    they too must never write into ~/.cache/migsafe (make test once left 1,575 files there)."""
    home_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "migsafe"
    seen = Path(cache_dir_seen_by_module_fixtures).resolve()
    assert home_cache.resolve() != seen and home_cache.resolve() not in seen.parents

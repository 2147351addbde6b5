"""Adding a framework is one package and one registry line: here a toy one, registered in this
test only. Its migrations are pairs of files in a folder, `0001_x.up.toy` (the SQL that runs on the
way up) and `0001_x.down.toy` (the way back). Nothing outside this file knows it exists: discover
finds its files through its `find`, the engine loads them through its `load`, the judge words its
irreversible-migration fix with its `way_back`, and its fixes are written in its language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migsafe.model import Migration, Statement
from migsafe.sources.files import read_regular_file, relative_path
from migsafe.sources.registry import Source, register, sources


def find(paths: list[Path], exclude: list[str], cwd: Path) -> list[Path]:
    found = []
    for given in paths:
        full = cwd / given
        found += sorted(full.rglob("*.up.toy")) if full.is_dir() else [full] if full.name.endswith(".up.toy") else []
    return found


def load(found, settings, cwd: Path, cache, default: str) -> list:
    from migsafe.sql.split import split_sql

    loaded = []
    for path in found.by_source.get("toy", []):
        text = read_regular_file(path, 1 << 20).decode("utf-8")
        down = path.with_name(path.name.replace(".up.toy", ".down.toy"))
        loaded.append((Migration(
            source="toy", name=path.name.removesuffix(".up.toy"), path=relative_path(path, cwd), text=text,
            statements=[Statement(r.sql, r.span, in_transaction=None) for r in split_sql(text, default)],
            irreversible=None if down.is_file() else (1, f"{path.name} has no {down.name}: no way back"),
        ), path))
    return [(default, loaded)]


TOY = Source(name="toy", load=load, key_parts=lambda found, cache: [], language="sql", fixes="migsafe.fixes.sql",
             way_back="Write the .down.toy file that undoes it.", sql_text=True, find=find)


@pytest.fixture
def toy():
    unregister = register(TOY)
    yield
    unregister()


def test_a_toy_framework_is_checked_like_any_other(toy, tmp_path, run_cli):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "0001_users.up.toy").write_text("CREATE TABLE users (id int, email text);\n")
    (tmp_path / "db" / "0001_users.down.toy").write_text("DROP TABLE users;\n")
    (tmp_path / "db" / "0002_drop.up.toy").write_text("SELECT 1;\nALTER TABLE users DROP COLUMN email;\n")
    code, out, err = run_cli(["check", "db", "--format", "json", "--no-cache"], cwd=tmp_path)
    report = json.loads(out)
    found = sorted((f["source"], f["migration"], f["rule"], f["line"]) for f in report["findings"])
    assert found == [("toy", "0002_drop", "drop-column", 2), ("toy", "0002_drop", "irreversible-migration", 1),
                     ("toy", "0002_drop", "missing-lock-timeout", 2)]
    way_back = next(f for f in report["findings"] if f["rule"] == "irreversible-migration")
    assert way_back["fix"]["summary"] == "Write the .down.toy file that undoes it."
    assert report["summary"]["migrations"] == 2 and code == 1


def test_registered_only_while_the_test_says_so(toy):
    assert [s.name for s in sources()][-1] == "toy"


def test_not_registered_outside_tests():
    assert [s.name for s in sources()] == ["sql", "alembic", "django"]


def test_its_start_after_key_is_known_to_the_config(toy, tmp_path):
    from migsafe.config import load_settings

    (tmp_path / "migsafe.toml").write_text('[start-after]\ntoy = "0001_users"\n')
    settings = load_settings(tmp_path / "migsafe.toml", {}, set())
    assert settings.start_after.get("toy") == "0001_users"

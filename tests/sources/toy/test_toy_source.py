"""Adding a framework is one package and one registry line: here a toy one, registered in this
test only. Its migrations are pairs of files in a folder, `0001_x.up.toy` (the SQL that runs on the
way up) and `0001_x.down.toy` (the way back). Nothing outside this file knows it exists: discover
hands it the .up.toy files of its walk (`wants`) and the ones named alone (`owns`), its `find` says
which are its migrations, the engine loads them through its `load`, the judge words its
irreversible-migration fix with its `way_back`, and its fixes are written in its language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migsafe.model import Migration, Statement
from migsafe.sources.files import read_regular_file, real_path, relative_path
from migsafe.sources.registry import Found, Given, Source, register, sources


def is_toy(name: str) -> bool:
    return name.endswith(".up.toy")


def find(given: list[Given], walk) -> Found:
    """The .up.toy files discover's walk met below each folder PATH, and those named alone."""
    files = [f for g in given for f in ([g.path] if g.below is None else g.below)]
    return Found(files, {real_path(f) for f in files}, holds=files)


def load(found, settings, cwd: Path, cache, default: str) -> list:
    from migsafe.sql.split import split_sql

    loaded = []
    for path in found.of("toy"):
        text = read_regular_file(path, 1 << 20).decode("utf-8")
        down = path.with_name(path.name.replace(".up.toy", ".down.toy"))
        loaded.append((Migration(
            source="toy", name=path.name.removesuffix(".up.toy"), path=relative_path(path, cwd), text=text,
            statements=[Statement(r.sql, r.span, in_transaction=None) for r in split_sql(text, default)],
            irreversible=None if down.is_file() else (1, f"{path.name} has no {down.name}: no way back"),
        ), path))
    return [(default, loaded)]


TOY = Source(name="toy", load=load, key_parts=lambda found, cache: [], language="sql", fixes="migsafe.fixes.sql",
             way_back="Write the .down.toy file that undoes it.", sql_text=True,
             wants=lambda name, is_folder: not is_folder and is_toy(name), owns=lambda path: is_toy(path.name),
             find=find, looks_for="toy migrations")


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


def test_discover_finds_it_through_the_registry_only(toy, tmp_path):
    from migsafe.discover import discover

    (tmp_path / "db" / "deep").mkdir(parents=True)
    for name in ("0001_a.up.toy", "deep/0002_b.up.toy", "0001_a.down.toy", "notes.txt"):
        (tmp_path / "db" / name).write_text("SELECT 1;\n")
    found = discover([Path("db")], [], tmp_path)
    assert found.of("toy") == [tmp_path / "db/0001_a.up.toy", tmp_path / "db/deep/0002_b.up.toy"]
    assert found.by_source.keys() == {"toy"} and found.report_only is None
    named = discover([Path("db/deep/0002_b.up.toy"), Path("db/notes.txt")], [], tmp_path)  # as pre-commit passes them
    assert named.of("toy") == [tmp_path / "db/deep/0002_b.up.toy"] and named.report_only is None


def test_a_folder_of_its_files_is_not_empty_only_while_it_is_registered(tmp_path, run_cli):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "0001_a.up.toy").write_text("SELECT 1;\n")
    code, _, err = run_cli(["check", "db", "--no-cache"], cwd=tmp_path)
    assert code == 2 and err.strip().endswith("(looked for .sql files, Alembic projects and Django migrations packages)")
    unregister = register(TOY)
    try:
        assert run_cli(["check", "db", "--no-cache"], cwd=tmp_path)[0] == 0
        (tmp_path / "empty").mkdir()
        code, _, err = run_cli(["check", "empty", "--no-cache"], cwd=tmp_path)
        assert code == 2 and "Alembic projects, Django migrations packages and toy migrations)" in err
    finally:
        unregister()


def test_discover_names_no_framework():
    """What it knows of each source is the registry's: no import of a source's package."""
    import ast

    import migsafe.discover

    tree = ast.parse(Path(migsafe.discover.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m.startswith("migsafe.sources.") and m.split(".")[2] not in ("registry", "files")}

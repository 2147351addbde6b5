"""`migsafe fix --dry-run` checks its rewrites in a mirror of the tree (fixes/mirror.py): it
reports what `fix` then does, and the user's files are only read (no write, no temporary file
beside them, no put-back: inode, times and folder listings stay as they were)."""

from __future__ import annotations

import difflib
import os
import shutil
import stat
from pathlib import Path

import pytest

from migsafe.fixes.mirror import Mirror
from tests.conftest import REPO_ROOT


def _tree_state(root: Path) -> dict[str, tuple[int, int, int]]:
    """(inode, mtime, ctime) of every file and folder: a write, an atomic replace, a temporary
    file made and removed in a folder or a put-back each change one of them."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in [".", *dirs, *files]:
            info = os.lstat(os.path.join(folder, name))
            out[os.path.relpath(os.path.join(folder, name), root)] = (info.st_ino, info.st_mtime_ns, info.st_ctime_ns)
    return out


def _read_only(root: Path, on: bool) -> None:
    for folder, _, files in os.walk(root):
        os.chmod(folder, 0o555 if on else 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444 if on else 0o644)


def _patch(original: Path, fixed: Path) -> str:
    """What `fix` changed, as the dry run prints it."""
    out = []
    for path in sorted(p for p in original.rglob("*") if p.is_file()):
        rel = path.relative_to(original).as_posix()
        old, new = path.read_text(), (fixed / rel).read_text()
        if old != new:
            out += difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        f"a/{rel}", f"b/{rel}")
    return "".join(out)


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["demo", "alembic_shop", "django_shop"])
def test_dry_run_on_a_read_only_copy_promises_what_fix_does_and_writes_nothing(tmp_path, run_cli, fixture):
    if fixture == "django_shop":
        pytest.importorskip("django")
    dry, real = tmp_path / "dry" / fixture, tmp_path / "real" / fixture
    for copy in (dry, real):
        shutil.copytree(REPO_ROOT / "fixtures" / fixture, copy)
    _read_only(dry, True)
    state = _tree_state(dry)
    try:
        code, out, err = run_cli(["fix", "--dry-run", "."], cwd=dry)
        assert _tree_state(dry) == state
    finally:
        _read_only(dry, False)
    fixed_code, fixed_out, fixed_err = run_cli(["fix", "."], cwd=real)
    assert "would fix" in err and out  # each fixture has a rewrite to promise
    assert out == _patch(dry, real)
    assert err.replace("would fix", "fixed") == fixed_err and code == fixed_code


def test_a_rewrite_taken_back_in_the_mirror_is_checked_again_as_the_original(tmp_path, run_cli):
    # V3's rewrite would raise drop-column (the prelude lands under its suppression comment): the
    # mirror takes it back before the last check, so only V2's finding counts as fixed.
    drop = "-- migsafe: ignore[drop-column] nothing reads email any more\nALTER TABLE users DROP COLUMN email;\n"
    (tmp_path / "V1__users.sql").write_text("CREATE TABLE users (id bigint, email text, name text);\n")
    (tmp_path / "V2__index.sql").write_text("CREATE INDEX users_name ON users (name);\n")
    (tmp_path / "V3__drop.sql").write_text(drop)
    (tmp_path / "migsafe.toml").write_text('start-after = { sql = "V1__users.sql" }\n')
    state = _tree_state(tmp_path)
    code, out, err = run_cli(["fix", "--dry-run", "."], cwd=tmp_path)
    assert "would fix 1 finding in 1 file; 1 finding left" in err and "V3__drop.sql" not in out
    assert _tree_state(tmp_path) == state


def test_mirror_copies_the_way_to_each_path_and_links_the_rest(tmp_path):
    (tmp_path / "db" / "migrations").mkdir(parents=True)
    (tmp_path / "db" / "migrations" / "V1__a.sql").write_text("SELECT 1;\n")
    (tmp_path / "db" / "alembic.ini").write_text("[alembic]\n")
    (tmp_path / "db" / "notes.md").write_text("notes\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "models.py").write_text("x = 1\n")
    (tmp_path / "pyproject.toml").write_text("")
    with Mirror(tmp_path, [Path("db/migrations")]) as mirror:
        place = mirror.place(tmp_path)
        assert not (place / "db").is_symlink() and not (place / "db" / "migrations").is_symlink()
        for copied in ("pyproject.toml", "db/alembic.ini", "db/migrations/V1__a.sql"):
            assert (place / copied).is_file() and not (place / copied).is_symlink(), copied
        assert (place / "app").is_symlink() and (place / "db" / "notes.md").is_symlink()
        mirror.write(Path("db/migrations/V1__a.sql"), "SELECT 2;\n")
        assert (place / "db/migrations/V1__a.sql").read_text() == "SELECT 2;\n"
        assert (tmp_path / "db/migrations/V1__a.sql").read_text() == "SELECT 1;\n"
    assert not place.exists()


def test_mirror_places_a_path_outside_the_working_directory(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "V1__a.sql").write_text("SELECT 1;\n")
    (tmp_path / "here").mkdir()
    with Mirror(tmp_path / "here", [tmp_path / "elsewhere"]) as mirror:
        place = mirror.place(tmp_path / "elsewhere" / "V1__a.sql")
        assert place.read_text() == "SELECT 1;\n" and not stat.S_ISLNK(os.lstat(place).st_mode)
        assert tmp_path not in place.parents

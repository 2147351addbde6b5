import os
import sys
from pathlib import Path

import pytest

from migsafe.discover import Discovered, discover, is_excluded
from migsafe.errors import UsageError


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("SELECT 1;")


def found(tmp_path, paths=("."), exclude=()):
    result = discover([Path(p) for p in paths], list(exclude), tmp_path)
    return [p.relative_to(tmp_path).as_posix() for p in result.of("sql")]


def test_walks_recursively_in_migration_order(tmp_path):
    touch(tmp_path, "db/V10__c.sql", "db/V2__b.sql", "db/sub/0001_x.sql", "a/1_x.sql", "notes.txt", "db/x.py")
    assert found(tmp_path) == ["a/1_x.sql", "db/V2__b.sql", "db/V10__c.sql", "db/sub/0001_x.sql"]


def test_result_shape(tmp_path):
    touch(tmp_path, "x.sql")
    result = discover([Path(".")], [], tmp_path)
    assert result == Discovered({"sql": [tmp_path / "x.sql"]})


def test_skips_hidden_and_tool_folders(tmp_path):
    touch(
        tmp_path,
        ".git/x.sql",
        ".venv/x.sql",
        ".hidden/x.sql",
        "venv/x.sql",
        "node_modules/pkg/x.sql",
        "__pycache__/x.sql",
        "lib/site-packages/pkg/x.sql",
        "keep/0001_x.sql",
    )
    assert found(tmp_path) == ["keep/0001_x.sql"]


def test_hidden_folder_given_as_path_is_walked(tmp_path):
    touch(tmp_path, ".migrations/0001_x.sql")
    assert found(tmp_path, [".migrations"]) == [".migrations/0001_x.sql"]


def test_down_files_are_not_found(tmp_path):
    touch(tmp_path, "m/0001_a/up.sql", "m/0001_a/down.sql", "m/0002_b.down.sql", "m/0002_b.up.sql", "m/U2__b.sql")
    assert found(tmp_path) == ["m/0001_a/up.sql", "m/0002_b.up.sql"]


def test_path_does_not_exist(tmp_path):
    with pytest.raises(UsageError) as info:
        discover([Path("nope/x.sql")], [], tmp_path)
    assert str(info.value) == "path does not exist: nope/x.sql"


def test_paths_are_relative_to_cwd_not_process_cwd(tmp_path, monkeypatch):
    touch(tmp_path, "project/db/0001_x.sql")
    monkeypatch.chdir(tmp_path)
    result = discover([Path("db")], [], tmp_path / "project")
    assert result.of("sql") == [tmp_path / "project" / "db" / "0001_x.sql"]


def test_file_path_is_taken_as_is(tmp_path):
    touch(tmp_path, "legacy/.old/0001_x.sql", "readme.md")
    assert found(tmp_path, ["legacy/.old/0001_x.sql"], exclude=["legacy/**"]) == ["legacy/.old/0001_x.sql"]
    assert found(tmp_path, ["readme.md"]) == []


def test_overlapping_paths_give_each_file_once(tmp_path):
    touch(tmp_path, "db/0002_b.sql", "db/0001_a.sql")
    assert found(tmp_path, ["db/0002_b.sql", ".", "db"]) == ["db/0001_a.sql", "db/0002_b.sql"]


def test_given_paths_are_normalized(tmp_path):
    touch(tmp_path, "db/0001_a.sql")
    result = discover([Path("db/../db/0001_a.sql")], [], tmp_path)
    assert result.of("sql") == [tmp_path / "db" / "0001_a.sql"]


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_symlinked_file_counts_once(tmp_path):
    touch(tmp_path, "db/0001_a.sql")
    (tmp_path / "db" / "current.sql").symlink_to(tmp_path / "db" / "0001_a.sql")
    assert found(tmp_path) == ["db/0001_a.sql"]


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_symlink_loop_is_walked_once(tmp_path):
    touch(tmp_path, "db/0001_x.sql")
    (tmp_path / "db" / "loop").symlink_to(tmp_path / "db")
    assert found(tmp_path) == ["db/0001_x.sql"]


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_symlinked_folder_is_followed(tmp_path):
    touch(tmp_path, "shared/0001_x.sql")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "db").symlink_to(tmp_path / "shared")
    assert found(tmp_path, ["project"]) == ["project/db/0001_x.sql"]


def test_unreadable_folder_is_skipped(tmp_path, monkeypatch):
    touch(tmp_path, "db/0001_x.sql", "pgdata/x.sql")
    real_scandir = os.scandir

    def scandir(path):  # as for a folder owned by another user (chmod does not stop root)
        if Path(path).name == "pgdata":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert found(tmp_path) == ["db/0001_x.sql"]


def test_exclude_globs(tmp_path):
    touch(
        tmp_path,
        "legacy/0001_x.sql",
        "legacy/deep/0002_x.sql",
        "db/legacy/0003_x.sql",
        "db/0004_x.sql",
        "db/0005_x.tmp.sql",
        "db/old/0006_x.sql",
    )
    assert found(tmp_path, exclude=["legacy/**"]) == [
        "db/0004_x.sql",
        "db/0005_x.tmp.sql",
        "db/legacy/0003_x.sql",
        "db/old/0006_x.sql",
    ]
    assert found(tmp_path, exclude=["**/legacy/**", "*.tmp.sql", "db/old"]) == ["db/0004_x.sql"]


@pytest.mark.parametrize(
    "rel, pattern, excluded",
    [
        ("legacy/a.sql", "legacy/**", True),
        ("legacy/x/a.sql", "legacy/**", True),
        ("legacy/x/a.sql", "legacy", True),
        ("legacy/x/a.sql", "legacy/", True),
        ("legacy/x/a.sql", "./legacy/*", True),
        ("db/legacy/a.sql", "legacy/**", False),  # anchored at cwd: has a "/"
        ("db/legacy/a.sql", "legacy", True),  # a bare name matches at any depth
        ("db/legacy/a.sql", "**/legacy/**", True),
        ("legacy/a.sql", "**/legacy/**", True),
        ("db/a.sql", "db/*.sql", True),
        ("db/a.sql", "*.SQL", False),  # case-sensitive on every platform
        ("db/a.sql", "b*", False),
        ("legacyx/a.sql", "legacy", False),
        ("db/a.sql", "", False),
    ],
)
def test_is_excluded(rel, pattern, excluded):
    assert is_excluded(rel, [pattern]) is excluded


def test_many_paths_are_each_read_once(tmp_path, monkeypatch):
    """Each PATH's own folders are looked through for revisions and migrations, not every folder
    met so far again (34 app folders on a command line took a second that way)."""
    from migsafe.sources.alembic import graph as alembic_graph

    paths = []
    for n in range(30):
        folder = tmp_path / f"app{n}" / "migrations"
        folder.mkdir(parents=True)
        (folder / "__init__.py").touch()
        (folder / "helpers.py").write_text("x = 1\n")
        (folder / "0001_initial.py").write_text("from django.db import migrations\n\n\n"
                                                "class Migration(migrations.Migration):\n    operations = []\n")
        paths.append(folder)
    calls = []
    read = alembic_graph.is_revision_file
    monkeypatch.setattr(alembic_graph, "is_revision_file", lambda *a, **k: calls.append(a) or read(*a, **k))
    found = discover(paths, [], tmp_path)
    assert len(found.of("django")) == 30
    assert len(calls) <= 30 * 3 * 2  # each file at most twice (as a possible revision, as one of a versions folder)


# --- Alembic projects found from a part of them ---------------------------------------------


def alembic_project(root: Path, url: str = "mysql://h/db") -> dict[str, Path]:
    """alembic.ini at `root`, revisions in db/versions/ and a sub-folder of it."""
    (root / "db/versions/2024").mkdir(parents=True)
    (root / "db/env.py").write_text("")
    (root / "alembic.ini").write_text(f"[alembic]\nscript_location = db\nsqlalchemy.url = {url}\n")
    files = {"a": root / "db/versions/a_x.py", "b": root / "db/versions/2024/b_x.py"}
    files["a"].write_text("revision = 'a'\ndown_revision = None\n")
    files["b"].write_text("revision = 'b'\ndown_revision = 'a'\n")
    return files


def test_a_revision_file_finds_the_alembic_ini_above_it(tmp_path):
    files = alembic_project(tmp_path)
    result = discover([Path("db/versions/2024/b_x.py"), Path("db/env.py")], [], tmp_path)  # env.py: no migration
    [project] = result.of("alembic")
    assert (project.version_dirs, project.dialect, project.origin) == (
        [tmp_path / "db/versions"], "mysql", tmp_path / "alembic.ini")
    assert result.report_only == {files["b"]}


def test_a_sub_folder_is_replayed_with_its_project_and_reported_alone(tmp_path):
    files = alembic_project(tmp_path)
    result = discover([Path("db/versions/2024")], [], tmp_path)
    assert [p.origin for p in result.of("alembic")] == [tmp_path / "alembic.ini"]
    assert result.report_only == {files["b"]}
    whole = discover([Path("db")], [], tmp_path)  # the script folder holds every revision: all reported
    assert [p.dialect for p in whole.of("alembic")] == ["mysql"] and whole.report_only is None


def test_several_paths_of_one_project_are_one_graph(tmp_path):
    files = alembic_project(tmp_path)
    result = discover([Path("db/versions/2024/b_x.py"), Path("db/versions/a_x.py")], [], tmp_path)
    assert len(result.of("alembic")) == 1 and result.report_only == set(files.values())


def test_the_walk_up_stops_at_the_repository_root(tmp_path):
    alembic_project(tmp_path)  # an alembic.ini above the repository is not its project's
    repo = tmp_path / "db/versions"
    (repo / ".git").mkdir()
    [project] = discover([Path("db/versions/2024/b_x.py")], [], tmp_path).of("alembic")
    assert project.origin == repo and project.dialect is None  # the versions folder alone


def test_a_file_outside_any_version_location_is_not_a_revision(tmp_path):
    alembic_project(tmp_path)
    (tmp_path / "db/helpers.py").write_text("revision = 'h'\ndown_revision = None\n")
    result = discover([Path("db/helpers.py")], [], tmp_path)
    assert result.of("alembic") == [] and result.report_only is None


def test_a_repository_root_looks_no_further_up(tmp_path):
    alembic_project(tmp_path)
    repo = tmp_path / "db"
    (repo / ".git").mkdir()
    [project] = discover([Path(".")], [], repo).of("alembic")
    assert project.origin == repo / "versions"


# --- what is not a migration ------------------------------------------------------------------


def test_a_folder_without_migrations_is_a_usage_error(tmp_path):
    touch(tmp_path, "db/migrations/V1__a.sql", "db/migration/notes.txt")
    with pytest.raises(UsageError) as info:
        discover([Path("db/migrations"), Path("db/migration")], [], tmp_path)
    assert str(info.value).startswith("no migrations found under db/migration (looked for .sql files")
    with pytest.raises(UsageError):
        discover([Path("db")], ["*.sql"], tmp_path)  # excluded: nothing left to check
    assert found(tmp_path, ["db", "db/migrations"]) == ["db/migrations/V1__a.sql"]
    assert found(tmp_path, ["db/migration/notes.txt"]) == []  # a file named alone may be anything


DJANGO_MIGRATION = "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    operations = []\n"
# nova.db.main.models: a model named Migration is no Django migration.
NOVA_MODELS = "class Migration(BASE, NovaBase, models.SoftDeleteMixin):\n    __tablename__ = 'migrations'\n"


def test_a_models_module_defining_class_migration_is_no_django_migration(tmp_path):
    for name, text in {"nova/__init__.py": "", "nova/db/__init__.py": "", "nova/db/main/__init__.py": "",
                       "nova/db/main/models.py": NOVA_MODELS}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    with pytest.raises(UsageError, match="no migrations found under nova/db/main"):
        discover([Path("nova/db/main")], [], tmp_path)
    named = discover([Path("nova/db/main/models.py")], [], tmp_path)  # as pre-commit passes it
    assert named == Discovered()


def test_a_django_migrations_package_of_another_name_holds_numbered_modules(tmp_path):
    # MIGRATION_MODULES = {"shop": "shop.db_migrations"}
    package = tmp_path / "shop" / "db_migrations"
    package.mkdir(parents=True)
    for name, text in {"__init__.py": "", "0001_initial.py": DJANGO_MIGRATION}.items():
        (package / name).write_text(text)
    (tmp_path / "shop" / "__init__.py").write_text("")
    assert discover([Path("shop/db_migrations")], [], tmp_path).of("django") == [package]
    assert discover([Path("shop/db_migrations/0001_initial.py")], [], tmp_path).of("django") == [package]


# --- issue 15 point 4: the layouts Alembic reads, and the PATHs pre-commit and CI pass ---------


def revision(path: Path, rid: str, down: str | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"revision = {rid!r}\ndown_revision = {down!r}\n")
    return path


def test_recursive_version_locations_hold_the_sub_folders(tmp_path):
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = m\nrecursive_version_locations = true\n")
    a = revision(tmp_path / "m/versions/a_x.py", "a", None)
    b = revision(tmp_path / "m/versions/2024/b_x.py", "b", "a")
    [project] = discover([Path(".")], [], tmp_path).of("alembic")
    assert project.files() == [a, b]
    named = discover([Path("m/versions/2024/b_x.py")], [], tmp_path)  # as pre-commit passes it
    assert [p.origin for p in named.of("alembic")] == [tmp_path / "alembic.ini"] and named.report_only == {b}


def test_script_location_as_a_package_resource_is_found(tmp_path):
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp/__init__.py").write_text("raise SystemExit('imported')\n")
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = myapp:migrations\n")
    (tmp_path / "myapp/migrations").mkdir()
    (tmp_path / "myapp/migrations/env.py").write_text("")
    a = revision(tmp_path / "myapp/migrations/versions/a_x.py", "a", None)
    [project] = discover([Path(".")], [], tmp_path).of("alembic")
    assert (project.origin, project.files()) == (tmp_path / "alembic.ini", [a])


def test_branch_folders_of_one_project_named_one_by_one(tmp_path):
    # OpenStack: expand/contract folders per release, each a version location
    folders = ["db/versions", "db/versions/2024.1/expand", "db/versions/2024.1/contract"]
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = db\npath_separator = space\nversion_locations = "
                                          + " ".join(f"%(here)s/{f}" for f in folders) + "\nsqlalchemy.url = mysql://h/db\n")
    files = [revision(tmp_path / "db/versions/k_x.py", "k", None),
             revision(tmp_path / "db/versions/2024.1/expand/e_x.py", "e", "k"),
             revision(tmp_path / "db/versions/2024.1/contract/c_x.py", "c", "k")]
    found = discover([Path("db/versions/2024.1/contract/c_x.py"), Path("db/versions/2024.1/expand/e_x.py")], [], tmp_path)
    [project] = found.of("alembic")
    assert project.dialect == "mysql" and set(project.files()) == set(files)  # (a file once, though folders nest)
    assert found.report_only == set(files[1:])


def test_several_paths_each_their_own_project_and_database(tmp_path):
    for name, url in (("billing", "mysql://h/db"), ("auth", "sqlite:///a.db")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "alembic.ini").write_text(f"[alembic]\nscript_location = m\nsqlalchemy.url = {url}\n")
        revision(tmp_path / name / "m/versions/a_x.py", "a", None)
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql/V1__x.sql").write_text("SELECT 1;\n")
    found = discover([Path("billing"), Path("auth"), Path("sql")], [], tmp_path)
    assert [(p.origin.parent.name, p.dialect) for p in found.of("alembic")] == [("auth", "sqlite"), ("billing", "mysql")]
    assert found.of("sql") == [tmp_path / "sql/V1__x.sql"] and found.report_only is None

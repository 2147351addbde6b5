"""`check --diff REF` in real temporary git repositories.

Each test builds a repository with the real `git` binary: a main branch with some history, a
feature branch that adds, modifies or renames migrations, and (for CI) shallow clones. migsafe
runs in-process (run_cli) and calls git itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

USERS = "CREATE TABLE users (id serial PRIMARY KEY, email varchar(120), name varchar(80) NOT NULL);\n"
SAFE = "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN phone varchar(20);\n"
UNSAFE_INDEX = "CREATE INDEX users_name_idx ON users (name);\n"
DROP_EMAIL = "SET lock_timeout = '5s';\nALTER TABLE users DROP COLUMN email;\n"
# Safe only because V1 says name is varchar(80): proves that unchanged history is replayed.
WIDEN = "SET lock_timeout = '5s';\nALTER TABLE users ALTER COLUMN name TYPE varchar(200);\n"

SHALLOW_MESSAGE = ("migsafe: error: --diff origin/main: no merge base with HEAD in this shallow clone; "
                   "fetch more history (git fetch --unshallow, or actions/checkout with fetch-depth: 0)")


@pytest.fixture(autouse=True)
def git_env(tmp_path, monkeypatch):
    """A git that sees only the test's repositories: no user or system config, no GIT_DIR from
    an enclosing hook, a fixed identity, and no repository above tmp_path."""
    for name in list(os.environ):
        if name.startswith("GIT_"):
            monkeypatch.delenv(name)
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def commit(repo: Path, files: dict[str, str] | None = None, message: str = "change") -> str:
    write(repo, files or {})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path) -> Path:
    """main: V1 users, V2 an unsafe index (already merged: not this branch's business);
    HEAD: a feature branch started from there, nothing changed yet."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "symbolic-ref", "HEAD", "refs/heads/main")  # whatever git's default branch is
    commit(root, {"db/V1__users.sql": USERS, "db/V2__index.sql": UNSAFE_INDEX, "README": "shop\n"}, "base")
    git(root, "checkout", "-q", "-b", "feature")
    return root


def check(run_cli, repo: Path, *args: str, cwd: Path | None = None):
    """(exit code, [(path, rule)], stderr) of `migsafe check --format json ARGS`."""
    code, out, err = run_cli(["check", "--format", "json", *args], cwd=cwd or repo)
    data = json.loads(out) if out else None
    found = [(f["path"], f["rule"]) for f in data["findings"]] if data else None
    return code, found, err, data


# --- what is judged ---------------------------------------------------------------------------


def test_an_added_migration_is_judged_against_the_unchanged_history(run_cli, repo):
    commit(repo, {"db/V3__widen.sql": WIDEN, "db/V4__drop.sql": DROP_EMAIL})
    code, found, err, data = check(run_cli, repo, "--diff", "main", "db")
    # V2's unsafe index is on main already; V3's widening is safe only because V1 was replayed.
    assert (code, found) == (1, [("db/V4__drop.sql", "drop-column")])
    assert data["summary"]["migrations"] == 4  # everything was read; two were judged
    assert err == ("migsafe: --diff main: judged 2 of 4 migrations, those added or changed since "
                   "the merge base (the others were replayed for the schema only)\n")

    # Control: without --diff, main's unsafe index is reported too.
    code, found, _, _ = check(run_cli, repo, "db")
    assert found == [("db/V2__index.sql", "non-concurrent-index"), ("db/V4__drop.sql", "drop-column")]


def test_a_modified_migration_is_judged(run_cli, repo):
    commit(repo, {"db/V3__phone.sql": SAFE}, "safe on the branch")
    git(repo, "checkout", "-q", "main")
    commit(repo, {"db/V3__phone.sql": SAFE}, "same file on main")
    git(repo, "checkout", "-q", "-b", "edit")
    commit(repo, {"db/V3__phone.sql": SAFE + DROP_EMAIL})
    code, found, _, _ = check(run_cli, repo, "--diff", "main")
    assert (code, found) == (1, [("db/V3__phone.sql", "drop-column")])


def test_a_renamed_migration_is_judged_under_its_new_name(run_cli, repo):
    git(repo, "mv", "db/V2__index.sql", "db/V2__users_name_index.sql")
    git(repo, "commit", "-q", "-m", "rename")
    code, found, _, _ = check(run_cli, repo, "--diff", "main")
    assert (code, found) == (1, [("db/V2__users_name_index.sql", "non-concurrent-index")])


def test_nothing_changed_is_a_visible_success(run_cli, repo):
    commit(repo, {"README": "shop, now with docs\n"})  # a change, but to no migration
    code, found, err, data = check(run_cli, repo, "--diff", "main")
    assert (code, found) == (0, [])
    assert data["summary"]["migrations"] == 2
    assert err == ("migsafe: --diff main: no migration was added or changed since the merge base; "
                   "nothing judged (2 migrations replayed for the schema only)\n")
    # The text report and the note on stderr, as a user sees them.
    code, out, err = run_cli(["check", "--diff", "main"], cwd=repo)
    assert code == 0 and out.startswith("All checks passed") and "nothing judged" in err


def test_changes_on_the_base_branch_since_the_merge_base_are_not_ours(run_cli, repo):
    """REF moved on after the branch point: its changes are not this branch's to judge (a plain
    `git diff main` would see them as differences and blame the branch)."""
    commit(repo, {"db/V3__phone.sql": SAFE})
    git(repo, "checkout", "-q", "main")
    commit(repo, {"db/V2__index.sql": UNSAFE_INDEX + "CREATE INDEX users_email_idx ON users (email);\n"})
    git(repo, "checkout", "-q", "feature")
    code, found, err, _ = check(run_cli, repo, "--diff", "main")
    assert (code, found) == (0, [])
    assert "judged 1 of 3 migrations" in err


def test_uncommitted_work_is_judged_too(run_cli, repo):
    """Staged, unstaged and untracked (not ignored) files count: a developer checks before
    committing. Ignored files do not."""
    write(repo, {".gitignore": "scratch/\n", "db/V3__staged.sql": SAFE})
    git(repo, "add", ".gitignore", "db/V3__staged.sql")
    write(repo, {
        "db/V3__staged.sql": SAFE + "TRUNCATE users;\n",  # unstaged edit on top of the staged file
        "db/V4__untracked.sql": DROP_EMAIL,
        "db/scratch/V9__ignored.sql": "DROP TABLE users;\n",
    })
    write(repo, {"db/V1__users.sql": USERS + "-- edited, not staged\n"})
    code, found, _, _ = check(run_cli, repo, "--diff", "main")
    assert found == [
        ("db/V3__staged.sql", "truncate-table"),
        ("db/V4__untracked.sql", "drop-column"),
    ]
    assert code == 1


def test_diff_intersects_with_files_named_on_the_command_line(run_cli, repo):
    commit(repo, {"db/V3__drop.sql": DROP_EMAIL, "db/V4__truncate.sql": "TRUNCATE users;\n"})
    _, found, _, _ = check(run_cli, repo, "--diff", "main", "db/V3__drop.sql")
    assert found == [("db/V3__drop.sql", "drop-column")]
    _, found, _, _ = check(run_cli, repo, "--diff", "main", "db/V2__index.sql")  # named, unchanged
    assert found == []


def test_paths_and_the_working_directory_may_be_anywhere_in_the_repository(run_cli, repo, tmp_path):
    commit(repo, {"db/V3__drop.sql": DROP_EMAIL})
    _, found, _, _ = check(run_cli, repo, "--diff", "main", ".", cwd=repo / "db")
    assert found == [("V3__drop.sql", "drop-column")]
    # From outside the repository, naming its folder: git runs in the repository of the PATH.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    _, found, _, _ = check(run_cli, repo, "--diff", "main", str(repo / "db"), cwd=outside)
    assert [rule for _, rule in found] == ["drop-column"]


def test_diff_respects_exclude_and_start_after(run_cli, repo):
    commit(repo, {
        "db/V3__drop.sql": DROP_EMAIL,
        "db/legacy/V0__old.sql": "DROP TABLE users;\n",
        "migsafe.toml": 'exclude = ["db/legacy/**"]\nstart-after = { sql = "V3__drop.sql" }\n',
    })
    code, found, err, _ = check(run_cli, repo, "--diff", "main")
    assert (code, found) == (0, [])  # V3 is history, legacy is excluded
    assert "nothing judged" in err


def test_diff_accepts_a_commit_id_and_head_relative_refs(run_cli, repo):
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, {"db/V3__drop.sql": DROP_EMAIL})
    commit(repo, {"db/V4__truncate.sql": "SET lock_timeout = '5s';\nTRUNCATE users;\n"})
    _, found, _, _ = check(run_cli, repo, "--diff", base)
    assert [rule for _, rule in found] == ["drop-column", "truncate-table"]
    _, found, _, _ = check(run_cli, repo, "--diff", "HEAD~1")
    assert found == [("db/V4__truncate.sql", "truncate-table")]


# --- failures: one line, exit 2, never "nothing changed" -------------------------------------


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_unknown_ref_exits_2(run_cli, repo):
    code, out, err = run_cli(["check", "--diff", "no-such-branch"], cwd=repo)
    assert (code, out) == (2, "")
    assert one_line(err) == ("migsafe: error: --diff no-such-branch: unknown git revision "
                             "'no-such-branch'; check the name, or fetch it first")


def test_a_ref_that_looks_like_an_option_is_refused(run_cli, repo):
    code, _, err = run_cli(["check", "--diff=--output=x"], cwd=repo)
    assert code == 2 and "not a git revision" in one_line(err)


def test_not_a_git_repository_exits_2(run_cli, tmp_path):
    folder = tmp_path / "plain"
    write(folder, {"V1__users.sql": USERS})
    code, out, err = run_cli(["check", "--diff", "main"], cwd=folder)
    assert (code, out) == (2, "")
    assert one_line(err) == f"migsafe: error: --diff main: {folder} is not inside a git repository"


def test_git_not_installed_exits_2(run_cli, repo, tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    code, out, err = run_cli(["check", "--diff", "main"], cwd=repo)
    assert (code, out) == (2, "")
    assert "git is not installed" in one_line(err)


def test_a_repository_without_commits_exits_2(run_cli, tmp_path):
    root = tmp_path / "fresh"
    write(root, {"V1__users.sql": USERS})
    git(root, "init", "-q")
    code, _, err = run_cli(["check", "--diff", "main"], cwd=root)
    assert code == 2 and "HEAD has no commit yet" in one_line(err)


def test_unrelated_histories_exit_2(run_cli, repo):
    git(repo, "checkout", "-q", "--orphan", "other")
    commit(repo, {"db/V3__drop.sql": DROP_EMAIL})
    code, _, err = run_cli(["check", "--diff", "main"], cwd=repo)
    assert code == 2
    assert one_line(err) == "migsafe: error: --diff main: main and HEAD have no common history"


def test_a_missing_path_is_reported_by_discovery(run_cli, repo):
    code, _, err = run_cli(["check", "--diff", "main", "nope"], cwd=repo)
    assert code == 2 and one_line(err) == "migsafe: error: path does not exist: nope"


# --- CI: shallow clones -----------------------------------------------------------------------


@pytest.fixture
def origin(repo) -> Path:
    """A pull request branch a few commits away from main, as a CI server clones it."""
    git(repo, "checkout", "-q", "main")
    commit(repo, {"db/V3__phone.sql": SAFE}, "main moves on")
    git(repo, "checkout", "-q", "feature")
    commit(repo, {"db/V3__drop.sql": DROP_EMAIL}, "feature 1")
    commit(repo, {"db/V4__widen.sql": WIDEN}, "feature 2")
    return repo


def clone(origin: Path, dest: Path, *args: str) -> Path:
    # file:// so that --depth is honoured (a local path clone ignores it).
    git(origin.parent, "clone", "-q", *args, origin.as_uri(), str(dest))
    return dest


def test_shallow_clone_without_the_merge_base_exits_2_and_says_how_to_fetch(run_cli, origin, tmp_path):
    ci = clone(origin, tmp_path / "ci", "--depth", "1", "--no-single-branch", "--branch", "feature")
    assert git(ci, "rev-parse", "--is-shallow-repository") == "true"
    code, out, err = run_cli(["check", "--diff", "origin/main"], cwd=ci)
    assert (code, out) == (2, "")
    assert one_line(err) == SHALLOW_MESSAGE

    # Following the advice works.
    git(ci, "fetch", "-q", "--unshallow")
    code, found, err, _ = check(run_cli, ci, "--diff", "origin/main")
    assert (code, found) == (1, [("db/V3__drop.sql", "drop-column")])
    assert "judged 2 of 4 migrations" in err  # main's V3__phone is not on this branch


def test_shallow_clone_deep_enough_works(run_cli, origin, tmp_path):
    ci = clone(origin, tmp_path / "ci", "--depth", "1", "--no-single-branch", "--branch", "feature")
    git(ci, "fetch", "-q", "--deepen", "3")  # past the branch point: the merge base is there
    code, found, _, _ = check(run_cli, ci, "--diff", "origin/main")
    assert (code, found) == (1, [("db/V3__drop.sql", "drop-column")])


def test_shallow_single_branch_clone_says_how_to_fetch_the_base_branch(run_cli, origin, tmp_path):
    ci = clone(origin, tmp_path / "ci", "--depth", "1", "--single-branch", "--branch", "feature")
    code, _, err = run_cli(["check", "--diff", "origin/main"], cwd=ci)
    assert code == 2
    assert one_line(err) == ("migsafe: error: --diff origin/main: unknown git revision 'origin/main'; "
                             "fetch it first (git fetch origin main, or actions/checkout with fetch-depth: 0)")


# --- other sources ----------------------------------------------------------------------------


def test_alembic_revisions_changed_on_the_branch_are_judged(run_cli, tmp_path):
    """The same mechanism for Alembic: every revision is replayed, the branch's are reported."""
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "alembic_shop"
    root = tmp_path / "shop"
    shutil.copytree(fixture, root, ignore=shutil.ignore_patterns("__pycache__"))
    versions = root / "migrations" / "versions"
    cleanup = sorted(versions.glob("4d5e*.py"))[0]
    backfill = sorted(versions.glob("5e6f*.py"))[0]
    parked = {p: p.read_text() for p in (cleanup, backfill)}
    for p in parked:
        p.unlink()
    git(root, "init", "-q")
    git(root, "symbolic-ref", "HEAD", "refs/heads/main")
    commit(root, message="first three revisions")
    git(root, "checkout", "-q", "-b", "feature")
    commit(root, {str(cleanup.relative_to(root)): parked[cleanup]})
    write(root, {str(backfill.relative_to(root)): parked[backfill]})  # untracked: work in progress
    code, found, err, _ = check(run_cli, root, "--diff", "main")
    assert code == 1
    assert {path for path, _ in found} == {f"migrations/versions/{cleanup.name}",
                                           f"migrations/versions/{backfill.name}"}
    assert "judged 2 of 5 migrations" in err
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "backfill")
    code, found, err, _ = check(run_cli, root, "--diff", "HEAD~1")
    assert found == [(f"migrations/versions/{backfill.name}", "new-write-restriction"),
                     (f"migrations/versions/{backfill.name}", "validating-check-constraint")]

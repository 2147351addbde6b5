"""The pre-commit hook (.pre-commit-hooks.yaml), run by real `pre-commit` in temporary repositories.

pre-commit installs a hook from a git repository at a commit, so the tests first copy this work
tree (tracked and untracked files, as they are now) into a throwaway repository and commit it
there. Each hook install builds a virtualenv and pip-installs migsafe into it (from PyPI for the
dependencies): about 15 s each; the whole file takes well under a minute with a warm pip cache.
The Django tests (slow) also install Django from PyPI into the migsafe-django hook's virtualenv.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
    pytest.mark.skipif(importlib.util.find_spec("pre_commit") is None,
                       reason="pre-commit is not installed (pip install -e '.[test]')"),
]

USERS = "CREATE TABLE users (id serial PRIMARY KEY, email varchar(120), name varchar(80) NOT NULL);\n"
# Safe only because V1 says name is varchar(80): the staged file is judged against its history.
WIDEN = "SET lock_timeout = '5s';\nALTER TABLE users ALTER COLUMN name TYPE varchar(200);\n"
DROP_EMAIL = "SET lock_timeout = '5s';\nALTER TABLE users DROP COLUMN email;\n"
DROP_FINDING = "db/V3__drop_email.sql:2:1: error[drop-column] Dropping column users.email"


def test_hook_manifest_is_what_the_contract_says():
    hook, django_hook = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "migsafe"
    assert hook["entry"] == "migsafe check"
    assert hook["language"] == "python"
    assert hook["types_or"] == ["sql", "python"]
    assert hook["require_serial"] is True
    assert hook["minimum_pre_commit_version"] == "2.9.0"
    assert hook.get("pass_filenames", True) is True  # the staged files are the PATHs
    # migsafe-django: the same hook with the `django` extra's requirements in its virtualenv.
    extra = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["django"]
    assert django_hook.pop("additional_dependencies") == extra
    assert django_hook.pop("id") == "migsafe-django"
    same = {k: v for k, v in hook.items() if k not in ("id", "name", "description")}
    assert {k: v for k, v in django_hook.items() if k not in ("name", "description")} == same
    done = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest", ".pre-commit-hooks.yaml"],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("precommit")


@pytest.fixture(scope="module")
def env(sandbox) -> dict[str, str]:
    """Subprocess environment: no user git config or enclosing GIT_DIR, a fixed identity, our
    own pre-commit cache, no colors."""
    config = sandbox / "gitconfig"
    config.write_text("[user]\n\tname = Test\n\temail = test@example.com\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(
        GIT_CONFIG_GLOBAL=str(config), GIT_CONFIG_NOSYSTEM="1", PRE_COMMIT_COLOR="never",
        PRE_COMMIT_HOME=str(sandbox / "pre-commit-home"), NO_COLOR="1",
    )
    return env


def run(cwd: Path, env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def git(cwd: Path, env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(cwd, env, "git", *args, check=check)


def pre_commit(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run(cwd, env, sys.executable, "-m", "pre_commit", *args, check=False)


@pytest.fixture(scope="module")
def hook_repo(sandbox, env) -> tuple[Path, str]:
    """This work tree, committed in a throwaway repository: (path, commit)."""
    dest = sandbox / "migsafe"
    dest.mkdir()
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO_ROOT, env=env, capture_output=True)
    if listed.returncode == 0:
        for name in os.fsdecode(listed.stdout).split("\0"):
            source = REPO_ROOT / name
            if name and source.is_file():  # --cached also lists files deleted in the work tree
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest / name)
    else:  # not a git checkout (an unpacked sdist): copy what a build needs
        shutil.copytree(REPO_ROOT, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "__pycache__", "*.egg-info", ".pytest_cache", "build", "dist"))
    assert (dest / ".pre-commit-hooks.yaml").is_file()
    git(dest, env, "init", "-q")
    git(dest, env, "add", "-A")
    git(dest, env, "commit", "-q", "-m", "migsafe under test")
    return dest, git(dest, env, "rev-parse", "HEAD").stdout.strip()


def project(root: Path, env: dict[str, str], files: dict[str, str]) -> Path:
    """A project repository with one committed migration (the history) plus `files`."""
    root.mkdir()
    git(root, env, "init", "-q")
    for name, text in {"db/V1__users.sql": USERS, **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, env, "add", "-A")
    git(root, env, "commit", "-q", "-m", "history")
    return root


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


@pytest.mark.slow  # (pre-commit builds the hook's environment)
def test_try_repo_unsafe_staged_migration_fails_and_a_safe_one_passes(sandbox, env, hook_repo):
    hook, _ = hook_repo
    proj = project(sandbox / "try-repo", env, {})
    write(proj, {
        "db/V2__widen_name.sql": WIDEN,
        "db/V3__drop_email.sql": DROP_EMAIL,
        "app/models.py": "class User:\n    pass\n",  # python, not a migration: ignored quietly
        # Untracked and unsafe: replayed as history, never judged (it is not staged).
        "db/V4__untracked.sql": "TRUNCATE users;\n",
    })
    git(proj, env, "add", "db/V2__widen_name.sql", "db/V3__drop_email.sql", "app/models.py")

    done = pre_commit(proj, env, "try-repo", str(hook), "migsafe", "--color", "never")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "- hook id: migsafe" in output and "Failed" in output
    assert DROP_FINDING in output
    assert "V2__widen_name.sql" not in output  # safe, given V1: the history was replayed
    assert "V4__untracked.sql" not in output
    assert "Found 1 error in 1 of" in output

    # Unstage the unsafe file (it stays in the folder, untracked): only safe files are staged.
    git(proj, env, "rm", "-q", "--cached", "db/V3__drop_email.sql")
    done = pre_commit(proj, env, "try-repo", str(hook), "migsafe", "--color", "never")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Passed" in output and "error[" not in output


@pytest.mark.slow  # (pre-commit builds the hook's environment)
def test_installed_hook_blocks_an_unsafe_commit_and_lets_a_safe_one_through(sandbox, env, hook_repo):
    hook, rev = hook_repo
    config = f"repos:\n-   repo: {hook.as_posix()}\n    rev: {rev}\n    hooks:\n    -   id: migsafe\n"
    proj = project(sandbox / "installed", env, {".pre-commit-config.yaml": config})
    done = pre_commit(proj, env, "install")
    assert done.returncode == 0, done.stdout + done.stderr
    head = git(proj, env, "rev-parse", "HEAD").stdout

    write(proj, {"db/V2__widen_name.sql": WIDEN, "db/V3__drop_email.sql": DROP_EMAIL})
    git(proj, env, "add", "-A")
    done = git(proj, env, "commit", "-m", "drop email", check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert DROP_FINDING in output
    assert "fix: Stop using the column in the app first" in output  # the way out, in the hook output
    assert git(proj, env, "rev-parse", "HEAD").stdout == head  # no commit was made

    git(proj, env, "rm", "-q", "--cached", "db/V3__drop_email.sql")
    done = git(proj, env, "commit", "-m", "widen name", check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "migsafe" in output and "Passed" in output
    assert git(proj, env, "rev-parse", "HEAD").stdout != head
    committed = git(proj, env, "show", "--name-only", "--format=", "HEAD").stdout.split()
    assert committed == ["db/V2__widen_name.sql"]


# --- a Django project ---------------------------------------------------------------------------

DJANGO_INITIAL = """from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.CreateModel(
            name="Order",
            fields=[("id", models.BigAutoField(primary_key=True)), ("note", models.TextField(null=True))],
        ),
    ]
"""
# The app's own module, as migrations often import one (a field, a validator, a default).
DJANGO_FIELDS = "import yaml  # a dependency of the project, not of migsafe\n\n\ndef empty():\n    return ''\n"
DJANGO_DROP = """from django.db import migrations

{app_import}


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.RemoveField(model_name="order", name="note"),
    ]
"""
DJANGO_FINDING = "shop/migrations/0002_remove_order_note.py:9:9: error[drop-column] Dropping column shop_order.note"


def django_project(root: Path, env: dict[str, str], app_import: str = "", config: str = "") -> Path:
    """A Django app with its first migration committed and a second, unsafe one staged."""
    root.mkdir()
    git(root, env, "init", "-q")
    write(root, {"shop/__init__.py": "", "shop/fields.py": DJANGO_FIELDS, "shop/migrations/__init__.py": "",
                 "shop/migrations/0001_initial.py": DJANGO_INITIAL, **({".pre-commit-config.yaml": config} if config else {})})
    git(root, env, "add", "-A")
    git(root, env, "commit", "-q", "-m", "history")
    write(root, {"shop/migrations/0002_remove_order_note.py": DJANGO_DROP.format(app_import=app_import)})
    git(root, env, "add", "-A")
    return root


@pytest.mark.slow
def test_migsafe_django_hook_renders_django_migrations(sandbox, env, hook_repo):
    """pre-commit builds the hook's virtualenv with Django from PyPI (about 30 s the first time)."""
    hook, _ = hook_repo
    proj = django_project(sandbox / "django-hook", env)
    done = pre_commit(proj, env, "try-repo", str(hook), "migsafe-django", "--color", "never")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert DJANGO_FINDING in output and "not-analyzed" not in output
    # The plain hook's virtualenv has no Django: the migration cannot be rendered.
    done = pre_commit(proj, env, "try-repo", str(hook), "migsafe", "--color", "never")
    output = done.stdout + done.stderr
    # (the text report wraps long messages: compared with its line breaks as spaces)
    assert done.returncode == 1 and "Django is not installed where migsafe runs" in " ".join(output.split()), output


@pytest.mark.slow
def test_local_hook_runs_in_the_projects_environment(sandbox, env):
    """The README's local hook: migsafe, Django and the project's own dependencies (here PyYAML,
    which the app's fields module imports) from the environment the commit runs in."""
    blocks = re.findall(r"```yaml\n(.*?)```", (REPO_ROOT / "README.md").read_text(), re.S)
    [config] = [b for b in blocks if "repo: local" in b]
    proj = django_project(sandbox / "local-hook", env, "import shop.fields", config)
    project_env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"}  # its virtualenv
    done = pre_commit(proj, project_env, "run", "--color", "never")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert DJANGO_FINDING in output and "not-analyzed" not in output

"""`--diff REF`: which files were added or changed since the merge base of REF and HEAD.

The engine still replays every migration found under the PATHs (the schema needs the whole
history); this module only says which of them to report.

What counts as changed, on purpose:

- committed since the merge base (`git merge-base REF HEAD`), the way a pull request shows it:
  what REF gained meanwhile is not ours to judge;
- plus what is not committed yet: staged and unstaged edits of tracked files, and untracked
  files that are not ignored. A developer who runs `migsafe check --diff main` before
  committing expects the new migration to be judged; a CI checkout has only commits, so there
  this adds nothing.
- added, modified, renamed (the new name), copied or changed in type; deleted files are gone and
  have nothing to judge. Renames are not detected separately: a renamed file is "added" under
  its new name, which is the same set of paths and cheaper on big repositories.

Every failure is a one-line UsageError (exit 2): git missing, not a repository, an unknown
REF, and a shallow clone whose history stops before the merge base (never "nothing changed").
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from migsafe.errors import UsageError

FETCH_HINT = "git fetch --unshallow, or actions/checkout with fetch-depth: 0"


def changed_since(ref: str, paths: list[Path], cwd: Path) -> set[Path]:
    """Resolved paths of the files added or changed since the merge base of `ref` and HEAD,
    in every git repository that holds one of `paths` (relative to `cwd`; default `cwd`).

    PATHs that do not exist are skipped here: discovery reports them.
    """
    if ref.startswith("-") or not ref.strip():
        raise UsageError(f"--diff {ref}: not a git revision")
    where = [Path(os.path.abspath(cwd / p)) for p in paths] or [cwd]
    tops: list[Path] = []
    for path in where:
        if not path.exists():
            continue
        folder = path if path.is_dir() else path.parent
        top = Path(_git(ref, folder, "rev-parse", "--show-toplevel", what="top").strip())
        if top not in tops:
            tops.append(top)

    changed: set[Path] = set()
    for top in tops:
        base = _merge_base(ref, top)
        # base vs the working tree: committed, staged and unstaged changes of tracked files.
        diff = _git(ref, top, "diff", "--name-only", "-z", "--no-ext-diff", "--no-renames",
                    "--diff-filter=ACMRT", base, "--")
        untracked = _git(ref, top, "ls-files", "-z", "--others", "--exclude-standard", "--full-name")
        for name in (diff + untracked).split("\0"):
            if name:
                changed.add((top / name).resolve())
    return changed


def _merge_base(ref: str, top: Path) -> str:
    head = _git(ref, top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", what="head").strip()
    commit = _git(ref, top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", what="ref").strip()
    shallow = _git(ref, top, "rev-parse", "--is-shallow-repository").strip() == "true"
    done = _run(top, "merge-base", commit, head)
    if done.returncode == 0 and done.stdout.strip():
        return done.stdout.strip()
    if done.returncode == 1 and not done.stderr.strip():  # git's "no common ancestor"
        if shallow:
            raise UsageError(f"--diff {ref}: no merge base with HEAD in this shallow clone; "
                             f"fetch more history ({FETCH_HINT})")
        raise UsageError(f"--diff {ref}: {ref} and HEAD have no common history")
    raise UsageError(f"--diff {ref}: git merge-base failed: {_first_line(done.stderr)}")


def _git(ref: str, cwd: Path, *args: str, what: str = "") -> str:
    done = _run(cwd, *args)
    if done.returncode == 0:
        return done.stdout
    message = _first_line(done.stderr)
    if what == "top":
        if "not a git repository" in message.lower():
            raise UsageError(f"--diff {ref}: {cwd} is not inside a git repository")
    elif what == "head":
        raise UsageError(f"--diff {ref}: HEAD has no commit yet in {cwd}; commit first")
    elif what == "ref":
        raise UsageError(f"--diff {ref}: unknown git revision {ref!r}{_fetch_ref_hint(ref, cwd)}")
    raise UsageError(f"--diff {ref}: git {args[0]} failed: {message or f'exit code {done.returncode}'}")


def _fetch_ref_hint(ref: str, top: Path) -> str:
    """CI checkouts often lack the base branch: say how to get it."""
    remotes = _run(top, "remote").stdout.split()
    remote, _, branch = ref.partition("/")
    if remote in remotes and branch:
        return f"; fetch it first (git fetch {remote} {branch}, or actions/checkout with fetch-depth: 0)"
    return "; check the name, or fetch it first"


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # No optional locks: `git diff` against the work tree must not take the index lock that a
    # concurrent git command (a commit running hooks) may hold.
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")
    try:
        return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True,
                              text=True, encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        raise UsageError("--diff needs git, and git is not installed (or not on PATH)") from None
    except OSError as e:
        raise UsageError(f"--diff: cannot run git: {e.strerror or e}") from None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""

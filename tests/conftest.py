"""Shared test helpers."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Before any fixture, module-scoped ones included: no test writes into the user's own cache
# (~/.cache/migsafe); tests/test_cache.py checks it. _own_empty_cache below gives each test a fresh one besides.
os.environ["MIGSAFE_CACHE_DIR"] = tempfile.mkdtemp(prefix="migsafe-test-cache-")

from fuzzgen import run_inprocess  # noqa: E402  (after the cache is set aside)


@pytest.fixture
def run_cli():
    """run_cli(args, cwd=None) -> (exit_code, stdout, stderr): migsafe.cli.main in-process."""

    def run(args: list[str], cwd: Path | str | None = None) -> tuple[int, str, str]:
        # StringIO is not a TTY, so the text report is never colored here.
        return run_inprocess(args, Path(cwd) if cwd is not None else Path.cwd())

    return run


REPO_ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE_SNAPSHOTS = os.environ.get("MIGSAFE_UPDATE_SNAPSHOTS") == "1"


def assert_snapshot(name: str, actual: str) -> None:
    """Compare `actual` with tests/snapshots/<name>; with MIGSAFE_UPDATE_SNAPSHOTS=1, write it.

    Snapshots are bytes on disk ("\\n" line ends, UTF-8), so a byte-level change shows up.
    """
    path = SNAPSHOTS / name
    if UPDATE_SNAPSHOTS:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
        return
    if not path.is_file():
        pytest.fail(f"snapshot {path.relative_to(REPO_ROOT)} is missing; "
                    f"run with MIGSAFE_UPDATE_SNAPSHOTS=1 to create it")
    expected = path.read_bytes().decode("utf-8")
    assert actual == expected, (
        f"output differs from snapshot {path.relative_to(REPO_ROOT)}; if the change is intended, "
        f"rerun with MIGSAFE_UPDATE_SNAPSHOTS=1 and review the diff"
    )


@pytest.fixture
def snapshot():
    """snapshot(name, actual): see assert_snapshot."""
    return assert_snapshot


@pytest.fixture(autouse=True)
def _own_empty_cache(tmp_path_factory, monkeypatch):
    """Each test starts with an empty result cache of its own, never the user's: a test that
    monkeypatches migsafe does not change the cache key, so another test's entry could answer."""
    monkeypatch.setenv("MIGSAFE_CACHE_DIR", str(tmp_path_factory.mktemp("migsafe-cache")))

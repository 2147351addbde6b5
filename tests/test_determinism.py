"""The same input gives byte-identical output (text and JSON) whatever the order of the PATHs,
the order files were created in, the hash seed, or (up to the paths themselves) the working
directory. For the SQL fixture fixtures/demo and the Alembic fixture fixtures/alembic_shop.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ("fixtures/demo", "fixtures/alembic_shop")
FORMATS = ("text", "json")


def cli(run_cli, args: list[str], cwd: Path) -> str:
    code, out, err = run_cli(["check", *args], cwd=cwd)
    assert code == 1 and err == "", err
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_path_order(run_cli, fmt):
    outputs = {cli(run_cli, [*order, "--format", fmt], REPO_ROOT) for order in itertools.permutations(
        [*FIXTURES, "fixtures/demo"])}  # a PATH given twice, too
    assert len(outputs) == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_order_of_single_files(run_cli, fmt):
    files = sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "fixtures/demo").glob("V*.sql"))
    revisions = sorted(str(p.relative_to(REPO_ROOT))
                       for p in (REPO_ROOT / "fixtures/alembic_shop/migrations/versions").glob("*.py"))
    orders = [files + revisions, revisions[::-1] + files[::-1], files[1::2] + revisions + files[::2]]
    assert len({cli(run_cli, [*order, "--format", fmt], REPO_ROOT) for order in orders}) == 1


def copy_tree(src: Path, dst: Path, reverse: bool) -> None:
    """Copy src to dst creating entries in sorted or reverse-sorted order (directory listings on
    many file systems follow creation order)."""
    entries = sorted(src.rglob("*"), reverse=reverse)
    for path in sorted((p for p in entries if p.is_dir()), key=lambda p: len(p.parts)):
        (dst / path.relative_to(src)).mkdir(parents=True, exist_ok=True)
    for path in entries:
        if path.is_file() and "__pycache__" not in path.parts:
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


@pytest.mark.parametrize("fmt", FORMATS)
def test_file_system_creation_order(run_cli, tmp_path, fmt):
    outputs = []
    for name, reverse in (("a", False), ("b", True)):
        root = tmp_path / name
        for fixture in FIXTURES:
            copy_tree(REPO_ROOT / fixture, root / fixture, reverse)
        if hasattr(os, "listdir"):
            listing = os.listdir(root / "fixtures/demo")
            assert sorted(listing) == sorted(os.listdir(REPO_ROOT / "fixtures/demo"))
        outputs.append(cli(run_cli, [*FIXTURES, "--format", fmt], root))
    assert outputs[0] == outputs[1]
    assert outputs[0] == cli(run_cli, [*FIXTURES, "--format", fmt], REPO_ROOT)  # and as in the repo


@pytest.mark.parametrize("fmt", FORMATS)
def test_hash_seed(fmt):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    env["PYTHONPATH"] = str(REPO_ROOT / "src")
    outputs = set()
    for seed in ("0", "1", "4242", "random"):
        proc = subprocess.run([sys.executable, "-m", "migsafe", "check", *FIXTURES, "--format", fmt],
                              cwd=REPO_ROOT, env={**env, "PYTHONHASHSEED": seed}, capture_output=True,
                              text=True, timeout=120)
        assert (proc.returncode, proc.stderr) == (1, ""), proc.stderr
        outputs.add(proc.stdout)
    assert len(outputs) == 1


def test_working_directory(run_cli):
    """From the repo root, from fixtures/ and from inside each fixture: the paths change by their
    prefix, nothing else does."""
    runs = {  # cwd -> (PATHs, prefix to put back in front of the reported paths)
        REPO_ROOT: (list(FIXTURES), ""),
        REPO_ROOT / "fixtures": (["demo", "alembic_shop"], "fixtures/"),
    }
    reports = []
    for cwd, (paths, prefix) in runs.items():
        for fmt in FORMATS:
            out = cli(run_cli, [*paths, "--format", fmt], cwd)
            if fmt == "json":
                report = json.loads(out)
                for f in report["findings"]:
                    f["path"] = prefix + f["path"]
                reports.append(json.dumps(report, sort_keys=True))
            else:
                text = "\n".join(prefix + line if line.startswith(("demo/", "alembic_shop/")) else line
                                 for line in out.split("\n"))
                reports.append(text)
    assert reports[0] == reports[2] and reports[1] == reports[3]
    # Inside one fixture, with "." as PATH: the same findings, paths relative to it.
    for fixture in FIXTURES:
        out = cli(run_cli, [".", "--format", "json"], REPO_ROOT / fixture)
        inside = json.loads(out)["findings"]
        for f in inside:
            f["path"] = f"{fixture}/{f['path']}"
        whole = [f for f in json.loads(reports[FORMATS.index("json")])["findings"] if f["path"].startswith(fixture + "/")]
        assert inside == whole


def test_second_run_in_one_process_is_identical(run_cli):
    """Module-level caches (parsed modules, tokenizer classes) never change a second report."""
    first = [cli(run_cli, [*FIXTURES, "--format", fmt], REPO_ROOT) for fmt in FORMATS]
    second = [cli(run_cli, [*FIXTURES, "--format", fmt], REPO_ROOT) for fmt in FORMATS]
    assert first == second

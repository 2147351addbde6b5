#!/usr/bin/env python3
"""Run migsafe on real SQL migration folders nobody here wrote, and summarise what it says.

Not part of the test suite (it downloads packages). Usage, from the repository root:

    .venv/bin/python scripts/real_corpora.py [--keep DIR]

Each corpus is a pinned package from a registry this machine reaches: its migration folder is
checked as a new user would (`migsafe check <folder> --format json`). The script prints, per
corpus, the number of migrations and statements, findings per rule, and every `not-analyzed`
finding in full (those are the ones to read first: SQL migsafe could not follow). It exits 1
when migsafe itself failed (exit 2) on any corpus.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

# (name, how to fetch, package spec, migration folder inside the unpacked package)
CORPORA = [
    ("procrastinate", "pypi", "procrastinate==3.10.0", "procrastinate/sql/migrations"),
    ("graphile-worker", "npm", "graphile-worker@0.17.3", "package/sql"),
]


def fetch(kind: str, spec: str, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    if kind == "pypi":
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(into), spec], check=True)
        for wheel in into.glob("*.whl"):
            zipfile.ZipFile(wheel).extractall(into)
    else:
        subprocess.run(["npm", "pack", spec, "--silent"], cwd=into, check=True, stdout=subprocess.DEVNULL)
        for tgz in into.glob("*.tgz"):
            with tarfile.open(tgz) as tar:
                tar.extractall(into, filter="data")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="download into this folder and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="migsafe-corpora-"))
    failed = False
    for name, kind, spec, folder in CORPORA:
        where = root / name
        if not (where / folder).is_dir():
            fetch(kind, spec, where)
        proc = subprocess.run([sys.executable, "-m", "migsafe", "check", folder, "--format", "json"],
                              cwd=where, capture_output=True, text=True)
        if proc.returncode == 2:
            print(f"{name}: migsafe failed: {proc.stderr.strip()}")
            failed = True
            continue
        report = json.loads(proc.stdout)
        counts = collections.Counter(f["rule"] for f in report["findings"])
        summary = report["summary"]
        print(f"{name} ({spec}): {summary['migrations']} migrations, {summary['statements']} statements,"
              f" {summary['findings']} findings")
        for rule, n in sorted(counts.items()):
            print(f"  {n:4d}  {rule}")
        for f in report["findings"]:
            if f["rule"] == "not-analyzed":
                print(f"  not-analyzed {f['path']}:{f['line']}: {f['message']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

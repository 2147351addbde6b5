#!/usr/bin/env python3
"""Run migsafe on the Django migrations of real apps, as a user would, and summarise what it says.

Not part of the test suite (it downloads wheels from PyPI). From the repository root:

    .venv/bin/python scripts/django_corpus.py [--only NAME,...] [--with-deps] [--no-exec] [--json FILE]

Corpora: Django's own contrib apps (from the Django installed next to this Python) and pinned
wheels of third-party apps (`APPS` below), fetched with `pip download --no-deps` into
`.corpus-cache/` (git ignores it; shared with benchmarks/corpus.py) and unpacked there. Each app
is checked with `migsafe check <package> --format json --no-cache` from the unpacked wheel, the
way a reviewer checks a project root.

Dependencies, decided: by default nothing of the apps is installed, only migsafe and Django (a
reviewer's CI checkout without the application's environment). A migration that imports a
package which is not there (wagtail's `modelcluster`, `taggit`, ...) is then what migsafe must
cope with: read statically where it can, else `not-analyzed` with the reason, which this script
groups and counts. `--with-deps` instead installs each app with its dependencies into its own
venv (`.corpus-cache/venvs/<name>`, with this checkout of migsafe) and runs that venv's
`migsafe`: never into the environment running this script. `--no-exec` checks with migsafe's
`--no-exec` (migrations read statically, no project code run).

Prints per app: migrations, analysed (migrations with no `not-analyzed` finding), not-analyzed
with the reasons grouped, findings by rule and wall time; then the totals. Exits 1 when migsafe
itself failed (exit 2) on any app.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from corpus import cause, fetch  # noqa: E402  (the Alembic corpus's download cache and reason grouping)

# (name, pip spec, top-level packages holding the app's migrations)
APPS = [
    ("wagtail", "wagtail==8.0.1", ["wagtail"]),
    ("django-allauth", "django-allauth==65.22.1", ["allauth"]),
    ("django-oscar", "django-oscar==4.2.1", ["oscar"]),
    ("django-taggit", "django-taggit==6.1.0", ["taggit"]),
    ("django-cms", "django-cms==5.1.3", ["cms", "menus"]),
    ("django-reversion", "django-reversion==6.4.0", ["reversion"]),
    ("django-celery-beat", "django-celery-beat==2.9.0", ["django_celery_beat"]),
    ("django-filer", "django-filer==3.6.0", ["filer"]),
]


def contrib() -> tuple[Path, list[str]]:
    """Django's contrib apps, from the Django this Python imports."""
    import django

    root = Path(django.__file__).resolve().parent
    return root, ["contrib"]


def deps_venv(name: str, spec: str, cache: Path) -> Path:
    """A venv of its own with the app, its dependencies and this checkout of migsafe; its bin/."""
    where = cache / "venvs" / name
    if not (where / "installed.done").exists():
        venv.create(where, with_pip=True)
        subprocess.run([where / "bin" / "python", "-m", "pip", "install", "-q", "-e", f"{REPO}[django]", spec],
                       check=True)
        (where / "installed.done").touch()
    return where / "bin"


def check_app(root: Path, packages: list[str], bin_dir: Path, extra: list[str]) -> dict:
    """`migsafe check` on the app's packages, from `root`; counts, reasons and the wall time."""
    command = [str(bin_dir / "migsafe"), "check", *packages, "--format", "json", "--no-cache", *extra]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=root, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        return {"crash": f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}", "seconds": seconds}
    report = json.loads(proc.stdout)
    if report["summary"]["migrations"] == 0:  # discovery found nothing: never a clean pass
        return {"crash": f"no migrations found: {proc.stderr.strip()[-300:]}", "seconds": seconds}
    not_analyzed = [f for f in report["findings"] if f["rule"] == "not-analyzed"]
    migrations = report["summary"]["migrations"]
    return {
        "crash": None,
        "seconds": seconds,
        "migrations": migrations,
        "analysed": migrations - len({f["path"] for f in not_analyzed}),
        "reasons": collections.Counter(cause(f["message"]) for f in not_analyzed),
        "examples": {cause(f["message"]): f"{f['path']}:{f['line']}" for f in not_analyzed},
        "by_rule": collections.Counter(f["rule"] for f in report["findings"]),
    }


def print_row(name: str, row: dict) -> None:
    if row["crash"]:
        print(f"{name}: CRASH ({row['seconds']:.1f} s): {row['crash']}")
        return
    share = 100 * row["analysed"] / max(row["migrations"], 1)
    print(f"{name}: {row['migrations']} migrations, {row['analysed']} analysed ({share:.1f}%),"
          f" {row['migrations'] - row['analysed']} not-analyzed, {row['seconds']:.1f} s")
    rules = ", ".join(f"{rule} {n}" for rule, n in sorted(row["by_rule"].items()))
    print(f"  findings: {rules or 'none'}")
    for reason, n in row["reasons"].most_common():
        print(f"  {n:5}  not-analyzed: {reason}  (e.g. {row['examples'][reason]})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=REPO / ".corpus-cache", help="download folder")
    parser.add_argument("--only", help="comma-separated app names (django-contrib for Django's own)")
    parser.add_argument("--with-deps", action="store_true", help="install each app's dependencies in a venv of its own")
    parser.add_argument("--no-exec", action="store_true", help="check with migsafe's --no-exec")
    parser.add_argument("--json", type=Path, help="also write the per-app results here")
    args = parser.parse_args()
    extra = ["--no-exec"] if args.no_exec else []
    args.cache.mkdir(parents=True, exist_ok=True)
    # An empty config at the top of the cache, so no migsafe config above it (this repo's) applies.
    (args.cache / "migsafe.toml").touch()
    only = set(args.only.split(",")) if args.only else None
    here = Path(sys.executable).parent  # the migsafe script installed next to this Python

    rows: dict[str, dict] = {}
    if not only or "django-contrib" in only:
        root, packages = contrib()
        rows["django-contrib"] = check_app(root, packages, here, extra)
        print_row("django-contrib", rows["django-contrib"])
    for name, spec, packages in APPS:
        if only and name not in only:
            continue
        bin_dir = deps_venv(name, spec, args.cache) if args.with_deps else here
        rows[name] = check_app(fetch(spec, args.cache), packages, bin_dir, extra)
        print_row(f"{name} ({spec})", rows[name])

    ok = [r for r in rows.values() if not r["crash"]]
    total = sum(r["migrations"] for r in ok)
    analysed = sum(r["analysed"] for r in ok)
    by_rule = sum((r["by_rule"] for r in ok), collections.Counter())
    print(f"\ntotal: {len(rows)} apps, {total} migrations, {analysed} analysed "
          f"({100 * analysed / max(total, 1):.1f}%), crashes: {len(rows) - len(ok)}, "
          f"{sum(r['seconds'] for r in rows.values()):.1f} s")
    print("  findings: " + (", ".join(f"{rule} {n}" for rule, n in sorted(by_rule.items())) or "none"))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=dict) + "\n", encoding="utf-8")
    return 1 if len(ok) < len(rows) else 0


if __name__ == "__main__":
    sys.exit(main())

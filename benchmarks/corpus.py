#!/usr/bin/env python3
"""Run migsafe over the Alembic revisions of real projects, and count how each was analysed.

Not part of the test suite (it downloads ~150 MB of wheels from PyPI). From the repository root:

    python benchmarks/corpus.py [--cache DIR] [--runs N] [--json FILE] [--only NAME,...]

Each project is a pinned wheel fetched with `pip download --no-deps` into the cache folder
(default `.corpus-cache/`, reused on later runs) and unpacked there. Each of its Alembic
`versions/` folders (listed below, with the dialect the project runs it on) is checked twice:

* in a child process (`corpus.py --measure`, so one project's imports never leak into the next),
  through the engine's own pieces (discover -> load_alembic_migrations -> analyze), to count per
  revision how it was read: rendered offline, read statically, or not analysed (the whole revision
  failed, some op call could not be read, or a rendered statement could not be parsed);
* as a user runs it, `migsafe check <folder> --dialect D --format json --no-cache` (the `migsafe`
  script installed next to this Python), N times (default 3): the wall time is the median of these
  runs (process start included), and its findings by rule are the ones printed. The two passes
  must agree on the findings; a difference is reported.

Prints one table row per project (its folders summed) and per folder, then the commonest reasons
for not-analysed, and writes the same as JSON with the reason and place of every not-analysed
revision or op (`--json FILE`). Exits 1 when migsafe crashed (exit 2, or an exception in the
measuring pass) on any folder.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

# (name, pip spec, [(versions folder inside the unpacked wheel, dialect it runs on)]).
# Projects that support several databases are checked as PostgreSQL; zenml's revisions are
# MySQL SQL; prefect keeps one history per database.
PROJECTS = [
    ("mlflow", "mlflow==3.18.0", [
        ("mlflow/store/db_migrations/versions", "postgresql"),
        ("mlflow/server/auth/db/migrations/versions", "postgresql"),
    ]),
    ("apache-superset", "apache-superset==6.1.0", [("superset/migrations/versions", "postgresql")]),
    ("apache-airflow-core", "apache-airflow-core==3.3.2", [("airflow/migrations/versions", "postgresql")]),
    ("prefect", "prefect==3.9.1", [
        ("prefect/server/database/_migrations/versions/postgresql", "postgresql"),
        ("prefect/server/database/_migrations/versions/sqlite", "sqlite"),
    ]),
    ("dagster", "dagster==1.13.29", [("dagster/_core/storage/alembic/versions", "postgresql")]),
    ("ckan", "ckan==2.12.0", [
        ("ckan/migration/versions", "postgresql"),
        ("ckanext/activity/migration/activity/versions", "postgresql"),
        ("ckanext/tracking/migration/tracking/versions", "postgresql"),
    ]),
    ("optuna", "optuna==5.0.0", [("optuna/storages/_rdb/alembic/versions", "postgresql")]),
    ("zenml", "zenml==0.98.0", [("zenml/zen_stores/migrations/versions", "mysql")]),
]

REPO = Path(__file__).resolve().parent.parent


def fetch(spec: str, cache: Path) -> Path:
    """The unpacked wheel of `spec` (downloaded and unpacked once)."""
    where = cache / spec.replace("==", "-")
    unpacked = where / "unpacked"
    if not (where / "unpacked.done").exists():
        where.mkdir(parents=True, exist_ok=True)
        pip = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                              "-q", "-d", str(where), spec], capture_output=True, text=True)
        if pip.returncode != 0:
            sys.exit(f"pip download {spec} failed:\n{pip.stderr}")
        wheel = next(where.glob("*.whl"))
        zipfile.ZipFile(wheel).extractall(unpacked)
        (where / "unpacked.done").touch()
    return unpacked


def measure(folder: str, dialect: str) -> dict:
    """Run in a child process, with the unpacked wheel as working directory: every revision of
    `folder` through the engine, and how it was read."""
    from migsafe.config import Settings
    from migsafe.discover import discover
    from migsafe.engine import analyze
    from migsafe.sources.alembic import load_alembic_migrations

    cwd = Path.cwd()
    started = time.perf_counter()
    found = discover([Path(folder)], [], cwd)
    if len(found.alembic) != 1:
        raise RuntimeError(f"{folder}: expected one Alembic project, discovery found {len(found.alembic)}")
    project = found.alembic[0]
    located = load_alembic_migrations(project.version_dirs, project.root, cwd, dialect, None)
    migrations = [m for m, _ in located]
    result = analyze(migrations, Settings(dialect=dialect), files=len(migrations))
    elapsed = time.perf_counter() - started
    unparsed = collections.defaultdict(list)
    for f in result.findings:
        if f.rule == "not-analyzed" and f.message.startswith("Could not parse"):
            unparsed[f.path].append([f.span.line, f.message])
    revisions = []
    for m in migrations:
        revisions.append({
            "path": m.path, "how": "failed" if m.error else m.how,
            "error": [m.error_line, m.error] if m.error else None,
            "unreadable": [list(u) for u in m.unreadable], "unparsed": unparsed.get(m.path, []),
        })
    return {"revisions": revisions, "seconds": elapsed,
            "findings": [{"rule": f.rule, "path": f.path, "line": f.span.line, "message": f.message,
                          "statement": f.statement} for f in result.findings]}


def check_folder(unpacked: Path, folder: str, dialect: str, runs: int) -> dict:
    row: dict = {"folder": folder, "dialect": dialect, "crash": None}
    child = subprocess.run([sys.executable, __file__, "--measure", folder, dialect],
                           cwd=unpacked, capture_output=True, text=True)
    if child.returncode != 0:
        row["crash"] = f"measuring pass: {(child.stderr.strip().splitlines() or ['no output'])[-1]}"
        return row
    measured = json.loads(child.stdout)
    revs = measured["revisions"]
    row["revisions"] = len(revs)
    row["rendered"] = sum(r["how"] == "rendered" for r in revs)
    row["static"] = sum(r["how"] == "static" for r in revs)
    row["failed"] = sum(r["how"] == "failed" for r in revs)
    row["with_unreadable"] = sum(r["how"] != "failed" and bool(r["unreadable"]) for r in revs)
    row["with_unparsed"] = sum(r["how"] != "failed" and not r["unreadable"] and bool(r["unparsed"]) for r in revs)
    row["not_analyzed"] = row["failed"] + row["with_unreadable"] + row["with_unparsed"]
    row["not_analyzed_revisions"] = [r for r in revs if r["how"] == "failed" or r["unreadable"] or r["unparsed"]]
    row["findings"] = measured["findings"]
    in_process = collections.Counter(f["rule"] for f in measured["findings"])

    times, cli_rules = [], None
    # The installed `migsafe` script, as users run it: `python -m migsafe` would also put the
    # working directory (the unpacked wheel) on sys.path, so the project's imports would resolve.
    command = [str(Path(sys.executable).parent / "migsafe"), "check", folder, "--dialect", dialect, "--format",
               "json", "--no-cache"]
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=unpacked, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if proc.returncode not in (0, 1):
            row["crash"] = f"migsafe check exited {proc.returncode}: {proc.stderr.strip()[-500:]}"
            return row
        cli_rules = collections.Counter(f["rule"] for f in json.loads(proc.stdout)["findings"])
    row["seconds"] = statistics.median(times)
    row["runs"] = runs
    row["findings_by_rule"] = dict(sorted(cli_rules.items()))
    if cli_rules != in_process:
        row["mismatch"] = f"CLI findings {dict(cli_rules)} != in-process findings {dict(in_process)}"
    return row


COUNTS = ("revisions", "rendered", "static", "failed", "with_unreadable", "with_unparsed", "not_analyzed")


def total(name: str, rows: list[dict]) -> dict:
    out: dict = {"folder": name, "crash": "; ".join(r["crash"] for r in rows if r["crash"]) or None}
    if out["crash"]:
        return out
    for key in COUNTS + ("seconds",):
        out[key] = sum(r[key] for r in rows)
    out["findings_by_rule"] = dict(sorted(sum((collections.Counter(r["findings_by_rule"]) for r in rows),
                                              collections.Counter()).items()))
    return out


def print_table(summary: list[dict], runs: int) -> None:
    head = ["project / folder", "revs", "rendered", "static", "failed", "unread.", "unparsed", "not-an.",
            "analysed", "time s"]
    print(f"{head[0]:<58}" + "".join(f"{h:>10}" for h in head[1:]))
    for project in summary:
        for row in [project["total"]] + (project["folders"] if len(project["folders"]) > 1 else []):
            label = row["folder"] if row is project["total"] else "  " + row["folder"]
            if row["crash"]:
                print(f"{label:<58} CRASH: {row['crash']}")
                continue
            share = 100 * (row["revisions"] - row["not_analyzed"]) / max(row["revisions"], 1)
            cells = [row[k] for k in COUNTS] + [f"{share:.1f}%", f"{row['seconds']:.2f}"]
            print(f"{label[:58]:<58}" + "".join(f"{c:>10}" for c in cells))
        if not project["total"]["crash"]:
            rules = ", ".join(f"{k} {v}" for k, v in project["total"]["findings_by_rule"].items())
            print(f"{'':<4}findings: {rules or 'none'}")
    ok = [p["total"] for p in summary if not p["total"]["crash"]]
    revs = sum(r["revisions"] for r in ok)
    bad = sum(r["not_analyzed"] for r in ok)
    print(f"\nall: {revs} revisions, {revs - bad} analysed ({100 * (revs - bad) / max(revs, 1):.1f}%), "
          f"crashes: {sum(1 for p in summary if p['total']['crash'])}; time = median of {runs} runs of "
          f"`migsafe check <folder>` (per project: the sum over its folders)")


def cause(reason: str) -> str:
    """A not-analysed reason with its names blanked, so alike reasons count together."""
    reason = reason.split("; reading it without running it failed too: ")[-1]  # the static reader's word
    reason = re.sub(r"^[\w.]+(\(\))? is ", r"NAME\1 is ", reason)
    reason = re.sub(r"(calls|arguments of|value of|attribute) [\w.]+", r"\1 NAME", reason)
    reason = re.sub(r"'[^']*'|<[^>]*>|\([^)]*\)$", "…", reason)
    return reason[:110]


def print_causes(summary: list[dict], top: int = 12) -> None:
    """The commonest reasons a revision (or an op call in it) was not analysed, with one place each."""
    seen: dict[str, list] = collections.defaultdict(list)
    for project in summary:
        for row in project["folders"]:
            for rev in row.get("not_analyzed_revisions", []):
                places = ([rev["error"]] if rev["error"] else []) + rev["unreadable"] + rev["unparsed"]
                for line, reason in places:
                    seen[cause(reason)].append((project["project"], f"{rev['path']}:{line}"))
    print(f"\ntop causes of not-analysed (op calls or whole revisions; {sum(map(len, seen.values()))} in all):")
    for reason, where in sorted(seen.items(), key=lambda kv: -len(kv[1]))[:top]:
        projects = collections.Counter(p for p, _ in where)
        print(f"{len(where):6}  {reason}\n        {dict(projects)}  e.g. {where[0][1]}")


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        json.dump(measure(sys.argv[2], sys.argv[3]), sys.stdout)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=REPO / ".corpus-cache", help="download folder")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of migsafe check per folder")
    parser.add_argument("--json", type=Path, help="also write the results (with every not-analysed reason) here")
    parser.add_argument("--only", help="comma-separated project names")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    # An empty config at the top of the cache, so no migsafe config above it (this repo's) applies.
    (args.cache / "migsafe.toml").touch()
    only = set(args.only.split(",")) if args.only else None
    summary = []
    for name, spec, folders in PROJECTS:
        if only and name not in only:
            continue
        unpacked = fetch(spec, args.cache)
        rows = [check_folder(unpacked, folder, dialect, args.runs) for folder, dialect in folders]
        for row in rows:
            if row.get("mismatch"):
                print(f"warning: {name} {row['folder']}: {row['mismatch']}", file=sys.stderr)
        summary.append({"project": name, "spec": spec, "total": total(name, rows), "folders": rows})
    print_table(summary, args.runs)
    print_causes(summary)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return 1 if any(p["total"]["crash"] for p in summary) else 0


if __name__ == "__main__":
    sys.exit(main())

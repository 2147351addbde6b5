#!/usr/bin/env python3
"""Run migsafe over the Alembic revisions of real projects, and count how each was analysed.

Not part of the test suite (it downloads ~290 MB of wheels from PyPI). From the repository root:

    python benchmarks/corpus.py [--cache DIR] [--runs N] [--json FILE] [--only NAME,...]

Each project is a pinned wheel fetched with `pip download --no-deps` into the cache folder
(default `.corpus-cache/`, reused on later runs) and unpacked there. Each of its Alembic folders
(listed below, with the dialect the project runs it on) is checked three ways:

* in a child process (`corpus.py --measure`, so one project's imports never leak into the next),
  through the engine's own pieces (discover -> load_alembic_migrations -> analyze), to count per
  revision how it was read: rendered offline, read statically, or not analysed (the whole revision
  failed, some op call could not be read, or a rendered statement could not be parsed); and,
  without migsafe, the files Alembic itself would load there (`files_on_disk`);
* as a user runs it, `migsafe check <folder> --dialect D --format json --no-cache` (the `migsafe`
  script installed next to this Python), N times (default 3): the wall time is the median of these
  runs (process start included), and its findings by rule are the ones printed. The two passes
  must agree on the findings and the count; a difference is reported;
* once more with `--no-exec`: a finding it reports on a revision that the default mode does not,
  where the default mode says nothing there either, is a silent miss (`silent_misses`).

Prints one table row per project (its folders summed) and per folder, then the commonest reasons
for not-analysed and the silent misses grouped, and writes the same as JSON with the reason and
place of every not-analysed revision or op and every silent miss (`--json FILE`). Exits 1 when
migsafe crashed (exit 2, or an exception in the measuring pass) on any folder.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

# (name, pip spec, [(folder inside the unpacked wheel, dialect it runs on)]). The folder is what a
# user would check: the one holding alembic.ini (or env.py and versions/) where the project has one,
# else the versions folder (the first eight, as bench.py times them). Projects that support several
# databases are checked on the one they are mostly run on: PostgreSQL, except mindsdb and pgadmin4
# (SQLite by default, revisions written as batch operations) and the OpenStack projects (MySQL);
# zenml's revisions are MySQL SQL; prefect keeps one history per database.
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
    ("arize-phoenix", "arize-phoenix==20.26.1", [("phoenix/db/migrations", "postgresql")]),  # not db/: ddl/*.sql dumps
    ("mindsdb", "mindsdb==26.1.0", [("mindsdb/migrations", "sqlite")]),
    ("lemur", "lemur==1.9.3", [("lemur/migrations", "postgresql")]),  # Flask-Migrate: env.py, no alembic.ini
    ("pgadmin4", "pgadmin4==9.18", [("pgadmin4/migrations", "sqlite")]),
    ("nova", "nova==34.0.0", [("nova/db/api", "mysql"), ("nova/db/main", "mysql")]),
    ("cinder", "cinder==29.0.0", [("cinder/db", "mysql")]),
    ("glance", "glance==33.0.0", [("glance/db/sqlalchemy/alembic_migrations", "mysql")]),  # expand/contract
    ("ironic", "ironic==39.0.0", [("ironic/db/sqlalchemy", "mysql")]),
    ("octavia", "octavia==19.0.0", [("octavia/db/migration", "mysql")]),
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


REVISION_FILE = re.compile(r"(?!\.#|__init__)(.*\.py)$")  # alembic/script/base.py's _only_source_rev_file


def files_on_disk(folder: Path) -> list[str]:
    """The revision files Alembic itself would load for `folder` (a versions folder, or a project
    folder holding alembic.ini or env.py and versions/), found without migsafe: the version
    locations as Alembic's ScriptDirectory reads them (alembic.ini's script_location,
    version_locations, recursive_version_locations), then every file there that Alembic's own
    pattern takes (`*.py` but `__init__.py`; sourceless projects are not in the corpus)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    ini = folder / "alembic.ini"
    if ini.is_file() and Config(str(ini)).get_main_option("script_location"):
        script = ScriptDirectory.from_config(Config(str(ini)))
    elif (folder / "versions").is_dir():
        script = ScriptDirectory(str(folder))  # env.py and versions/ (Flask-Migrate; alembic.ini without it)
    else:  # a versions folder
        return sorted(os.path.realpath(p) for p in folder.iterdir() if REVISION_FILE.match(p.name))
    found = set()
    for location in script._version_locations:  # absolute, package:path resolved (Alembic's property)
        walk = os.walk(location) if script.recursive_version_locations else [
            (location, [], os.listdir(location) if os.path.isdir(location) else [])]
        for where, _, names in walk:
            found.update(os.path.realpath(os.path.join(where, n)) for n in names if REVISION_FILE.match(n))
    return sorted(found)


def measure(folder: str, dialect: str) -> dict:
    """Run in a child process, with the unpacked wheel as working directory: every revision of
    `folder` through the engine, and how it was read; and the files Alembic would load."""
    from migsafe.config import Settings
    from migsafe.discover import discover
    from migsafe.judge import analyze
    from migsafe.sources.alembic.load import load_alembic_migrations
    from migsafe.sources.files import real_path

    cwd = Path.cwd()
    started = time.perf_counter()
    found = discover([Path(folder)], [], cwd)
    if not found.of("alembic"):
        raise RuntimeError(f"{folder}: discovery found no Alembic project")
    migrations = []
    for project in found.of("alembic"):  # as engine.check does: a project beside `folder` is replayed, not reported
        for m, path in load_alembic_migrations(project.version_dirs, project.root, cwd, dialect, None,
                                               sourceless=project.sourceless):
            m.report = m.report and (found.report_only is None or real_path(path) in found.report_only)
            migrations.append(m)
    result = analyze(migrations, Settings(dialect=dialect), files=sum(m.report for m in migrations))
    migrations = [m for m in migrations if m.report]
    elapsed = time.perf_counter() - started
    os.chdir(folder)  # a relative script_location is relative to where `alembic` runs: next to alembic.ini
    on_disk = [os.path.relpath(f, cwd) for f in files_on_disk(Path.cwd())]
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
    return {"revisions": revisions, "seconds": elapsed, "on_disk": on_disk,
            "findings": [{"rule": f.rule, "path": f.path, "line": f.span.line, "message": f.message,
                          "statement": f.statement} for f in result.findings]}


def run_check(unpacked: Path, folder: str, dialect: str, *extra: str) -> tuple[float, dict | str]:
    """`migsafe check <folder>` as a user runs it: its wall time and its JSON report, or why it
    crashed. The installed `migsafe` script: `python -m migsafe` would also put the working
    directory (the unpacked wheel) on sys.path, so the project's imports would resolve."""
    command = [str(Path(sys.executable).parent / "migsafe"), "check", folder, "--dialect", dialect, "--format",
               "json", "--no-cache", *extra]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=unpacked, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        return seconds, f"migsafe check {' '.join(extra)} exited {proc.returncode}: {proc.stderr.strip()[-500:]}"
    return seconds, json.loads(proc.stdout)


def silent_misses(no_exec: list[dict], default: list[dict], revisions: list[dict]) -> tuple[list[dict], list[dict]]:
    """Findings `--no-exec` reports that the default mode does not: (silent, told). Told: the default
    mode said `not-analyzed` at that line, or of the whole revision; silent: it said nothing."""
    said = {(f["rule"], f["path"], f["line"]) for f in default}
    unread_lines = {(f["path"], f["line"]) for f in default if f["rule"] == "not-analyzed"}
    how = {r["path"]: r["how"] for r in revisions}
    silent, told = [], []
    for f in no_exec:
        if f["rule"] == "not-analyzed" or (f["rule"], f["path"], f["line"]) in said:
            continue
        elsewhere = sorted(d["line"] for d in default if (d["rule"], d["path"]) == (f["rule"], f["path"]))
        miss = {"rule": f["rule"], "path": f["path"], "line": f["line"], "message": f["message"],
                "default_how": how.get(f["path"]), "default_same_rule_at": elsewhere}
        wholly_unread = how.get(f["path"]) == "failed"
        (told if wholly_unread or (f["path"], f["line"]) in unread_lines else silent).append(miss)
    return silent, told


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
    row["on_disk"] = len(measured["on_disk"])
    row["not_counted"] = sorted(set(measured["on_disk"]) - {r["path"] for r in revs})
    row["rendered"] = sum(r["how"] == "rendered" for r in revs)
    row["static"] = sum(r["how"] == "static" for r in revs)
    row["failed"] = sum(r["how"] == "failed" for r in revs)
    row["with_unreadable"] = sum(r["how"] != "failed" and bool(r["unreadable"]) for r in revs)
    row["with_unparsed"] = sum(r["how"] != "failed" and not r["unreadable"] and bool(r["unparsed"]) for r in revs)
    row["not_analyzed"] = row["failed"] + row["with_unreadable"] + row["with_unparsed"]
    row["not_analyzed_revisions"] = [r for r in revs if r["how"] == "failed" or r["unreadable"] or r["unparsed"]]
    row["findings"] = measured["findings"]
    in_process = collections.Counter(f["rule"] for f in measured["findings"])

    times = []
    for _ in range(runs):
        seconds, report = run_check(unpacked, folder, dialect)
        if isinstance(report, str):
            row["crash"] = report
            return row
        times.append(seconds)
    _, static_report = run_check(unpacked, folder, dialect, "--no-exec")
    if isinstance(static_report, str):
        row["crash"] = static_report
        return row
    row["seconds"] = statistics.median(times)
    row["runs"] = runs
    row["cli_migrations"] = report["summary"]["migrations"]
    cli_rules = collections.Counter(f["rule"] for f in report["findings"])
    row["findings_by_rule"] = dict(sorted(cli_rules.items()))
    row["mismatch"] = "; ".join(
        ([f"CLI findings {dict(cli_rules)} != in-process findings {dict(in_process)}"] if cli_rules != in_process
         else []) + ([f"the CLI's summary counts {row['cli_migrations']} migrations, the engine {row['revisions']}"]
                     if row["cli_migrations"] != row["revisions"] else []))
    flat = [{"rule": f["rule"], "path": f["path"], "line": f["line"], "message": f["message"]}
            for f in report["findings"]]
    no_exec = [{"rule": f["rule"], "path": f["path"], "line": f["line"], "message": f["message"]}
               for f in static_report["findings"]]
    row["findings_no_exec"] = len(no_exec)
    row["silent_misses"], row["told_misses"] = silent_misses(no_exec, flat, revs)
    row["silent"] = len(row["silent_misses"])
    return row


COUNTS = ("revisions", "on_disk", "rendered", "static", "failed", "with_unreadable", "with_unparsed",
          "not_analyzed", "silent")


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
    head = ["project / folder", "revs", "on disk", "rendered", "static", "failed", "unread.", "unparsed",
            "not-an.", "analysed", "time s", "silent"]
    print(f"{head[0]:<50}" + "".join(f"{h:>9}" for h in head[1:]))
    for project in summary:
        for row in [project["total"]] + (project["folders"] if len(project["folders"]) > 1 else []):
            label = row["folder"] if row is project["total"] else "  " + row["folder"]
            if row["crash"]:
                print(f"{label:<50} CRASH: {row['crash']}")
                continue
            share = 100 * (row["revisions"] - row["not_analyzed"]) / max(row["revisions"], 1)
            cells = [row[k] for k in COUNTS[:-1]] + [f"{share:.1f}%", f"{row['seconds']:.2f}", row["silent"]]
            print(f"{label[-50:]:<50}" + "".join(f"{c:>9}" for c in cells))
        if not project["total"]["crash"]:
            rules = ", ".join(f"{k} {v}" for k, v in project["total"]["findings_by_rule"].items())
            print(f"{'':<4}findings: {rules or 'none'}")
            for row in project["folders"]:
                for path in row["not_counted"]:
                    print(f"{'':<4}not counted (on disk, not in migsafe's revisions): {path}")
    ok = [p["total"] for p in summary if not p["total"]["crash"]]
    revs = sum(r["revisions"] for r in ok)
    bad = sum(r["not_analyzed"] for r in ok)
    print(f"\nall: {revs} revisions ({sum(r['on_disk'] for r in ok)} on disk), {revs - bad} analysed "
          f"({100 * (revs - bad) / max(revs, 1):.1f}%), crashes: {sum(1 for p in summary if p['total']['crash'])}, "
          f"silent misses: {sum(r['silent'] for r in ok)}; time = median of {runs} runs of "
          f"`migsafe check <folder>` (per project: the sum over its folders)")


def print_silent(summary: list[dict], top: int = 12) -> None:
    """The silent misses grouped by rule, by how the default mode read the revision, and by whether it
    reported the same rule at another line of it (a finding moved, not lost), one place each."""
    seen: dict[str, list] = collections.defaultdict(list)
    for project in summary:
        for row in project["folders"]:
            for m in row.get("silent_misses", []):
                moved = "same rule at another line" if m["default_same_rule_at"] else "rule absent"
                seen[f"{m['rule']}, {m['default_how']} by default, {moved}"].append(
                    (project["project"], f"{m['path']}:{m['line']}"))
    if not seen:
        return
    print(f"\nsilent misses (--no-exec reports, the default mode does not; {sum(map(len, seen.values()))} in all):")
    for group, where in sorted(seen.items(), key=lambda kv: -len(kv[1]))[:top]:
        projects = collections.Counter(p for p, _ in where)
        print(f"{len(where):6}  {group}\n        {dict(projects)}  e.g. {where[0][1]}")


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


def print_rule_counts(by_project: dict[str, dict[str, int]], top: int = 4) -> None:
    """Findings per rule over the corpus: the total, how many projects have any, and the projects
    with the most. Every rule migsafe has is listed, those the corpus never hits with 0, so a new
    rule's count is there to read. `by_project`: each project's findings by rule (its JSON reports)."""
    from migsafe.rules import default_severities

    counts = {rule: collections.Counter() for rule in default_severities()}
    for project, rules in by_project.items():
        for rule, n in rules.items():
            counts.setdefault(rule, collections.Counter())[project] += n
    print(f"\nfindings per rule over {len(by_project)} projects (total, projects with any, the most):")
    for rule, where in sorted(counts.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])):
        most = ", ".join(f"{p} {n}" for p, n in where.most_common(top))
        print(f"  {rule:<34}{sum(where.values()):>6}{len(where):>4}  {most}")


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
    print_rule_counts({p["project"]: p["total"].get("findings_by_rule", {}) for p in summary})
    print_causes(summary)
    print_silent(summary)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return 1 if any(p["total"]["crash"] for p in summary) else 0


if __name__ == "__main__":
    sys.exit(main())

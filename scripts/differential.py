#!/usr/bin/env python3
"""Offline rendering against what really runs: the corpora's migrations both ways, per project.

Not part of the test suite (it uses the corpora's download cache and a database server). From the
repository root:

    .venv/bin/python scripts/differential.py [--database URL|embedded] [--only NAME,...] [--json FILE]

For each project of the Alembic corpus (benchmarks/corpus.py, its PostgreSQL folders) and of the
Django corpus (scripts/django_corpus.py; each app in its own venv with its dependencies,
`.corpus-cache/venvs/<name>`, with its settings, where that venv exists, else this Python with ad
hoc settings), in a child process of that Python (one project's imports never meet the next's):

* offline: the migrations as `migsafe check` reads them (load_alembic_migrations /
  load_django_migrations), judged;
* online: the same applied on a fresh scratch database by the framework's own runner
  (database/alembic_online.py, django_online.py), judged the same way.

Per migration, the statements are compared as multisets (whitespace folded; offline BEGIN/COMMIT,
which online are the driver's transaction state, left out), and the findings as (rule, line).
Each difference gets a cause:

  rendering        the same statement written differently (literals, quoting, case): paired up
  run-python       a Django RunPython's statements (offline never runs Python code), also of an
                   operation subclassing it (rows written where offline has no statement at that line)
  data-dependent   SQL offline could not see because it depends on rows or on what the database
                   holds (a line offline marked unreadable, or a migration it read statically)
  offline-failed   offline could not analyse the migration (not-analyzed)
  offline-history  a finding where an earlier migration offline could not read whole: the schema
                   offline replays is partial (statements are never put down to this)
  online-failed    the database refused the migration or one before it (not run)
  follows-sql      a finding only one side has, on a line where the statements differ
  unexplained      none of these: a bug of one side, to look at

Prints one row per project and the differences by cause, with examples of the unexplained ones.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / ".corpus-cache"


# --- the parent: which projects, which Python --------------------------------------------------

def alembic_projects(only: set[str], with_deps: bool) -> list[dict]:
    """The corpus's PostgreSQL folders; with_deps: each project in a venv of its own with its
    dependencies (`.corpus-cache/venvs/alembic-<name>`, made by django_corpus.deps_venv), as
    revisions that import the application need it to run at all."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    sys.path.insert(0, str(REPO / "scripts"))
    from corpus import PROJECTS, fetch
    from django_corpus import App, deps_venv

    out = []
    for name, spec, folders in PROJECTS:
        if only and name not in only:
            continue
        root = fetch(spec, CORPUS)
        paths = [str(root / folder) for folder, dialect in folders if dialect == "postgresql"]
        if not paths:
            continue
        python = sys.executable
        if with_deps:
            try:
                python = str(deps_venv(App(f"alembic-{name}", spec, ()), root)[0] / "python")
            except RuntimeError as err:
                print(f"{name}: no venv with its dependencies ({err}); this Python instead", file=sys.stderr)
        out.append({"name": name, "kind": "alembic", "root": str(root), "paths": paths, "python": python, "env": {}})
    return out


def django_projects(only: set[str]) -> list[dict]:
    sys.path.insert(0, str(REPO / "scripts"))
    from django_corpus import APPS, CONTRIB, contrib_root, fetch, migration_files, settings_env

    out = []
    for app in [CONTRIB, *APPS]:
        if only and app.name not in only:
            continue
        root = contrib_root() if app is CONTRIB else fetch(app.spec, CORPUS)
        venv = CORPUS / "venvs" / app.name / "bin" / "python"
        python, env = sys.executable, {}
        if app is not CONTRIB and venv.exists():
            python = str(venv)
            env, _ = settings_env(app, root)
        disk = {str(p.relative_to(root)) for p in migration_files(root, app.packages)}
        named = [p for p in app.packages if any(f.startswith(f"{p}/") for f in disk)]
        out.append({"name": app.name, "kind": "django", "root": str(root), "paths": [str(root / p) for p in named],
                    "python": python, "env": env})
    return out


def run_project(project: dict, database: str, timeout: float, migration_timeout: float) -> dict:
    env = {**os.environ, **project["env"]}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as cache:
        env["MIGSAFE_CACHE_DIR"] = cache
        spec = json.dumps({**project, "database": database, "cache": cache, "migration_timeout": migration_timeout})
        started = time.perf_counter()
        try:
            proc = subprocess.run([project["python"], str(Path(__file__).resolve()), "--measure", spec],
                                  cwd=project["root"], env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"name": project["name"], "crash": f"took longer than {timeout:.0f} s"}
    if proc.returncode != 0 or not proc.stdout.strip():
        return {"name": project["name"], "crash": (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]}
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["seconds"] = time.perf_counter() - started
    return row


# --- the child: one project both ways ----------------------------------------------------------

def measure(spec: dict) -> dict:
    from migsafe.config import load_settings
    from migsafe.database.scratch import open_scratch
    from migsafe.discover import discover
    from migsafe.judge import analyze
    from migsafe.rules import default_severities

    cwd = Path.cwd()
    found = discover([Path(p) for p in spec["paths"]], [], cwd)
    settings = load_settings(None, {}, set(default_severities()))
    dialect = "postgresql"
    runs = []  # (offline migrations, online migrations, online seconds)
    for project in found.of("alembic"):
        from migsafe.database.alembic_online import run_alembic
        from migsafe.sources.alembic.load import load_alembic_migrations

        offline = [m for m, _ in load_alembic_migrations(project.version_dirs, project.root, cwd, dialect, None,
                                                         sourceless=project.sourceless)]
        with open_scratch(spec["database"], Path(spec["cache"])) as scratch:
            started = time.perf_counter()
            online = [m for m, _ in run_alembic(project.version_dirs, project.root, cwd, dialect, None,
                                                scratch.url.render_as_string(hide_password=False),
                                                sourceless=project.sourceless, timeout=spec["migration_timeout"])]
            runs.append((offline, online, time.perf_counter() - started))
    if found.of("django"):
        from migsafe.database.django_online import run_django
        from migsafe.sources.django.lanes import load_django_migrations

        module = os.environ.get("DJANGO_SETTINGS_MODULE") or None
        offline = [m for m, _ in load_django_migrations(found.of("django"), cwd, dialect, (), settings_module=module)]
        with open_scratch(spec["database"], Path(spec["cache"])) as scratch:
            started = time.perf_counter()
            online = [m for m, _ in run_django(found.of("django"), cwd, dialect, (), scratch.django_database(),
                                               settings_module=module, timeout=spec["migration_timeout"])]
            runs.append((offline, online, time.perf_counter() - started))
    row = {"name": spec["name"], "kind": spec["kind"], "crash": None, "migrations": 0, "statements_offline": 0,
           "statements_online": 0, "online_failed": [], "online_seconds": 0.0,
           "missed": collections.Counter(), "invented": collections.Counter(),
           "only_offline": collections.Counter(), "only_online": collections.Counter(), "examples": [],
           "renderings": []}
    for offline, online, seconds in runs:
        row["online_seconds"] += seconds
        judged_offline = findings_by_migration(analyze(iter(offline), settings).findings)
        judged_online = findings_by_migration(analyze(iter(online), settings).findings)
        compare(offline, online, judged_offline, judged_online, row)
    return row


def findings_by_migration(findings) -> dict[str, collections.Counter]:
    out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for f in findings:
        out[f.migration][(f.rule, f.span.line)] += 1
    return out


def folded(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip().rstrip(";").strip()


def loose(sql: str) -> str:
    """The statement with what rendering may vary left out: quotes, case, literal spelling."""
    text = folded(sql).lower().replace('"', "").replace("`", "")
    text = re.sub(r"::\w+( with(out)? time zone)?", "", text)  # (casts SQLAlchemy writes after bound values)
    text = re.sub(r"'(?:[^']|'')*'", "?", text)
    return re.sub(r"\b\d+(\.\d+)?\b", "?", text)


def compare(offline: list, online: list, judged_offline: dict, judged_online: dict, row: dict) -> None:
    online_by = {(m.source, m.name): m for m in online}
    known = {(m.source, m.name) for m in offline}
    row["online_failed"] += [f"{m.name}: {m.error}"[:200] for m in online  # (the settings' note)
                             if (m.source, m.name) not in known and m.error]
    gaps_before = False  # an earlier migration offline could not read whole: its replayed schema is partial
    for off in offline:
        gaps, gaps_before = gaps_before, gaps_before or off.error is not None or bool(off.unreadable)
        if not off.report:
            continue
        on = online_by.get((off.source, off.name))
        row["migrations"] += 1
        if on is None:
            continue
        ours = [s for s in off.statements if folded(s.sql).upper() not in ("BEGIN", "COMMIT")]
        row["statements_offline"] += len(ours)
        row["statements_online"] += len(on.statements)
        if on.error is not None:
            row["online_failed"].append(f"{on.name}: {on.error}"[:200])
        missed = collections.Counter(folded(s.sql) for s in on.statements)
        invented = collections.Counter(folded(s.sql) for s in ours)
        missed, invented = missed - invented, invented - missed
        # written differently: paired up by their loose form
        loose_invented = collections.Counter(loose(s) for s in invented.elements())
        for sql in list(missed.elements()):
            if loose_invented[loose(sql)] > 0:
                loose_invented[loose(sql)] -= 1
                missed[sql] -= 1
                row["missed"]["rendering"] += 1
                paired = next(s for s in invented if invented[s] > 0 and loose(s) == loose(sql))
                invented[paired] -= 1
                row["renderings"].append(f"{off.path}: online {sql[:120]} | offline {paired[:120]}")
        lines_online = {folded(s.sql): s.span.line for s in on.statements}
        lines_offline = {folded(s.sql): s.span.line for s in ours}
        unreadable = {line for line, _ in off.unreadable}
        text_lines = off.text.splitlines()
        differing: set[int] = set()
        for sql in (+missed).elements():
            line = lines_online.get(sql, 1)
            differing.add(line)
            code = text_lines[line - 1] if 0 < line <= len(text_lines) else ""
            if off.source == "django" and ("RunPython" in code or (
                    line not in lines_offline.values() and re.match(r"\s*(update|insert|delete)\b", sql, re.I))):
                cause = "run-python"  # (or an operation subclassing it: rows written by Python code)
            elif off.error is not None:
                cause = "offline-failed"
            elif line in unreadable or off.how == "static" or _inside_unreadable(line, unreadable, off.text):
                cause = "data-dependent"
            else:
                cause = "unexplained"
                row["examples"].append(f"missed by offline: {off.path}:{line}: {sql[:160]}")
            row["missed"][cause] += 1
        for sql in (+invented).elements():
            line = lines_offline.get(sql, 1)
            differing.add(line)
            if on.error is not None:
                cause = "online-failed"
            elif off.error is not None:
                cause = "offline-failed"
            elif off.how == "static" or line in unreadable or _inside_unreadable(line, unreadable, off.text):
                cause = "data-dependent"  # read both ways of a branch on what the database holds
            else:
                cause = "unexplained"
                row["examples"].append(f"invented by offline: {off.path}:{line}: {sql[:160]}")
            row["invented"][cause] += 1
        mine = judged_offline.get(off.name, collections.Counter())
        theirs = judged_online.get(on.name, collections.Counter())
        for side, extra in (("only_offline", mine - theirs), ("only_online", theirs - mine)):
            for rule, line in extra.elements():
                if rule == "not-analyzed":
                    cause = "online-failed" if side == "only_online" else "offline-failed"
                elif line in differing or (rule == "irreversible-migration" and differing):  # (said if it changes)
                    cause = "follows-sql"
                elif off.error is not None:  # offline's findings stop where it failed (or a BEGIN is left open)
                    cause = "offline-failed"
                elif on.error is not None:
                    cause = "online-failed"
                elif gaps:
                    cause = "offline-history"
                else:
                    cause = "unexplained"
                    row["examples"].append(f"{side.replace('_', ' ')}: {off.path}:{line}: {rule}")
                row[side][cause] += 1


def _inside_unreadable(line: int, unreadable: set[int], text: str) -> bool:
    """Whether `line` is inside a block (loop, if) that starts at an unreadable line."""
    import ast

    if not unreadable:
        return False
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    return any(getattr(node, "lineno", 0) in unreadable and node.lineno <= line <= (node.end_lineno or node.lineno)
               for node in ast.walk(tree) if isinstance(node, (ast.For, ast.If, ast.While)))


# --- the table ---------------------------------------------------------------------------------

CAUSES = ["rendering", "run-python", "data-dependent", "offline-failed", "offline-history", "online-failed",
          "follows-sql", "unexplained"]


def table(rows: list[dict]) -> str:
    head = f"{'project':<22} {'kind':<8} {'migr':>5} {'stmt off':>8} {'stmt on':>8} {'missed':>7} {'invent':>7}" \
           f" {'f.off':>6} {'f.on':>6} {'online s':>8}  online failures"
    out = [head, "-" * len(head)]
    totals = {k: collections.Counter() for k in ("missed", "invented", "only_offline", "only_online")}
    for row in rows:
        if row.get("crash"):
            out.append(f"{row['name']:<22} crashed: {row['crash'][:150]}")
            continue
        for k in totals:
            totals[k].update(row[k])
        failed = row["online_failed"]
        failures = (failed[0][:80] + (f" (+{len(failed) - 1})" if len(failed) > 1 else "")) if failed else ""
        out.append(f"{row['name']:<22} {row['kind']:<8} {row['migrations']:>5} {row['statements_offline']:>8}"
                   f" {row['statements_online']:>8} {sum(row['missed'].values()):>7} {sum(row['invented'].values()):>7}"
                   f" {sum(row['only_offline'].values()):>6} {sum(row['only_online'].values()):>6}"
                   f" {row['online_seconds']:>8.1f}  {failures}")
    out += ["", f"{'cause':<16} {'missed':>7} {'invent':>7} {'f.off':>6} {'f.on':>6}"]
    for cause in CAUSES:
        out.append(f"{cause:<16} {totals['missed'][cause]:>7} {totals['invented'][cause]:>7}"
                   f" {totals['only_offline'][cause]:>6} {totals['only_online'][cause]:>6}")
    examples = [e for row in rows if not row.get("crash") for e in row["examples"]]
    if examples:
        out += ["", "unexplained (first 40):"] + [f"  {e}" for e in examples[:40]]
    renderings = [e for row in rows if not row.get("crash") for e in row["renderings"]]
    if renderings:
        out += ["", "written differently (paired, counted once under missed; first 10):"]
        out += [f"  {e}" for e in renderings[:10]]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="embedded", help="embedded, or a server URL (postgresql://...)")
    parser.add_argument("--only", default="", help="project names, comma-separated")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per project")
    parser.add_argument("--migration-timeout", type=float, default=120,
                        help="seconds one migration may take online (a shared, busy machine)")
    parser.add_argument("--json", type=Path, help="write the rows there too")
    parser.add_argument("--with-deps", action="store_true",
                        help="Alembic projects in venvs with their dependencies (made on first use)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(json.loads(args.measure))))
        return 0
    only = {n for n in args.only.split(",") if n}
    rows = [run_project(p, args.database, args.timeout, args.migration_timeout)
            for p in alembic_projects(only, args.with_deps) + django_projects(only)]
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

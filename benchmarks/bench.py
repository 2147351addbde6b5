#!/usr/bin/env python3
"""Speed: migsafe beside squawk and django-migration-linter on real migrations, in one run.

Not part of the test suite (it downloads wheels and builds a virtualenv). From the repository root:

    python benchmarks/bench.py [--runs N] [--json FILE] [--cache DIR] [--skip django,sql,...]

Corpora (pinned, fetched with `pip download --no-deps` by corpus.py's `fetch`, kept in the cache
folder): the Alembic `versions/` folders of mlflow, apache-superset, apache-airflow-core, prefect,
dagster and ckan (corpus.py's PROJECTS); those revisions rendered once to `.sql` files by migsafe's
own renderer; and the Django apps django.contrib, wagtail, oscar and allauth, installed with
their peers into a virtualenv this script makes (`<cache>/peers-venv`: squawk-cli,
django-migration-linter, the apps, psycopg).

Each measurement is one warm-up run, then the median wall time of N runs (default 5), each a
fresh process; peak MB is the largest resident set of that process tree (os.wait4), the maximum
over the runs. migsafe is the `migsafe` script next to this Python. Prints one table and writes
it as JSON (--json). django-migration-linter needs a live PostgreSQL: a throwaway cluster is
started from the server binaries found (initdb, pg_ctl), or that peer is skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import PROJECTS, REPO, fetch  # noqa: E402  (the shared, pinned downloads)

sys.path.insert(0, str(REPO / "tests"))
from servers import throwaway_postgres  # noqa: E402  (the one throwaway cluster, the tests' too)

ALEMBIC = ("mlflow", "apache-superset", "apache-airflow-core", "prefect", "dagster", "ckan")
# The pre-commit case: the newest revision of the largest history, edited before each run.
PRECOMMIT = ("apache-superset", "superset/migrations/versions", "2025_12_18_0220_create_tasks_table.py")
PEERS = ["squawk-cli==2.70.0", "django-migration-linter==6.0.0", "wagtail==8.0.1", "django-oscar==4.2.1",
         "django-allauth==65.21.1", "psycopg[binary]==3.3.9"]
DJANGO_PACKAGES = ("django.contrib", "wagtail", "oscar", "allauth")  # their apps, as the project below installs them
MIGSAFE = str(Path(sys.executable).parent / "migsafe")
# The Django project django-migration-linter runs in: every app above, on the throwaway cluster.
DJANGO_SETTINGS = '''
import os
import oscar
from oscar.defaults import *  # noqa: F401,F403
SECRET_KEY = "benchmark"
INSTALLED_APPS = list(dict.fromkeys(oscar.INSTALLED_APPS + [
    "wagtail.contrib.forms", "wagtail.contrib.redirects", "wagtail.embeds", "wagtail.sites", "wagtail.users",
    "wagtail.snippets", "wagtail.documents", "wagtail.images", "wagtail.search", "wagtail.admin", "wagtail",
    "modelcluster", "taggit", "allauth", "allauth.account", "allauth.socialaccount", "allauth.mfa",
    "allauth.usersessions", "django_migration_linter",
]))
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "postgres", "USER": "postgres",
                         "HOST": os.environ["BENCH_PG_SOCKET"]}}
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
SITE_ID = 1
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
WAGTAILADMIN_BASE_URL = "http://localhost"
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware",
              "django.contrib.auth.middleware.AuthenticationMiddleware",
              "django.contrib.messages.middleware.MessageMiddleware",
              "allauth.account.middleware.AccountMiddleware"]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True, "OPTIONS": {
    "context_processors": ["django.template.context_processors.request",
                           "django.contrib.auth.context_processors.auth",
                           "django.contrib.messages.context_processors.messages"]}}]
'''


def run_once(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float, int, str]:
    """(wall seconds, peak MB of the process tree, exit code, stdout) of one fresh process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)  # ru_maxrss: the largest process of the tree, in KB
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"{' '.join(cmd[:4])}... exited {proc.returncode}: {err.read().decode()[-400:]}")
        return wall, usage.ru_maxrss / 1024, proc.returncode, out.read().decode()


def timed(cmd: list[str], cwd: Path, runs: int, env: dict | None = None, before=None) -> dict:
    """Median wall time of `runs` runs after one warm-up; `before(i)` runs ahead of each."""
    walls, peaks, stdout = [], [], ""
    for i in range(runs + 1):
        if before is not None:
            before(i)
        wall, peak, _, stdout = run_once(cmd, cwd, env)
        if i:
            walls.append(wall)
            peaks.append(peak)
    return {"seconds": statistics.median(walls), "runs": runs, "peak_mb": max(peaks), "stdout": stdout}


def migrations_in(report: str) -> int:
    return json.loads(report)["summary"]["migrations"]


def cache_env(folder: Path | None) -> dict:
    env = dict(os.environ)
    env.pop("MIGSAFE_CACHE_DIR", None)
    if folder is not None:
        env["MIGSAFE_CACHE_DIR"] = str(folder)
    return env


def alembic_folders(cache: Path) -> list[tuple[str, Path, str, str]]:
    """(project, unpacked wheel, versions folder, dialect) of the Alembic corpus."""
    return [(name, fetch(spec, cache), folder, dialect)
            for name, spec, folders in PROJECTS if name in ALEMBIC for folder, dialect in folders]


def bench_alembic(folders, runs: int, work: Path) -> list[dict]:
    """The whole corpus without cache, with a cold cache (empty each run) and a warm one."""
    rows = []
    warm_dir = work / "warm-cache"
    shutil.rmtree(warm_dir, ignore_errors=True)
    totals = {"no cache": [], "cold cache": [], "warm cache": []}
    for name, unpacked, folder, dialect in folders:
        cmd = [MIGSAFE, "check", folder, "--dialect", dialect, "--format", "json"]
        cold_dir = work / "cold-cache"
        totals["no cache"].append(timed(cmd + ["--no-cache"], unpacked, runs, cache_env(None)))
        totals["cold cache"].append(timed(cmd, unpacked, runs, cache_env(cold_dir),
                                          before=lambda i: shutil.rmtree(cold_dir, ignore_errors=True)))
        totals["warm cache"].append(timed(cmd, unpacked, runs, cache_env(warm_dir)))
    revisions = sum(migrations_in(m["stdout"]) for m in totals["no cache"])
    summed = {k: {"seconds": sum(m["seconds"] for m in v), "peak_mb": max(m["peak_mb"] for m in v)}
              for k, v in totals.items()}
    what = f"Alembic corpus, {revisions} revisions in {len(folders)} folders"
    rows.append(row(f"{what} (--no-cache)", summed["no cache"], None, revisions, runs))
    rows.append(row(f"{what}, cold cache (vs --no-cache)", summed["cold cache"], summed["no cache"], revisions, runs))
    rows.append(row(f"{what}, warm cache (vs cold cache)", summed["warm cache"], summed["cold cache"], revisions, runs))
    return rows


def bench_precommit(cache: Path, runs: int, work: Path) -> list[dict]:
    """`migsafe check one_revision.py` as pre-commit runs it, the revision edited before each run:
    with the rest of the history in the cache (the usual case), and without any cache."""
    name, folder, revision = PRECOMMIT
    unpacked = fetch(dict((p[0], p[1]) for p in PROJECTS)[name], cache)
    path = unpacked / folder / revision
    original = path.read_bytes()
    warm_dir = work / "precommit-cache"
    shutil.rmtree(warm_dir, ignore_errors=True)
    cmd = [MIGSAFE, "check", f"{folder}/{revision}", "--format", "json"]
    run_once([MIGSAFE, "check", folder, "--format", "json"], unpacked, cache_env(warm_dir))  # history cached

    def edit(i: int) -> None:
        path.write_bytes(original + f"\n# benchmark edit {time.time_ns()}\n".encode())

    try:
        warm = timed(cmd, unpacked, runs, cache_env(warm_dir), before=edit)
        cold = timed(cmd + ["--no-cache"], unpacked, runs, cache_env(None), before=edit)
    finally:
        path.write_bytes(original)
    history = json.loads(warm["stdout"])["summary"]["migrations"]
    what = f"pre-commit: 1 edited revision of {name}'s {history}"
    return [row(f"{what}, history cached (vs --no-cache)", warm, cold, 1, runs),
            row(f"{what} (--no-cache)", cold, None, 1, runs)]


def render_sql(folders, out: Path) -> int:
    """Each PostgreSQL revision of the corpus as one .sql file (migsafe's own offline rendering,
    in a child process per folder), numbered in run order, one folder per versions folder."""
    if (out / "done").exists():
        return len(list(out.rglob("*.sql")))
    shutil.rmtree(out, ignore_errors=True)
    for index, (name, unpacked, folder, dialect) in enumerate(folders):
        if dialect == "postgresql":
            target = out / f"{index:02d}_{name}"
            subprocess.run([sys.executable, __file__, "--render", folder, str(target)], cwd=unpacked, check=True)
    (out / "done").touch()
    return len(list(out.rglob("*.sql")))


def render_folder(folder: str, target: Path) -> None:
    """Child process, in the unpacked wheel: write each rendered revision of `folder`."""
    from migsafe.discover import discover
    from migsafe.sources.alembic.load import load_alembic_migrations

    project = discover([Path(folder)], [], Path.cwd()).of("alembic")[0]
    target.mkdir(parents=True)
    located = load_alembic_migrations(project.version_dirs, project.root, Path.cwd(), "postgresql", None)
    for number, (migration, _) in enumerate(m for m in located if m[0].statements and not m[0].error):
        sql = "".join(s.sql.rstrip().rstrip(";") + ";\n" for s in migration.statements)
        (target / f"{number + 1:04d}_{migration.name}.sql").write_text(sql, encoding="utf-8")


def bench_sql(folders, runs: int, work: Path, venv: Path | None) -> list[dict]:
    sql_dir = work / "rendered-sql"
    files = render_sql(folders, sql_dir)
    mine = timed([MIGSAFE, "check", ".", "--format", "json", "--no-cache"], sql_dir, runs, cache_env(None))
    squawk = venv / "bin" / "squawk" if venv else None
    peer = None
    if squawk and squawk.exists():
        paths = sorted(str(p.relative_to(sql_dir)) for p in sql_dir.rglob("*.sql"))
        peer = timed([str(squawk), *paths], sql_dir, runs)
    else:
        print("squawk: skipped (no peers virtualenv)", file=sys.stderr)
    return [row(f"rendered SQL, {files} files (vs squawk)", mine, peer, migrations_in(mine["stdout"]), runs)]


def make_peers_venv(cache: Path) -> Path:
    venv = cache / "peers-venv"
    if not (venv / "installed").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *PEERS], capture_output=True, text=True)
        if pip.returncode != 0:
            sys.exit(f"installing the peers failed:\n{pip.stderr[-2000:]}")
        (venv / "installed").write_text("\n".join(PEERS) + "\n")
    return venv


def installed_migration_folders(venv: Path, project: Path) -> list[str]:
    """The migrations folders of the apps the linter's project installs (site-packages-relative):
    both tools check the same apps. (A folder of a package holds more: wagtail's test apps,
    Django's and wagtail's contrib apps the project does not install.)"""
    script = ("import django, os\ndjango.setup()\nfrom django.apps import apps\n"
              "site = os.path.dirname(os.path.dirname(django.__file__))\n"
              "for c in apps.get_app_configs():\n"
              "    d = os.path.join(c.path, 'migrations')\n"
              "    if os.path.isfile(os.path.join(d, '__init__.py')) and c.name != 'django_migration_linter':\n"
              "        print(os.path.relpath(d, site))\n")
    env = dict(os.environ, BENCH_PG_SOCKET="/nowhere", PYTHONPATH=str(project), DJANGO_SETTINGS_MODULE="bench_settings")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", script], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def bench_django(runs: int, peer_runs: int, work: Path, venv: Path) -> list[dict]:
    site = next((venv / "lib").glob("python3*/site-packages"))
    project = work / "django-project"
    project.mkdir(parents=True, exist_ok=True)
    (project / "bench_settings.py").write_text(DJANGO_SETTINGS)
    folders = installed_migration_folders(venv, project)
    mine = timed([MIGSAFE, "check", *folders, "--format", "json", "--no-cache"], site, runs, cache_env(None))
    migrations = migrations_in(mine["stdout"])
    what = f"Django: the {len(folders)} apps of {', '.join(DJANGO_PACKAGES)} a project installs, {migrations} migrations"
    if migrations == 0:
        what += " (migsafe found none: no Django source yet)"
    peer, note = None, ""
    with throwaway_postgres("migsafe-bench-pg-") as pg:
        if isinstance(pg, str):
            print(f"django-migration-linter: skipped: {pg}", file=sys.stderr)
            note = f"; lintmigrations skipped: {pg}"
        else:
            env = dict(os.environ, BENCH_PG_SOCKET=str(pg), PYTHONPATH=str(project),
                       DJANGO_SETTINGS_MODULE="bench_settings")
            # --no-cache: the linter keeps results between runs, which would time its cache, not it.
            # sqlmigrate cannot render some migrations without their tables (it introspects):
            # those are reported as errors by the linter, which goes on.
            peer = timed([str(venv / "bin" / "django-admin"), "lintmigrations", "--ignore-sqlmigrate-errors", "--no-cache"],
                         project, peer_runs, env)
            linted = next((line for line in peer["stdout"].splitlines() if line.startswith("Valid migrations")), "")
            note = f"; lintmigrations: {linted.split('/')[-1] if linted else '?'} migrations"
    return [row(what + note, mine, peer, migrations, runs)]


def bench_growth(runs: int, work: Path) -> list[dict]:
    """Time against size: a synthetic SQL history at 1x, 4x and 16x."""
    rows = []
    for scale in (1, 4, 16):
        folder = work / f"synthetic-{scale}x"
        if not folder.exists():
            folder.mkdir(parents=True)
            for n in range(1, 50 * scale + 1):
                (folder / f"V{n}__step.sql").write_text(
                    f"CREATE TABLE t{n} (id bigint PRIMARY KEY, name text NOT NULL, created timestamptz);\n"
                    f"CREATE INDEX t{n}_name ON t{n} (name);\n"
                    f"ALTER TABLE t{max(n - 1, 1)} ADD COLUMN c{n} integer;\n"
                    f"UPDATE t{max(n - 1, 1)} SET c{n} = 0 WHERE id < 100;\n")
        m = timed([MIGSAFE, "check", ".", "--format", "json", "--no-cache"], folder, runs, cache_env(None))
        rows.append(row(f"synthetic SQL history {scale}x ({200 * scale} statements)", m, None,
                        migrations_in(m["stdout"]), runs))
    return rows


def row(what: str, mine: dict, peer: dict | None, migrations: int, runs: int) -> dict:
    return {"what": what, "migsafe_s": round(mine["seconds"], 3),
            "peer_s": round(peer["seconds"], 3) if peer else None,
            "ratio": round(mine["seconds"] / peer["seconds"], 2) if peer else None,
            "migrations_per_s": round(migrations / mine["seconds"], 1) if mine["seconds"] else None,
            "peak_mb": round(mine["peak_mb"], 1), "peer_peak_mb": round(peer["peak_mb"], 1) if peer and "peak_mb" in peer else None,
            "runs": runs}


def print_table(rows: list[dict]) -> None:
    width = max(len(r["what"]) for r in rows)
    head = f"{'what':<{width}}  {'migsafe s':>9}  {'peer s':>8}  {'ratio':>6}  {'migr./s':>8}  {'peak MB':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        peer = f"{r['peer_s']:.3f}" if r["peer_s"] is not None else "-"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        print(f"{r['what']:<{width}}  {r['migsafe_s']:>9.3f}  {peer:>8}  {ratio:>6}  "
              f"{r['migrations_per_s'] or 0:>8.1f}  {r['peak_mb']:>7.1f}")
    print("ratio = migsafe / peer (below 1: migsafe faster); times are medians; peak MB is migsafe's")


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--render":
        render_folder(sys.argv[2], Path(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=REPO / ".corpus-cache", help="download and work folder")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement (after one warm-up)")
    parser.add_argument("--peer-runs", type=int, help="timed runs of django-migration-linter (default: --runs)")
    parser.add_argument("--json", type=Path, help="write the table here as JSON")
    parser.add_argument("--skip", default="", help="comma-separated: alembic,precommit,sql,django,growth")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    args.cache = args.cache.resolve()  # commands run from other folders
    args.cache.mkdir(parents=True, exist_ok=True)
    (args.cache / "migsafe.toml").touch()  # no migsafe config above the corpora (this repo's) applies
    work = args.cache / "bench"
    work.mkdir(exist_ok=True)
    # migsafe as installed: pip compiles an installed package's bytecode; an editable checkout
    # gets it on first import, unless PYTHONDONTWRITEBYTECODE is set (then every run, worker
    # included, would compile migsafe's modules again, which no installed copy does).
    import compileall
    import migsafe

    compileall.compile_dir(Path(migsafe.__file__).parent, quiet=1)
    load_before = os.getloadavg()
    folders = alembic_folders(args.cache)
    venv = make_peers_venv(args.cache) if not {"sql", "django"} <= skip else None
    rows: list[dict] = []
    if "alembic" not in skip:
        rows += bench_alembic(folders, args.runs, work)
    if "precommit" not in skip:
        rows += bench_precommit(args.cache, args.runs, work)
    if "sql" not in skip:
        rows += bench_sql(folders, args.runs, work, venv)
    if "django" not in skip:
        rows += bench_django(args.runs, args.peer_runs or args.runs, work, venv)
    if "growth" not in skip:
        rows += bench_growth(args.runs, work)
    print_table(rows)
    load = {"before": load_before, "after": os.getloadavg(), "cpus": os.cpu_count()}
    print(f"load average before {load['before'][0]:.2f}, after {load['after'][0]:.2f} on {load['cpus']} CPUs")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "load": load, "python": sys.version.split()[0]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

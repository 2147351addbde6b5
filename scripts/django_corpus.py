#!/usr/bin/env python3
"""Run migsafe on the Django migrations of real apps, as a user would, and summarise what it says.

Not part of the test suite (it downloads wheels from PyPI). From the repository root:

    .venv/bin/python scripts/django_corpus.py [--only NAME,...] [--with-deps] [--no-exec] [--json FILE]

Corpora: Django's own contrib apps (from the Django installed next to this Python) and pinned
wheels of third-party apps and projects (`APPS` below), fetched with `pip download --no-deps` into
`.corpus-cache/` (git ignores it; shared with benchmarks/corpus.py) and unpacked there. Each app
is checked with `migsafe check <packages> --format json` from the unpacked wheel, the way a
reviewer checks a project root, cold (an empty result cache of its own, timed); the same check as
JUnit, from that cache, lists the migrations judged.

Two environments, one table each (issue 16's targets: 0 crashes, every migration file counted,
>= 97% analysed per app in (a), >= 99.5% in (b), a 400+ migration project in <= 10 s):

(a) default: nothing of the apps is installed, only migsafe and Django, and no
    `DJANGO_SETTINGS_MODULE` (a reviewer's CI checkout, pre-commit's isolated hook). A migration
    that imports a package which is not there (wagtail's `modelcluster`, `taggit`, ...) is what
    migsafe must cope with: read statically where it can, else `not-analyzed` with the reason.
(b) `--with-deps`: each app installed with its dependencies and psycopg into a venv of its own
    (`.corpus-cache/venvs/<name>`, with this checkout of migsafe; never the environment running
    this script; a requirement that cannot be built here is left out and listed), that venv's
    `migsafe` run, and `DJANGO_SETTINGS_MODULE` set: the project's own settings module where it
    ships one (`App.settings`), else one this script writes to `.corpus-cache/settings/`
    (marked `*` in the table: the contrib apps, `App.installs` and every app of the package with
    migrations; or the project's own settings with `App.lines` after them). Whether Django can
    set up with those settings in that venv is checked on its own (`setup`), so a settings
    failure migsafe does not report is still seen.

Columns: migration files on disk (a plain count: `*.py` defining `class Migration` in a
`migrations/` folder, `_*` left out), judged (migrations migsafe reported on), squash (squashes
replayed because the migrations they replace are judged), missing (on disk, neither judged nor a
replayed squash), other (judged files that are not Django migrations: `.sql` files), analysed
(judged with no `not-analyzed` finding, as a share of judged), not-analyzed, wall time; under the
table the not-analyzed reasons grouped (names blanked), each with a count and one `file:line`.
Exits 1 when migsafe itself failed (exit 2, or no migrations found) on any app.
"""

from __future__ import annotations

import argparse
import collections
import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from corpus import cause, fetch, print_rule_counts  # noqa: E402  (shared with the Alembic corpus)


@dataclass(frozen=True)
class App:
    name: str
    spec: str  # pip requirement, pinned
    packages: tuple[str, ...]  # top-level packages holding the app's migrations
    settings: str | None = None  # the project's own settings module; None: a minimal one written here
    installs: tuple[str, ...] = ()  # minimal settings: apps installed before those found on disk
    lines: str = ""  # settings the script writes: what the apps' ready() checks for; after the project's own
    env: dict[str, str] = field(default_factory=dict)  # what the settings module reads besides
    files: dict[str, str] = field(default_factory=dict)  # files it reads (under CORPUS): their text
    also: tuple[str, ...] = ()  # imported by the app, not among its declared requirements
    python: str = ""  # the Python its venv needs, when not this one (X.Y)
    gis: bool = False  # uses django.contrib.gis: GDAL below, in (b)


CORPUS = Path(os.environ.get("MIGSAFE_CORPUS_CACHE", REPO / ".corpus-cache"))
# For settings whose cache is a server (memcached) that their setup already talks to
LOCAL_CACHE = "CACHES = {'default': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}}\n"
APPS = [
    App("wagtail", "wagtail==8.0.1", ("wagtail",), "wagtail.test.settings",
        env={"DATABASE_ENGINE": "django.db.backends.postgresql"}),
    App("django-allauth", "django-allauth==65.22.1", ("allauth",),
        lines="MIDDLEWARE = ['allauth.account.middleware.AccountMiddleware']\n",
        also=("django-allauth[socialaccount,openid,mfa,idp-oidc]==65.22.1",)),
    App("django-oscar", "django-oscar==4.2.1", ("oscar",),
        lines="import oscar\nfrom oscar.defaults import *  # noqa\n"
              "INSTALLED_APPS = list(dict.fromkeys([a for a in INSTALLED_APPS if not a.startswith('oscar.')]"
              " + oscar.INSTALLED_APPS))\n"
              "HAYSTACK_CONNECTIONS = {'default': {'ENGINE': 'haystack.backends.simple_backend.SimpleEngine'}}\n"),
    App("django-taggit", "django-taggit==6.1.0", ("taggit",)),
    App("django-cms", "django-cms==5.1.3", ("cms", "menus"), installs=("treebeard", "sekizai"),
        also=("packaging",)),
    App("django-reversion", "django-reversion==6.4.0", ("reversion",)),
    App("django-celery-beat", "django-celery-beat==2.9.0", ("django_celery_beat",)),
    App("django-filer", "django-filer==3.6.0", ("filer",), installs=("easy_thumbnails",)),
    App("mayan-edms", "mayan-edms==4.12.2", ("mayan",), "mayan.settings",
        env={"MAYAN_MEDIA_ROOT": str(CORPUS / "mayan-media"),
             "MAYAN_DATABASES": "{'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'mayan'}}"}),
    App("pulpcore", "pulpcore==3.123.1", ("pulpcore", "pulp_file", "pulp_certguard"), "pulpcore.app.settings",
        env={"PULP_DB_ENCRYPTION_KEY": str(CORPUS / "pulp" / "database_fields.symmetric.key")},
        files={"pulp/database_fields.symmetric.key": "bWlnc2FmZS1jb3JwdXMtbWlnc2FmZS1jb3JwdXMtMDA=\n"}),
    App("allianceauth", "allianceauth==5.5.0", ("allianceauth",),
        "allianceauth.project_template.project_name.settings.base"),  # its setup wants a Redis server
    App("openwisp-controller", "openwisp-controller==1.3.2", ("openwisp_controller",), gis=True,
        installs=("django.contrib.gis", "openwisp_utils.admin_theme", "openwisp_users", "openwisp_notifications",
                  "openwisp_ipam", "allauth", "allauth.account",
                  "allauth.socialaccount", "reversion", "sortedm2m", "taggit", "rest_framework",
                  "rest_framework_gis", "rest_framework.authtoken", "django_filters", "leaflet",
                  "flat_json_widget", "import_export", "channels"),
        lines="MIDDLEWARE = ['allauth.account.middleware.AccountMiddleware']\nAUTH_USER_MODEL = 'openwisp_users.User'\n"
              "DATABASES = {'default': {'ENGINE': 'django.contrib.gis.db.backends.postgis', 'NAME': 'corpus'}}\n"),
    # tendenci says Python >= 3.10, but events/forms.py:827 is 3.12 syntax (its admin fails to load on 3.11)
    App("tendenci", "tendenci==16.30", ("tendenci",), "tendenci.settings", python="3.12", gis=True,
        lines="SECRET_KEY = SITE_SETTINGS_KEY = 'corpus'  # what the project template sets\n" + LOCAL_CACHE +
              "for handler in LOGGING['handlers'].values():  # /var/log/tendenci/ is not there\n"
              "    if 'filename' in handler:\n"
              "        handler['filename'] = os.path.join(PROJECT_ROOT, os.path.basename(handler['filename']))\n",
        env={"TENDENCI_PROJECT_ROOT": str(CORPUS / "tendenci-project")}, files={"tendenci-project/themes/.keep": ""}),
    App("edx-enterprise", "edx-enterprise==8.18.0",
        ("consent", "enterprise", "enterprise_learner_portal", "integrated_channels"), "enterprise.settings.test",
        env={"DB_ENGINE": "django.db.backends.postgresql"}),
    App("django-q2", "django-q2==1.11.1", ("django_q",)),
    App("django-otp", "django-otp==1.7.5", ("django_otp",)),
    App("django-polymorphic", "django-polymorphic==4.11.7", ("polymorphic",), installs=("polymorphic",)),
]
CONTRIB = App("django-contrib", "", ("contrib",))
# GDAL and GEOS for the apps using django.contrib.gis (`App.gis`) in (b), kept
# out of the system: `apt-get install --download-only -o Dir::Cache::archives=D libgdal32`, then
# `dpkg -x` of each .deb in D into CORPUS/gdal. Without it their settings fail to load, as said.
GDAL = CORPUS / "gdal" / "usr" / "lib" / "x86_64-linux-gnu"
GIS_ENV = {"LD_LIBRARY_PATH": f"{GDAL}:{GDAL}/blas:{GDAL}/lapack:{GDAL.parent}",
           "GDAL_LIBRARY_PATH": str(GDAL / "libgdal.so.32"), "GEOS_LIBRARY_PATH": str(GDAL / "libgeos_c.so.1")}
# Installed by every minimal settings module (what the apps' models and migrations commonly need).
CONTRIB_APPS = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
                "django.contrib.sessions", "django.contrib.messages", "django.contrib.sites",
                "django.contrib.staticfiles"]


def contrib_root() -> Path:
    """The folder holding Django's contrib package, from the Django this Python imports."""
    import django

    return Path(django.__file__).resolve().parent


def migration_files(root: Path, packages: tuple[str, ...]) -> list[Path]:
    """Every migration file on disk: `*.py` directly in a `migrations` folder, `_*` left out, that
    defines `class Migration` (wagtail/blocks/migrations/ holds StreamField helpers, not migrations)."""
    return sorted(p for package in packages for p in (root / package).rglob("migrations/*.py")
                  if not p.name.startswith("_") and p.parent.name == "migrations"
                  and "class Migration" in p.read_text(encoding="utf-8", errors="replace"))


def dotted(folder: Path) -> str:
    """The module name of a package folder: up through the folders that hold `__init__.py`."""
    parts = [folder.name]
    while (folder.parent / "__init__.py").exists():
        folder = folder.parent
        parts.append(folder.name)
    return ".".join(reversed(parts))


GIS_LINES = ("GDAL_LIBRARY_PATH = os.environ.get('GDAL_LIBRARY_PATH')  # Django reads them from settings only\n"
             "GEOS_LIBRARY_PATH = os.environ.get('GEOS_LIBRARY_PATH')\n")


def written_settings(app: App, root: Path) -> str:
    """A settings module written to CORPUS/settings; its module name. Either the project's own
    settings and `app.lines` after them, or a minimal one installing the contrib apps,
    `app.installs` and every app of the package with migrations."""
    module = "corpus_settings_" + app.name.replace("-", "_")
    if app.settings:
        text = f'"""Written by scripts/django_corpus.py: {app.settings}, adjusted."""\nimport os\n' \
               f"from {app.settings} import *  # noqa\n{app.lines}{GIS_LINES}"
    else:
        found = sorted({dotted(p.parent.parent) for p in migration_files(root, app.packages)})
        installed = list(dict.fromkeys([*CONTRIB_APPS, *app.installs, *found]))
        text = (f'"""Written by scripts/django_corpus.py: {app.name} ships no settings module."""\n'
                f"SECRET_KEY = 'corpus'\nUSE_TZ = True\nDEFAULT_AUTO_FIELD = 'django.db.models.AutoField'\n"
                f"STATIC_URL = 'static/'\nSITE_ID = 1\n"
                f"TEMPLATES = [{{'BACKEND': 'django.template.backends.django.DjangoTemplates', 'APP_DIRS': True,"
                f" 'OPTIONS': {{'context_processors': ['django.template.context_processors.request',"
                f" 'django.contrib.auth.context_processors.auth',"
                f" 'django.contrib.messages.context_processors.messages']}}}}]\n"
                f"DATABASES = {{'default': {{'ENGINE': 'django.db.backends.postgresql', 'NAME': 'corpus'}}}}\n"
                f"INSTALLED_APPS = {json.dumps(installed, indent=4)}\n{app.lines}import os\n{GIS_LINES}")
    folder = CORPUS / "settings"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(text, encoding="utf-8")
    return module


def requirements(root: Path) -> list[str]:
    """The unpacked wheel's own requirements (its METADATA's Requires-Dist, extras left out)."""
    metadata = next(root.glob("*.dist-info")) / "METADATA"
    declared = email.parser.Parser().parsestr(metadata.read_text(encoding="utf-8")).get_all("Requires-Dist") or []
    return [str(r) for r in map(Requirement, declared) if not r.marker or r.marker.evaluate({"extra": ""})]


def deps_venv(app: App, root: Path) -> tuple[Path, list[str]]:
    """A venv of its own with the app, its dependencies and this checkout of migsafe: its bin/ and
    the requirements that could not be installed. When one dependency cannot be built here (a C
    library missing: python-ldap, mysqlclient), the app goes in without dependencies and each of
    its requirements on its own, so the rest is still there."""
    where = CORPUS / "venvs" / app.name
    done = where / "installed.done"
    if not done.exists():
        if app.python:
            # pyenv's shim for a version that is not selected fails: its interpreter itself, else PATH's
            found = next(iter(sorted(Path.home().glob(f".pyenv/versions/{app.python}.*/bin/python{app.python}"))),
                         None) or shutil.which(f"python{app.python}")
            if not found:
                raise RuntimeError(f"no Python {app.python} here for {app.name}")
            subprocess.run([found, "-m", "venv", "--clear", where], check=True)
        else:
            venv.create(where, with_pip=True, clear=True)

        def pip(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([where / "bin" / "python", "-m", "pip", "install", "-q", *args],
                                  capture_output=True, text=True)

        left_out = []
        # psycopg: the apps are checked as deployed on PostgreSQL (settings loading the backend need it)
        if pip("-e", f"{REPO}[django]", "psycopg[binary]", *app.also, app.spec).returncode != 0:
            first = pip("-e", f"{REPO}[django]", "psycopg[binary]", *app.also)
            if first.returncode != 0 or pip("--no-deps", app.spec).returncode != 0:
                raise RuntimeError(f"pip install {app.spec} failed: {first.stderr.strip()[-600:]}")
            for requirement in requirements(root):
                failed = pip(requirement)
                if failed.returncode != 0:
                    why = [line for line in failed.stderr.splitlines()
                           if re.search(r"(Error|Exception|error):", line) and "subprocess" not in line]
                    left_out.append(f"{requirement} ({(why or ['?'])[-1].strip()[:120]})")
        done.write_text("".join(f"{line}\n" for line in left_out), encoding="utf-8")
    return where / "bin", done.read_text(encoding="utf-8").splitlines()


def settings_env(app: App, root: Path) -> tuple[dict[str, str], str]:
    """Environment (b)'s variables for `app` and the settings module's name (`*` when written here)."""
    env = {**(GIS_ENV if app.gis and GDAL.exists() else {}), **app.env}  # its libraries upset others (pulp)
    for name, text in app.files.items():
        (CORPUS / name).parent.mkdir(parents=True, exist_ok=True)
        (CORPUS / name).write_text(text, encoding="utf-8")
    for value in app.env.values():  # folders the settings expect to exist
        if value.startswith(str(CORPUS)) and not Path(value).exists():
            Path(value).mkdir(parents=True)
    if app.settings and not app.lines:
        env["DJANGO_SETTINGS_MODULE"] = app.settings
        return env, app.settings
    env["DJANGO_SETTINGS_MODULE"] = written_settings(app, root)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CORPUS / "settings"), os.environ.get("PYTHONPATH")]))
    return env, env["DJANGO_SETTINGS_MODULE"] + (f" * ({app.settings})" if app.settings else " *")


def setup_ok(bin_dir: Path, env: dict[str, str]) -> str:
    """`django.setup()` with these settings in that venv, on its own (from a folder that shadows
    nothing: Django's own folder would hide the standard `http`): 'ok' or the error's last line."""
    proc = subprocess.run([str(bin_dir / "python"), "-c", "import django; django.setup()"], cwd=CORPUS,
                          env={**os.environ, **env}, capture_output=True, text=True)
    if proc.returncode == 0:
        return "ok"
    return (proc.stderr.strip().splitlines() or ["exit " + str(proc.returncode)])[-1][:200]


def check_app(root: Path, packages: tuple[str, ...], bin_dir: Path, extra: list[str], env: dict[str, str]) -> dict:
    """`migsafe check` on the app's packages, from `root`, cold (an empty result cache of its own):
    the JSON report, timed; then the same run as JUnit, from that cache, for the list of migrations
    judged (JSON's `summary.migrations` also counts the history migsafe replayed: replaced squashes
    and the contrib apps' migrations the graph needs)."""
    disk = {str(p.relative_to(root)) for p in migration_files(root, packages)}
    squashes = {p for p in disk if "replaces" in (root / p).read_text(encoding="utf-8", errors="replace")}
    # A package with no migration (edx's enterprise_learner_portal: an empty migrations package)
    # is not named: migsafe rightly refuses a PATH with nothing to check (exit 2).
    named = [p for p in packages if any(f.startswith(f"{p}/") for f in disk)] or list(packages)
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, **env, "MIGSAFE_CACHE_DIR": cache}
        command = [str(bin_dir / "migsafe"), "check", *named, *extra]
        started = time.perf_counter()
        proc = subprocess.run([*command, "--format", "json"], cwd=root, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - started
        listed = subprocess.run([*command, "--format", "junit"], cwd=root, capture_output=True, text=True, env=env)
    row = {"on_disk": len(disk), "seconds": seconds, "stderr": proc.stderr.strip()[-2000:]}
    if not disk and proc.returncode == 2 and "no migrations found" in proc.stderr:  # as it should
        return {**row, "crash": None, "migrations": 0, "squashes": 0, "missing": [], "other": [], "analysed": 0,
                "reasons": collections.Counter(), "examples": {}, "by_rule": collections.Counter(), "findings": []}
    if proc.returncode not in (0, 1) or listed.returncode not in (0, 1):
        return {**row, "crash": f"exit {proc.returncode}: {(proc.stderr or listed.stderr).strip()[-500:]}"}
    report = json.loads(proc.stdout)
    judged = {case.get("file") for case in ElementTree.fromstring(listed.stdout).iter("testcase")}
    if not judged and disk:  # discovery found nothing: never a clean pass
        return {**row, "crash": f"no migrations found: {proc.stderr.strip()[-300:]}"}
    not_analyzed = [f for f in report["findings"] if f["rule"] == "not-analyzed"]
    return {
        **row,
        "crash": None,
        "migrations": len(judged),
        "squashes": len(squashes - judged),  # replayed, the migrations they replace judged
        "missing": sorted(disk - judged - squashes),
        "other": sorted(judged - disk),  # judged, but not a Django migration file (a .sql file)
        "analysed": len(judged) - len({f["path"] for f in not_analyzed}),
        "reasons": collections.Counter(cause(f["message"]) for f in not_analyzed),
        "examples": {cause(f["message"]): f"{f['path']}:{f['line']}" for f in not_analyzed},
        "by_rule": collections.Counter(f["rule"] for f in report["findings"]),
        "findings": [{k: f.get(k) for k in ("rule", "path", "line", "message")} for f in report["findings"]],
    }


def share(row: dict) -> str:
    return f"{100 * row['analysed'] / row['migrations']:.1f}%" if row["migrations"] else "-"


def print_table(title: str, rows: dict[str, dict]) -> None:
    print(f"\n{title}\n")
    print(f"{'app':20} {'on disk':>7} {'judged':>6} {'squash':>6} {'missing':>7} {'other':>5} {'analysed':>8}"
          f" {'not-an.':>7} {'time s':>6}  settings: setup")
    for name, row in rows.items():
        settings = f"  {row['settings']}: {row['setup']}" if row.get("settings") else ""
        if row["crash"]:
            print(f"{name:20} {row['on_disk']:7} {'CRASH':>6} {'':6} {'':7} {'':5} {'':8} {'':7}"
                  f" {row['seconds']:6.1f}{settings}")
            continue
        print(f"{name:20} {row['on_disk']:7} {row['migrations']:6} {row['squashes']:6} {len(row['missing']):7}"
              f" {len(row['other']):5} {share(row):>8} {row['migrations'] - row['analysed']:7}"
              f" {row['seconds']:6.1f}{settings}")
    ok = [r for r in rows.values() if not r["crash"]]
    total, analysed = sum(r["migrations"] for r in ok), sum(r["analysed"] for r in ok)
    print(f"{'total':20} {sum(r['on_disk'] for r in rows.values()):7} {total:6}"
          f" {sum(r['squashes'] for r in ok):6} {sum(len(r['missing']) for r in ok):7}"
          f" {sum(len(r['other']) for r in ok):5} {100 * analysed / max(total, 1):7.1f}% {total - analysed:7}"
          f" {sum(r['seconds'] for r in rows.values()):6.1f}  crashes: {len(rows) - len(ok)}")
    print("  findings: " + (", ".join(f"{rule} {n}" for rule, n in
                                       sorted(sum((r["by_rule"] for r in ok), collections.Counter()).items()))
                            or "none"))
    for name, row in rows.items():
        if row["crash"]:
            print(f"\n{name}: CRASH: {row['crash']}")
            continue
        if row.get("left_out"):
            print(f"\n{name}: installed without (could not be installed here): {'; '.join(row['left_out'])}")
        if row["missing"] or row["other"]:
            print(f"\n{name}: not judged: {', '.join(row['missing'][:5]) or '-'};"
                  f" judged, not a migration file: {', '.join(row['other'][:5]) or '-'}")
        if row["reasons"]:
            print(f"\n{name}: not-analyzed by reason")
            for reason, n in row["reasons"].most_common():
                print(f"  {n:5}  {reason}  (e.g. {row['examples'][reason]})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated app names (django-contrib for Django's own)")
    parser.add_argument("--with-deps", action="store_true",
                        help="environment (b): each app installed in a venv of its own, its settings set")
    parser.add_argument("--no-exec", action="store_true", help="check with migsafe's --no-exec")
    parser.add_argument("--json", type=Path, help="also write the per-app results here")
    args = parser.parse_args()
    extra = ["--no-exec"] if args.no_exec else []
    CORPUS.mkdir(parents=True, exist_ok=True)
    # An empty config at the top of the cache, so no migsafe config above it (this repo's) applies.
    (CORPUS / "migsafe.toml").touch()
    only = set(args.only.split(",")) if args.only else None
    here = Path(sys.executable).parent  # the migsafe script installed next to this Python

    rows: dict[str, dict] = {}
    for app in [CONTRIB, *APPS]:
        if only and app.name not in only:
            continue
        root = contrib_root() if app is CONTRIB else fetch(app.spec, CORPUS)
        if not args.with_deps:
            rows[app.name] = check_app(root, app.packages, here, extra, {})
            print(f"  {app.name}: {rows[app.name]['seconds']:.1f} s", file=sys.stderr)
            continue
        try:
            bin_dir, left_out = (here, []) if app is CONTRIB else deps_venv(app, root)
        except RuntimeError as err:
            rows[app.name] = {"on_disk": len(migration_files(root, app.packages)), "seconds": 0.0,
                              "crash": f"not installed: {err}"}
            continue
        env, settings = settings_env(app, root)
        rows[app.name] = {**check_app(root, app.packages, bin_dir, extra, env), "left_out": left_out,
                          "settings": settings, "setup": setup_ok(bin_dir, env)}
        print(f"  {app.name}: {rows[app.name]['seconds']:.1f} s", file=sys.stderr)

    if args.with_deps:
        title = ("environment (b): each app installed with its dependencies in a venv of its own,"
                 " DJANGO_SETTINGS_MODULE set (* written by this script)")
    else:
        title = "environment (a): nothing of the apps installed, DJANGO_SETTINGS_MODULE unset"
    print_table(title + (", --no-exec" if args.no_exec else ""), rows)
    print_rule_counts({name: row.get("by_rule", {}) for name, row in rows.items()})
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=dict) + "\n", encoding="utf-8")
    return 1 if any(r["crash"] for r in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

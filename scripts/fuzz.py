#!/usr/bin/env python3
"""The long fuzz run (not part of the test suite): migsafe must fail closed on any input.

    python scripts/fuzz.py                      # 100,000 inputs, one worker per CPU
    python scripts/fuzz.py -n 5000 --seed 7     # a short run
    python scripts/fuzz.py --replay 1234 --seed 7   # rerun one input, print what happened

Inputs are a mix of generated DDL over a random schema (in one or several files), DDL with
random suppression comments, mutated fixture files (SQL and Alembic revisions, the latter read
with --no-exec), random bytes, and random migsafe.toml files. Each is written to a scratch
folder and checked IN-PROCESS through migsafe.cli.main (no interpreter start-up per input).

A failure is any of: an exception escaping main; an internal error or a traceback on stderr;
exit 2 on a file input (only a bad config may exit 2, with one stderr line); a report that is not
valid JSON; exit 0 while the report holds a not-analyzed finding; a file that is not UTF-8 not
reported as not-analyzed; different output when a sample of inputs is run again; an input
taking longer than --timeout seconds. Failing inputs are saved below --out (one folder each,
with the files and meta.json) and the summary is printed at the end.

Needs the test extras (`pip install -e '.[test]'`): the generators live in tests/fuzzgen.py.

Differential mode (issue 15): statements of real migrations, mutated, against the engine's own parser.

    python scripts/fuzz.py --collect statements.json        # harvest (Alembic + Django corpora, fixtures)
    python scripts/fuzz.py --statements statements.json --dialect postgresql -n 100000

`--collect` runs migsafe over the projects of benchmarks/corpus.py and scripts/django_corpus.py
already unpacked in .corpus-cache/ (run those scripts once to download them) and over every .sql
file of fixtures/ and tests/, and keeps the text of each statement migsafe judged, with its dialect.
`--statements` keeps those the engine's parser accepts as seeds (PostgreSQL's own parser through
pglast; SQLite's through the standard library, a statement EXPLAINed in an empty database), makes
mutants (a token deleted, inserted, duplicated or swapped, a parenthesis dropped, a comma added
at the end, the text cut short), writes each as one .sql file and runs migsafe on them, a batch of
files per run. A mutant the engine's parser rejects and migsafe does not report `not-analyzed` is
a silent pass: the run fails and the mutants are saved below --out. Mutants the parser accepts
but migsafe cannot read are counted (syntax it does not read yet), not failures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))
sys.path.insert(0, str(REPO_ROOT / "src"))

import fuzzgen as G  # noqa: E402

KINDS = (("ddl", 30), ("suppress", 10), ("mutated-sql", 25), ("mutated-alembic", 8), ("random-bytes", 12),
         ("config", 15))
# A mutated revision id breaks the graph (a down_revision naming nothing, a cycle, two heads of
# one id): sources/alembic/graph.py stops with one line and exit 2, as `alembic upgrade` would refuse it.
GRAPH_ERROR = re.compile(r"migsafe: error: alembic: .*(revision|cycle|head)", re.I)
OTHER_FORMATS = ("text", "sarif", "github", "junit", "gitlab", "rdjson")


class Timeout(BaseException):
    """Raised by SIGALRM: a BaseException, so migsafe's own `except Exception` cannot eat it."""


def _alarm(signum, frame):
    raise Timeout()


def make_case(seed: int, index: int) -> dict:
    """Input number `index` of the run with `seed`: files (relative path -> bytes) and args."""
    rng = random.Random(seed * 1_000_003 + index)
    c = G.RandomChooser(rng)
    kind = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
    files: dict[str, bytes] = {}
    # --no-cache: a cached result would hide what a run does, and make the rerun equal by construction.
    args = ["check", ".", "--format", "json", "--no-exec", "--no-cache"]
    if kind in ("ddl", "suppress"):
        s = G.SchemaModel()
        newline = "\r\n" if c.int(0, 5) == 0 else "\n"
        for n in range(1, c.int(1, 3) + 1):
            stmts = G.statements(c, s, c.int(1, 12))
            text = G.render(c, stmts, newline=newline)
            if kind == "suppress":
                lines = text.split(newline)
                for _ in range(c.int(1, 4)):
                    lines.insert(c.int(0, len(lines)), G.suppression(c))
                text = newline.join(lines)
            files[f"db/V{n}__gen.sql"] = text.encode("utf-8")
        if c.int(0, 5) == 0:
            args += ["--dialect", c.pick(["mysql", "sqlite"])]
    elif kind == "mutated-sql":
        source = c.pick(G.fixture_files(".sql"))
        files[f"db/{source.name}"] = G.mutate(c, source.read_bytes())
        if c.bool():  # with the rest of the demo around it, so the schema is known
            for other in (REPO_ROOT / "fixtures" / "demo").glob("*.sql"):
                files.setdefault(f"db/{other.name}", other.read_bytes())
    elif kind == "mutated-alembic":
        versions = REPO_ROOT / "fixtures" / "alembic_shop" / "migrations" / "versions"
        revisions = sorted(versions.glob("*.py"))
        target = c.pick(revisions)
        for rev in revisions:
            data = rev.read_bytes()
            files[f"versions/{rev.name}"] = G.mutate(c, data) if rev == target else data
    elif kind == "random-bytes":
        files["db/V1__random.sql"] = G.random_bytes(c, c.pick([16, 256, 4096]))
    else:  # config
        files["migsafe.toml"] = G.config_text(c)
        files["db/V1__create.sql"] = b"CREATE TABLE users (id bigint PRIMARY KEY, email text);\n"
        files["db/V2__change.sql"] = b"ALTER TABLE users DROP COLUMN email;\nCREATE INDEX i ON users (id);\n"
        args = ["check", ".", "--format", "json", "--no-cache"]  # no Python here: --no-exec may come from the config
    return {"kind": kind, "files": files, "args": args}


def write_case(root: Path, case: dict) -> None:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for rel, data in case["files"].items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def undecodable_sql(case: dict) -> list[str]:
    """SQL files that are not UTF-8 (after a BOM): each must be reported not-analyzed."""
    bad = []
    for rel, data in case["files"].items():
        if rel.endswith(".sql"):
            try:
                data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
            except UnicodeDecodeError:
                bad.append(rel)
    return bad


def run(args: list[str], cwd: Path, timeout: float) -> tuple[int | None, str, str, str | None]:
    """(exit code, stdout, stderr, problem): problem names an escaped exception or a timeout."""
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        code, out, err = G.run_inprocess(args, cwd)
        return code, out, err, None
    except Timeout:
        return None, "", "", f"timeout: more than {timeout}s"
    except BaseException as e:  # noqa: BLE001 - anything escaping main is the bug we look for
        return None, "", "", f"exception escaped main: {type(e).__name__}: {e}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def judge(case: dict, code, out: str, err: str, problem: str | None) -> list[str]:
    """What is wrong with one run; [] when nothing."""
    if problem:
        return [problem]
    failures = []
    if "internal error" in err or "Traceback" in err:
        failures.append(f"internal error: {err.strip()[:300]}")
    if case["kind"] == "config":
        if code == 2:
            lines = err.strip("\n").split("\n")
            if len(lines) != 1 or not lines[0].startswith("migsafe: error:"):
                failures.append(f"exit 2 without one error line: {err[:300]!r}")
            return failures
    elif code == 2:
        if case["kind"] == "mutated-alembic" and GRAPH_ERROR.match(err) and err.count("\n") == 1:
            return failures  # a revision graph alembic itself refuses: one line, by design (counted)
        failures.append(f"exit 2 on a file input: {err.strip()[:300]}")
        return failures
    if code not in (0, 1):
        failures.append(f"exit code {code}")
        return failures
    try:
        report = json.loads(out)
    except ValueError as e:
        return failures + [f"stdout is not valid JSON: {e}"]
    rules = [f["rule"] for f in report["findings"]]
    if code == 0 and any(f["severity"] == "error" and f["rule"] == "not-analyzed" for f in report["findings"]):
        failures.append("exit 0 with a not-analyzed finding")
    not_analyzed = {f["path"] for f in report["findings"] if f["rule"] == "not-analyzed"}
    for rel in undecodable_sql(case):
        if rel not in not_analyzed and case["kind"] != "config":
            failures.append(f"{rel} is not UTF-8 but was not reported not-analyzed")
    if code == 1 and not report["findings"]:
        failures.append("exit 1 without findings")
    del rules
    return failures


def check_one(seed: int, index: int, scratch: Path, timeout: float, sample_every: int) -> tuple[str, int, list[str]]:
    case = make_case(seed, index)
    root = scratch / "case"
    write_case(root, case)
    code, out, err, problem = run(case["args"], root, timeout)
    runs = 1
    failures = judge(case, code, out, err, problem)
    if not failures and index % sample_every == 0:
        # Determinism on a sample: the same input, a second time, gives the same bytes.
        again = run(case["args"], root, timeout)
        runs += 1
        if again[:3] != (code, out, err):
            failures.append("nondeterministic: a second run gave different output")
        # Another report format: same exit code, no internal error.
        fmt = OTHER_FORMATS[index // sample_every % len(OTHER_FORMATS)]
        args = [a if a != "json" else fmt for a in case["args"]]
        other = run(args, root, timeout)
        runs += 1
        if other[3] or other[0] != code or "internal error" in other[2]:
            failures.append(f"--format {fmt}: exit {other[0]} (json gave {code}) {other[3] or other[2][:200]}")
    kind = case["kind"] + (" (exit 2)" if code == 2 and not failures else "")
    return kind, runs, failures


def save_failure(out_dir: Path, seed: int, index: int, failures: list[str]) -> None:
    case = make_case(seed, index)
    folder = out_dir / f"{case['kind']}-{seed}-{index}"
    write_case(folder / "input", case)
    (folder / "meta.json").write_text(json.dumps(
        {"seed": seed, "index": index, "kind": case["kind"], "args": case["args"], "failures": failures,
         "replay": f"python scripts/fuzz.py --replay {index} --seed {seed}"}, indent=2) + "\n")


def worker(job: tuple[int, int, int, int, float, int, str]) -> dict:
    seed, start, stop, step, timeout, sample_every, out_dir = job
    signal.signal(signal.SIGALRM, _alarm)
    scratch = Path(tempfile.mkdtemp(prefix="migsafe-fuzz-"))
    tried, runs, by_kind, failed = 0, 0, Counter(), []
    started = time.monotonic()
    try:
        for index in range(start, stop, step):
            kind, n, failures = check_one(seed, index, scratch, timeout, sample_every)
            tried += 1
            runs += n
            by_kind[kind] += 1
            if failures:
                failed.append((index, kind, failures))
                save_failure(Path(out_dir), seed, index, failures)
            if tried % 5000 == 0:
                print(f"  worker {start}: {tried} inputs, {len(failed)} failures, "
                      f"{tried / (time.monotonic() - started):.0f}/s", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"tried": tried, "runs": runs, "by_kind": by_kind, "failed": failed}


# --- differential mode ---------------------------------------------------------------------

COLLECT_SQLITE_TOO = ("mlflow", "optuna", "prefect")  # Alembic projects also rendered for SQLite
# Alembic corpora of issue 15 not (yet) in benchmarks/corpus.py: (unpacked folder, versions folder, dialect).
MORE_ALEMBIC = [
    ("nova-34.0.0", "nova/db/main/migrations/versions", "mysql"),
    ("nova-34.0.0", "nova/db/api/migrations/versions", "mysql"),
    ("cinder-29.0.0", "cinder/db/migrations/versions", "mysql"),
    ("glance-33.0.0", "glance/db/sqlalchemy/alembic_migrations/versions", "mysql"),
    ("ironic-39.0.0", "ironic/db/sqlalchemy/alembic/versions", "mysql"),
    ("octavia-19.0.0", "octavia/db/migration/alembic_migrations/versions", "mysql"),
    ("lemur-1.9.3", "lemur/migrations/versions", "postgresql"),
    ("pgadmin4-9.18", "pgadmin4/migrations/versions", "sqlite"),
    ("mindsdb-26.1.0", "mindsdb/migrations/versions", "postgresql"),
    ("arize-phoenix-20.26.1", "phoenix/db/migrations/versions", "postgresql"),
    ("arize-phoenix-20.26.1", "phoenix/db/migrations/versions", "sqlite"),
]


def corpus_targets() -> list[tuple[Path, list[str], str]]:
    """(working directory, paths to check, dialect) of every unpacked corpus project."""
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import corpus
    import django_corpus

    cache = REPO_ROOT / ".corpus-cache"
    targets = []
    for name, spec, folders in corpus.PROJECTS:
        root = cache / spec.replace("==", "-") / "unpacked"
        for folder, dialect in folders:
            if (root / folder).is_dir():
                targets.append((root, [folder], dialect))
                if name in COLLECT_SQLITE_TOO and dialect != "sqlite":
                    targets.append((root, [folder], "sqlite"))
    for name, folder, dialect in MORE_ALEMBIC:
        target = (cache / name / "unpacked", [folder], dialect)
        if (cache / name / "unpacked" / folder).is_dir() and target not in targets:
            targets.append(target)
    for app in django_corpus.APPS:
        root = cache / app.spec.replace("==", "-") / "unpacked"
        if root.is_dir():
            targets.append((root, list(app.packages), "postgresql"))
    return targets


def collect_child(dialect: str, paths: list[str]) -> None:
    """Print (JSON) the text of every statement migsafe judges when checking `paths` from here."""
    import migsafe.judge as J

    seen: dict[str, None] = {}
    judge = J.judge

    def recording(migration, *args):
        seen.update((s.sql, None) for s in migration.statements if not s.sql.lstrip().startswith("--"))
        return judge(migration, *args)

    J.judge = recording
    G.run_inprocess(["check", *paths, "--dialect", dialect, "--no-cache", "--format", "json"], Path.cwd())
    print(json.dumps(list(seen)))


def collect(out: Path) -> None:
    import subprocess

    from migsafe.sql.split import SplitError, split_sql

    statements: dict[tuple[str, str], str] = {}
    for root, paths, dialect in corpus_targets():
        child = subprocess.run([sys.executable, __file__, "--collect-child", dialect, *paths], cwd=root,
                               capture_output=True, text=True)
        found = json.loads(child.stdout.strip().splitlines()[-1]) if child.returncode == 0 and child.stdout else []
        print(f"  {root.parent.name} {' '.join(paths)} ({dialect}): {len(found)} statements", flush=True)
        for sql in found:
            statements.setdefault((dialect, sql), root.parent.name)
    for path in sorted(REPO_ROOT.glob("fixtures/**/*.sql")) + sorted(REPO_ROOT.glob("tests/**/*.sql")):
        for dialect in ("postgresql", "sqlite"):
            try:
                for stmt in split_sql(path.read_text("utf-8", "replace"), dialect):
                    statements.setdefault((dialect, stmt.sql), str(path.relative_to(REPO_ROOT)))
            except SplitError:
                pass
    rows = [{"dialect": d, "sql": sql, "from": origin} for (d, sql), origin in statements.items()]
    out.write_text(json.dumps(rows, indent=0) + "\n")
    print(f"{len(rows)} statements written to {out}: " + ", ".join(
        f"{d} {n}" for d, n in Counter(r["dialect"] for r in rows).items()))


# Tokens for mutating: strings, quoted names, dollar bodies and comments kept whole.
MUTATION_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\$(\w*)\$.*?\$\1\$|--[^\n]*|/\*.*?\*/"""
                            r"""|::|<>|!=|<=|>=|\|\||\w+|\S""", re.S)
INSERTED = ("(", ")", ",", "NOT", "NULL", "DEFAULT", "+", "=", "'x'", "1", "TABLE", "COLUMN", "ADD", "DROP",
            "ON", "AS", "KEY", "CHECK", "(1", "varchar(", ".", "*", "SET", "TO", "INDEX", "PRIMARY")


def mutant(rng: random.Random, sql: str) -> str:
    """`sql` changed in one or two places, at token boundaries."""
    for _ in range(rng.choice((1, 1, 1, 2))):
        spans = [m.span() for m in MUTATION_TOKEN.finditer(sql)]
        if not spans:
            return sql
        k = rng.randrange(len(spans))
        a, b = spans[k]
        op = rng.randrange(7)
        if op == 0:  # delete a token
            sql = sql[:a] + sql[b:]
        elif op == 1:  # insert a token
            sql = sql[:a] + rng.choice(INSERTED + (sql[slice(*rng.choice(spans))],)) + " " + sql[a:]
        elif op == 2:  # duplicate a token
            sql = sql[:b] + " " + sql[a:b] + sql[b:]
        elif op == 3 and k + 1 < len(spans):  # swap two neighbours
            c, d = spans[k + 1]
            sql = sql[:a] + sql[c:d] + sql[b:c] + sql[a:b] + sql[d:]
        elif op == 4:  # drop a parenthesis
            parens = [s for s in spans if sql[s[0]:s[1]] in "()"]
            if parens:
                a, b = rng.choice(parens)
                sql = sql[:a] + sql[b:]
        elif op == 5:  # a comma at the end
            sql = sql.rstrip() + ","
        else:  # cut short
            sql = sql[:a].rstrip()
    return sql


def engine_rejects(sql: str, dialect: str) -> bool | None:
    """The engine's own parser on one file's text: True rejected, False accepted, None cannot say
    (SQLite: several statements). SQLite stops at a table it does not know before reading on, so
    each table it asks for is made and the text read again."""
    if dialect == "postgresql":
        from pglast import parser

        try:
            parser.parse_sql(sql)
        except parser.ParseError:
            return True
        return False
    import sqlite3

    if re.fullmatch(r"\s*((--[^\n]*|/\*.*?\*/)\s*)*", sql, re.S):
        return False  # no statement at all
    db = sqlite3.connect(":memory:")
    try:
        for _ in range(5):
            try:
                db.execute(sql if re.match(r"\s*explain\b", sql, re.I) else "EXPLAIN " + sql)
                return False
            except sqlite3.ProgrammingError:
                return None  # "You can only execute one statement at a time."
            except sqlite3.Error as err:
                missing = re.match(r"no such table: (?:main\.)?(\S+)$", str(err))
                if missing is None:
                    return bool(re.search(r"syntax error|incomplete input|unrecognized token", str(err)))
                try:
                    db.execute('CREATE TABLE "%s" (x)' % missing.group(1).replace('"', '""'))
                except sqlite3.Error:
                    return None
            except ValueError:  # a NUL character
                return None
        return None
    finally:
        db.close()


def differential(a) -> int:
    rows = json.loads(Path(a.statements).read_text())
    seeds = [r["sql"] for r in rows if r["dialect"] == a.dialect and r["sql"].strip()]
    accepted = [s for s in seeds if engine_rejects(s, a.dialect) is False]
    print(f"{len(seeds)} {a.dialect} statements, {len(accepted)} accepted by the engine's parser as seeds "
          f"({len(seeds) - len(accepted)} left out)", flush=True)
    if not accepted:
        return 1
    rng = random.Random(a.seed)
    counts: Counter = Counter()
    silent: list[tuple[str, str]] = []
    crashed: list[dict] = []
    scratch = Path(tempfile.mkdtemp(prefix="migsafe-difffuzz-"))
    started = time.monotonic()
    batch = 200
    try:
        for first in range(0, a.inputs, batch):
            mutants = {}
            for k in range(first, min(first + batch, a.inputs)):
                seed = rng.choice(accepted)
                text = mutant(rng, seed)
                verdict = engine_rejects(text, a.dialect)
                if verdict is None or text.strip() == seed.strip():
                    counts["skipped (several statements, or unchanged)"] += 1
                    continue
                mutants[f"db/V{k + 1}__mutant.sql"] = (text, verdict)
            write_case(scratch, {"files": {rel: (t + ";\n").encode() for rel, (t, _) in mutants.items()}})
            code, out, err, problem = run(["check", ".", "--format", "json", "--no-cache", "--dialect", a.dialect],
                                          scratch, a.timeout)
            if problem or code not in (0, 1):  # a crash: the batch is kept for a look
                counts["migsafe failed (batches saved)"] += len(mutants)
                crashed.append({"problem": problem or err.strip()[:300], "mutants": [t for t, _ in mutants.values()]})
                print(f"  batch at {first}: {crashed[-1]['problem']}", flush=True)
                continue
            flagged = {f["path"] for f in json.loads(out)["findings"] if f["rule"] == "not-analyzed"}
            for rel, (text, rejected) in mutants.items():
                reported = rel in flagged
                if rejected and not reported:
                    silent.append((rel, text))
                counts[{(True, True): "rejected, not-analyzed", (True, False): "rejected, SILENT PASS",
                        (False, True): "accepted, not-analyzed (syntax migsafe does not read)",
                        (False, False): "accepted, analysed"}[rejected, reported]] += 1
            if (first // batch) % 50 == 0:
                print(f"  {first + batch} mutants, {len(silent)} silent passes, "
                      f"{(first + batch) / (time.monotonic() - started):.0f}/s", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{a.dialect}: {sum(counts.values())} mutants in {time.monotonic() - started:.0f}s")
    for what, n in counts.most_common():
        print(f"  {n:7d}  {what}")
    if silent or crashed:
        out_dir = Path(a.out).resolve()
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"silent-{a.dialect}-{a.seed}.json").write_text(
            json.dumps({"silent": silent, "crashed": crashed}, indent=1) + "\n")
        for rel, text in silent[:20]:
            print(f"  silent: {text[:200]!r}")
        print(f"saved to {out_dir}")
    return 1 if silent or crashed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds one input may take")
    parser.add_argument("--sample-every", type=int, default=25, help="rerun every Nth input (determinism)")
    parser.add_argument("--out", default="fuzz-failures", help="folder for failing inputs")
    parser.add_argument("--replay", type=int, metavar="INDEX", help="run one input and print the details")
    parser.add_argument("--collect", metavar="FILE", help="differential mode: harvest statements into FILE")
    parser.add_argument("--collect-child", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    parser.add_argument("--statements", metavar="FILE", help="differential mode: mutate the statements of FILE")
    parser.add_argument("--dialect", choices=("postgresql", "sqlite"), default="postgresql")
    a = parser.parse_args()
    if a.collect_child:
        collect_child(a.collect_child[0], a.collect_child[1:])
        return 0
    if a.collect:
        collect(Path(a.collect))
        return 0
    if a.statements:
        signal.signal(signal.SIGALRM, _alarm)
        return differential(a)

    if a.replay is not None:
        signal.signal(signal.SIGALRM, _alarm)
        scratch = Path(tempfile.mkdtemp(prefix="migsafe-fuzz-"))
        case = make_case(a.seed, a.replay)
        write_case(scratch / "case", case)
        code, out, err, problem = run(case["args"], scratch / "case", a.timeout)
        print(json.dumps({"kind": case["kind"], "args": case["args"], "files": sorted(case["files"]),
                          "exit": code, "problem": problem, "stderr": err}, indent=2))
        print(out[:4000])
        print("failures:", judge(case, code, out, err, problem) or "none")
        print("files are in", scratch / "case")
        return 0

    out_dir = Path(a.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    jobs = [(a.seed, k, a.inputs, a.jobs, a.timeout, a.sample_every, str(out_dir)) for k in range(a.jobs)]
    print(f"migsafe fuzz: {a.inputs} inputs, seed {a.seed}, {a.jobs} worker(s); failures go to {out_dir}",
          flush=True)
    if a.jobs == 1:
        results = [worker(jobs[0])]
    else:
        with multiprocessing.get_context("fork").Pool(a.jobs) as pool:
            results = pool.map(worker, jobs)
    elapsed = time.monotonic() - started
    tried = sum(r["tried"] for r in results)
    runs = sum(r["runs"] for r in results)
    by_kind = sum((r["by_kind"] for r in results), Counter())
    failed = sorted(f for r in results for f in r["failed"])
    categories = Counter(msg.split(":")[0] for _, _, msgs in failed for msg in msgs)
    print(f"\ninputs tried: {tried} ({runs} migsafe runs) in {elapsed:.0f}s, {tried / elapsed:.0f} inputs/s")
    print("by kind:", ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items())))
    print(f"failing inputs: {len(failed)}")
    for category, n in categories.most_common():
        print(f"  {n:6d}  {category}")
    for index, kind, msgs in failed[:20]:
        print(f"  #{index} {kind}: {msgs[0][:200]}")
    if failed:
        print(f"saved to {out_dir}; replay one with: python scripts/fuzz.py --replay INDEX --seed {a.seed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The same input gives byte-identical output (text and JSON) whatever the order of the PATHs,
the order files were created in, the hash seed, or (up to the paths themselves) the working
directory. For the SQL fixture fixtures/demo, the Alembic fixture fixtures/alembic_shop, and a
generated project with what those lack: an Alembic graph with branches, a merge, depends_on, a
branch label and two heads (revision file names in no graph order), and several SQL folders
whose migrations share names.

Every run passes --no-cache: a cached result would make a second run identical by construction.
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
    code, out, err = run_cli(["check", *args, "--no-cache"], cwd=cwd)
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


@pytest.mark.slow  # (migsafe run in fresh processes)
@pytest.mark.parametrize("fmt", FORMATS)
def test_hash_seed(fmt):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    env["PYTHONPATH"] = str(REPO_ROOT / "src")
    outputs = set()
    for seed in ("0", "1", "4242", "random"):
        proc = subprocess.run([sys.executable, "-m", "migsafe", "check", *FIXTURES, "--format", fmt, "--no-cache"],
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
                    for e in f["fix"]["edits"]:
                        e["path"] = prefix + e["path"]
                reports.append(json.dumps(report, sort_keys=True))
            else:
                text = "\n".join(prefix + line if line.startswith(("demo/", "alembic_shop/")) else line
                                 for line in out.split("\n"))
                # A long heading wraps at the report's width, so a longer path moves its line
                # breaks (report/text.py): compared with the breaks taken out.
                reports.append(" ".join(text.split()))
    assert reports[0] == reports[2] and reports[1] == reports[3]
    # Inside one fixture, with "." as PATH: the same findings, paths relative to it.
    for fixture in FIXTURES:
        out = cli(run_cli, [".", "--format", "json"], REPO_ROOT / fixture)
        inside = json.loads(out)["findings"]
        for f in inside:
            f["path"] = f"{fixture}/{f['path']}"
            for e in f["fix"]["edits"]:
                e["path"] = f"{fixture}/{e['path']}"
        whole = [f for f in json.loads(reports[FORMATS.index("json")])["findings"] if f["path"].startswith(fixture + "/")]
        assert inside == whole


def test_second_run_in_one_process_is_identical(run_cli):
    """Module-level caches (parsed modules, tokenizer classes) never change a second report."""
    first = [cli(run_cli, [*FIXTURES, "--format", fmt], REPO_ROOT) for fmt in FORMATS]
    second = [cli(run_cli, [*FIXTURES, "--format", fmt], REPO_ROOT) for fmt in FORMATS]
    assert first == second


# --- a generated project: a branching Alembic graph, several SQL folders ------------------

# (file name, id, down_revision, extra module lines, upgrade body). File names sort in no
# order of the graph: the merge comes first, the base last.
REVISIONS = [
    ("0merge_e3.py", "e3", ("d2", "c1"), "", "pass"),
    ("1head_f4.py", "f4", "e3", 'depends_on = "c1"',
     'op.alter_column("orders", "total", new_column_name="amount")\n    op.drop_table("audit")'),
    ("2other_head_g5.py", "g5", "a0", "", 'op.add_column("audit", sa.Column("at", sa.DateTime(), nullable=False))'),
    ("5left_b1.py", "b1", "a0", 'branch_labels = ("left",)',
     'op.add_column("users", sa.Column("phone", sa.Text()))\n    op.drop_column("orders", "note")'),
    ("6left_d2.py", "d2", "b1", "", 'op.alter_column("users", "email", nullable=False)'),
    ("7right_c1.py", "c1", "a0", "", 'op.create_index("ix_orders_user", "orders", ["user_id"])'),
    ("9base_a0.py", "a0", None, "",
     'op.create_table("users", sa.Column("id", sa.BigInteger(), primary_key=True), sa.Column("email", sa.Text()))\n'
     '    op.create_table("orders", sa.Column("id", sa.BigInteger(), primary_key=True),\n'
     '                    sa.Column("user_id", sa.BigInteger()), sa.Column("total", sa.Integer()),\n'
     '                    sa.Column("note", sa.Text()))\n'
     '    op.create_table("audit", sa.Column("id", sa.BigInteger(), primary_key=True))'),
]
SQL = {
    "sql_a/V1__users.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY, email text);\n",
    "sql_a/V2__change.sql": "ALTER TABLE accounts DROP COLUMN email;\nCREATE INDEX i_a ON accounts (id);\n",
    "sql_b/V1__users.sql": "CREATE TABLE people (id bigint PRIMARY KEY, name text);\n",  # same names as sql_a
    "sql_b/V2__change.sql": "ALTER TABLE people ALTER COLUMN name SET NOT NULL;\n",
    "sql_c/0001_start/up.sql": "CREATE TABLE items (id int PRIMARY KEY, sku text);\n",
    "sql_c/0002_more/up.sql": "ALTER TABLE items RENAME COLUMN sku TO code;\n",
    "sql_c/0002_more/down.sql": "ALTER TABLE items RENAME COLUMN code TO sku;\n",
}
PROJECT_PATHS = ["shop", "sql_a", "sql_b", "sql_c"]


def _revision(rid: str, down, extra: str, body: str) -> str:
    return (f'"""{rid}"""\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = "{rid}"\n'
            f"down_revision = {down!r}\n{extra}\n\n\ndef upgrade():\n    {body}\n\n\ndef downgrade():\n    pass\n")


def write_project(root: Path, reverse: bool = False) -> Path:
    """The generated project below root, files created in sorted or reverse-sorted order."""
    files = {"shop/alembic.ini": "[alembic]\nscript_location = migrations\n"
                                 "sqlalchemy.url = postgresql://localhost/shop\n",
             "shop/migrations/env.py": "",
             **{f"shop/migrations/versions/{name}": _revision(rid, down, extra, body)
                for name, rid, down, extra, body in REVISIONS},
             **SQL}
    for rel in sorted(files, reverse=reverse):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[rel], encoding="utf-8")
    return root


def test_generated_project_is_judged_as_a_graph(run_cli, tmp_path):
    """The project means what the tests below assume: every revision and SQL file reported,
    revisions in an order Alembic could run them (parents first, each branch to its end)."""
    report = json.loads(cli(run_cli, [*PROJECT_PATHS, "--format", "json"], write_project(tmp_path)))
    assert report["summary"]["files"] == len(REVISIONS) + len(SQL) - 1  # down.sql goes with its up.sql
    found = {(f["migration"], f["rule"]) for f in report["findings"]}
    assert "not-analyzed" not in {rule for _, rule in found}
    # One per branch, and after the merge: each revision replayed on its parents' schema.
    assert {("b1", "drop-column"), ("d2", "set-not-null"), ("c1", "non-concurrent-index"),
            ("f4", "rename-column"), ("f4", "drop-table"), ("g5", "not-null-without-default")} <= found


@pytest.mark.parametrize("no_exec", [False, True], ids=["rendered", "no-exec"])
def test_generated_project_path_and_creation_order(run_cli, tmp_path, no_exec):
    extra = ["--no-exec"] if no_exec else []
    a, b = write_project(tmp_path / "a"), write_project(tmp_path / "b", reverse=True)
    orders = [PROJECT_PATHS, PROJECT_PATHS[::-1], ["sql_b", "shop", "sql_c", "sql_a", "sql_b"]]
    outputs = {cli(run_cli, [*order, "--format", fmt, *extra], root)
               for root in (a, b) for order in orders for fmt in ("json",)}
    assert len(outputs) == 1
    text = {cli(run_cli, [*order, *extra], root) for root, order in ((a, orders[0]), (b, orders[1]))}
    assert len(text) == 1


@pytest.mark.slow  # (migsafe run in fresh processes)
def test_generated_project_hash_seed_and_working_directory(tmp_path):
    """In subprocesses: a hash seed is fixed at interpreter start. From the project folder and
    from its parent (paths then carry the prefix "p/", nothing else changes)."""
    write_project(tmp_path / "p")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    env["PYTHONPATH"] = str(REPO_ROOT / "src")
    outputs = set()
    for seed, cwd, prefix in (("0", "p", ""), ("1", "p", ""), ("4242", ".", "p/"), ("random", ".", "p/")):
        proc = subprocess.run([sys.executable, "-m", "migsafe", "check", *(prefix + p for p in PROJECT_PATHS),
                               "--format", "json", "--no-cache"], cwd=tmp_path / cwd,
                              env={**env, "PYTHONHASHSEED": seed}, capture_output=True, text=True, timeout=300)
        assert (proc.returncode, proc.stderr) == (1, ""), proc.stderr
        report = json.loads(proc.stdout)
        for f in report["findings"]:
            for place in [f, *f["fix"]["edits"]]:
                assert place["path"].startswith(prefix)
                place["path"] = place["path"].removeprefix(prefix)
        outputs.add(json.dumps(report))
    assert len(outputs) == 1


@pytest.mark.slow  # (migsafe run in fresh processes)
def test_revision_looping_over_a_set_reports_the_same_under_every_hash_seed(tmp_path):
    """A revision's own nondeterminism (a loop over a set of table names, as real revisions do)
    must not reach the report: the command line runs under one fixed hash seed."""
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "0001_tables.py").write_text(
        'from alembic import op\nimport sqlalchemy as sa\nrevision = "0001"\ndown_revision = None\n\n'
        "def upgrade():\n"
        + "".join(f'    op.create_table("t{i}", sa.Column("id", sa.Integer, primary_key=True))\n' for i in range(12))
        + "\ndef downgrade():\n    pass\n", encoding="utf-8")
    (versions / "0002_loop.py").write_text(
        'from alembic import op\nimport sqlalchemy as sa\nrevision = "0002"\ndown_revision = "0001"\n\n'
        "def upgrade():\n"
        f"    for name in {{{', '.join(repr(f't{i}') for i in range(12))}}}:\n"
        '        op.add_column(name, sa.Column("note", sa.Text()))\n'
        "\ndef downgrade():\n    pass\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    env["PYTHONPATH"] = str(REPO_ROOT / "src")
    outputs = set()
    for seed in ("1", "2", "3", "4242", "random"):
        proc = subprocess.run([sys.executable, "-m", "migsafe", "check", "versions", "--format", "json", "--no-cache"],
                              cwd=tmp_path, env={**env, "PYTHONHASHSEED": seed}, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr  # warnings only
        assert '"missing-lock-timeout"' in proc.stdout
        outputs.add(proc.stdout)
    assert len(outputs) == 1

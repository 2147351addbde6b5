"""Alembic revisions run in a worker process: a revision that hangs, exits, crashes, prints,
changes the working directory or sys.path, or monkeypatches a library is contained there and
reported as `not-analyzed` with the reason, while the revisions around it are judged as usual."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from migsafe import engine
from migsafe.config import load_settings
from migsafe.rules import default_severities
from migsafe.sources.core.worker import Renderer

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork worker (spawn is tested separately)")

HEAD = "from alembic import op\nimport sqlalchemy as sa\n\nrevision = {rev!r}\ndown_revision = {down!r}\n\n\n"
BODY_LINE = 8  # the first line of a body below HEAD

USERS = """
    def upgrade():
        op.create_table("users", sa.Column("id", sa.Integer, primary_key=True), sa.Column("email", sa.Text))
"""
HANGS = """
    def upgrade():
        op.execute("SET lock_timeout = '1s'")
        while True:
            pass
"""
EXITS = """
    import os

    def upgrade():
        op.execute("SET lock_timeout = '1s'")
        os._exit(7)
"""
SEGFAULTS = """
    import ctypes

    def upgrade():
        op.execute("SET lock_timeout = '1s'")
        ctypes.string_at(0)
"""
PRINTS = """
    import os
    import sys

    print("noise at import")
    sys.stderr.write("noise on stderr\\n")

    def upgrade():
        print("noise in upgrade")
        os.write(1, b"noise on fd 1\\n")
        os.write(2, b"noise on fd 2\\n")
        os.system("echo noise from a subprocess; echo noise from a subprocess >&2")
        op.execute("SET lock_timeout = '1s'")
        op.drop_column("users", "email")
"""
MEDDLES = """
    import os
    import sys

    import sqlalchemy

    def upgrade():
        op.execute("SET lock_timeout = '1s'")
        op.create_index("ix_users_email", "users", ["email"])
        os.chdir("/")
        sys.path.insert(0, "/nowhere")
        os.environ["MIGSAFE_MEDDLED"] = "1"
        sqlalchemy.Column = None  # would break every later revision that builds a column
        sa.Table.__init__ = None
"""
NORMAL = """
    def upgrade():
        op.execute("SET lock_timeout = '1s'")
        op.add_column("users", sa.Column("nickname", sa.Text(), nullable=False))
"""


def revisions(folder: Path, *bodies: str) -> Path:
    """A versions/ folder with one revision per body, a linear chain r001, r002, ..."""
    versions = folder / "versions"
    versions.mkdir(parents=True)
    down = None
    for n, body in enumerate(bodies, 1):
        rev = f"r{n:03d}"
        text = HEAD.format(rev=rev, down=down) + textwrap.dedent(body).strip() + "\n\n\ndef downgrade():\n    pass\n"
        (versions / f"{rev}_x.py").write_text(text)
        down = rev
    return versions


def line_of(versions: Path, rev: str, needle: str) -> int:
    lines = next(versions.glob(f"{rev}_*.py")).read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if needle in line)


def judged(report: dict) -> list[tuple[str, str, int]]:
    return sorted((Path(f["path"]).name[:4], f["rule"], f["line"]) for f in report["findings"])


def reasons(report: dict) -> dict[str, str]:
    return {Path(f["path"]).name[:4]: f["message"] for f in report["findings"] if f["rule"] == "not-analyzed"}


def configure(folder: Path, timeout: float) -> None:
    (folder / "migsafe.toml").write_text(f"render-timeout = {timeout}\nignore = [\"irreversible-migration\"]\n")


def test_hostile_revisions_are_not_analyzed_and_the_others_judged(tmp_path, run_cli):
    versions = revisions(tmp_path, USERS, HANGS, EXITS, SEGFAULTS, PRINTS, MEDDLES, NORMAL)
    configure(tmp_path, 0.5)
    cwd, path = os.getcwd(), list(sys.path)
    started = time.monotonic()
    code, out, err = run_cli(["check", "versions", "--format", "json"], cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert code == 1, err
    report = json.loads(out)
    loop = (line_of(versions, "r002", "while True"), line_of(versions, "r002", "pass"))
    stuck = next((f["line"] for f in report["findings"] if f["path"].endswith("r002_x.py")), None)
    assert stuck in loop
    assert judged(report) == sorted([
        ("r002", "not-analyzed", stuck),  # where it was stuck
        ("r003", "not-analyzed", 1),
        ("r004", "not-analyzed", line_of(versions, "r004", "string_at")),  # faulthandler's dump
        ("r005", "drop-column", line_of(versions, "r005", "drop_column")),
        ("r006", "non-concurrent-index", line_of(versions, "r006", "create_index")),
        ("r007", "not-null-without-default", line_of(versions, "r007", "add_column")),
    ])
    why = reasons(report)
    assert "did not finish within 0.5 s (render-timeout)" in why["r002"]
    assert "exit code 7" in why["r003"]
    assert "signal 11, SIGSEGV" in why["r004"]
    assert "noise" not in out and "noise" not in err and err == ""
    # Nothing the revisions did reached migsafe's own process.
    assert os.getcwd() == cwd and sys.path == path and "MIGSAFE_MEDDLED" not in os.environ
    if "sqlalchemy" in sys.modules:
        assert sys.modules["sqlalchemy"].Column is not None
    assert elapsed < 15


def test_worker_started_ahead_is_the_one_that_renders(tmp_path, monkeypatch):
    """pre-commit's path (launch.py): the worker forks before migsafe imports the rest of itself;
    the Renderer takes it while it is still importing, and no second worker starts."""
    from migsafe.sources.core import worker

    versions = revisions(tmp_path, USERS, NORMAL)
    monkeypatch.setattr(worker, "_forked_before", False)
    worker._stop_idle()
    worker.start_ahead("alembic")
    ahead = worker._idle[-1]
    assert not ahead.ready  # still importing Alembic
    with Renderer("postgresql") as renderer:
        for path in sorted(versions.glob("*.py")):
            assert renderer.render(path, path.read_text(), tmp_path).error is None
            assert renderer._worker is ahead
    worker._stop_idle()


@pytest.mark.slow  # (a process started from scratch: seconds)
def test_report_on_stdout_is_valid_json_in_a_real_process(tmp_path):
    revisions(tmp_path, USERS, PRINTS, EXITS, NORMAL)
    configure(tmp_path, 5)
    proc = subprocess.run([sys.executable, "-m", "migsafe", "check", "versions", "--format", "json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)  # nothing but the report: no print(), no os.write(1, ...)
    assert judged(report) == [("r002", "drop-column", line_of(tmp_path / "versions", "r002", "drop_column")),
                              ("r003", "not-analyzed", 1), ("r004", "not-null-without-default", 10)]
    assert "noise" not in proc.stdout + proc.stderr
    text = subprocess.run([sys.executable, "-m", "migsafe", "check", "versions"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert "noise" not in text.stdout + text.stderr and "exit code 7" in text.stdout


def test_time_limit_holds_against_a_revision_that_swallows_it(tmp_path):
    """The worker's own alarm is caught and SIGTERM ignored: migsafe kills it anyway, and
    asks its faulthandler where it was stuck before that."""
    versions = revisions(tmp_path, """
        import signal

        def upgrade():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    pass
    """, NORMAL.replace('"users"', '"t"'))
    with Renderer("postgresql", timeout=0.5) as renderer:
        started = time.monotonic()
        first = renderer.render(versions / "r001_x.py", (versions / "r001_x.py").read_text(), tmp_path)
        assert time.monotonic() - started < 5
        second = renderer.render(versions / "r002_x.py", (versions / "r002_x.py").read_text(), tmp_path)
    assert "did not finish within 0.5 s" in first.error
    assert first.error_line in range(BODY_LINE + 6, BODY_LINE + 10)  # inside the loops
    assert renderer.recycled == ["the revision did not finish in time"]
    assert second.error is None and any("ADD COLUMN nickname" in s.sql for s in second.statements)


def test_one_worker_for_well_behaved_revisions(tmp_path):
    versions = revisions(tmp_path, USERS, NORMAL, PRINTS)
    with Renderer("postgresql") as renderer:
        pids = set()
        for path in sorted(versions.glob("*.py")):
            assert renderer.render(path, path.read_text(), tmp_path).error is None
            pids.add(renderer._worker.pid)
    assert len(pids) == 1 and renderer.recycled == []


def test_monkeypatching_replaces_the_worker(tmp_path):
    versions = revisions(tmp_path, MEDDLES, NORMAL)
    with Renderer("postgresql") as renderer:
        results = [renderer.render(p, p.read_text(), tmp_path) for p in sorted(versions.glob("*.py"))]
    assert [r.error for r in results] == [None, None]
    assert len(renderer.recycled) == 1 and "sqlalchemy" in renderer.recycled[0]
    assert any("ADD COLUMN nickname" in s.sql for s in results[1].statements)


def test_a_project_that_patches_on_import_does_not_replace_every_worker(tmp_path):
    """The application's own import-time changes (say, a compiler hook on a SQLAlchemy type)
    come back with every fresh worker: the second time they are taken as the project's state."""
    (tmp_path / "app.py").write_text(textwrap.dedent("""
        import sqlalchemy
        original = sqlalchemy.Text.__init__
        def __init__(self, *args, **kwargs):
            original(self, *args, **kwargs)
        sqlalchemy.Text.__init__ = __init__
    """))
    uses_app = "import app\n" + textwrap.dedent(NORMAL)
    versions = revisions(tmp_path, uses_app, uses_app.replace("nickname", "other"), NORMAL.replace("nickname", "x"))
    with Renderer("postgresql") as renderer:
        results = [renderer.render(p, p.read_text(), tmp_path) for p in sorted(versions.glob("*.py"))]
    assert [r.error for r in results] == [None, None, None]
    assert len(renderer.recycled) == 1 and "Text.__init__" in renderer.recycled[0]


def test_thread_left_running_replaces_the_worker(tmp_path):
    versions = revisions(tmp_path, """
        import threading
        import time

        def upgrade():
            threading.Thread(target=time.sleep, args=(60,), daemon=True, name="sleeper").start()
            op.execute("SELECT 1")
    """, NORMAL)
    with Renderer("postgresql") as renderer:
        results = [renderer.render(p, p.read_text(), tmp_path) for p in sorted(versions.glob("*.py"))]
    assert [r.error for r in results] == [None, None]
    assert renderer.recycled == ["the revision left a thread running (sleeper)"]


def test_worker_that_dies_while_its_child_holds_the_pipe(tmp_path):
    """A forked grandchild keeps the result pipe open, so no end-of-file comes: the worker's
    death is still noticed, and the grandchild is killed with it."""
    pid_file = tmp_path / "grandchild.pid"
    versions = revisions(tmp_path, f"""
        import os
        import time

        def upgrade():
            pid = os.fork()
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            open({str(pid_file)!r}, "w").write(str(pid))
            os._exit(3)
    """)
    path = versions / "r001_x.py"
    started = time.monotonic()
    with Renderer("postgresql", timeout=20) as renderer:
        result = renderer.render(path, path.read_text(), tmp_path)
    assert time.monotonic() - started < 10
    assert "exit code 3" in result.error
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _running(grandchild):
        time.sleep(0.05)
    assert not _running(grandchild)


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return "\nState:\tZ" not in status


def test_large_result_comes_back_whole(tmp_path):
    versions = revisions(tmp_path, """
        def upgrade():
            for n in range(400):
                op.execute(f"SELECT '{n:05d}{'x' * 2000}'")
    """)
    path = versions / "r001_x.py"
    with Renderer("postgresql") as renderer:
        result = renderer.render(path, path.read_text(), tmp_path)
    selects = [s.sql for s in result.statements if s.sql.startswith("SELECT")]
    assert result.error is None and len(selects) == 400 and selects[-1].startswith("SELECT '00399xx")


def test_static_reading_is_time_limited_too(tmp_path, run_cli):
    """--no-exec runs no project code, but reading statically unrolls loops: a hostile file
    still cannot hold up the run."""
    versions = revisions(tmp_path, """
        def upgrade():
            for a in range(1000):
                for b in range(1000):
                    for c in range(1000):
                        op.execute("SELECT 1")
    """, NORMAL.replace('"users"', '"t"'))
    configure(tmp_path, 0.5)
    code, out, err = run_cli(["check", "versions", "--no-exec", "--format", "json"], cwd=tmp_path)
    report = json.loads(out)
    assert code == 1 and [(rev, rule) for rev, rule, _ in judged(report)] == [
        ("r001", "not-analyzed"), ("r002", "not-null-without-default")]
    assert "did not finish within 0.5 s" in reasons(report)["r001"]


@pytest.mark.slow  # (a process started from scratch: seconds)
def test_spawn_worker(tmp_path):
    """Where there is no fork, a spawned worker does the same (slower to start)."""
    versions = revisions(tmp_path, USERS, EXITS, PRINTS)
    with Renderer("postgresql", timeout=5, method="spawn") as renderer:
        results = [renderer.render(p, p.read_text(), tmp_path) for p in sorted(versions.glob("*.py"))]
    assert results[0].error is None and results[2].error is None
    assert "exit code 7" in results[1].error
    assert any("DROP COLUMN email" in s.sql for s in results[2].statements)


def test_worker_that_cannot_start_is_exit_2(tmp_path, run_cli, monkeypatch):
    """migsafe could not do its job: one line on stderr, never a report that passes."""
    from migsafe.sources.core import contain, worker

    worker._stop_idle()

    def broken(self, *args):
        raise ImportError("alembic is broken")

    monkeypatch.setattr(contain.Guard, "__init__", broken)  # runs in the worker only
    revisions(tmp_path, USERS)
    code, out, err = run_cli(["check", "versions"], cwd=tmp_path)
    assert (code, out) == (2, "")
    assert err == "migsafe: error: the process that renders migrations did not start (exit code 70)\n"


@pytest.mark.parametrize("value, ok", [("2.5", True), ("1", True), ("0", False), ("-1", False), ('"30"', False),
                                       ("true", False), ("nan", False), ("100000", False)])
def test_render_timeout_config(tmp_path, value, ok):
    config = tmp_path / "migsafe.toml"
    config.write_text(f"render-timeout = {value}\n")
    if ok:
        assert load_settings(config, {}, set(default_severities())).render_timeout == float(value)
    else:
        with pytest.raises(Exception, match='"render-timeout" must be a number of seconds'):
            load_settings(config, {}, set(default_severities()))


def test_render_timeout_reaches_the_renderer(tmp_path):
    versions = revisions(tmp_path, HANGS)
    settings = load_settings(None, {}, set(default_severities()))
    result = engine.check([versions], dataclasses.replace(settings, render_timeout=0.3), tmp_path)
    assert [f.rule for f in result.findings] == ["not-analyzed"]
    assert "within 0.3 s" in result.findings[0].message


def test_a_fork_that_returns_does_not_answer_twice(tmp_path):
    """A revision that forks without ending the child: only the worker answers, and the next
    revision gets its own result."""
    versions = revisions(tmp_path, """
        import os

        def upgrade():
            os.fork()
            op.execute("SELECT 1")
    """, USERS)
    with Renderer("postgresql") as renderer:
        results = [renderer.render(p, p.read_text(), tmp_path) for p in sorted(versions.glob("*.py"))]
    assert [r.error for r in results] == [None, None]
    assert any("SELECT 1" in s.sql for s in results[0].statements)
    assert any("CREATE TABLE users" in s.sql for s in results[1].statements)


def test_a_namespace_package_left_by_a_failed_import_does_not_shadow_the_next_project(tmp_path, run_cli):
    """`myapp` without __init__.py stays in sys.modules as a namespace package when importing
    `myapp.db` fails and the revision goes on; the next project's own `myapp` must still be the
    one it imports (a namespace package's path follows sys.path, which the worker resets)."""
    def project(name: str, module: str, body: str) -> Path:
        root = tmp_path / name
        (root / "myapp").mkdir(parents=True)
        (root / "myapp" / module).write_text(body, encoding="utf-8")
        (root / "versions").mkdir()
        (root / "versions" / "0001_x.py").write_text(textwrap.dedent(f"""\
            from alembic import op
            import sqlalchemy as sa
            revision = "0001"
            down_revision = None

            def upgrade():
                try:
                    from myapp.{module.removesuffix('.py')} import TABLE
                except ImportError:  # an optional part of the app
                    TABLE = "{name}_fallback"
                op.drop_column(TABLE, "legacy")

            def downgrade():
                pass
            """), encoding="utf-8")
        return root

    first = project("first", "db.py", "raise ImportError('no database driver here')\n")
    second = project("second", "models.py", "TABLE = 'second_table'\n")
    run_cli(["check", "versions", "--format", "json", "--no-cache"], cwd=first)
    code, out, err = run_cli(["check", "versions", "--format", "json", "--no-cache", "--debug"], cwd=second)
    assert "second_table" in out and "second_fallback" not in out

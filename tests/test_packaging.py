"""The wheel ships the rule pages, and `migsafe explain` reads them from an installed copy; the
oldest SQLAlchemy and Alembic it may be installed with are the ones `make test` runs."""

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"could not build the wheel here (no build backend reachable): {proc.stderr.strip()[-300:]}")
    return next(out.glob("migsafe-*.whl"))


def test_wheel_contains_every_rule_page(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    pages = sorted(p.name for p in (ROOT / "rules").glob("*.md"))
    assert pages and all(f"migsafe/rule_docs/{p}" in names for p in pages)


def test_explain_from_installed_copy(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # Run from an unrelated folder with only the unpacked wheel on the path: no source tree.
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]);"
                           "import migsafe.cli; sys.exit(migsafe.cli.main(['explain', 'drop-column']))", str(site)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert 'id = "drop-column"' in proc.stdout or "drop-column" in proc.stdout.splitlines()[0]
    assert "## Why it is unsafe" in proc.stdout


def test_make_test_runs_the_oldest_sqlalchemy_and_alembic_that_pyproject_allows():
    """Widening a lower bound in pyproject.toml (a project pinned to an older SQLAlchemy could not
    install migsafe) must come with the Makefile testing that version."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    lowest = {}
    for requirement in map(Requirement, dependencies):
        if requirement.name.lower() in ("sqlalchemy", "alembic"):
            [bound] = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
            lowest[requirement.name.lower()] = bound
    pins = re.search(r"^OLDEST_PINS := (.+)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
    assert pins, "the Makefile names no OLDEST_PINS"
    tested = {name.lower(): Version(version) for name, version in re.findall(r"([\w-]+)==([\w.]+)", pins.group(1))}
    assert tested == lowest

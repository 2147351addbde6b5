"""The composite GitHub Action (action.yml), run step by step the way the runner runs it.

There is no GitHub runner here, so a small stand-in plays its part: it fills in the
`${{ inputs.* }}`, `${{ steps.*.outputs.* }}`, `${{ github.action_path }}` and
`${{ runner.temp }}` expressions of each step's `env` and `working-directory`, runs `run` steps
with `bash --noprofile --norc -eo pipefail` (the runner's `shell: bash`), and reads the
`$GITHUB_OUTPUT` file back. The install step really creates the virtualenv and pip-installs
this work tree (about 15 s). The upload step (github/codeql-action) is only checked for its
condition and arguments.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from migsafe.report import FORMATS

REPO_ROOT = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((REPO_ROOT / "action.yml").read_text())
STEPS = {step.get("id", step["name"]): step for step in ACTION["runs"]["steps"]}
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")

USERS = "CREATE TABLE users (id serial PRIMARY KEY, email varchar(120), name varchar(80) NOT NULL);\n"
DROP_EMAIL = "SET lock_timeout = '5s';\nALTER TABLE users DROP COLUMN email;\n"
SAFE = "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN phone varchar(20);\n"

needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


# --- the metadata -----------------------------------------------------------------------------


def test_action_is_a_composite_with_the_documented_inputs():
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["inputs"]) == {"paths", "args", "format", "output", "sarif-upload", "sarif-file",
                                     "sarif-category", "python"}
    assert ACTION["inputs"]["format"]["default"] == "github"
    assert ACTION["inputs"]["sarif-upload"]["default"] == "false"
    upload = STEPS["Upload SARIF to code scanning"]
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert set(upload["with"]) == {"sarif_file", "category"}
    for step in ACTION["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash"


def test_inputs_reach_scripts_only_through_the_environment():
    """No `${{ }}` inside a script: an input with quotes or `$(...)` cannot become shell code."""
    referenced = set()
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step["name"]
        text = json.dumps(step)
        referenced |= set(re.findall(r"inputs\.([\w-]+)", text))
        for ref in re.findall(r"steps\.([\w-]+)\.outputs", text):
            assert ref in STEPS, ref
    assert referenced <= set(ACTION["inputs"])
    assert referenced == set(ACTION["inputs"])  # every input is used


# --- running it -------------------------------------------------------------------------------


class Runner:
    """Plays the GitHub runner for this action's steps."""

    def __init__(self, temp: Path, workspace: Path, inputs: dict[str, str]):
        self.temp, self.workspace = temp, workspace
        self.inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
        self.inputs.update(inputs)
        self.outputs: dict[str, dict[str, str]] = {}

    def expand(self, text: str) -> str:
        def value(m: re.Match) -> str:
            expr = m.group(1)
            if expr.startswith("inputs."):
                return self.inputs[expr[len("inputs."):]]
            if m2 := re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr):
                return self.outputs.get(m2.group(1), {}).get(m2.group(2), "")
            if expr == "github.action_path":
                return str(REPO_ROOT)
            if expr == "runner.temp":
                return str(self.temp)
            raise AssertionError(f"the stand-in runner does not know ${{{{ {expr} }}}}")
        return EXPR.sub(value, text)

    def run(self, step_id: str) -> subprocess.CompletedProcess:
        step = STEPS[step_id]
        output = self.temp / f"output-{step_id}"
        output.write_text("")
        script = self.temp / f"step-{step_id}.sh"
        script.write_text(step["run"])
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MIGSAFE"))}
        env.update({k: self.expand(str(v)) for k, v in step.get("env", {}).items()})
        env.update(GITHUB_OUTPUT=str(output), GITHUB_WORKSPACE=str(self.workspace), NO_COLOR="1")
        cwd = self.workspace / self.expand(step.get("working-directory", "."))  # the workspace root
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                              cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        self.outputs[step_id] = dict(
            line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
        return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    """The install step, really: virtualenv + pip install of this work tree. Its outputs."""
    temp = tmp_path_factory.mktemp("runner-temp")
    runner = Runner(temp, temp, {"python": sys.executable})
    done = runner.run("install")
    assert done.returncode == 0, done.stdout + done.stderr
    migsafe = runner.outputs["install"]["migsafe"]
    assert Path(migsafe).is_file() and str(temp) in migsafe  # its own virtualenv, not ours
    return runner.outputs["install"]


def workspace(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def runner_for(tmp_path, installed, files, **inputs) -> Runner:
    ws = workspace(tmp_path / "ws", files)
    (tmp_path / "temp").mkdir()
    runner = Runner(tmp_path / "temp", ws, inputs)
    runner.outputs["install"] = installed
    return runner


# The default format is `github` (annotations); until that renderer exists, use text.
LOG_FORMAT = "github" if "github" in FORMATS else "text"


@pytest.mark.slow  # (installs migsafe into a fresh environment)
@needs_bash
def test_unsafe_migration_fails_the_action(tmp_path, installed):
    runner = runner_for(tmp_path, installed, {"db/V1__users.sql": USERS, "db/V2__drop.sql": DROP_EMAIL},
                        format=LOG_FORMAT, paths="db")
    done = runner.run("check")
    assert done.returncode == 0, done.stderr  # the verdict is kept for the last step
    assert runner.outputs["check"] == {"exit-code": "1"}
    assert "db/V2__drop.sql" in done.stdout and "drop-column" in done.stdout
    final = runner.run("Fail on migsafe's verdict")
    assert final.returncode == 1 and "exit code 1" in final.stdout


@pytest.mark.slow  # (installs migsafe into a fresh environment)
@needs_bash
def test_safe_migrations_pass_and_args_are_passed_on(tmp_path, installed):
    runner = runner_for(tmp_path, installed, {"db/V1__users.sql": USERS, "db/V2__drop.sql": DROP_EMAIL},
                        format="json", paths="db/V1__users.sql  db/V2__drop.sql",
                        args="--ignore drop-column --fail-on warning", output="report.json")
    done = runner.run("check")
    assert runner.outputs["check"] == {"exit-code": "0"}, done.stderr
    report = json.loads((runner.workspace / "report.json").read_text())
    assert report["findings"] == [] and report["summary"]["migrations"] == 2
    assert runner.run("Fail on migsafe's verdict").returncode == 0


@pytest.mark.slow  # (installs migsafe into a fresh environment)
@needs_bash
def test_an_empty_paths_input_checks_the_workspace(tmp_path, installed):
    runner = runner_for(tmp_path, installed, {"svc/db/V1__users.sql": USERS, "svc/db/V2__safe.sql": SAFE},
                        format="text", paths="")
    done = runner.run("check")
    assert runner.outputs["check"] == {"exit-code": "0"}, done.stderr
    assert "All checks passed: 2 migrations" in done.stdout


@needs_bash
def test_migsafe_failing_is_exit_2_not_a_pass(tmp_path, installed):
    runner = runner_for(tmp_path, installed, {"V1__users.sql": USERS}, format=LOG_FORMAT,
                        paths="no-such-folder", **{"sarif-upload": "true"})
    done = runner.run("check")
    assert runner.outputs["check"] == {"exit-code": "2"}  # and no sarif-file: nothing to upload
    assert "path does not exist: no-such-folder" in done.stderr
    final = runner.run("Fail on migsafe's verdict")
    assert final.returncode == 2


@pytest.mark.slow  # (installs migsafe into a fresh environment)
@needs_bash
def test_hostile_inputs_are_data_not_code(tmp_path, installed):
    runner = runner_for(tmp_path, installed, {"V1__users.sql": USERS}, format="text",
                        paths='"$(touch pwned)" `touch pwned2` ;touch pwned3', args="")
    runner.run("check")
    assert runner.outputs["check"]["exit-code"] == "2"  # those are (missing) paths, nothing else
    assert not any((runner.workspace / name).exists() for name in ("pwned", "pwned2", "pwned3"))


@needs_bash
@pytest.mark.skipif("sarif" not in FORMATS, reason="--format sarif is not built yet")
def test_sarif_upload_writes_the_report_for_the_upload_step(tmp_path, installed):
    runner = runner_for(tmp_path, installed, {"db/V1__users.sql": USERS, "db/V2__drop.sql": DROP_EMAIL},
                        format=LOG_FORMAT, **{"sarif-upload": "true"})
    done = runner.run("check")
    outputs = runner.outputs["check"]
    assert outputs["exit-code"] == "1", done.stderr
    sarif = Path(outputs["sarif-file"])
    assert sarif.is_absolute() and sarif == runner.workspace / "migsafe.sarif"
    log = json.loads(sarif.read_text())
    assert log["version"] == "2.1.0"
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["drop-column"]
    # The upload step's condition and arguments, as the runner would evaluate them.
    upload = STEPS["Upload SARIF to code scanning"]
    assert runner.expand(upload["with"]["sarif_file"]) == str(sarif)
    assert upload["if"] == "${{ inputs.sarif-upload == 'true' && steps.check.outputs.sarif-file != '' }}"

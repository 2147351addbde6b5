"""Shared test helpers."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest

from migsafe.cli import main


@pytest.fixture
def run_cli():
    """run_cli(args, cwd=None) -> (exit_code, stdout, stderr): migsafe.cli.main in-process."""

    def run(args: list[str], cwd: Path | str | None = None) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        before = os.getcwd()
        try:
            if cwd is not None:
                os.chdir(cwd)
            # StringIO is not a TTY, so the text report is never colored here.
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main([str(a) for a in args])
        finally:
            os.chdir(before)
        return code, out.getvalue(), err.getvalue()

    return run

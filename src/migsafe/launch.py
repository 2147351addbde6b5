"""The `migsafe` command's entry point (and `python -m migsafe`): what must happen before the
rest of migsafe is imported, then the command line itself (cli.py)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


def main() -> int:
    _with_fixed_hash_seed()
    args = sys.argv[1:]
    _start_worker_ahead(args)
    from migsafe.cli import main as command_line

    code = command_line(args)
    # Done: the report is written and the workers are stopped by the exit hooks. Tearing down
    # the interpreter (freeing every module and migration object one by one) took a tenth of a
    # second more, on every commit hook run, for nothing.
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (| head): nothing more to say
            stream.flush()
    os._exit(code)


def _with_fixed_hash_seed() -> None:
    """Migration code loops over sets of strings (tables to alter, say), whose order follows the
    interpreter's hash seed, and the worker that runs it is forked from this process. Run the
    command line under one fixed seed, so the same input gives the same report every time."""
    if os.environ.get("PYTHONHASHSEED") == "0" or os.name != "posix" or not sys.executable:
        return
    # -c puts the working directory first on sys.path: drop it, so a folder there named like a
    # module migsafe imports cannot shadow it.
    code = "import sys; del sys.path[0]; from migsafe.launch import main; sys.exit(main())"
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-c", code, *sys.argv[1:]],
                  {**os.environ, "PYTHONHASHSEED": "0"})
    except OSError:
        pass  # cannot re-run: go on with this process's seed


def _start_worker_ahead(args: list[str]) -> None:
    """pre-commit runs `migsafe check` on the staged files. When one is a migration of a source
    that renders in the worker (an Alembic revision, a Django migration: the registry says whose
    it is), that worker starts before this process imports the rest of migsafe, so the two
    imports overlap."""
    if not args or args[0] not in ("check", "fix"):
        return
    files = [Path(os.path.abspath(a)) for a in args[1:] if os.path.isfile(a)]
    if not files:
        return
    with contextlib.suppress(Exception):  # only ahead of time: the Renderer starts one itself if need be
        from migsafe.sources.registry import sources

        kind = next((s.name for s in sources() if s.renders_in_worker and any(map(s.owns, files))), None)
        if kind is not None:
            from migsafe.sources.core.worker import start_ahead

            start_ahead(kind)

"""Command line. The only module that reads arguments, prints, and picks exit codes."""

from __future__ import annotations

import dataclasses
import difflib
import io
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import click

from migsafe import dialects
from migsafe import __version__
from migsafe.errors import ExitCode, MigsafeError, UsageError
from migsafe.report import FORMAT_NAMES

DIALECTS = dialects.NAMES


def main(argv: list[str] | None = None) -> int:
    """The command line; `argv` None: sys.argv (the `migsafe` command starts in launch.py)."""
    args = sys.argv[1:] if argv is None else list(argv)
    # Checked before parsing, so a traceback is available even when parsing fails.
    debug = "--debug" in args
    try:
        rv = cli.main(args=args, prog_name="migsafe", standalone_mode=False)
        return int(rv or 0)
    except click.UsageError as e:  # also BadParameter, NoSuchOption, ...
        # One line, as the contract asks: the --help hint goes on the same line.
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        _say(f"migsafe: error: {_one_line(e.format_message())}{hint}")
        return ExitCode.ERROR  # the user's arguments, never worth a traceback
    except MigsafeError as e:
        return _fail(f"migsafe: error: {_one_line(e)}", debug)
    except click.ClickException as e:  # e.g. click.FileError
        return _fail(f"migsafe: error: {_one_line(e.format_message())}", debug)
    except (click.Abort, KeyboardInterrupt):
        return _fail("migsafe: error: interrupted", debug)
    except Exception as e:
        hint = "" if debug else " (rerun with --debug for the traceback)"
        return _fail(f"migsafe: internal error: {type(e).__name__}: {_one_line(e)}{hint}", debug)


def _fail(line: str, debug: bool) -> int:
    """Called inside `except`, so print_exc still sees the exception."""
    _say(line)
    if debug:
        traceback.print_exc(file=sys.stderr)
    return ExitCode.ERROR


def _say(line: str) -> None:
    print(line, file=sys.stderr)


def _one_line(message: object) -> str:
    return " ".join(str(message).splitlines()).strip()


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="migsafe")
@click.pass_context
def cli(ctx: click.Context) -> int:
    """Check schema migrations (Alembic, Django, SQL) for changes that break a running app."""
    if ctx.invoked_subcommand is None:
        _say(ctx.get_help())
        return ExitCode.ERROR
    return ExitCode.OK


def _discovery_options(command):
    """What `check` and `fix` share: PATHs, database, --diff, rule filter, config, --no-exec."""
    options = [
        # Existence is checked by discover (UsageError "path does not exist: X"), not by click.
        click.argument("paths", nargs=-1, type=click.Path(path_type=Path)),
        click.option("--dialect", type=click.Choice(DIALECTS), help="Database the migrations run on."),
        click.option("--target-version", metavar="N", help="Server major version, e.g. 15 or 8.0."),
        click.option("--diff", "diff_ref", metavar="REF", help="Only what changed since REF."),
        click.option("--select", metavar="RULE,...", help="Only these rules."),
        click.option("--ignore", metavar="RULE,...", help="Not these rules."),
        click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path)),
        click.option("--no-exec", is_flag=True, help="Never import or run project code."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@cli.command()
@_discovery_options
@click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES), default="text", show_default=True)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report to FILE."
)
@click.option("--fail-on", type=click.Choice(["error", "warning"]), help="Severity that exits 1.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even with findings.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the result cache.")
@click.option("--database", metavar="URL|embedded", help="Run the history on a scratch database and judge what ran.")
@click.option("--debug", is_flag=True, help="Tracebacks and timing on stderr.")
def check(
    paths: tuple[Path, ...],
    dialect: str | None,
    target_version: str | None,
    fmt: str,
    output: Path | None,
    diff_ref: str | None,
    select: str | None,
    ignore: str | None,
    fail_on: str | None,
    exit_zero: bool,
    config_file: Path | None,
    no_exec: bool,
    no_cache: bool,
    database: str | None,
    debug: bool,
) -> int:
    """Check migrations for unsafe changes.

    Finds Alembic, Django and SQL migrations below each PATH (default: the current directory).
    """
    from migsafe import engine
    from migsafe.report import FORMATS, ReportContext, source_reader

    started = time.perf_counter()
    if fmt not in FORMATS:
        raise UsageError(f"format {fmt} is not available yet")

    cwd = Path.cwd()
    settings, targets, only = _settings(paths, config_file, diff_ref, cwd, {
        "dialect": dialect, "target-version": target_version, "fail-on": fail_on,
        "select": _rule_list(select), "ignore": _rule_list(ignore), "no-exec": True if no_exec else None,
        "database": database})
    from migsafe.cache import Cache, cache_dir

    cache = Cache(None if no_cache else cache_dir())
    result = engine.check(targets, settings, cwd, only=only, cache=cache)

    to_tty = output is None and sys.stdout.isatty()
    color = fmt == "text" and to_tty and not os.environ.get("NO_COLOR")
    buf = io.StringIO()
    FORMATS[fmt](result, buf, ReportContext(color=color, source_lines=source_reader(cwd), fail_on=settings.fail_on))
    if output is None:
        sys.stdout.write(buf.getvalue())
        sys.stdout.flush()
    else:
        _write_atomic(output, buf.getvalue())
    if diff_ref is not None:
        # Never silently check nothing: say how many migrations the diff left to judge.
        judged = result.migrations if result.checked is None else len(result.checked)
        total = _plural(result.migrations, "migration")
        if judged:
            _say(f"migsafe: --diff {diff_ref}: judged {judged} of {total}, those added or changed "
                 f"since the merge base (the others were replayed for the schema only)")
        else:
            _say(f"migsafe: --diff {diff_ref}: no migration was added or changed since the merge "
                 f"base; nothing judged ({total} replayed for the schema only)")
    if debug:
        _say(f"migsafe: checked in {time.perf_counter() - started:.3f}s (cache {cache.directory or 'off'}: "
             f"{cache.hits} hits, {cache.misses} misses)")

    failing = any(f.severity.rank >= settings.fail_on.rank for f in result.findings)
    return ExitCode.FINDINGS if failing and not exit_zero else ExitCode.OK


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--database", metavar="URL|embedded", help="Where to run the history (default: config, else embedded).")
@click.option("--rows", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Fill each existing table with N generated rows before each migration.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the table to FILE.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--debug", is_flag=True, help="Tracebacks on stderr.")
def trace(paths: tuple[Path, ...], database: str | None, rows: int, fmt: str, output: Path | None,
          config_file: Path | None, debug: bool) -> int:
    """Run the history on a scratch database; per statement: locks, rewrite, scan, time.

    Exits 1 when a migration failed on the database, else 0.
    """
    from migsafe.database.run import check_on_database
    from migsafe.database.trace import render_json, render_text
    from migsafe.discover import discover

    cwd = Path.cwd()
    settings, targets, _ = _settings(paths, config_file, None, cwd, {"database": database})
    settings = dataclasses.replace(settings, database=settings.database or "embedded")
    ran: list = []
    check_on_database(discover(targets, list(settings.exclude), cwd), settings, cwd, None, rows=rows, keep=ran)
    buf = io.StringIO()
    if fmt == "json":
        render_json(ran, __version__, buf)
    else:
        render_text(ran, buf)
    if output is None:
        sys.stdout.write(buf.getvalue())
    else:
        _write_atomic(output, buf.getvalue())
    return ExitCode.FINDINGS if any(m.error is not None for m in ran) else ExitCode.OK


@cli.command()
@click.argument("rule")
def explain(rule: str) -> None:
    """Explain a rule: why it is unsafe and the safe alternative."""
    from migsafe.docs import all_rule_docs, reader_body

    docs = {d.id: d for d in all_rule_docs()}
    if rule not in docs:
        raise UsageError(_unknown_rule(rule, sorted(docs)))
    d = docs[rule]
    sys.stdout.write(f"{d.id} ({_rule_line(d.id)})\n{d.summary}\n\n")
    sys.stdout.write(reader_body(d).strip() + "\n")
    from migsafe.fixes.explain import example_fixes

    # The plan for the page's first unsafe example, as each framework writes it.
    for source, plan in example_fixes(d).items():
        sys.stdout.write(f"\n## The safe plan as {source} ({plan.summary})\n")
        for n, step in enumerate(plan.steps, 1):
            sys.stdout.write(f"\n{n}. {step.phase}: {step.title}\n\n```{step.language}\n{step.code}\n```\n")


@cli.command()
def rules() -> None:
    """List the rules with severity, dialects and summary."""
    from migsafe.docs import all_rule_docs
    from migsafe.rules import default_severities

    # Behaviour (severity, dialects) comes from the code; reader text from the rule pages.
    summaries = {d.id: d.summary for d in all_rule_docs()}
    rows = [("ID", "SEVERITY", "DIALECTS", "SUMMARY")]
    for rule_id, severity in default_severities().items():
        rows.append((rule_id, severity.value, _dialects_shown(rule_id, ","), summaries.get(rule_id, "")))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row, widths)] + [row[3]]
        sys.stdout.write("  ".join(cells).rstrip() + "\n")


def _dialects_shown(rule_id: str, sep: str) -> str:
    from migsafe.rules import ALL_DIALECTS, rule_dialects

    dialects = rule_dialects(rule_id)
    return "all" if set(dialects) == set(ALL_DIALECTS) else sep.join(dialects)


def _rule_line(rule_id: str) -> str:
    """"error; dialects: all": what the code declares about a rule (explain's first line)."""
    from migsafe.rules import default_severities

    return f"{default_severities()[rule_id].value}; dialects: {_dialects_shown(rule_id, ', ')}"


@cli.command()
@_discovery_options
@click.option("--dry-run", is_flag=True,
              help="Print the patch (a unified diff); write nothing (the rewrites are checked again in a temporary copy).")
@click.option("--debug", is_flag=True, help="Tracebacks on stderr.")
def fix(
    paths: tuple[Path, ...],
    dialect: str | None,
    target_version: str | None,
    diff_ref: str | None,
    select: str | None,
    ignore: str | None,
    config_file: Path | None,
    no_exec: bool,
    dry_run: bool,
    debug: bool,
) -> int:
    """Apply the mechanical safe rewrites (fix.edits) to the migrations below each PATH.

    Exit 0 when nothing at or above fail-on is left, 1 when findings remain (they need a
    human: see `migsafe check`), 2 when migsafe could not do its job.
    """
    from migsafe import engine
    from migsafe.fixes.edits import apply_edits, rewrites
    from migsafe.fixes.mirror import Mirror

    cwd = Path.cwd()
    settings, targets, only = _settings(paths, config_file, diff_ref, cwd, {
        "dialect": dialect, "target-version": target_version, "select": _rule_list(select),
        "ignore": _rule_list(ignore), "no-exec": True if no_exec else None})
    # The rewrites are textual: the offline reading finds them; a `database` key is for check.
    settings = dataclasses.replace(settings, database=None)
    before = engine.check(targets, settings, cwd, only=only)
    edits, blocked = rewrites(before.findings)
    for path, findings in sorted(blocked.items()):
        why = "; ".join(f"{f.rule} at line {f.span.line}" for f in findings)
        _say(f"migsafe fix: left {path} untouched: no safe mechanical rewrite for {why}")
    rewritten: dict[str, tuple[Path, str, str]] = {}  # path -> (real path, its text, the rewrite)
    for path, file_edits in sorted(edits.items()):
        real = Path(os.path.realpath(cwd / path))  # a symlink stays one: its target is rewritten
        try:
            with open(real, encoding="utf-8", newline="") as fh:
                text = fh.read()
            rewritten[path] = (real, text, apply_edits(text, file_edits))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            _say(f"migsafe fix: left {path} untouched: {e}")
    # The rewrites are checked again (a dry run's too, so it promises what `fix` does): a rewrite
    # that raised a finding, or left one it should fix, is taken back. A dry run writes them in
    # a mirror of the tree (fixes/mirror.py) and checks there: the user's files are only read.
    if dry_run and rewritten:
        with Mirror(cwd, targets) as mirror:
            def in_mirror(path: str, real: Path, text: str) -> None:
                mirror.write(Path(path), text)

            def check_mirror():
                return mirror.check(lambda mirrored, at, limit: engine.check(mirrored, settings, at, only=limit), only)

            left = _check_rewrites(rewritten, before, check_mirror, write=in_mirror, put_back=in_mirror)
    else:
        infos: dict[Path, os.stat_result] = {}  # each rewritten file's mode and times

        def write(path: str, real: Path, text: str) -> None:
            infos[real] = real.stat()
            _write_atomic(real, text, mode=infos[real].st_mode & 0o7777)

        left = _check_rewrites(rewritten, before, lambda: engine.check(targets, settings, cwd, only=only),
                               write, put_back=lambda path, real, text: _put_back(real, text, infos[real]))
    if dry_run:
        for path, (_, text, new) in rewritten.items():
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"))
    fixed = sum(1 for f in before.findings if f.path in rewritten and f.fix and f.fix.edits)
    verb = "would fix" if dry_run else "fixed"
    _say(f"migsafe fix: {verb} {_plural(fixed, 'finding')} in {_plural(len(rewritten), 'file')};"
         f" {_plural(len(left), 'finding')} left for a human (see 'migsafe check')")
    failing = any(f.severity.rank >= settings.fail_on.rank for f in left)
    return ExitCode.FINDINGS if failing else ExitCode.OK


def _check_rewrites(rewritten: dict[str, tuple[Path, str, str]], before, check, write, put_back) -> list:
    """Writes each rewrite, checks again, takes back (and drops from `rewritten`) those that
    raised a finding or left one they should fix; returns the findings left. `write` and
    `put_back` take (path, real path, text)."""
    for path, (real, _, new) in rewritten.items():
        write(path, real, new)
    after = check() if rewritten else before
    raised = _raised(before.findings, after.findings, set(rewritten))
    for path, why in raised.items():
        real, text, _ = rewritten.pop(path)
        put_back(path, real, text)
        _say(f"migsafe fix: left {path} untouched: the rewrite {why}")
    return check().findings if raised else after.findings


def _put_back(real: Path, text: str, info: os.stat_result) -> None:
    """A rewritten file as it was: its text, mode and times."""
    _write_atomic(real, text, mode=info.st_mode & 0o7777)
    os.utime(real, ns=(info.st_atime_ns, info.st_mtime_ns))


def _raised(before: list, after: list, paths: set[str]) -> dict[str, str]:
    """Per rewritten file, what is wrong after its rewrite: a rule with more findings than
    before, or one whose findings carried edits and did not all go."""
    from collections import Counter

    old = Counter((f.path, f.rule) for f in before)
    fixed = Counter((f.path, f.rule) for f in before if f.fix and f.fix.edits)
    new = Counter((f.path, f.rule) for f in after)
    wrong = {}
    for (path, rule), n in sorted(new.items(), reverse=True):
        if path in paths and n > old[(path, rule)] - fixed[(path, rule)]:
            wrong[path] = f"would raise {rule}" if n > old[(path, rule)] else f"would not fix {rule}"
    return wrong


def _settings(paths: tuple[Path, ...], config_file: Path | None, diff_ref: str | None, cwd: Path,
              overrides: dict) -> tuple:
    """(settings, targets, only) as `check` and `fix` read them. `overrides` are in config-key
    spelling; None means "flag not given": the config file (or default) decides."""
    from migsafe import config

    config_path = config_file if config_file is not None else config.find_config(cwd)
    settings = config.load_settings(config_path, overrides, known_rule_ids())
    targets = list(paths) or [Path(".")]
    only = None
    if diff_ref is not None:
        from migsafe.gitdiff import changed_since

        only = changed_since(diff_ref, targets, cwd)
    return settings, targets, only


def known_rule_ids() -> set[str]:
    """Every rule id, including those only the engine raises (not-analyzed, ...)."""
    from migsafe.rules import default_severities

    return set(default_severities())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _rule_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _unknown_rule(rule: str, known: list[str]) -> str:
    close = difflib.get_close_matches(rule, known, n=1)
    guess = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown rule {rule!r}{guess}; known rules: {', '.join(known)}"


def _write_atomic(path: Path, text: str, mode: int | None = None) -> None:
    """Temp file in the same directory, then rename: readers never see half a file. `mode`:
    the permissions to give it (a rewritten migration keeps its own); default as a new file."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise MigsafeError(f"cannot write {path}: {e.strerror}") from e
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask if mode is None else mode)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise MigsafeError(f"cannot write {path}: {e.strerror}") from e
        raise

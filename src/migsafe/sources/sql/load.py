""".sql files -> Migration objects, in the order a migration runner applies them."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from migsafe.errors import ConfigError
from migsafe.model import Migration, Statement
from migsafe.sources.files import UnreadableFile, read_regular_file, relative_path

# Flyway: V<version>__desc.sql (versioned), U<version>__desc.sql (undo), R__desc.sql (repeatable).
# Versions like 1, 1_1, 1.2 compare as number tuples.
_FLYWAY_VERSIONED = re.compile(r"V(\d+(?:[._]\d+)*)__")
_FLYWAY_UNDO = re.compile(r"U\d+(?:[._]\d+)*__")
_FLYWAY_REPEATABLE = re.compile(r"R__")
_NUMERIC_PREFIX = re.compile(r"(\d+)")  # 0002_x.sql, 20240101_x.sql, 2__x.sql
# A lone CR ends a line for the splitter (and psql, and editors); `^`/`$` and the suppression
# parser only know "\n". Same length, so offsets and columns do not move.
_LONE_CR = re.compile(r"\r(?!\n)")

# Files above this size are reported not-analyzed instead of read: time and memory grow with the
# size (ordinary SQL: about 1.5 s and 40 MB per MB; at worst, one token per byte, about 5 s and
# 190 MB per MB), and a migration this large is a data dump, not a change someone reviews.
# Tests lower it.
MAX_FILE_BYTES = 10 * 1024 * 1024


def load_sql_migrations(
    files: list[Path], cwd: Path, dialect: str, per_file_transaction: bool
) -> list[Migration]:
    """One Migration per file, in the given order (see order_sql_files). Never raises."""
    return [load_sql_migration(f, cwd, dialect, per_file_transaction) for f in files]


def load_sql_migration(path: Path, cwd: Path, dialect: str, per_file_transaction: bool) -> Migration:
    from migsafe.sql.split import SplitError, line_starts, split_sql  # sqlglot: only when SQL is read

    mig = Migration(
        source="sql",
        name=migration_name(path),
        path=relative_path(path, cwd),
        starts_in_transaction=per_file_transaction,
    )
    try:
        data = read_regular_file(path, MAX_FILE_BYTES)
    except UnreadableFile as e:
        mig.error = str(e)
        return mig
    # Strip the BOM ourselves: with "utf-8-sig" the error offsets would not count it.
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        original = data[bom:].decode("utf-8")
    except UnicodeDecodeError as e:
        good = data[bom : bom + e.start].decode("utf-8")  # valid up to the bad byte
        mig.error = f"file is not valid UTF-8 (byte 0x{data[bom + e.start]:02x} at offset {bom + e.start})"
        mig.error_line = len(line_starts(good))
        return mig
    mig.text = _LONE_CR.sub("\n", original)  # lines as the splitter counts them
    if per_file_transaction and flyway_outside_transaction(path):
        mig.starts_in_transaction = False
    body = up_section(mig, per_file_transaction, original)
    mig.irreversible = missing_down(path)
    try:
        raws = split_sql(body, dialect)
    except SplitError as e:
        mig.error, mig.error_line = e.message, e.line
        return mig
    # in_transaction=None: the engine follows BEGIN/COMMIT in the file itself.
    mig.statements = [Statement(r.sql, r.span, in_transaction=None) for r in raws]
    return mig


# dbmate (`-- migrate:up` / `-- migrate:down`) and goose (`-- +goose Up` / `-- +goose Down`) keep
# both directions in one file, and run each migration in a transaction unless told otherwise.
_UP_MARKER = re.compile(r"^--\s*(migrate:up|\+goose\s+up)\b(.*)$", re.I | re.M)
_DOWN_MARKER = re.compile(r"^--\s*(migrate:down|\+goose\s+down)\b", re.I | re.M)
_NO_TRANSACTION = re.compile(r"transaction:\s*false|^--\s*\+goose\s+no\s+transaction", re.I | re.M)


def up_section(mig: Migration, per_file_transaction: bool, original: str | None = None) -> str:
    """The text to check: for dbmate/goose files, only the up section, blanked around so that
    line numbers stay those of the file. Markers are looked for in mig.text; the text returned
    is cut from `original` (the file's own text, the same length; default mig.text)."""
    text = mig.text if original is None else original
    up = _UP_MARKER.search(mig.text)
    if up is None:
        return text
    mig.starts_in_transaction = not _NO_TRANSACTION.search(mig.text)
    down = _DOWN_MARKER.search(mig.text, up.end())
    end = down.start() if down else len(mig.text)
    blank = lambda part: re.sub(r"[^\r\n]", " ", part)  # noqa: E731 - keep offsets and lines
    return blank(text[: up.end()]) + text[up.end(): end] + blank(text[end:])


def flyway_outside_transaction(path: Path) -> bool:
    """Flyway's per-script `V3__x.sql.conf` with `executeInTransaction=false`."""
    try:
        conf = read_regular_file(path.with_name(path.name + ".conf"), 1 << 20).decode("utf-8", "replace")
    except UnreadableFile:
        return False
    return re.search(r"^\s*executeInTransaction\s*=\s*false\s*$", conf, re.I | re.M) is not None


def missing_down(path: Path) -> tuple[int, str] | None:
    """An up.sql (or x.up.sql) with no down.sql beside it, or an empty one, has no way back."""
    name = path.name.lower()
    if name == "up.sql":
        down = path.with_name("down.sql")
    elif name.endswith(".up.sql"):
        down = path.with_name(path.name[: -len(".up.sql")] + ".down.sql")
    else:
        return None
    try:
        text = read_regular_file(down, MAX_FILE_BYTES).decode("utf-8", "replace")
    except UnreadableFile:
        return 1, f"{path.name} has no {down.name} beside it: there is no way back if the deploy must be rolled back."
    if only_comments(text):
        return 1, f"{down.name} beside {path.name} is empty: there is no way back if the deploy must be rolled back."
    return None


_SPACE = re.compile(r"\s*")


def only_comments(text: str) -> bool:
    r"""Nothing but whitespace, `--` and `/* */` comments (an unclosed `/*` is not a comment).
    One pass: a regex with `/\*.*?\*/` took minutes on a file of many unclosed `/*`."""
    i, n = 0, len(text)
    while True:
        i = _SPACE.match(text, i).end()
        if i >= n:
            return True
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                return False
            i = end + 2
        else:
            return False


def migration_name(path: Path) -> str:
    """The file name, or for <dir>/up.sql the directory name (e.g. 0002_add_col)."""
    return path.parent.name if path.name.lower() == "up.sql" else path.name


def is_forward_sql(path: Path) -> bool:
    """False for the way back: down.sql, *.down.sql, *_down.sql and Flyway undo U3__x.sql."""
    name = path.name.lower()
    if name == "down.sql" or name.endswith((".down.sql", "_down.sql")):
        return False
    return not _FLYWAY_UNDO.match(path.name)


def order_sql_files(files: list[Path]) -> list[Path]:
    """Forward migrations only, in run order; never depends on filesystem order."""
    unique = {str(f): f for f in files if is_forward_sql(f)}  # same path given twice
    return sorted(unique.values(), key=_order_key)


def _order_key(path: Path) -> tuple:
    # <dir>/up.sql is named by its directory and ordered among its sibling directories.
    up_dir = path.name.lower() == "up.sql"
    folder = path.parent.parent if up_dir else path.parent
    name = migration_name(path)
    # Compare folders by their "/"-split parts: a folder sorts before its subfolders, the same
    # way on every platform (strings, never os-specific case folding).
    group = tuple(folder.as_posix().split("/"))
    m = _FLYWAY_VERSIONED.match(name)
    if m:
        rank, version = 0, tuple(int(n) for n in re.split(r"[._]", m.group(1)))
    elif (m := _NUMERIC_PREFIX.match(name)) is not None:
        rank, version = 1, (int(m.group(1)),)
    elif _FLYWAY_REPEATABLE.match(name):
        rank, version = 3, ()  # Flyway runs repeatables after all versioned migrations
    else:
        rank, version = 2, ()
    return (group, rank, version, name, path.as_posix())


def mark_history(migrations: list[Migration], start_after: str | None) -> None:
    """Migrations at or before `start-after` (the named one included) are history only."""
    if not start_after:
        return
    names = [m.name for m in migrations]
    if start_after not in names:
        raise ConfigError(f'start-after: no SQL migration named "{start_after}" was found under the given paths')
    for m in migrations[: names.index(start_after) + 1]:
        m.report = False

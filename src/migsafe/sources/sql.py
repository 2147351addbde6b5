""".sql files -> Migration objects, in the order a migration runner applies them."""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path

from migsafe.model import Migration, Statement
from migsafe.sql.split import SplitError, line_starts, split_sql

# Flyway: V<version>__desc.sql (versioned), U<version>__desc.sql (undo), R__desc.sql (repeatable).
# Versions like 1, 1_1, 1.2 compare as number tuples.
_FLYWAY_VERSIONED = re.compile(r"V(\d+(?:[._]\d+)*)__")
_FLYWAY_UNDO = re.compile(r"U\d+(?:[._]\d+)*__")
_FLYWAY_REPEATABLE = re.compile(r"R__")
_NUMERIC_PREFIX = re.compile(r"(\d+)")  # 0002_x.sql, 20240101_x.sql, 2__x.sql


def load_sql_migrations(
    files: list[Path], cwd: Path, dialect: str, per_file_transaction: bool
) -> list[Migration]:
    """One Migration per file, in the given order (see order_sql_files). Never raises."""
    return [load_sql_migration(f, cwd, dialect, per_file_transaction) for f in files]


def load_sql_migration(path: Path, cwd: Path, dialect: str, per_file_transaction: bool) -> Migration:
    mig = Migration(
        source="sql",
        name=migration_name(path),
        path=relative_path(path, cwd),
        starts_in_transaction=per_file_transaction,
    )
    try:
        data = path.read_bytes()
    except OSError as e:  # permissions, a directory, vanished
        mig.error = f"file could not be read ({e.strerror or type(e).__name__})"
        return mig
    # Strip the BOM ourselves: with "utf-8-sig" the error offsets would not count it.
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        mig.text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as e:
        good = data[bom : bom + e.start].decode("utf-8")  # valid up to the bad byte
        mig.error = f"file is not valid UTF-8 (byte 0x{data[bom + e.start]:02x} at offset {bom + e.start})"
        mig.error_line = len(line_starts(good))
        return mig
    if per_file_transaction and flyway_outside_transaction(path):
        mig.starts_in_transaction = False
    body = up_section(mig, per_file_transaction)
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


def up_section(mig: Migration, per_file_transaction: bool) -> str:
    """The text to check: for dbmate/goose files, only the up section, blanked around so that
    line numbers stay those of the file."""
    up = _UP_MARKER.search(mig.text)
    if up is None:
        return mig.text
    mig.starts_in_transaction = not _NO_TRANSACTION.search(mig.text)
    down = _DOWN_MARKER.search(mig.text, up.end())
    end = down.start() if down else len(mig.text)
    blank = lambda part: re.sub(r"[^\r\n]", " ", part)  # noqa: E731 - keep offsets and lines
    return blank(mig.text[: up.end()]) + mig.text[up.end(): end] + blank(mig.text[end:])


def flyway_outside_transaction(path: Path) -> bool:
    """Flyway's per-script `V3__x.sql.conf` with `executeInTransaction=false`."""
    try:
        conf = path.with_name(path.name + ".conf").read_text(encoding="utf-8", errors="replace")
    except OSError:
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
        text = down.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 1, f"{path.name} has no {down.name} beside it: there is no way back if the deploy must be rolled back."
    if not re.sub(r"--[^\n]*|/\*.*?\*/|\s", "", text, flags=re.S):
        return 1, f"{down.name} beside {path.name} is empty: there is no way back if the deploy must be rolled back."
    return None


def migration_name(path: Path) -> str:
    """The file name, or for <dir>/up.sql the directory name (e.g. 0002_add_col)."""
    return path.parent.name if path.name.lower() == "up.sql" else path.name


def relative_path(path: Path, cwd: Path) -> str:
    """`path` relative to `cwd` with "/" separators; the absolute path if not under cwd."""
    full = Path(os.path.abspath(cwd / path))  # cwd / absolute == absolute
    base = Path(os.path.abspath(cwd))
    for p, b in ((full, base), (full.resolve(), base.resolve())):  # symlinked cwd, /tmp on macOS
        try:
            return p.relative_to(b).as_posix()
        except ValueError:
            pass
    return full.as_posix()


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

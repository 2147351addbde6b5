"""Reading the files migrations live in, whatever the source: a regular file of bounded size
(never a FIFO or a device), real paths memoised per run, paths as reports show them."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


# A folder's real path, per run (discover() empties it): resolving costs one lstat per part of
# the path, and every migration file of a folder shares the folder's.
_real_folders: dict[str, str] = {}


def real_path(path: Path) -> Path:
    """Path.resolve() that never raises: a symlink loop resolves as far as it can, as
    os.path.realpath does. A file that is not a symlink is its folder's real path + its name."""
    text = os.fspath(path)
    folder, name = os.path.split(text)
    if not os.path.isabs(text) or name in ("", ".", "..") or os.path.islink(text):
        return Path(os.path.realpath(text))
    if folder not in _real_folders:
        _real_folders[folder] = os.path.realpath(folder)
    return Path(os.path.join(_real_folders[folder], name))


def forget_real_paths() -> None:
    """A new run: folders may have been moved or relinked since the last one."""
    _real_folders.clear()


def relative_path(path: Path, cwd: Path) -> str:
    """`path` relative to `cwd` with "/" separators; the absolute path if not under cwd."""
    full = os.path.abspath(os.path.join(cwd, path))  # cwd joined with an absolute path is that path
    base = os.path.abspath(cwd)
    if full.startswith(os.path.join(base, "")):  # the common case, without pathlib's slower parsing
        return full[len(os.path.join(base, "")):].replace(os.sep, "/")
    try:
        return Path(full).relative_to(base).as_posix()
    except ValueError:
        pass
    try:  # resolved only when needed (a symlinked cwd, /tmp on macOS): resolving costs lstat calls
        return real_path(Path(full)).relative_to(real_path(Path(base))).as_posix()
    except ValueError:
        return Path(full).as_posix()


class UnreadableFile(Exception):
    """A file migsafe will not read; the message says why, for a not-analyzed finding."""


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. Never blocks: a FIFO, socket or
    device named *.sql is refused without waiting for a writer."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as e:  # permissions, vanished, dangling symlink, symlink loop, a directory
        raise UnreadableFile(f"file could not be read ({_reason(e)})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableFile(f"file could not be read ({os.strerror(errno.EISDIR)})")
        if not stat.S_ISREG(info.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(
                info.st_mode) else "a device or special file"
            raise UnreadableFile(f"not a regular file ({kind})")
        if info.st_size > limit:
            raise UnreadableFile(f"file is {_megabytes(info.st_size)}, larger than the {_megabytes(limit)} "
                                 f"migsafe reads; split it into smaller migrations")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # grew while being read
                raise UnreadableFile(f"file is larger than the {_megabytes(limit)} migsafe reads; "
                                     f"split it into smaller migrations")
        return b"".join(chunks)
    except OSError as e:  # e.g. EISDIR on read, EIO
        raise UnreadableFile(f"file could not be read ({_reason(e)})") from None
    finally:
        os.close(fd)


def _reason(e: OSError) -> str:
    if e.errno == errno.ELOOP:
        return "symbolic link loop"
    return e.strerror or type(e).__name__


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")


# Folders never holding migrations or code a migration imports, and often huge: never walked
# (discover, the cache's digest of a project's files; any other dot-folder is skipped too).
SKIP_DIRS = {"venv", "node_modules", "__pycache__", "site-packages"}

"""The cache: work already done for inputs that have not changed, so an unchanged repository
re-checks in a fraction of the cold time and a commit hook renders only the revision it is about.

Three kinds of entries, all keyed by a digest of everything that can change them (`salt()`: the
versions of migsafe, its own source files, sqlglot, pglast, the libraries each source renders with
(registry.Source.libraries: Alembic, SQLAlchemy, Django) and Python):

- the whole `Result` of a run (engine.check), keyed also by the settings, the working directory,
  the --diff/named-file limits and the content of every file the run read or a revision could
  import (`py_files`: every `.py` below the project's import roots, and `sys.path` entries);
- one Alembic revision's rendering (sources/alembic/cache_keys.py), keyed by a chain: the project's
  non-revision files and imports, then each revision in run order, its path and text. Changing
  a revision therefore invalidates it and every revision after it, never one before it: those
  rendered the same files in the same order. A revision rendered after a cache hit starts in a
  fresh worker process, as it does in a cold run after the worker was replaced (sources/core/worker.py).

- the facts of each statement text (judge.judge), per dialect and working directory: the entry
  holds the statements of the last run, so a commit hook translates only what changed (and does
  not import sqlglot when nothing did).

What is not in a key: environment variables and packages installed outside `sys.path` folders'
own listing. A project whose migrations render differently with them: `--no-cache`.

Where: $MIGSAFE_CACHE_DIR, else $XDG_CACHE_HOME/migsafe, else ~/.cache/migsafe. Never inside
the checkout, so a pull request cannot plant entries (and nothing needs a .gitignore line).
An entry is a checksummed pickle that can only rebuild migsafe's own data classes. A missing,
corrupt, unreadable or unwritable cache is a miss: the work is done again, never a crash.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import importlib
import importlib.util
import io
import os
import pickle
import stat
import sys
import tempfile
from pathlib import Path

import migsafe
from migsafe.sources.files import SKIP_DIRS
from migsafe.sources.registry import sources

_MAGIC = b"migsafe-cache-1\n"
_DIGEST = 32  # bytes of blake2b


def cache_dir() -> Path:
    if os.environ.get("MIGSAFE_CACHE_DIR"):
        return Path(os.environ["MIGSAFE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "migsafe"


def digest(*parts: object) -> str:
    """A key from strings and bytes; each part length-prefixed, so ("ab", "c") != ("a", "bc")."""
    h = hashlib.blake2b(digest_size=_DIGEST)
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


_salt: list[str] = []


def salt() -> str:
    """What every entry depends on: the code that produced it. migsafe's own files and the
    libraries' by size and modification time (no import, no metadata scan: this runs on every
    start), so an edited checkout with the same version number never reads stale entries."""
    if not _salt:
        parts: list[object] = [sys.version, migsafe.__version__]
        files = sorted(Path(migsafe.__file__).parent.rglob("*.py"))
        for lib in ("sqlglot", "sqlglotc", "pglast", *(lib for s in sources() for lib in s.libraries)):
            spec = importlib.util.find_spec(lib)
            parts.append(lib)
            if spec is not None and spec.origin:
                files.append(Path(spec.origin))
        for path in files:
            st = path.stat()
            parts += [path, st.st_size, st.st_mtime_ns]
        _salt.append(digest(*parts))
    return _salt[0]


def py_files(roots: list[Path], known: dict | None = None) -> dict[str, str]:
    """Every `.py` file below `roots` (dot-folders and SKIP_DIRS skipped) -> digest of its content:
    what a migration can import from the project. Paths as strings: a Path per file cost more than
    the walk. `known` (updated in place) maps a path to its
    (size, mtime, ctime, inode, digest) of an earlier run: an unchanged file is not read again.
    ctime cannot be set back by a program (as mtime can), so a rewrite is always seen."""
    known = {} if known is None else known
    out: dict[str, str] = {}
    seen: set[str] = set()
    for root in roots:
        for folder, dirs, files in os.walk(root):
            real = os.path.realpath(folder)
            if real in seen:  # overlapping roots, symlink loops
                dirs[:] = []
                continue
            seen.add(real)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    try:
                        st = os.stat(path)
                    except OSError as err:
                        out[path] = digest("unreadable", err.errno)
                        continue
                    stamp = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                    if known.get(path, (None,))[:4] != stamp:
                        known[path] = stamp + (content(path),)
                    out[path] = known[path][4]
    return out


def content(path: Path | str) -> str:
    """Digest of a regular file's bytes; never opens a FIFO or device for reading (it may block)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return digest("not a regular file", st.st_mode)
            with os.fdopen(fd, "rb", closefd=False) as fh:
                return digest(fh.read())
        finally:
            os.close(fd)
    except OSError as err:
        return digest("unreadable", err.errno)


def import_path_state() -> str:
    """Installed packages, cheaply: installing, upgrading or removing one changes its folder's
    modification time (a new dist-info folder)."""
    parts: list[object] = []
    for entry in sys.path:
        try:
            parts += [entry, os.stat(entry or ".").st_mtime_ns]
        except OSError:
            parts += [entry, "-"]
    return digest(*parts)


class _Unpickler(pickle.Unpickler):
    """Rebuilds only migsafe's own data classes and enums: an entry cannot run code."""

    def find_class(self, module: str, name: str):
        if module.startswith("migsafe.") and "." not in name:
            obj = getattr(importlib.import_module(module), name, None)
            if isinstance(obj, type) and obj.__module__ == module and (
                    hasattr(obj, "__dataclass_fields__") or issubclass(obj, enum.Enum)):
                return obj
        raise pickle.UnpicklingError(f"{module}.{name} is not migsafe data")


class Cache:
    """Entries in files named by their key. `directory=None`: a cache that never holds anything
    (--no-cache), so callers need no second code path."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self.hits = self.misses = 0
        self._walked: dict[tuple[Path, ...], dict[str, str]] = {}

    def py_files(self, roots: list[Path]) -> dict[str, str]:
        """py_files(roots), walked once per run; the file stamps of the last run are kept."""
        key = tuple(roots)
        if key not in self._walked:
            stamps_key = digest("file stamps", *roots) if self.directory is not None else ""
            before = self.get(stamps_key, dict) or {}
            known = dict(before)
            self._walked[key] = files = py_files(roots, known)
            known = {path: stamp for path, stamp in known.items() if path in files}  # deleted files go
            if known != before:
                self.put(stamps_key, known)
        return self._walked[key]

    def result_key(self, found, settings, cwd: Path, only: set[Path] | None, sources: list) -> str:
        """The key of a whole run: `found` (discover.Discovered), `sources` (what each source
        says its migrations read: every file found and every file they could import, see
        registry.Source.key_parts), the settings, and what may be reported."""
        if self.directory is None:
            return ""
        parts: list[object] = [salt(), "result", cwd, import_path_state(),
                               repr(dataclasses.replace(settings, config_path=None)),
                               sorted(only) if only is not None else "-",
                               sorted(found.report_only) if found.report_only is not None else "-"]
        return digest(*parts, *sources)

    def _file(self, key: str) -> Path:
        return self.directory / key[:2] / key[2:]

    def get(self, key: str, kind: type) -> object | None:
        """The entry for `key` if there is a sound one of type `kind`, else None."""
        if self.directory is None:
            return None
        try:
            data = self._file(key).read_bytes()
            head, check, payload = data[:len(_MAGIC)], data[len(_MAGIC):len(_MAGIC) + _DIGEST], data[len(_MAGIC) + _DIGEST:]
            if head == _MAGIC and hashlib.blake2b(payload, digest_size=_DIGEST).digest() == check:
                value = _Unpickler(io.BytesIO(payload)).load()
                if isinstance(value, kind):
                    self.hits += 1
                    return value
        except Exception:  # noqa: BLE001 - missing, unreadable, corrupt: a miss
            pass
        self.misses += 1
        return None

    def put(self, key: str, value: object) -> None:
        """Written whole or not at all (temp file + rename); a failure is ignored."""
        if self.directory is None:
            return
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            target = self._file(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(_MAGIC + hashlib.blake2b(payload, digest_size=_DIGEST).digest() + payload)
                os.replace(tmp, target)
            except BaseException:
                os.unlink(tmp)
                raise
        except Exception:  # noqa: BLE001 - read-only home, full disk, unpicklable value: no entry
            pass


PARALLEL_FROM = 600  # statements to translate before a second process pays (Translations.prefetch)


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Translations:
    """Statement text -> its facts in one dialect: each text translated once per run (histories
    repeat statements), and kept in `cache` for the next run in the same folder. Facts are never
    changed after translation (schema.py copies what it keeps), so equal texts share them."""

    def __init__(self, cache: Cache, dialect: str, cwd: Path):
        self.cache, self.dialect = cache, dialect
        self.key = digest(salt(), "facts", dialect, cwd) if cache.directory is not None else ""
        self.known: dict = cache.get(self.key, dict) or {}
        self.used: dict = {}

    def facts(self, sql: str) -> list:
        if sql not in self.used:
            if sql in self.known:
                self.used[sql] = self.known[sql]
            else:
                from migsafe.sql.translate import translate  # sqlglot: only for a text not seen before

                self.used[sql] = translate(sql, self.dialect)
        return self.used[sql]

    def prefetch(self, texts: list[str]) -> None:
        """Translate the texts not known yet, half of them in a forked process on another core,
        when there are many (a large SQL or Alembic history: translating is most of its time).
        Anything amiss with the other half leaves it to facts(), one text at a time."""
        import threading  # (only when there is a lot to translate)

        todo = [t for t in dict.fromkeys(texts) if t not in self.used and t not in self.known]
        if len(todo) < PARALLEL_FROM or cpus() < 2 or not hasattr(os, "fork") or threading.active_count() > 1:
            return
        from migsafe.sql.translate import translate  # sqlglot: only when there is much to translate

        mine, theirs = todo[: len(todo) // 2], todo[len(todo) // 2:]
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the other half; never returns
            try:
                os.close(read_end)
                data = memoryview(pickle.dumps([translate(t, self.dialect) for t in theirs], pickle.HIGHEST_PROTOCOL))
                while data:
                    data = data[os.write(write_end, data):]
            finally:
                os._exit(0)
        os.close(write_end)
        self.used.update((t, translate(t, self.dialect)) for t in mine)
        with os.fdopen(read_end, "rb") as answer:
            data = answer.read()
        os.waitpid(pid, 0)
        try:
            facts = pickle.loads(data)
        except Exception:  # noqa: BLE001 - it died before writing all of it: facts() translates them
            return
        if len(facts) == len(theirs):
            self.used.update(zip(theirs, facts))

    def save(self) -> None:
        """Keep this run's statements (only them: the entry does not grow with every edit)."""
        if self.used.keys() != self.known.keys():
            self.cache.put(self.key, self.used)


class Memo:
    """read(path) -> a dataclass with a `path` field (or None), kept by the file's digest."""

    def __init__(self, cache: Cache, key: str, digests: dict[str, str], read):
        self.cache, self.key, self.digests, self.read = cache, key, digests, read
        self.before = cache.get(key, dict) or {}
        self.now: dict[str, object] = {}

    def __call__(self, path: Path):
        known = self.digests.get(str(path))
        if known is None:
            return self.read(path)
        value = self.before[known] if known in self.before else self.read(path)
        if value is not None and value.error is not None:
            return value  # (an error may name the file or depend on the machine: not kept)
        self.now[known] = value if value is None else dataclasses.replace(value, path=None)
        return value if value is None else dataclasses.replace(value, path=path)

    def save(self) -> None:
        if self.now != self.before:
            self.cache.put(self.key, self.now)

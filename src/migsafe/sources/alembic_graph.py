"""Alembic projects read statically: alembic.ini, the revision files and their graph.

Nothing here imports or runs project code (a pull request may be untrusted): revision files
are read with `ast`, the ini with configparser. The renderer (alembic.py) does the executing.
"""

from __future__ import annotations

import ast
import configparser
import os
import re
import tokenize
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from migsafe.errors import UsageError
from migsafe.sources.sql import UnreadableFile, read_regular_file

# Parsing a Python file takes about 180 bytes of memory per byte of source (10 MB: 1.9 GB, 40 s);
# real revisions, even generated initial schemas, stay well below this.
MAX_REVISION_BYTES = 2 * 1024 * 1024

_ROLLBACK = "there is no way back if the deploy must be rolled back."


@dataclass
class AlembicConfig:
    script_location: Path
    version_locations: list[Path]
    dialect: str | None  # "postgresql" | "mysql" | "sqlite", None when the url does not say
    recursive_version_locations: bool = False


@dataclass
class Revision:
    id: str | None
    down_revisions: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()  # as written: ids, prefixes or branch labels
    branch_labels: tuple[str, ...] = ()
    path: Path = Path()
    upgrade_line: int | None = None
    downgrade_line: int | None = None
    irreversible: tuple[int, str] | None = None  # (line, reason) for irreversible-migration
    is_merge: bool = False
    error: str | None = None  # could not be read -> not-analyzed
    error_line: int = 1


@dataclass
class Graph:
    revisions: list[Revision] = field(default_factory=list)  # run order: parents first
    broken_files: list[Revision] = field(default_factory=list)  # id unknown: error set, id None

    def find(self, ref: str) -> Revision:
        """A revision by id, unique id prefix or branch label (for start-after)."""
        found = _Index(self.revisions).resolve(ref)
        if isinstance(found, Revision):
            return found
        raise UsageError(f'alembic: start-after "{ref}" {found}')

    def ancestors(self, ref: str) -> set[str]:
        """Ids of `ref` and everything it runs after (down_revision and depends_on)."""
        index = _Index(self.revisions)
        todo, seen = [self.find(ref)], set()
        while todo:
            rev = todo.pop()
            if rev.id not in seen:
                seen.add(rev.id)
                todo += [index.by_id[p] for p in index.parents(rev)]
        return seen


# --- alembic.ini ---------------------------------------------------------------------------

# alembic.config: path_separator values; without one, legacy splitting on spaces/commas.
_SEPARATORS = {"space": " ", "newline": "\n", "os": os.pathsep, ":": ":", ";": ";"}
_DIALECTS = {"postgresql": "postgresql", "postgres": "postgresql", "mysql": "mysql",
             "mariadb": "mysql", "sqlite": "sqlite"}  # fmt: skip


def read_alembic_ini(path: Path) -> AlembicConfig:
    here = path.parent.absolute()
    # Alembic passes `here` the same way; `%` in the folder name must not start interpolation.
    parser = configparser.ConfigParser({"here": str(here).replace("%", "%%")})
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except (OSError, UnicodeDecodeError, configparser.Error) as e:
        raise UsageError(f"alembic: {_show(path)}: cannot be read: {_one_line(e)}") from None

    def get(key: str) -> str | None:
        try:
            value = parser.get("alembic", key, fallback=None)
        except configparser.InterpolationError:  # e.g. %(DB_URL)s filled in by env.py
            return None
        return value.strip() if value is not None else None

    toml = _pyproject_alembic(here)  # alembic >= 1.16 may keep the paths in pyproject.toml
    location = get("script_location") or toml.get("script_location")
    script = _location(location, here, path) if location else None
    if (script is None or not script.is_dir()) and is_script_dir(here):
        # The ini sits in the script folder and the app sets script_location at run time
        # (Flask-Migrate: none in the file; mlflow: one relative to the app's working directory).
        script = here
    elif script is None:
        raise UsageError(f"alembic: {_show(path)}: no script_location in section [alembic]")

    raw = get("version_locations")
    if raw:
        name = get("path_separator") or get("version_path_separator")
        if name is not None and name not in _SEPARATORS:
            known = ", ".join(_SEPARATORS)
            raise UsageError(f'alembic: {_show(path)}: path_separator "{name}" is not one of {known}')
        parts = raw.split(_SEPARATORS[name]) if name else re.split(r", *| +", raw)
        locations = [x.strip() for x in parts if x.strip()]
    else:
        locations = toml.get("version_locations") or []
    versions = [_location(x, here, path) for x in locations] or [script / "versions"]
    recursive = (get("recursive_version_locations") or "").lower() in ("true", "yes", "on", "1")
    return AlembicConfig(script, versions, _url_dialect(get("sqlalchemy.url")), recursive)


def _pyproject_alembic(here: Path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:  # ValueError: not UTF-8 or not TOML; RecursionError: nested too deeply
        data = tomllib.loads(read_regular_file(here / "pyproject.toml", 1 << 20).decode("utf-8"))
    except (UnreadableFile, ValueError, RecursionError):
        return {}
    tool = data.get("tool")
    table = tool.get("alembic") if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        return {}

    def sub(value: object) -> str | None:  # Alembic substitutes %(here)s in these values too
        return value.replace("%(here)s", str(here)) if isinstance(value, str) else None

    locations = table.get("version_locations")
    locations = [sub(v) for v in locations if sub(v)] if isinstance(locations, list) else []
    return {"script_location": sub(table.get("script_location")), "version_locations": locations}


def _location(value: str, here: Path, ini: Path) -> Path:
    """A path (relative ones from the ini's folder, where CI runs alembic) or `package:dir`."""
    p = Path(value)
    if p.is_absolute() or ":" not in value:
        return p if p.is_absolute() else here / p
    package, _, sub = value.partition(":")  # myapp.db:migrations -> myapp/db/migrations
    rel = Path(*package.split("."), *sub.split("/"))
    for base in (here, here / "src"):
        if (base / rel).is_dir():
            return base / rel
    raise UsageError(
        f'alembic: {_show(ini)}: "{value}" names a package folder that is not below {_show(here)}'
    )


def _url_dialect(url: str | None) -> str | None:
    m = re.match(r"([A-Za-z][\w.]*?)(\+[\w.]+)?://", url or "")  # ${DB_URL}, "", driver:// -> None
    return _DIALECTS.get(m.group(1).lower()) if m else None


# --- recognising Alembic folders and files -----------------------------------------------


def is_script_dir(folder: Path) -> bool:
    return (folder / "env.py").is_file() and (folder / "versions").is_dir()


def is_versions_dir(folder: Path) -> bool:
    return folder.is_dir() and any(is_revision_file(p) for p in _py_files(folder, False))


def is_revision_file(path: Path, quick: bool = False) -> bool:
    """`quick`: the one-line assignments Alembic writes are taken at their word without parsing
    the file (for files already known to sit in a versions folder: read_revision, which parses
    them anyway, drops any that are no revision)."""
    if not (path.suffix == ".py" and path.is_file() and _candidate(path.name)):
        return False
    try:
        data = read_regular_file(path, MAX_REVISION_BYTES)
    except UnreadableFile:  # read_revision reports it when its folder is read
        return False
    if quick and _REVISION_LINES.search(data) and _DOWN_REVISION_LINES.search(data):
        return True
    if b"down_revision" not in data:  # (Python source is ASCII-compatible, whatever its coding cookie)
        return False  # it assigns no down_revision: not worth parsing
    try:
        names = _module_assignments(_parse(_decode(data)))
    except (_BadEncoding, SyntaxError, ValueError):  # still a revision: reported not-analyzed
        names = _regex_assignments(data.decode("latin-1"))
    return "revision" in names and "down_revision" in names


_REVISION_LINES = re.compile(rb"^revision\s*(?::[^=\n]*)?=\s*['\"]", re.M)
_DOWN_REVISION_LINES = re.compile(rb"^down_revision\s*(?::[^=\n]*)?=", re.M)


def _candidate(name: str) -> bool:
    return not name.startswith(("__init__", ".#"))  # as Alembic's _only_source_rev_file


def _py_files(folder: Path, recursive: bool) -> list[Path]:
    if not recursive:
        return sorted(p for p in folder.glob("*.py") if p.is_file() and _candidate(p.name))
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
        found += [Path(root, f) for f in sorted(files) if f.endswith(".py") and _candidate(f)]
    return found


# --- reading one revision file -------------------------------------------------------------


class _BadEncoding(Exception):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


def _decode(data: bytes) -> str:
    """Source text as Python reads it (BOM, coding cookie); not decodable -> _BadEncoding."""
    try:
        encoding, _ = tokenize.detect_encoding(BytesIO(data).readline)
    except SyntaxError as e:  # unknown codec in the cookie
        raise _BadEncoding(f"file encoding: {e.msg}", 1) from None
    try:
        return data.decode(encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        name = encoding.upper().removesuffix("-SIG")  # "UTF-8", as the SQL source says it
        message = f"file is not valid {name} (byte 0x{data[e.start]:02x} at offset {e.start})"
        raise _BadEncoding(message, line) from None


def _parse(source: str, filename: str = "<unknown>", mode: str = "exec") -> ast.AST:
    """ast.parse, with input too deep or too large for the parser as a SyntaxError."""
    try:
        return ast.parse(source, filename, mode)
    except (RecursionError, MemoryError):
        raise SyntaxError("nested too deeply or too large for Python's parser") from None


_NAMES = ("revision", "down_revision", "depends_on", "branch_labels")


def _module_assignments(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level `name = value` / `name: T = value`; the last one wins, as when run."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for t in targets:
            if isinstance(t, ast.Name) and t.id in _NAMES:
                found[t.id] = value
    return found


def _regex_assignments(text: str) -> dict[str, ast.expr]:
    """Best effort for a file that does not parse: one-line assignments at column 0."""
    found = {}
    for m in re.finditer(rf"^({'|'.join(_NAMES)})\s*(?::[^=\n]*)?=([^\n#]*)", text, re.M):
        try:
            found[m.group(1)] = _parse(m.group(2).strip(), mode="eval").body
        except SyntaxError:
            pass
    return found


def _strings(node: ast.expr | None, name: str) -> tuple[str, ...]:
    """None, "a", ("a", "b") or ["a"] -> tuple of strings; anything else -> ValueError."""
    if node is None:
        return ()
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):  # a name, a call, {[]: 1}, ...
        raise ValueError(f"{name} is not a literal (string, tuple of strings or None)") from None
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list, set)) and all(isinstance(v, str) for v in value):
        return tuple(sorted(value) if isinstance(value, set) else value)
    raise ValueError(f"{name} is not a literal (string, tuple of strings or None)")


def read_revision(path: Path) -> Revision | None:
    """One revision file; never raises. None: not a revision (no module-level `revision`).

    A file that cannot be read or parsed is a Revision with `error` set; its id, parents and
    depends_on are then salvaged from one-line assignments, else id is None.
    """
    rev = Revision(id=None, path=path)
    try:
        data = read_regular_file(path, MAX_REVISION_BYTES)
    except UnreadableFile as e:
        rev.error = str(e)
        return _salvage(rev, _head(path))
    try:
        text = _decode(data)
    except _BadEncoding as e:
        rev.error, rev.error_line = str(e), e.line
        return _salvage(rev, data.decode("latin-1"))  # ids are ASCII
    try:
        tree = _parse(text, str(path))
    except (SyntaxError, ValueError) as e:  # ValueError: NUL bytes
        rev.error = f"file does not parse: {getattr(e, 'msg', None) or e}"
        rev.error_line = getattr(e, "lineno", None) or 1
        return _salvage(rev, text)
    names = _module_assignments(tree)
    if "revision" not in names:
        return None  # a helper module next to the revisions
    try:
        ids = _strings(names["revision"], "revision")
        if len(ids) != 1 or not ids[0]:
            raise ValueError("revision is not one non-empty string")
        rev.id = ids[0]
    except ValueError as e:  # no id: no place in the graph -> Graph.broken_files
        rev.error, rev.error_line = str(e), names["revision"].lineno
        return rev
    try:
        if "down_revision" not in names:
            raise ValueError("the file has no module-level down_revision")
        rev.down_revisions = _strings(names["down_revision"], "down_revision")
        rev.depends_on = _strings(names.get("depends_on"), "depends_on")
        rev.branch_labels = _strings(names.get("branch_labels"), "branch_labels")
    except ValueError as e:
        rev.error = str(e)
        rev.error_line = next((n.lineno for k, n in names.items() if str(e).startswith(k + " ")), 1)
    rev.is_merge = len(rev.down_revisions) > 1
    _judge_downgrade(rev, tree)
    return rev


def _head(path: Path) -> str:
    """The first 64 KB of a file too large to read, where its ids are; "" if not readable."""
    if not path.is_file():  # a FIFO would block
        return ""
    try:
        with open(path, "rb") as f:
            return f.read(1 << 16).decode("latin-1")
    except OSError:
        return ""


def _salvage(rev: Revision, text: str) -> Revision:
    """An unparsable file keeps its place in the graph if its id can still be read."""
    names = _regex_assignments(text)
    try:
        ids = _strings(names.get("revision"), "revision")
        rev.id = ids[0] if len(ids) == 1 and ids[0] else None
        rev.down_revisions = _strings(names.get("down_revision"), "down_revision")
        rev.depends_on = _strings(names.get("depends_on"), "depends_on")
    except ValueError:
        pass
    rev.is_merge = len(rev.down_revisions) > 1
    return rev


# --- irreversible-migration ----------------------------------------------------------------


def _real_body(fn: ast.FunctionDef) -> list[ast.stmt]:
    """The statements that do something: no docstring, `pass` or `...`."""
    return [
        s for s in fn.body
        if not isinstance(s, ast.Pass)
        and not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                 and (isinstance(s.value.value, str) or s.value.value is Ellipsis))
    ]  # fmt: skip


def _judge_downgrade(rev: Revision, tree: ast.Module) -> None:
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}  # last def wins
    up, down = funcs.get("upgrade"), funcs.get("downgrade")
    rev.upgrade_line = up.lineno if up else None
    rev.downgrade_line = down.lineno if down else None
    if rev.is_merge or up is None or not _real_body(up):
        return  # nothing to reverse
    if down is None:
        rev.irreversible = (up.lineno, f"revision {rev.id} has no downgrade(): {_ROLLBACK}")
        return
    body = _real_body(down)
    if not body:
        rev.irreversible = (down.lineno, f"downgrade() of revision {rev.id} is empty: {_ROLLBACK}")
    elif isinstance(body[0], ast.Raise):
        exc = body[0].exc
        exc = exc.func if isinstance(exc, ast.Call) else exc
        try:
            what = f"raises {ast.unparse(exc)}" if exc is not None else "raises"
        except RecursionError:  # `raise a.b.c...` parses hundreds deep, then unparse recurses
            what = "raises"
        rev.irreversible = (down.lineno, f"downgrade() of revision {rev.id} {what}: {_ROLLBACK}")


# --- the graph -----------------------------------------------------------------------------


def load_revisions(version_dirs: list[Path], recursive: bool = False, read=None) -> Graph:
    """All revisions of the version folders as one graph, in an order Alembic could run them.
    `read`: read_revision, or the cache's memo of it.

    A broken graph (unknown parent, cycle, duplicate id or branch label) raises UsageError.
    """
    dirs, seen = [], set()
    for d in version_dirs:  # the same folder listed twice is not a duplicate revision
        if d.resolve() not in seen:
            seen.add(d.resolve())
            dirs.append(d)
    graph, revs = Graph(), []
    for d in dirs:
        if not d.is_dir():  # Alembic skips it silently; we would then pass a typo as "all fine"
            raise UsageError(f"alembic: version location {_show(d)} is not a folder")
        for p in _py_files(d, recursive):
            rev = (read or read_revision)(p)
            if rev is not None:
                (revs if rev.id is not None else graph.broken_files).append(rev)
    _check_unique(revs)
    where = ", ".join(_show(d) + "/" for d in dirs)
    index = _Index(revs)
    parents = {rev.id: index.parents(rev, where) for rev in revs}
    graph.revisions = _run_order(revs, parents)
    return graph


def _check_unique(revs: list[Revision]) -> None:
    owner: dict[str, Revision] = {}
    for rev in revs:
        if rev.id in owner:
            raise UsageError(
                f'alembic: revision id "{rev.id}" is defined twice: '
                f"{_show(owner[rev.id].path)} and {_show(rev.path)}"
            )
        owner[rev.id] = rev
    labels: dict[str, Revision] = {}
    for rev in revs:
        for label in rev.branch_labels:
            if label in labels:
                raise UsageError(
                    f'alembic: branch label "{label}" is used twice: '
                    f"{_show(labels[label].path)} and {_show(rev.path)}"
                )
            labels[label] = rev


class _Index:
    """Name lookups over one set of revisions (ids, branch labels, id prefixes)."""

    def __init__(self, revs: list[Revision]):
        self.by_id = {r.id: r for r in revs}
        self.by_label = {label: r for r in revs for label in r.branch_labels}

    def resolve(self, ref: str) -> Revision | str:
        """The revision for an id, branch label or unique id prefix, else why it is none."""
        if ref in self.by_id:
            return self.by_id[ref]
        if ref in self.by_label:  # Alembic: the revision that declares the label
            return self.by_label[ref]
        hits = sorted(i for i in self.by_id if i.startswith(ref))
        if len(hits) == 1:
            return self.by_id[hits[0]]
        return f"matches several revisions ({', '.join(hits)})" if hits else "is not a revision"

    def parents(self, rev: Revision, where: str | None = None) -> list[str]:
        """Ids `rev` must run after. With `where`, an unknown name raises UsageError."""
        strict = where is not None and rev.error is None  # salvaged names may be misread
        out = []
        for down in rev.down_revisions:  # Alembic takes down_revision literally: no prefixes
            if down in self.by_id:
                out.append(down)
            elif strict:
                raise UsageError(
                    f'alembic: {_show(rev.path)}: down_revision "{down}" is not a revision in {where}'
                )
        for dep in rev.depends_on:
            found = self.resolve(dep)
            if isinstance(found, Revision):
                out.append(found.id)
            elif strict:
                raise UsageError(f'alembic: {_show(rev.path)}: depends_on "{dep}" {found} in {where}')
        return list(dict.fromkeys(out))  # a depends_on repeating a down_revision counts once


def _run_order(revs: list[Revision], parents: dict[str, list[str]]) -> list[Revision]:
    """Topological order; a branch is followed to its end before the next one starts.

    Depth-first among ready revisions (children by id), so each chain of down_revisions
    stays together and the order does not depend on file names.
    """
    by_id = {r.id: r for r in revs}
    waiting = {rid: len(ps) for rid, ps in parents.items()}
    children: dict[str, list[str]] = {rid: [] for rid in by_id}
    for rid, ps in parents.items():
        for p in ps:
            children[p].append(rid)
    stack = sorted((rid for rid, n in waiting.items() if n == 0), reverse=True)
    order = []
    while stack:
        rid = stack.pop()
        order.append(by_id[rid])
        ready = []
        for c in children[rid]:
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
        stack += sorted(ready, reverse=True)
    if len(order) < len(revs):
        raise UsageError(f"alembic: revisions form a cycle: {_cycle(parents, waiting, by_id)}")
    return order


def _cycle(parents: dict[str, list[str]], waiting: dict[str, int], by_id: dict[str, Revision]) -> str:
    """Files of one cycle among the revisions never reached (each has an unreached parent)."""
    left = {rid for rid, n in waiting.items() if n > 0}
    path, rid = [], min(left)
    while rid not in path:
        path.append(rid)
        rid = min(p for p in parents[rid] if p in left)
    loop = path[path.index(rid):]
    return " -> ".join(_show(by_id[r].path) for r in loop + [rid])


# --- messages ------------------------------------------------------------------------------


def _show(path: Path) -> str:
    """Relative to the working directory where possible, "/" separators (as the reports)."""
    try:
        return path.absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


def import_roots(path: Path, project_root: Path) -> list[Path]:
    """Where the project's modules import from: the folder above the revision's package (a
    versions folder inside `app/db/migrations/` imports `app...`), the revision's folder, the
    script folder (env.py's: projects keep migration helpers next to it and put it on sys.path
    for their revisions), and the project folder."""
    # Every folder that holds a package on the way up is a place imports may start from
    # (versions folders often lack __init__.py while the application above has it).
    roots = [folder for folder, child in zip(path.parents[1:], path.parents)
             if (child / "__init__.py").is_file() and not (folder / "__init__.py").is_file()]
    script = [path.parent.parent] if (path.parent.parent / "env.py").is_file() else []
    return list(dict.fromkeys(roots + [path.parent] + script + [project_root]))

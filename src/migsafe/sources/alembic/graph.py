"""Alembic projects read statically: alembic.ini, the revision files and their graph.

Nothing here imports or runs project code (a pull request may be untrusted): revision files
are read with `ast`, the ini with configparser. The renderer (render.py, in the worker) does the executing.
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from migsafe.errors import UsageError
from migsafe.sources.core import pyfile
from migsafe.sources.core.pyfile import BadEncoding, decode, parse, show
from migsafe.sources.core.tracing import NO_WAY_BACK
from migsafe.sources.files import UnreadableFile, read_regular_file, real_path


@dataclass
class AlembicConfig:
    script_location: Path
    version_locations: list[Path]
    dialect: str | None  # "postgresql" | "mysql" | "sqlite", None when the url does not say
    sourceless: bool = False  # Alembic also loads .pyc files that have no .py beside them
    recursive: bool = False  # recursive_version_locations: sub-folders are part of the graph


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
    """The [alembic] section read as alembic.config.Config and ScriptDirectory.from_config read
    it (Alembic itself is not imported: it costs more than the rest of a warm re-check)."""
    here = path.parent.absolute()
    # Alembic passes `here` the same way; `%` in the folder name must not start interpolation.
    parser = configparser.ConfigParser({"here": str(here).replace("%", "%%")})
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except (OSError, UnicodeDecodeError, configparser.Error) as e:
        raise UsageError(f"alembic: {show(path)}: cannot be read: {_one_line(e)}") from None

    def get(key: str) -> str | None:
        try:
            value = parser.get("alembic", key, fallback=None)
        except configparser.InterpolationError:  # e.g. %(DB_URL)s filled in by env.py
            return None
        return value.strip() if value is not None else None

    toml = _pyproject_alembic(here)  # alembic >= 1.16 may keep the paths in pyproject.toml

    def path_list(key: str, legacy: str) -> list[str]:  # as Config.get_version_locations_list
        raw = get(key)
        if not raw:
            return toml.get(key) or []
        name = get("path_separator") or (get("version_path_separator") if key == "version_locations" else None)
        if name is not None and name not in _SEPARATORS:
            if key != "version_locations":  # (only a hint where to look for packages: never fatal)
                name = None
            else:
                known = ", ".join(_SEPARATORS)
                raise UsageError(f'alembic: {show(path)}: path_separator "{name}" is not one of {known}')
        return [x.strip() for x in (raw.split(_SEPARATORS[name]) if name else re.split(legacy, raw)) if x.strip()]

    search = [here / p for p in path_list("prepend_sys_path", r", *| +|:")]  # where `package:` imports from
    location = get("script_location") or toml.get("script_location")
    script = _location(location, here, path, search) if location else None
    if (script is None or not script.is_dir()) and is_script_dir(here):
        # The ini sits in the script folder and the app sets script_location at run time
        # (Flask-Migrate: none in the file; mlflow: one relative to the app's working directory).
        script = here
    elif script is None:
        raise UsageError(f"alembic: {show(path)}: no script_location in section [alembic]")
    versions = [_location(x, here, path, search) for x in path_list("version_locations", r", *| +")]

    def flag(key: str) -> bool:  # Config.get_alembic_boolean_option: exactly "true" in the ini
        value = get(key)
        return value == "true" if value is not None else toml.get(key) is True

    return AlembicConfig(script, versions or [script / "versions"], _url_dialect(get("sqlalchemy.url")),
                         flag("sourceless"), flag("recursive_version_locations"))


def _pyproject_alembic(here: Path) -> dict:
    try:
        import tomllib  # (a project's pyproject.toml is rarely read)
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

    def subs(key: str) -> list[str]:
        values = table.get(key)
        return [sub(v) for v in values if sub(v)] if isinstance(values, list) else []

    return {"script_location": sub(table.get("script_location")), "version_locations": subs("version_locations"),
            "prepend_sys_path": subs("prepend_sys_path"), "sourceless": table.get("sourceless"),
            "recursive_version_locations": table.get("recursive_version_locations")}


def _location(value: str, here: Path, ini: Path, search: list[Path]) -> Path:
    """A path (relative ones from the ini's folder, where CI runs alembic) or a package resource
    `pkg.sub:dir[:dir...]`, found as alembic.util.coerce_resource_to_filename finds it, but
    without importing the package (that would run the project's code): see package_folder."""
    if os.path.isabs(value) or ":" not in value:
        return Path(value) if os.path.isabs(value) else here / value
    package, *parts = value.split(":")
    folder = package_folder(package, [*search, here, *here.parents])
    if folder is None:
        raise UsageError(f'alembic: {show(ini)}: "{value}": package {package} was found neither beside '
                         f"{ini.name} or in a folder above it, nor installed")
    return folder.joinpath(*parts)


def package_folder(package: str, bases: list[Path]) -> Path | None:
    """The folder of an importable package, never importing anything: first below `bases`
    (and their src/), as the checkout under review is usually not installed and rendering puts
    the project first on sys.path; then where the installed one is (importlib's finders locate
    a top-level package without running it; sub-packages are then plain folders)."""
    names = package.split(".")
    if not all(n.isidentifier() for n in names):
        return None
    for base in bases:
        for folder in (base.joinpath(*names), base.joinpath("src", *names)):
            if folder.is_dir():
                return folder
    try:
        spec = importlib.util.find_spec(names[0])
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location, *names[1:]).is_dir():
            return Path(location, *names[1:])
    return None


def _url_dialect(url: str | None) -> str | None:
    m = re.match(r"([A-Za-z][\w.]*?)(\+[\w.]+)?://", url or "")  # ${DB_URL}, "", driver:// -> None
    return dialect_named(m.group(1)) if m else None


def dialect_named(name: str) -> str | None:
    """The dialect a URL scheme or a folder name ("postgres", "mariadb", ...) names, if any."""
    return _DIALECTS.get(name.lower())


# --- recognising Alembic folders and files -----------------------------------------------


def is_script_dir(folder: Path) -> bool:
    return (folder / "env.py").is_file() and (folder / "versions").is_dir()


def is_versions_dir(folder: Path, nested: bool = False) -> bool:
    """Does the folder hold a revision file (`nested`: or one of its sub-folders)?"""
    return folder.is_dir() and any(is_revision_file(p) for p in revision_paths(folder, nested=nested))


def is_revision_file(path: Path) -> bool:
    """A file Alembic would load that assigns `revision` and `down_revision` (recognises a
    versions folder; once one is known, every file it loads is read, see revision_paths)."""
    if not (loads_name(path.name) and path.is_file()):
        return False
    try:
        data = read_regular_file(path, pyfile.MAX_PYTHON_BYTES)
    except UnreadableFile:  # read_revision reports it when its folder is read
        return False
    if b"down_revision" not in data:  # (Python source is ASCII-compatible, whatever its coding cookie)
        return False  # it assigns no down_revision: not worth parsing
    try:
        names = _module_assignments(parse(decode(data)))
    except (BadEncoding, SyntaxError, ValueError):  # still a revision: reported not-analyzed
        names = _regex_assignments(data.decode("latin-1"))
    return "revision" in names and "down_revision" in names


# alembic/script/base.py: the file names ScriptDirectory loads (all others it never opens).
_SOURCE = re.compile(r"(?!\.\#|__init__)(.*\.py)$")
_SOURCELESS = re.compile(r"(?!\.\#|__init__)(.*\.py)(c|o)?$")
_LEGACY_ID = re.compile(r"([a-f0-9]+)\.py$")  # Alembic 0.1: the id was the file name


def loads_name(name: str) -> bool:
    """Is this a file name Alembic loads as a revision (a source file)?"""
    return _SOURCE.match(name) is not None


def revision_paths(folder: Path, sourceless: bool = False, nested: bool = True) -> list[Path]:
    """The files Alembic's ScriptDirectory loads from a version location: every `*.py` but
    `__init__*` and editor locks (`.#*`), whatever it holds (Alembic refuses a file without
    `revision`); with `sourceless = true`, also `.pyc`/`.pyo` files whose source is gone.

    Sub-folders are read too (`nested`), whatever recursive_version_locations says: tools such
    as neutron-db-manage add each release's expand/contract folder as a location at run time,
    and a revision left unread would pass unseen. Hidden folders and __pycache__ are not."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not d.endswith("__pycache__")) if nested else []
        here = Path(root)
        found += [here / f for f in sorted(files) if (_SOURCELESS if sourceless else _SOURCE).match(f)
                  and _loads_compiled(here / f)]
        cache = here / "__pycache__"
        if sourceless and cache.is_dir():  # compiled files of sources that are gone
            names = {f.split(".")[0] for f in files}
            found += [p for p in sorted(cache.iterdir()) if p.name.split(".")[0] not in names
                      and _SOURCELESS.match(p.name) and _loads_compiled(p)]
    return found


def _loads_compiled(path: Path) -> bool:
    """Script._from_path: a .pyc/.pyo is loaded only without its .py (and a .pyo without .pyc)."""
    m = _SOURCELESS.match(path.name)
    if m is None or m.group(2) is None:
        return True
    source = path.with_name(m.group(1))
    return not (source.exists() or m.group(2) == "o" and source.with_name(source.name + "c").exists())


# --- reading one revision file -------------------------------------------------------------




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
            found[m.group(1)] = parse(m.group(2).strip(), mode="eval").body
        except SyntaxError:
            pass
    return found


def _strings(node: ast.expr | None, name: str, constant=None) -> tuple[str, ...]:
    """None, "a", ("a", "b") or ["a"] -> tuple of strings; anything else -> ValueError.
    `constant`: how a name in it is read (see _constants)."""
    if node is None:
        return ()
    try:
        value = _value(node, constant)
    except (ValueError, TypeError, SyntaxError, RecursionError):  # a call, {[]: 1}, a name not found ...
        raise ValueError(f"{name} is not a literal (string, tuple of strings or None)") from None
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list, set)) and all(isinstance(v, str) for v in value):
        return tuple(sorted(value) if isinstance(value, set) else value)
    raise ValueError(f"{name} is not a literal (string, tuple of strings or None)")


def _value(node: ast.expr, constant) -> object:
    try:
        return ast.literal_eval(node)
    except ValueError:
        if constant is None:
            raise
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(_value(e, constant) for e in node.elts)
        return constant(node)


def _constants(tree: ast.Module, path: Path):
    """`NAME` or `module.NAME` in a revision -> the literal its module assigns to it, read from
    the project's source as the revision imports it, never run (OpenStack: `branch_labels =
    (cli.EXPAND_BRANCH,)`, EXPAND_BRANCH = 'expand' in neutron/db/migration/cli.py); else
    ValueError."""
    bound: dict[str, list[str]] = {}  # a name the revision binds -> the dotted name it stands for
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            bound.update({a.asname or a.name: [*node.module.split("."), a.name] for a in node.names})
        elif isinstance(node, ast.Import):
            bound.update({a.asname or a.name.split(".")[0]: a.name.split(".")[: None if a.asname else 1]
                          for a in node.names})
    own = _literals(tree)

    def constant(node: ast.expr) -> object:
        attrs = []
        while isinstance(node, ast.Attribute):
            attrs.insert(0, node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            raise ValueError("not a name")
        if not attrs and node.id in own:
            return own[node.id]
        if node.id not in bound:
            raise ValueError(f"{node.id} is not bound by an import")
        *module, name = bound[node.id] + attrs
        for root in import_roots(path, path.parent) if module else ():
            for file in (root.joinpath(*module[:-1], module[-1] + ".py"), root.joinpath(*module, "__init__.py")):
                try:
                    literals = _literals(parse(decode(read_regular_file(file, pyfile.MAX_PYTHON_BYTES))))
                except (UnreadableFile, BadEncoding, SyntaxError, ValueError):
                    continue
                if name in literals:
                    return literals[name]
        raise ValueError(f"{node.id} is not a constant of the project's modules")

    return constant


def _literals(tree: ast.Module) -> dict[str, object]:
    """Module-level `NAME = <literal>`; the last one wins, as when run."""
    found = {}
    for node in tree.body:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            continue
        for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
            if isinstance(t, ast.Name):
                try:
                    found[t.id] = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError, RecursionError):
                    found.pop(t.id, None)
    return found


def read_revision(path: Path) -> Revision:
    """One file of a version location (see revision_paths); never raises.

    A file that Alembic would refuse, or that cannot be read or parsed, is a Revision with
    `error` set; its id, parents and depends_on are then salvaged from one-line assignments,
    else id is None.
    """
    rev = Revision(id=None, path=path)
    if path.suffix != ".py":
        rev.error = "a compiled revision without its source (sourceless = true): migsafe reads Python source only"
        return rev
    try:
        data = read_regular_file(path, pyfile.MAX_PYTHON_BYTES)
    except UnreadableFile as e:
        rev.error = str(e)
        return _salvage(rev, _head(path))
    try:
        text = decode(data)
    except BadEncoding as e:
        rev.error, rev.error_line = str(e), e.line
        return _salvage(rev, data.decode("latin-1"))  # ids are ASCII
    try:
        tree = parse(text, str(path))
    except (SyntaxError, ValueError) as e:  # ValueError: NUL bytes
        rev.error = f"file does not parse: {getattr(e, 'msg', None) or e}"
        rev.error_line = getattr(e, "lineno", None) or 1
        return _salvage(rev, text)
    names = _module_assignments(tree)
    legacy = _LEGACY_ID.match(path.name)
    if "revision" not in names and legacy:  # Alembic takes the id from such a name
        rev.id = legacy.group(1)
    elif "revision" not in names:  # an empty file, a helper module: `alembic upgrade` stops on it
        rev.error = ("the file assigns no module-level revision: Alembic refuses it (\"Could not determine"
                     " revision id from filename\"); move it out of the versions folder or give it one")
        return rev
    try:
        ids = _strings(names.get("revision"), "revision") or (rev.id,)
        if len(ids) != 1 or not ids[0]:
            raise ValueError("revision is not one non-empty string")
        rev.id = ids[0]
    except ValueError as e:  # no id: no place in the graph -> Graph.broken_files
        rev.error, rev.error_line = str(e), names["revision"].lineno
        return rev
    try:
        if "down_revision" not in names:
            raise ValueError("the file has no module-level down_revision")
        constant = _constants(tree, path)
        rev.down_revisions = _strings(names["down_revision"], "down_revision", constant)
        rev.depends_on = _strings(names.get("depends_on"), "depends_on", constant)
        rev.branch_labels = _strings(names.get("branch_labels"), "branch_labels", constant)
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
        rev.irreversible = (up.lineno, f"revision {rev.id} has no downgrade(): {NO_WAY_BACK}")
        return
    body = _real_body(down)
    if not body:
        rev.irreversible = (down.lineno, f"downgrade() of revision {rev.id} is empty: {NO_WAY_BACK}")
    elif isinstance(body[0], ast.Raise):
        exc = body[0].exc
        exc = exc.func if isinstance(exc, ast.Call) else exc
        try:
            what = f"raises {ast.unparse(exc)}" if exc is not None else "raises"
        except RecursionError:  # `raise a.b.c...` parses hundreds deep, then unparse recurses
            what = "raises"
        rev.irreversible = (down.lineno, f"downgrade() of revision {rev.id} {what}: {NO_WAY_BACK}")


# --- the graph -----------------------------------------------------------------------------


def load_revisions(version_dirs: list[Path], read=None, sourceless: bool = False) -> Graph:
    """All files of the version folders (revision_paths) as one graph, in an order Alembic
    could run them; files Alembic would refuse are Graph.broken_files or carry an error.
    `read`: read_revision, or the cache's memo of it.

    A broken graph (unknown parent, cycle, duplicate id or branch label) raises UsageError.
    """
    graph, revs, seen = Graph(), [], set()
    for d in version_dirs:
        if not d.is_dir():  # Alembic skips it silently; we would then pass a typo as "all fine"
            raise UsageError(f"alembic: version location {show(d)} is not a folder")
        for p in revision_paths(d, sourceless):
            if real_path(p) in seen:  # a folder listed twice, or also below another: Alembic loads it once
                continue
            seen.add(real_path(p))
            rev = (read or read_revision)(p)
            (revs if rev.id is not None else graph.broken_files).append(rev)
    _check_unique(revs)
    where = ", ".join(dict.fromkeys(show(d) + "/" for d in version_dirs))
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
                f"{show(owner[rev.id].path)} and {show(rev.path)}"
            )
        owner[rev.id] = rev
    labels: dict[str, Revision] = {}
    for rev in revs:
        for label in rev.branch_labels:
            if label in labels:
                raise UsageError(
                    f'alembic: branch label "{label}" is used twice: '
                    f"{show(labels[label].path)} and {show(rev.path)}"
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
                    f'alembic: {show(rev.path)}: down_revision "{down}" is not a revision in {where}'
                )
        for dep in rev.depends_on:
            found = self.resolve(dep)
            if isinstance(found, Revision):
                out.append(found.id)
            elif strict:
                raise UsageError(f'alembic: {show(rev.path)}: depends_on "{dep}" {found} in {where}')
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
    return " -> ".join(show(by_id[r].path) for r in loop + [rid])


# --- messages ------------------------------------------------------------------------------



def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


def import_roots(path: Path, project_root: Path) -> list[Path]:
    """Where the project's modules import from: the folder above the revision's package (a
    versions folder inside `app/db/migrations/` imports `app...`), the revision's folder, the
    script folder (env.py's: projects keep migration helpers next to it and put it on sys.path
    for their revisions), the folder holding a script folder that is no package (Flask-Migrate's
    `migrations/` beside the application's modules, run from there), and the project folder."""
    # Every folder that holds a package on the way up is a place imports may start from
    # (versions folders often lack __init__.py while the application above has it).
    roots = [folder for folder, child in zip(path.parents[1:], path.parents)
             if (child / "__init__.py").is_file() and not (folder / "__init__.py").is_file()]
    env_py = script_env_py(path)
    scripts = [env_py.parent] if env_py is not None else []
    # A script folder that is no package inside none (Flask-Migrate's migrations/ beside the app):
    # the folder holding it is where the revisions' imports start.
    if scripts and not (scripts[0] / "__init__.py").is_file() and not (scripts[0].parent / "__init__.py").is_file():
        scripts.append(scripts[0].parent)
    return list(dict.fromkeys(roots + [path.parent] + scripts + [project_root]))


def script_env_py(revision: Path) -> Path | None:
    """The env.py of the script folder the revision belongs to: the nearest above it. Usually
    versions/ is right below it, but version_locations may be deeper (prefect's
    versions/postgresql/, a recursive versions/2024/)."""
    for folder in list(revision.parents)[1:4]:
        if (folder / "env.py").is_file():
            return folder / "env.py"
    return None

"""Django migration packages read statically: the apps, their migration files and the graph.

Nothing here imports project code or Django (a pull request may be untrusted, and Django may
not be installed): files are read with `ast`. The order is the one `manage.py migrate` applies
on an empty database (MigrationLoader + MigrationExecutor.migration_plan), rebuilt here so that
a broken graph is one clear message naming the files. Rendering is django.py's business.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from migsafe.errors import UsageError
from migsafe.sources.alembic_graph import MAX_REVISION_BYTES, _BadEncoding, _decode, _parse, _show
from migsafe.sources.sql import UnreadableFile, read_regular_file

Key = tuple[str, str]  # (app_label, migration name), as Django's graph keys its nodes


@dataclass
class App:
    label: str
    module: str  # dotted name of the app package, e.g. "shop.catalog" or "django.contrib.auth"
    migrations_dir: Path
    import_root: Path  # the folder `module` imports from
    external: bool = False  # pulled in as a dependency (installed), not found under the PATHs


@dataclass
class Node:
    app: App
    name: str
    path: Path
    dependencies: list[Key] = field(default_factory=list)
    replaces: list[Key] = field(default_factory=list)
    run_before: list[Key] = field(default_factory=list)
    error: str | None = None  # could not be read -> not-analyzed
    error_line: int = 1

    @property
    def key(self) -> Key:
        return (self.app.label, self.name)


@dataclass
class Plan:
    nodes: list[Node]  # the order migrate applies them; squashes expanded into what they replace
    squashed: list[Node] = field(default_factory=list)  # squashes whose replaced migrations all exist
    missing: dict[Key, str] = field(default_factory=dict)  # node -> why its parent cannot be found


def is_migrations_package(folder: Path) -> bool:
    """A Django migrations package: __init__.py and at least one file defining `class Migration`."""
    return (folder / "__init__.py").is_file() and any(is_migration_file(p) for p in migration_files(folder))


def migration_files(folder: Path) -> list[Path]:
    # As MigrationLoader: modules of the package, not starting with "_" or "~".
    return sorted(p for p in folder.glob("*.py") if p.is_file() and not p.name.startswith(("_", "~")))


def is_migration_file(path: Path) -> bool:
    if not (path.suffix == ".py" and path.parent.joinpath("__init__.py").is_file()):
        return False
    try:
        return b"class Migration" in read_regular_file(path, MAX_REVISION_BYTES)
    except UnreadableFile:
        return False


def app_of(migrations_dir: Path, external: bool = False) -> App:
    """The app owning a migrations package: its label (AppConfig.label in apps.py, else the
    folder name) and its dotted module name (packages up to the first folder without __init__)."""
    app_dir = migrations_dir.parent
    parts = [app_dir.name]
    root = app_dir.parent
    while (root / "__init__.py").is_file():
        parts.insert(0, root.name)
        root = root.parent
    return App(_declared_label(app_dir / "apps.py") or app_dir.name, ".".join(parts), migrations_dir, root, external)


def _declared_label(apps_py: Path) -> str | None:
    try:
        tree = _parse(_decode(read_regular_file(apps_py, MAX_REVISION_BYTES)))
    except (UnreadableFile, _BadEncoding, SyntaxError, ValueError):
        return None
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for stmt in cls.body:
            if (isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "label" for t in stmt.targets)
                    and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)):
                return stmt.value.value
    return None


def read_node(app: App, path: Path) -> Node:
    """One migration file; never raises (a file that cannot be read is a Node with `error`)."""
    node = Node(app, path.stem, path)
    try:
        tree = _parse(_decode(read_regular_file(path, MAX_REVISION_BYTES)), str(path))
    except (UnreadableFile, _BadEncoding, SyntaxError, ValueError) as e:
        node.error = f"file does not parse: {getattr(e, 'msg', None) or e}"
        node.error_line = getattr(e, "lineno", None) or getattr(e, "line", None) or 1
        return node
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Migration"), None)
    if cls is None:
        node.error = "the file has no class Migration"
        return node
    for stmt in cls.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            if name in ("dependencies", "replaces", "run_before"):
                try:
                    setattr(node, name, _keys(stmt.value, app.label))
                except ValueError as e:
                    node.error, node.error_line = f"{name}: {e}", stmt.lineno
    return node


def _keys(value: ast.expr, own_label: str) -> list[Key]:
    """The (app_label, name) pairs of `dependencies` & co. A computed list (`[...] if setting else []`,
    `a + b`) gives every pair any branch may hold: an extra parent only orders more strictly."""
    if isinstance(value, (ast.List, ast.Tuple)):
        items = value.elts
    elif isinstance(value, (ast.IfExp, ast.BinOp)):
        return list(dict.fromkeys(k for part in _branches(value) for k in _keys(part, own_label)))
    else:
        raise ValueError("not a literal list")
    keys = []
    for item in items:
        if isinstance(item, ast.Call) and getattr(item.func, "attr", getattr(item.func, "id", "")) == "swappable_dependency":
            # settings.AUTH_USER_MODEL without the project's settings: Django's default, auth.User
            keys.append(("auth", "__first__"))
            continue
        try:
            key = ast.literal_eval(item)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            raise ValueError("an entry is not a literal (app_label, migration name) pair") from None
        if not (isinstance(key, (tuple, list)) and len(key) == 2 and all(isinstance(k, str) for k in key)):
            raise ValueError("an entry is not an (app_label, migration name) pair")
        keys.append((key[0], key[1]))
    return keys


def _branches(value: ast.expr) -> list[ast.expr]:
    if isinstance(value, ast.IfExp):
        return [value.body, value.orelse]
    if isinstance(value.op, ast.Add):
        return [value.left, value.right]
    raise ValueError("not a literal list")


def installed_migrations_dir(label: str, roots: list[Path] = ()) -> Path | None:
    """Where an app that the project depends on keeps its migrations: a top-level package named
    like the label beside the project's own apps (in a folder they import from), else installed:
    django.contrib.<label> or a top-level package named like the label. Found without importing."""
    for root in roots:
        if is_migrations_package(root / label / "migrations"):
            return root / label / "migrations"
    for module in (f"django.contrib.{label}", label):
        try:
            top = importlib.util.find_spec(module.partition(".")[0])
        except (ImportError, ValueError):
            continue
        if top is None or not top.submodule_search_locations:
            continue
        folder = Path(list(top.submodule_search_locations)[0]).joinpath(*module.split(".")[1:], "migrations")
        if is_migrations_package(folder):
            return folder
    return None


def load_plan(migration_dirs: list[Path]) -> Plan:
    """Every migration of the apps found, plus the installed apps they depend on, in the order
    migrate applies them. A missing parent inside a known app or a cycle -> UsageError."""
    apps: dict[str, App] = {}
    nodes: dict[Key, Node] = {}

    def add_app(app: App) -> None:
        if app.label in apps:
            if apps[app.label].migrations_dir.resolve() != app.migrations_dir.resolve():
                raise UsageError(f"django: two apps are labelled {app.label!r}: {_show(apps[app.label].migrations_dir)}"
                                 f" and {_show(app.migrations_dir)}")
            return
        apps[app.label] = app
        # Every module migrate would load: one that does not read or has no class Migration
        # stops migrate too, so it is reported (read_node's error), never skipped.
        for path in migration_files(app.migrations_dir):
            node = read_node(app, path)
            nodes[node.key] = node

    for folder in migration_dirs:
        add_app(app_of(folder))
    missing: dict[Key, str] = {}
    todo = list(nodes.values())
    while todo:  # apps the project depends on, from where they are installed
        node = todo.pop()
        for label, _ in node.dependencies + node.run_before:
            if label not in apps:
                roots = list(dict.fromkeys(a.import_root for a in apps.values() if not a.external))
                folder = installed_migrations_dir(label, roots)
                if folder is None:
                    missing[node.key] = (f"it depends on app {label!r}, whose migrations were not found under the"
                                         " given paths nor installed")
                    continue
                before = set(nodes)
                add_app(app_of(folder, external=True))
                todo += [nodes[k] for k in set(nodes) - before]
    return _order(apps, nodes, missing)


def _order(apps: dict[str, App], nodes: dict[Key, Node], missing: dict[Key, str]) -> Plan:
    squashed, dropped = [], set()
    for node in sorted((n for n in nodes.values() if n.replaces), key=lambda n: n.key):
        if all(k in nodes for k in node.replaces):
            # Both present: the replaced ones are what existing databases ran; they are judged
            # and the squash is left out of the graph (dependencies on it go to what it replaces).
            squashed.append(node)
            dropped.add(node.key)
        else:  # only the squash can run: it stands for the replaced ones that remain
            dropped.update(k for k in node.replaces if k in nodes)
    alias = {}
    for node in nodes.values():
        if node.replaces:
            for k in ([node.key] if node.key in dropped else node.replaces):
                alias.setdefault(k, []).extend(node.replaces if node.key in dropped else [node.key])
    live = {k: n for k, n in nodes.items() if k not in dropped}
    parents: dict[Key, set[Key]] = {k: set() for k in live}
    for node in live.values():
        for dep in node.dependencies:
            for parent in _resolve(dep, node, apps, live, alias, missing):
                parents[node.key].add(parent)
        for later in node.run_before:
            for child in _resolve(later, node, apps, live, alias, missing):
                parents[child].add(node.key)
    for key in parents:
        parents[key].discard(key)
    _check_acyclic(parents, live)
    # MigrationExecutor.migration_plan(leaf nodes): each leaf's forwards plan in turn, a
    # depth-first walk over parents (the largest key first, as MigrationGraph.iterative_dfs).
    children = {k: 0 for k in live}
    for ps in parents.values():
        for p in ps:
            children[p] += 1
    order, seen = [], set()
    for leaf in sorted(k for k, n in children.items() if n == 0):
        stack = [(leaf, False)]
        while stack:
            key, done = stack.pop()
            if key in seen:
                continue
            if done:
                seen.add(key)
                order.append(live[key])
            else:
                stack.append((key, True))
                stack += [(p, False) for p in sorted(parents[key])]
    return Plan(order, squashed, missing)


def _resolve(dep: Key, node: Node, apps: dict[str, App], live: dict[Key, Node], alias: dict[Key, list[Key]],
             missing: dict[Key, str]) -> list[Key]:
    label, name = dep
    if label not in apps:
        return []  # reported through `missing`
    if name in ("__first__", "__latest__"):
        own = sorted(k for k in live if k[0] == label)
        if not own:
            return []
        # As MigrationLoader: the app's first root node, or its first leaf node.
        if name == "__first__":
            ends = [k for k in own if not any(d[0] == label for d in live[k].dependencies)]
        else:
            inner = {d for k in own for d in live[k].dependencies if d[0] == label}
            ends = [k for k in own if k not in inner]
        return ends[:1] or own[:1]
    if dep in live:
        return [dep]
    if dep in alias:
        return [k for k in alias[dep] if k in live]
    raise UsageError(f"django: {_show(node.path)} depends on {label}.{name}, which is not in"
                     f" {_show(apps[label].migrations_dir)}")


def _check_acyclic(parents: dict[Key, set[Key]], live: dict[Key, Node]) -> None:
    waiting = {k: len(ps) for k, ps in parents.items()}
    children: dict[Key, list[Key]] = {k: [] for k in parents}
    for k, ps in parents.items():
        for p in ps:
            children[p].append(k)
    ready = [k for k, n in waiting.items() if n == 0]
    while ready:
        for c in children[ready.pop()]:
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    left = {k for k, n in waiting.items() if n > 0}
    if left:
        path, key = [], min(left)
        while key not in path:
            path.append(key)
            key = min(p for p in parents[key] if p in left)
        loop = path[path.index(key):] + [key]
        raise UsageError("django: migrations form a cycle: " + " -> ".join(_show(live[k].path) for k in reversed(loop)))

"""Django migration packages read statically: the apps, their migration files and the graph.

Nothing here imports project code or Django (a pull request may be untrusted, and Django may
not be installed): files are read with `ast`. The order is the one `manage.py migrate` applies
on an empty database (MigrationLoader + MigrationExecutor.migration_plan), rebuilt here so that
a broken graph is one clear message naming the files. Rendering is the worker's business (in_worker.py).
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import operator
import os
from dataclasses import dataclass, field
from pathlib import Path

from migsafe.errors import UsageError
from migsafe.sources.core.pyfile import MAX_PYTHON_BYTES, BadEncoding, decode, parse, show
from migsafe.sources.files import UnreadableFile, read_regular_file

Key = tuple[str, str]  # (app_label, migration name), as Django's graph keys its nodes


@dataclass
class App:
    label: str
    module: str  # dotted name of the app package, e.g. "shop.catalog" or "django.contrib.auth"
    migrations_dir: Path
    import_root: Path  # the folder `module` imports from
    external: bool = False  # pulled in as a dependency (installed), not found under the PATHs
    config: str | None = None  # its AppConfig's dotted path, for INSTALLED_APPS, where Django would not find it alone

    @property
    def installed_as(self) -> str:
        """Its INSTALLED_APPS entry."""
        return self.config or self.module


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
    guessed: set[Key] = field(default_factory=set)  # parents computed from a default, not the project's settings
    swappable: dict[str, str] = field(default_factory=dict)  # setting -> "app_label.Model" it declares swappable

    @property
    def key(self) -> Key:
        return (self.app.label, self.name)


@dataclass
class Plan:
    nodes: list[Node]  # the order migrate applies them; squashes expanded into what they replace
    squashed: list[Node] = field(default_factory=list)  # squashes whose replaced migrations all exist
    missing: dict[Key, str] = field(default_factory=dict)  # node -> why its parent cannot be found
    settings_module: str | None = None  # the project's settings module, as given (None: ad hoc settings)
    settings_file: Path | None = None  # its file, where found
    settings: dict = field(default_factory=dict)  # what it assigns literally (read_settings)
    parents: dict[Key, set[Key]] = field(default_factory=dict)  # each node's: what it runs after (resolved)


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
        return b"class Migration" in read_regular_file(path, MAX_PYTHON_BYTES)
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
    module = ".".join(parts)
    label, _ = _declared_label(app_dir / "apps.py")
    config = None
    if label is None:  # an AppConfig in the package itself (pulp's plugins): named in INSTALLED_APPS
        label, name = _declared_label(app_dir / "__init__.py", configs_only=True)
        config = f"{module}.{name}" if name else None
    return App(label or app_dir.name, module, migrations_dir, root, external, config)


def _declared_label(module: Path, configs_only: bool = False) -> tuple[str | None, str | None]:
    """(`label = "..."`, the class's name) of a class in apps.py, or (`configs_only`) of a class
    whose base is named like an AppConfig; (None, None) if there is none."""
    try:
        tree = parse(decode(read_regular_file(module, MAX_PYTHON_BYTES)))
    except (UnreadableFile, BadEncoding, SyntaxError, ValueError):
        return None, None
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        if configs_only and not any(_name(b).endswith("Config") for b in cls.bases):
            continue
        for stmt in cls.body:
            if (isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "label" for t in stmt.targets)
                    and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)):
                return stmt.value.value, cls.name
    return None, None


def read_node(app: App, path: Path, settings: dict | None = None) -> Node:
    """One migration file; never raises (a file that cannot be read is a Node with `error`).
    `settings`: the project's settings as read_settings reads them, for computed dependencies."""
    node = Node(app, path.stem, path)
    try:
        tree = parse(decode(read_regular_file(path, MAX_PYTHON_BYTES)), str(path))
    except (UnreadableFile, BadEncoding, SyntaxError, ValueError) as e:
        node.error = f"file does not parse: {getattr(e, 'msg', None) or e}"
        node.error_line = getattr(e, "lineno", None) or getattr(e, "line", None) or 1
        return node
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Migration"), None)
    if cls is None:
        node.error = "the file has no class Migration"
        return node
    scope = _Scope(tree, settings or {})
    node.swappable = _declared_swappable(cls, app.label)
    for stmt in cls.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            if name in ("dependencies", "replaces", "run_before"):
                try:
                    setattr(node, name, list(dict.fromkeys(scope.keys(stmt.value))))
                except (ValueError, RecursionError) as e:
                    node.error, node.error_line = f"{name}: {e}", stmt.lineno
    node.guessed = scope.guessed
    return node


def _declared_swappable(cls: ast.ClassDef, label: str) -> dict[str, str]:
    """The settings a migration's CreateModel names in `options={"swappable": "SETTING"}`, each
    with the model it makes: what the setting names where the project does not swap the model
    (swapper's models: openwisp's `settings.CONFIG_DEVICE_MODEL`, read by later migrations)."""
    found = {}
    for call in (n for n in ast.walk(cls) if isinstance(n, ast.Call) and _name(n.func) == "CreateModel"):
        named = {k.arg: k.value for k in call.keywords}
        model, options = named.get("name", call.args[0] if call.args else None), named.get("options")
        if isinstance(model, ast.Constant) and isinstance(options, ast.Dict):
            for key, value in zip(options.keys, options.values):
                if isinstance(key, ast.Constant) and key.value == "swappable" and isinstance(value, ast.Constant) \
                        and isinstance(value.value, str) and isinstance(model.value, str):
                    found[value.value] = f"{label}.{model.value}"
    return found


# Django's defaults of the settings a dependency list reads
_DEFAULT_SETTINGS = {"AUTH_USER_MODEL": "auth.User"}


class _Unknown(ValueError):
    """A setting neither the project's settings module (as read) nor Django's defaults give."""


class _Scope:
    """What a migration's `dependencies` may be computed from, evaluated without running the file:
    literals, the module's own names and helper functions, the project's settings read statically
    (`settings.X`, `getattr(settings, "X", default)`), `swappable_dependency` and swapper's
    `dependency`. A computed list (`[...] if setting else []`, `a + b`, a helper's appends) gives
    every pair any branch may hold: an extra parent only orders more strictly."""

    def __init__(self, tree: ast.Module, settings: dict) -> None:
        self.settings = {**_DEFAULT_SETTINGS, **settings}
        self.read = settings
        self.guessed: set[Key] = set()  # pairs computed from a default (Django's, a getattr's, swapper's)
        self.defaulted = False  # the pair being computed took a default
        self.names: dict[str, ast.expr] = {}
        self.functions: dict[str, ast.FunctionDef] = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.names[node.targets[0].id] = node.value
            elif isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node

    def keys(self, value: ast.expr, depth: int = 0) -> list[Key]:
        """The pairs of a list-valued expression."""
        if depth > 20:
            raise ValueError("not a literal list")
        if isinstance(value, (ast.List, ast.Tuple)):
            keys = []
            for item in value.elts:
                if isinstance(item, ast.Starred):
                    keys += self.keys(item.value, depth + 1)
                    continue
                try:
                    keys.append(self.pair(item))
                except _Unknown:  # a swappable model whose setting is not known here: no parent to order by
                    continue
            return keys
        if isinstance(value, ast.IfExp):
            return self.keys(value.body, depth + 1) + self.keys(value.orelse, depth + 1)
        if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
            return self.keys(value.left, depth + 1) + self.keys(value.right, depth + 1)
        if isinstance(value, ast.Name) and value.id in self.names:
            return self.keys(self.names[value.id], depth + 1)
        if isinstance(value, ast.Call) and _name(value.func) in ("list", "tuple") and len(value.args) == 1:
            return self.keys(value.args[0], depth + 1)
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in self.functions:
            return self.returned(self.functions[value.func.id], depth + 1)
        raise ValueError("not a literal list")

    def returned(self, function: ast.FunctionDef, depth: int) -> list[Key]:
        """Every pair a helper function may return: each pair written in it (whatever the branch,
        appended or returned), and what its `return`s name."""
        keys = []
        for node in ast.walk(function):
            with contextlib.suppress(ValueError, RecursionError):
                if isinstance(node, (ast.Tuple, ast.Call)):
                    keys.append(self.pair(node))
                elif isinstance(node, ast.Return) and node.value is not None:
                    keys += self.keys(node.value, depth + 1)
        return keys

    def pair(self, item: ast.expr) -> Key:
        self.defaulted = False
        key = self._pair(item)
        if self.defaulted:
            self.guessed.add(key)
        return key

    def _pair(self, item: ast.expr) -> Key:
        if isinstance(item, ast.Call) and _name(item.func) == "swappable_dependency" and len(item.args) == 1:
            return self.swappable(self.value(item.args[0]))
        if isinstance(item, ast.Call) and _name(item.func) == "dependency":
            # swapper.dependency(app_label, model, version=None): the model of setting APP_MODEL_MODEL,
            # by default app_label.model (the arguments may be `*swapper.split("app.Model")`)
            args = [v for a in item.args for v in (self.value(a.value) if isinstance(a, ast.Starred) else [self.value(a)])]
            if len(args) < 2:
                raise ValueError("an entry is not an (app_label, migration name) pair")
            app, model = args[:2]
            version = args[2] if len(args) > 2 else next(
                (self.value(k.value) for k in item.keywords if k.arg == "version"), None)
            setting = f"{app}_{model}_MODEL".upper()
            self.defaulted = self.defaulted or setting not in self.read
            label = self.swappable(self.settings.get(setting, f"{app}.{model}"))[0]
            return label, version or "__first__"
        key = self.value(item)
        if not (isinstance(key, (tuple, list)) and len(key) == 2 and all(isinstance(k, str) for k in key)):
            raise ValueError("an entry is not an (app_label, migration name) pair")
        return key[0], key[1]

    @staticmethod
    def swappable(model) -> Key:
        """migrations.swappable_dependency("app_label.Model")."""
        if not isinstance(model, str) or "." not in model:
            raise ValueError(f"a swappable model is not named as app_label.Model: {model!r}")
        return model.split(".", 1)[0], "__first__"

    def value(self, node: ast.expr, depth: int = 0):
        """A literal, a module-level name holding one, or a setting."""
        if depth > 20:
            raise ValueError("an entry is not a literal (app_label, migration name) pair")
        if isinstance(node, ast.Name) and node.id in self.names:
            return self.value(self.names[node.id], depth + 1)
        if isinstance(node, ast.Attribute) and _name(node.value) == "settings":
            return self.setting(node.attr)
        if isinstance(node, ast.Call) and _name(node.func) == "getattr" and len(node.args) in (2, 3) \
                and _name(node.args[0]) == "settings":
            name = self.value(node.args[1], depth + 1)
            if len(node.args) == 3 and name not in self.settings:
                self.defaulted = True
                return self.value(node.args[2], depth + 1)
            return self.setting(name)
        if isinstance(node, ast.Call) and _name(node.func) == "split" and len(node.args) == 1:  # swapper.split
            model = self.value(node.args[0], depth + 1)
            if not isinstance(model, str) or "." not in model:
                raise ValueError(f"a swappable model is not named as app_label.Model: {model!r}")
            return tuple(model.split(".", 1))
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(self.value(e, depth + 1) for e in node.elts)
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            raise ValueError("an entry is not a literal (app_label, migration name) pair") from None

    def setting(self, name) -> object:
        if name not in self.settings:
            raise _Unknown(f"settings.{name} is not known without the project's settings")
        self.defaulted = self.defaulted or name not in self.read
        return self.settings[name]


def _name(node: ast.expr) -> str:
    """`name` of `name` or of `anything.name`."""
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def settings_file(module: str, roots: list[Path]) -> Path | None:
    """The file of a dotted settings module below one of `roots`, found without importing it."""
    for root in roots:
        base = Path(root, *module.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def read_settings(module: str, roots: list[Path], depth: int = 0) -> dict:
    """The settings a module assigns literally at its top level (also inside `try`, and in the
    branch an `if` on the environment takes: _known), following
    `from x import *` (a settings package's base module): read, never run. What it computes
    (values from environment variables, calls) is left out: only what is written is known."""
    path = settings_file(module, roots)
    if path is None or depth > 10:
        return {}
    try:
        tree = parse(decode(read_regular_file(path, MAX_PYTHON_BYTES)), str(path))
    except (UnreadableFile, BadEncoding, SyntaxError, ValueError):
        return {}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    values: dict = {}
    statements = list(tree.body)
    while statements:
        stmt = statements.pop(0)
        if isinstance(stmt, ast.Try):
            statements[:0] = stmt.body
        elif isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
            source = stmt.module or ""
            if stmt.level:
                parent = package.split(".")[:len(package.split(".")) - (stmt.level - 1)] if package else []
                source = ".".join([*parent, *([source] if source else [])])
            values.update(read_settings(source, roots, depth + 1))
        elif isinstance(stmt, ast.If):
            try:
                statements[:0] = stmt.body if _known(stmt.test, values) else stmt.orelse
            except (ValueError, TypeError, RecursionError):  # a test not known here: nor what it assigns
                for target in (t for n in ast.walk(stmt) if isinstance(n, ast.Assign) for t in n.targets):
                    values.pop(getattr(target, "id", None), None)
        elif isinstance(stmt, ast.Assign):
            for target in (t for t in stmt.targets if isinstance(t, ast.Name) and t.id.isupper()):
                try:
                    values[target.id] = ast.literal_eval(stmt.value)
                except (ValueError, TypeError, SyntaxError, RecursionError):
                    values.pop(target.id, None)  # computed: not known
    return values


_COMPARED = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.In: lambda a, b: a in b,
             ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not}


def _known(node: ast.expr, values: dict):
    """The value of a settings module's `if` test made of literals, the settings read so far and
    the environment (`os.environ.get("X")`, `os.getenv`, `"X" in os.environ`): Django imports the
    settings in the worker under this same environment. Anything else: ValueError."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in values:
        return values[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _known(node.operand, values)
    if isinstance(node, ast.BoolOp):  # (as Python: the first operand that decides, the rest unread)
        for operand in node.values:
            value = _known(operand, values)
            if bool(value) is isinstance(node.op, ast.Or):
                return value
        return value
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARED:
        return _COMPARED[type(node.ops[0])](_known(node.left, values), _known(node.comparators[0], values))
    if ast.unparse(node) in ("os.environ", "environ"):
        return dict(os.environ)
    if isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.environ.get", "environ.get", "os.getenv", "getenv") \
            and not node.keywords and 1 <= len(node.args) <= 2:
        return os.environ.get(*(_known(a, values) for a in node.args))
    raise ValueError(f"not known without running the settings: {ast.unparse(node)}")


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


def load_plan(migration_dirs: list[Path], settings_module: str | None = None, cwd: Path | None = None) -> Plan:
    """Every migration of the apps found, plus the installed apps they depend on, in the order
    migrate applies them. A missing parent inside a known app or a cycle -> UsageError.
    `settings_module`: the project's settings (read statically, for computed dependencies), found
    below the apps' import roots or `cwd`."""
    apps: dict[str, App] = {}
    nodes: dict[Key, Node] = {}
    roots = list(dict.fromkeys([*(app_of(d).import_root for d in migration_dirs), *([cwd] if cwd else [])]))
    settings = read_settings(settings_module, roots) if settings_module else {}

    def add_app(app: App) -> None:
        if app.label in apps:
            if apps[app.label].migrations_dir.resolve() != app.migrations_dir.resolve():
                raise UsageError(f"django: two apps are labelled {app.label!r}: {show(apps[app.label].migrations_dir)}"
                                 f" and {show(app.migrations_dir)}")
            return
        apps[app.label] = app
        # Every module migrate would load: one that does not read or has no class Migration
        # stops migrate too, so it is reported (read_node's error), never skipped.
        for path in migration_files(app.migrations_dir):
            node = read_node(app, path, settings)
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
    plan = _order(apps, nodes, missing)
    plan.settings_module = settings_module
    plan.settings_file = settings_file(settings_module, roots) if settings_module else None
    plan.settings = settings
    return plan


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
    # A leaf is a node with no child in its own app (MigrationGraph.leaf_nodes).
    children = {k: 0 for k in live}
    for k, ps in parents.items():
        for p in ps:
            children[p] += p[0] == k[0]
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
    return Plan(order, squashed, missing, parents=parents)


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
    if dep in node.guessed:  # a default's guess (the project's settings may name another app): no parent
        return []
    raise UsageError(f"django: {show(node.path)} depends on {label}.{name}, which is not in"
                     f" {show(apps[label].migrations_dir)}")


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
        raise UsageError("django: migrations form a cycle: " + " -> ".join(show(live[k].path) for k in reversed(loop)))

"""Names in Alembic fixes that follow the project's `MetaData(naming_convention=...)`.

The convention is read from the Alembic project's env.py with `ast` (env.py and the project
are never run: --no-exec holds): `target_metadata` is followed through assignments, classes
(`metadata = MetaData(...)` in a declarative base, or a base's), `declarative_base(metadata=...)`,
`registry(metadata=...)`, Flask-SQLAlchemy's `SQLAlchemy(metadata=...)` and `from ... import`
of the project's modules; the convention itself is a dict literal or a module-level constant.

The names are SQLAlchemy's own: each object the plan creates is attached to a synthetic Table in
a MetaData with the convention, as Alembic's op.create_* calls do when they run. An object the
migration left unnamed (the plan carries PostgreSQL's name for it: orders_email_key) is named
by the convention; a given name is kept, or converted where the convention says so
(`%(constraint_name)s`). The fix writes each name as op.f(...) (already converted), and its SQL
(VALIDATE, USING INDEX, the rollback's drops) uses the same names.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import os
import re
from pathlib import Path

from migsafe import plans as P

# SQLAlchemy's keys for the convention of each kind of object, also written as the class.
_KEYS = {"Index": "ix", "UniqueConstraint": "uq", "CheckConstraint": "ck", "ForeignKeyConstraint": "fk",
         "PrimaryKeyConstraint": "pk"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_MAX_MODULES = 12  # env.py and what it imports for target_metadata: a level or two is the norm
_MAX_DEPTH = 24  # steps of resolution (assignment, attribute, import): cycles end here


class Converted(str):
    """A name the convention already gave: written op.f("...") so Alembic keeps it as it is."""


# --- the convention, read from env.py ------------------------------------------------------------


def project_convention(revision_path: str) -> tuple[tuple[str, str], ...]:
    """The naming convention of the Alembic project a revision belongs to, as sorted (key,
    template) pairs; () where none is found or it is not written as literals."""
    env = _env_py(Path(os.path.abspath(revision_path)))
    if env is None:
        return ()
    info = env.stat()
    return _convention(env, info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=32)
def _convention(env: Path, mtime_ns: int, size: int) -> tuple[tuple[str, str], ...]:
    """Read once per env.py and run (its time and size: an edited env.py is read again)."""
    return tuple(sorted(read_convention(env).items()))


def _env_py(revision: Path) -> Path | None:
    """The env.py of the script folder above the revision (versions/ is usually right below it)."""
    for folder in list(revision.parents)[:4]:
        if (folder / "env.py").is_file():
            return folder / "env.py"
    return None


def read_convention(env_py: Path) -> dict[str, str]:
    """env.py's target_metadata's naming convention ({} where it cannot be read as literals)."""
    reader = _Reader(env_py)
    try:
        env = reader.load(env_py)
        if env is None:
            return {}
        for value in _target_metadata(env.tree):
            found = reader.convention_of(value, env)
            if found:
                return found
    except (RecursionError, ValueError):
        pass
    return {}


def _target_metadata(tree: ast.Module) -> list[ast.expr]:
    """What env.py gives Alembic: `target_metadata = ...`, or context.configure(target_metadata=...)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "target_metadata"
                                                for t in node.targets):
            out.append(node.value)
        elif isinstance(node, ast.keyword) and node.arg == "target_metadata":
            out.append(node.value)
    return out


@dataclasses.dataclass
class _Module:
    path: Path
    tree: ast.Module
    bindings: dict[str, ast.AST]  # module-level name -> its last Assign value, ClassDef, or import
    stars: list[ast.ImportFrom]  # `from x import *`


class _Reader:
    def __init__(self, env_py: Path) -> None:
        here = env_py.parent
        # Where `import app.models` is found: env.py's folder and those above it (prepend_sys_path,
        # sys.path.insert(0, ...) in env.py), and their src/ folders.
        self.roots = [p for folder in [here, *list(here.parents)[:4]] for p in (folder, folder / "src")]
        self.modules: dict[Path, _Module | None] = {}

    def load(self, path: Path) -> _Module | None:
        if path not in self.modules:
            if len(self.modules) >= _MAX_MODULES:
                return None
            self.modules[path] = None  # (while it loads: an import cycle ends here)
            try:
                tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
            except (OSError, SyntaxError, ValueError):
                return None
            bindings: dict[str, ast.AST] = {}
            stars: list[ast.ImportFrom] = []
            for node in _module_level(tree.body):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            bindings[target.id] = node.value
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                    bindings[node.target.id] = node.value
                elif isinstance(node, ast.ClassDef):
                    bindings[node.name] = node
                elif isinstance(node, ast.ImportFrom):
                    for alias in node.names:
                        if alias.name == "*":
                            stars.append(node)
                        else:
                            bindings[alias.asname or alias.name] = node
                elif isinstance(node, ast.Import):
                    for alias in node.names:  # `import a.b` binds a; `import a.b as c` binds c to a.b
                        module = alias.name if alias.asname else alias.name.partition(".")[0]
                        bindings[alias.asname or module] = ast.Import([ast.alias(module)])
            self.modules[path] = _Module(path, tree, bindings, stars)
        return self.modules[path]

    def find(self, dotted: str, level: int = 0, near: _Module | None = None) -> _Module | None:
        """The module `dotted` names (relative to `near` for level > 0), if it is the project's."""
        parts = dotted.split(".") if dotted else []
        if level and near is not None:
            base = near.path.parent
            for _ in range(level - 1):
                base = base.parent
            bases = [base]
        else:
            bases = self.roots
        for base in bases:
            target = base.joinpath(*parts)
            for candidate in (target.with_suffix(".py") if parts else None, target / "__init__.py"):
                if candidate is not None and candidate.is_file():
                    return self.load(candidate)
        return None

    # A value is an ast node with the module it is written in, or a module itself.

    def resolve(self, node: ast.AST, mod: _Module, depth: int = 0):
        if depth > _MAX_DEPTH:
            return None
        if isinstance(node, ast.Name):
            return self.member(mod, node.id, depth + 1)
        if isinstance(node, ast.Attribute):
            owner = self.resolve(node.value, mod, depth + 1)
            return self.attribute(owner, node.attr, depth + 1)
        return node, mod

    def member(self, mod: _Module, name: str, depth: int):
        """What `name` is at the top of `mod`."""
        bound = mod.bindings.get(name)
        if isinstance(bound, ast.ImportFrom):
            source = self.find(bound.module or "", bound.level, mod)
            if source is None:
                return None
            original = next(a.name for a in bound.names if (a.asname or a.name) == name)
            return self.member(source, original, depth + 1) if depth <= _MAX_DEPTH else None
        if isinstance(bound, ast.Import):
            return self.find(bound.names[0].name)
        if isinstance(bound, ast.ClassDef):
            return bound, mod
        if bound is not None:
            return self.resolve(bound, mod, depth + 1)
        for star in mod.stars:
            source = self.find(star.module or "", star.level, mod)
            if source is not None and source is not mod and depth <= _MAX_DEPTH:
                found = self.member(source, name, depth + 1)
                if found is not None:
                    return found
        if mod.path.name == "__init__.py":  # a submodule of a package
            return self.find(name, 1, mod)
        return None

    def attribute(self, owner, attr: str, depth: int):
        if owner is None or depth > _MAX_DEPTH:
            return None
        if isinstance(owner, _Module):
            return self.member(owner, attr, depth + 1)
        node, mod = owner
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:  # `metadata = MetaData(...)` in the class, else in a base
                if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attr for t in stmt.targets) \
                        or isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                        and stmt.target.id == attr and stmt.value is not None:
                    return self.resolve(stmt.value, mod, depth + 1)
            for base in node.bases:
                found = self.attribute(self.resolve(base, mod, depth + 1), attr, depth + 1)
                if found is not None:
                    return found
            return None
        if isinstance(node, ast.Call):
            if attr == "Model":  # Flask-SQLAlchemy: db.Model.metadata is db.metadata
                return owner
            given = next((k.value for k in node.keywords if k.arg == attr), None)
            return self.resolve(given, mod, depth + 1) if given is not None else None
        return None

    def convention_of(self, expr: ast.expr, mod: _Module) -> dict[str, str]:
        found = self.resolve(expr, mod)
        for _ in range(4):  # declarative_base(metadata=...), registry(metadata=...), SQLAlchemy(metadata=...)
            if found is None or isinstance(found, _Module) or not isinstance(found[0], ast.Call):
                return {}
            call, where = found
            if _called(call) == "MetaData":
                given = next((k.value for k in call.keywords if k.arg == "naming_convention"), None)
                return self.literal(given, where) if given is not None else {}
            found = self.attribute(found, "metadata", 0)
        return {}

    def literal(self, expr: ast.expr, mod: _Module) -> dict[str, str]:
        """The convention's entries written as strings; the others (a token computed by a function
        of the project's) are left out, and a template that uses them is not followed."""
        found = self.resolve(expr, mod)
        if found is None or isinstance(found, _Module):
            return {}
        node, where = found
        if isinstance(node, ast.Call) and _called(node) == "dict" and not node.args:
            pairs = [(ast.Constant(k.arg), k.value) for k in node.keywords if k.arg]
        elif isinstance(node, ast.Dict):
            pairs = [(k, v) for k, v in zip(node.keys, node.values) if k is not None]
        else:
            return {}
        out = {}
        for key, value in pairs:
            name = key.value if isinstance(key, ast.Constant) else _called(ast.Call(key, [], []))
            name = _KEYS.get(name, name)
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and isinstance(name, str):
                out[name] = value.value
        return out


def _module_level(body: list[ast.stmt]):
    """The statements run at import, into if/try/with blocks (TYPE_CHECKING, fallbacks)."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in ("body", "orelse", "finalbody"):
                yield from _module_level(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body)


def _called(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


# --- the names -----------------------------------------------------------------------------------


def follow(plan: P.Plan, convention: dict[str, str]) -> P.Plan:
    """`plan` with the objects it creates named by the convention, every use of each name
    (validate, attach, the rollback's drops) renamed alike. Names that the plan's own SQL text
    quotes (a partition's ATTACH) are kept, so that text stays true."""
    actions = [a for phase in plan.phases for a in phase.actions]
    quoted = " ".join(a.sql for a in actions if isinstance(a, (P.Statement, P.Acknowledged)))
    indexes = {a.name: a for a in actions if isinstance(a, P.CreateIndexConcurrently)}
    renames: dict[str, str] = {}
    # Constraints first: an index built for a constraint takes the constraint's name (USING INDEX
    # renames it so anyway).
    for a in sorted(actions, key=lambda a: isinstance(a, P.CreateIndexConcurrently)):
        if getattr(a, "name", None) in renames or not _creates(a):
            continue
        if re.search(rf"(?<![\w$]){re.escape(a.name)}(?![\w$])", quoted):
            renames[a.name] = a.name
            continue
        columns = indexes[a.index].columns if isinstance(a, P.AddConstraintUsingIndex) and a.index in indexes \
            else getattr(a, "columns", ())
        renames[a.name] = _sqlalchemy_name(a, columns, convention) or a.name
    if not renames:
        return plan
    names = {old: Converted(new) for old, new in renames.items()}
    return P.Plan(plan.summary, [P.Phase(p.phase, p.title, [_renamed(a, names) for a in p.actions])
                                 for p in plan.phases])


def _creates(action: P.Action) -> bool:
    return isinstance(action, (P.CreateIndexConcurrently, P.AddConstraintUsingIndex, P.AddCheckNotValid,
                               P.AddForeignKeyNotValid))


def _renamed(action: P.Action, names: dict[str, str]) -> P.Action:
    changes = {f: names[getattr(action, f)] for f in ("name", "index")
               if isinstance(getattr(action, f, None), str) and getattr(action, f) in names}
    return dataclasses.replace(action, **changes) if changes else action


def _unnamed(action: P.Action, short: str, columns: tuple[str, ...]) -> bool:
    """The plan carries PostgreSQL's own name for the object: the migration gave none."""
    cols = "_".join(c.split()[0] for c in columns)
    if isinstance(action, P.CreateIndexConcurrently):
        return action.name in (f"{short}_{cols}_idx", f"{short}_{cols}_key")
    if isinstance(action, P.AddConstraintUsingIndex):
        return action.name == (f"{short}_pkey" if action.kind == "primary_key" else f"{short}_{cols}_key")
    if isinstance(action, P.AddForeignKeyNotValid):
        return action.name == f"{short}_{cols}_fkey"
    return bool(re.fullmatch(rf"{re.escape(short)}(_\w+)?_check", action.name))


def _sqlalchemy_name(action: P.Action, columns: tuple[str, ...], convention: dict[str, str]) -> str | None:
    """The name SQLAlchemy gives the object in a MetaData with `convention`; None where it
    gives none (no template for the kind, an expression column, a token it cannot fill)."""
    import sqlalchemy as sa

    schema, _, short = action.table.rpartition(".")
    if not all(_IDENT.fullmatch(c) for c in columns):
        return None
    unnamed = _unnamed(action, short, columns)
    # Where the template needs a constraint_name, an unnamed object's is PostgreSQL's without the table.
    given = action.name.removeprefix(f"{short}_") if unnamed else action.name
    for name in ([None] if unnamed else []) + [given]:
        try:
            metadata = sa.MetaData(naming_convention=convention)
            table = sa.Table(short, metadata, *(sa.Column(c) for c in dict.fromkeys(columns)), schema=schema or None)
            if isinstance(action, P.CreateIndexConcurrently):
                made = sa.Index(name, *(table.c[c] for c in columns), unique=action.unique)  # (joins the table)
            elif isinstance(action, P.AddConstraintUsingIndex):
                made = (sa.PrimaryKeyConstraint if action.kind == "primary_key" else sa.UniqueConstraint)(
                    *columns, name=name)
                table.append_constraint(made)
            elif isinstance(action, P.AddForeignKeyNotValid):
                made = _foreign_key(action, metadata, name, convention)
                if made is None:
                    return None
                table.append_constraint(made)
            else:
                made = sa.CheckConstraint(sa.text(action.expression), name=name)
                table.append_constraint(made)
            return str(made.name) if made.name else None
        except (sa.exc.SQLAlchemyError, KeyError, IndexError, TypeError, ValueError, AttributeError):
            continue
    return None


def _foreign_key(action: P.AddForeignKeyNotValid, metadata, name, convention: dict[str, str]):
    import sqlalchemy as sa

    ref_schema, _, ref = action.ref_table.rpartition(".")
    ref_columns = action.ref_columns
    if not ref_columns:  # the referenced table's key, which the plan does not know
        if "referred_column" in convention.get("fk", ""):
            return None
        ref_columns = ("id",) * len(action.columns)
    sa.Table(ref, metadata, *(sa.Column(c) for c in dict.fromkeys(ref_columns)), schema=ref_schema or None,
             extend_existing=True)  # (a key that references its own table)
    target = f"{ref_schema}.{ref}" if ref_schema else ref
    return sa.ForeignKeyConstraint(list(action.columns), [f"{target}.{c}" for c in ref_columns], name=name)

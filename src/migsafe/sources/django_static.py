"""A Django migration read without running project code (--no-exec), inside the worker.

The file is parsed with `ast`; nothing of it is executed as a module. Only `operations`,
`atomic` and `initial` of `class Migration` are evaluated, over Django's own operation and field
classes and the pure standard modules (libraries, not project code). Everything else the file
names gets a stand-in (django._Missing): a project module or one not installed (a custom field
becomes a stand-in field, see django._stand_in_field), a function defined in the file (RunPython's
code, never called), a module-level value. While evaluating, importing a module of the project
(say through Django's import_string) is refused, so no project code can run.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import os
import sys
from pathlib import Path

from migsafe.sources.alembic_static import PURE_STDLIB, SAFE_BUILTINS

READ = ("operations", "atomic", "initial")  # what of `class Migration` rendering needs


class Unreadable(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def read_migration(path: Path, text: str, name: str, app_label: str, roots: tuple[str, ...], stand_in):
    """The Migration instance, with `stand_in(qualname)` for whatever is not Django's or pure stdlib."""
    from django.db import migrations

    tree = ast.parse(text, str(path))
    builtins = {**SAFE_BUILTINS, "getattr": _getattr, "hasattr": lambda o, n: _getattr(o, n, _getattr) is not _getattr}
    namespace: dict = {"__builtins__": builtins, "__name__": f"{app_label}.migrations.{name}"}
    found = None
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            _bind_import(node, namespace, stand_in)
        elif isinstance(node, ast.ClassDef) and node.name == "Migration":
            found = node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            namespace[node.name] = stand_in(f"{namespace['__name__']}.{node.name}")  # never run
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            _assign(node, namespace, path, roots, stand_in, strict=False)
    if found is None:
        raise Unreadable("the file has no class Migration", 1)
    scope = dict(namespace)  # the class body sees the module's names and its own earlier ones
    for stmt in found.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            _assign(stmt, scope, path, roots, stand_in, strict=True)
    return type("Migration", (migrations.Migration,), {k: scope[k] for k in READ if k in scope})(name, app_label)


def _assign(node: ast.Assign | ast.AnnAssign, scope: dict, path: Path, roots: tuple[str, ...], stand_in,
            strict: bool) -> None:
    """`name = value`: evaluated, else (not one of READ in the class) a stand-in."""
    targets = [t.id for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)]
    if node.value is None or not targets:
        return
    try:
        value = _eval(node.value, scope, path, roots)
    except Unreadable:
        if strict and any(t in READ for t in targets):
            raise
        value = stand_in(f"{scope['__name__']}.{targets[0]}")
    for target in targets:
        scope[target] = value


def _getattr(obj, name: str, *default):
    """`getattr(settings, "X", default)`, never a dunder attribute (no way out to object internals)."""
    if not isinstance(name, str) or name.startswith("__"):
        raise Unreadable(f"getattr of {name!r} (not read with --no-exec)", 1)
    return getattr(obj, name, *default)


def _library(top: str) -> bool:
    return top == "django" or top in PURE_STDLIB


def _bind_import(node: ast.Import | ast.ImportFrom, namespace: dict, stand_in) -> None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            top = alias.name.split(".")[0]
            if _library(top):
                module = importlib.import_module(alias.name)
                namespace[alias.asname or top] = module if alias.asname else importlib.import_module(top)
            else:
                namespace[alias.asname or top] = stand_in(alias.name if alias.asname else top)
        return
    source = node.module or ""
    for alias in node.names:
        if alias.name == "*":
            continue
        value = None
        if not node.level and _library(source.split(".")[0]):
            module = importlib.import_module(source)
            value = getattr(module, alias.name, None)
            if value is None:
                value = importlib.import_module(f"{source}.{alias.name}")
        namespace[alias.asname or alias.name] = value if value is not None else stand_in(f"{source}.{alias.name}")


def _eval(node: ast.expr, namespace: dict, path: Path, roots: tuple[str, ...]):
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr.startswith("__"):
            raise Unreadable(f"private attribute {sub.attr} (not read with --no-exec)", sub.lineno)
        if isinstance(sub, ast.Name) and sub.id not in namespace and sub.id not in namespace["__builtins__"]:
            raise Unreadable(f"{sub.id} is not defined in the migration file", sub.lineno)
        if isinstance(sub, (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
            raise Unreadable(f"{type(sub).__name__} expression (not read with --no-exec)", sub.lineno)
    code = compile(ast.Expression(node), str(path), "eval")  # frames name the file: lines for the tracer
    guard = _NoProjectImports(roots)
    sys.meta_path.insert(0, guard)
    try:
        return eval(code, namespace)  # noqa: S307 - names resolve only to Django, pure stdlib and stand-ins
    finally:
        sys.meta_path.remove(guard)


class _NoProjectImports:
    """First on sys.meta_path while evaluating: a module of the project is never imported."""

    def __init__(self, roots: tuple[str, ...]) -> None:
        self.roots = tuple(str(Path(r).resolve()) + os.sep for r in roots)

    def find_spec(self, name, path=None, target=None):
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        origin = getattr(spec, "origin", None) or ""
        if origin.startswith(self.roots) and "-packages" + os.sep not in origin:
            raise ImportError(f"{name} is the project's code, which --no-exec never runs", name=name)
        return None

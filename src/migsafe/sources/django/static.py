"""A Django migration read without running project code (--no-exec), inside the worker.

The file is parsed with `ast`; nothing of it is executed as a module. Only `operations`,
`atomic` and `initial` of `class Migration` are evaluated, over Django's own operation and field
classes and the pure standard modules (libraries, not project code). Everything else the file
names gets a stand-in (stand_ins.MissingPackages.stand_in): a project module or one not installed (a custom field
becomes a stand-in field, see stand_ins._stand_in_field), a function defined in the file (RunPython's
code, never called), a module-level value. While evaluating, importing a module of the project
(say through Django's import_string) is refused, so no project code can run. What the project's
source says without running it is still read: the Django field class a custom field derives
from (revealed_field_base), so that its stand-in keeps that column type.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import importlib.machinery
import os
import sys
from pathlib import Path

from migsafe.sources.core.guard import PURE_STDLIB, SAFE_BUILTINS, Unreadable, refusal

READ = ("operations", "atomic", "initial")  # what of `class Migration` rendering needs


def read_migration(path: Path, text: str, name: str, app_label: str, roots: tuple[str, ...], stand_in,
                   skip_unreadable: bool = False):
    """The Migration instance, with `stand_in(qualname)` for whatever is not Django's or pure stdlib.
    `skip_unreadable`: an `operations` list keeps the operations that evaluate, without the others
    (for their state changes alone, when nothing better can be had)."""
    from django.db import migrations

    tree = ast.parse(text, str(path))
    builtins = {**SAFE_BUILTINS, "getattr": _getattr, "hasattr": lambda o, n: _getattr(o, n, _getattr) is not _getattr}
    module = _module_name(path, roots) or f"{app_label}.migrations.{name}"
    namespace: dict = {"__builtins__": builtins, "__name__": module}
    found = None
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            _bind_import(node, namespace, stand_in, module, lenient=skip_unreadable)
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
            _assign(stmt, scope, path, roots, stand_in, strict=True, skip_unreadable=skip_unreadable)
    return type("Migration", (migrations.Migration,), {k: scope[k] for k in READ if k in scope})(name, app_label)


def _assign(node: ast.Assign | ast.AnnAssign, scope: dict, path: Path, roots: tuple[str, ...], stand_in,
            strict: bool, skip_unreadable: bool = False) -> None:
    """`name = value`: evaluated, else (not one of READ in the class) a stand-in."""
    targets = [t.id for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)]
    if node.value is None or not targets:
        return
    try:
        value = _eval(node.value, scope, path, roots)
    except Exception as err:  # noqa: BLE001 - Django's classes called with stand-ins may raise anything
        if skip_unreadable and targets == ["operations"] and isinstance(node.value, ast.List):
            value = [op for item in node.value.elts if (op := _eval_or_none(item, scope, path, roots)) is not None]
        elif not isinstance(err, Unreadable) or strict and any(t in READ for t in targets):
            raise
        else:
            value = stand_in(f"{scope['__name__']}.{targets[0]}")
    for target in targets:
        scope[target] = value


def _eval_or_none(node: ast.expr, namespace: dict, path: Path, roots: tuple[str, ...]):
    try:
        return _eval(node, namespace, path, roots)
    except Exception:  # noqa: BLE001 - Django's classes called with stand-ins may raise anything
        return None


def _getattr(obj, name: str, *default):
    """`getattr(settings, "X", default)`, never a dunder attribute (no way out to object internals)."""
    if not isinstance(name, str) or name.startswith("__"):
        raise Unreadable(f"getattr of {name!r} (not read with --no-exec)", 1)
    return getattr(obj, name, *default)


def _library(top: str) -> bool:
    return top in ("django", "swapper") or top in PURE_STDLIB  # (swapper: settings lookups, see swapper.py)


def _bind_import(node: ast.Import | ast.ImportFrom, namespace: dict, stand_in, module: str,
                 lenient: bool = False) -> None:
    """`lenient` (reading a migration for its state changes alone): a library module that is there
    but cannot be imported here (contrib.gis without the GDAL library) is a stand-in."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            top = alias.name.split(".")[0]
            if _library(top):
                # (a top package an earlier `import` of the file overlaid keeps its stand-in)
                known = namespace[top] if isinstance(namespace.get(top), _Overlay) else None
                try:
                    module = importlib.import_module(alias.name)
                except Exception:  # noqa: BLE001 - what the library raises (ImproperlyConfigured, OSError)
                    if not lenient or alias.asname:
                        raise
                    namespace[top] = _Overlay(known or importlib.import_module(top), alias.name.split(".")[1:],
                                              stand_in(alias.name))
                    continue
                namespace[alias.asname or top] = module if alias.asname else known or importlib.import_module(top)
            else:
                namespace[alias.asname or top] = stand_in(alias.name if alias.asname else top)
        return
    source = _absolute(node, module, is_package=False)
    for alias in node.names:
        if alias.name == "*":
            continue
        value = None
        if not node.level and _library(source.split(".")[0]):
            try:
                module = importlib.import_module(source)
            except Exception:  # noqa: BLE001 - as above
                if not lenient:
                    raise
                module = None
            value = getattr(module, alias.name, None)
            if value is None and module is not None:
                value = importlib.import_module(f"{source}.{alias.name}")
            if lenient and source == "django.conf" and alias.name == "settings":
                value = _UnknownSettings(value, stand_in)
        namespace[alias.asname or alias.name] = value if value is not None else stand_in(f"{source}.{alias.name}")


class _UnknownSettings:
    """django.conf.settings for a migration read for its state changes alone: a setting only the
    project's settings define (`blank=not settings.WEBSITE_REQUIRED`) is a stand-in, a value not
    known, rather than the end of the reading (the models it creates are then carried forward)."""

    def __init__(self, settings, stand_in) -> None:
        self._settings, self._stand_in = settings, stand_in

    def __getattr__(self, name: str):
        try:
            return getattr(self._settings, name)
        except AttributeError:
            if name.startswith("__"):
                raise
            return self._stand_in(f"settings.{name}")


class _Overlay:
    """A library module as it is, but for the dotted path below it that could not be imported
    here (`import django.contrib.gis.db.models.fields` without GDAL): that path is `stand_in`."""

    def __init__(self, real, path: list[str], stand_in) -> None:
        self._real, self._path, self._stand_in = real, path, stand_in

    def __getattr__(self, name: str):
        if name != self._path[0]:
            return getattr(self._real, name)
        if len(self._path) == 1:
            return self._stand_in
        return _Overlay(getattr(self._real, name, None), self._path[1:], self._stand_in)


def _eval(node: ast.expr, namespace: dict, path: Path, roots: tuple[str, ...]):
    refused = refusal(node, lambda name: name in namespace or name in namespace["__builtins__"])
    if refused is not None:
        sub, what = refused
        if what == "attribute":
            raise Unreadable(f"private attribute {sub.attr} (not read with --no-exec)", sub.lineno)
        if what == "name":
            raise Unreadable(f"{sub.id} is not defined in the migration file", sub.lineno)
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


def _module_name(path: Path, roots: tuple[str, ...]) -> str | None:
    """The dotted name `path` is imported by from one of `roots`."""
    for root in roots:
        with contextlib.suppress(ValueError):
            parts = path.resolve().relative_to(Path(root).resolve()).with_suffix("").parts
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return None


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module a `from ... import` in `module` names, a relative one made absolute."""
    if not node.level:
        return node.module or ""
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return ".".join(p for p in (package, node.module) if p)


def revealed_field_base(qualname: str, roots: tuple[str, ...]) -> type | None:
    """The Django field class that the class `qualname` derives from, as its source says, read
    with ast (never run): `class SlugField(CharField)` in the project's fields.py -> CharField,
    also through other classes and modules. None when its source is nowhere here (a package not
    installed) or no base leads to a field of Django."""
    return _field_base(qualname, tuple(roots), 0)


@functools.lru_cache(maxsize=4096)
def _field_base(qualname: str, roots: tuple[str, ...], depth: int) -> type | None:
    from django.db import models

    if depth > 20:
        return None
    if qualname.partition(".")[0] == "django":
        found = _django_object(qualname)
        return found if isinstance(found, type) and issubclass(found, models.Field) else None
    module, _, name = qualname.rpartition(".")
    source = _module_source(module, roots)
    if source is None:
        return None
    tree, is_package = source
    names: dict[str, str] = {}  # the module's names -> the qualnames they stand for
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:  # `import a.b`: a; `import a.b as c`: a.b
                top = alias.name.partition(".")[0]
                names[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                names[alias.asname or alias.name] = f"{_absolute(node, module, is_package)}.{alias.name}"
        elif isinstance(node, ast.ClassDef):
            names[node.name] = f"{module}.{node.name}"
    classdef = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)
    if classdef is None:  # imported into the module (a package's __init__ re-exporting it)
        target = names.get(name)
        return _field_base(target, roots, depth + 1) if target and target != qualname else None
    for base in classdef.bases:
        dotted = _dotted(base)
        head, _, rest = (dotted or "").partition(".")
        if head in names:
            found = _field_base(f"{names[head]}.{rest}" if rest else names[head], roots, depth + 1)
            if found is not None:
                return found
    return None


def _dotted(node: ast.expr) -> str | None:
    """`models.CharField` -> "models.CharField"; None for anything but names and attributes."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (head := _dotted(node.value)) is not None:
        return f"{head}.{node.attr}"
    return None


@functools.lru_cache(maxsize=256)
def _module_source(module: str, roots: tuple[str, ...]) -> tuple[ast.Module, bool] | None:
    """(the parsed source of a module of the project, or of a package installed here, whether it
    is a package), or None. Found as the import system would, but read, never imported."""
    for root in (*roots, *(p for p in sys.path if p and os.path.isdir(p))):
        base = Path(root, *module.split("."))
        for path, is_package in ((base.with_suffix(".py"), False), (base / "__init__.py", True)):
            if path.is_file():
                try:
                    return ast.parse(path.read_text(encoding="utf-8-sig", errors="replace"), str(path)), is_package
                except (SyntaxError, ValueError, OSError):
                    return None
    return None


def _django_object(qualname: str):
    """What `django.x.y.Name` names, imported (Django is a library: importing it runs no project code)."""
    parts = qualname.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except Exception:  # noqa: BLE001 - not a module (or one needing what is not installed, GDAL)
            continue
        for attr in parts[cut:]:
            found = getattr(found, attr, None)
        return found
    return None

"""Stand-ins for what the project imports but is not installed where migsafe runs (a package, a
field class, an operation class), so that its apps and migrations still import and render: a
field keeps what its deconstruction and the project's own source tell; a type migsafe cannot
know is said as such (unknown_type_change).

Django is imported inside the functions (only ever called in the worker, once it is set up).
"""

from __future__ import annotations

import ast
import contextlib
import decimal
import functools
import importlib.util
import inspect
import os
import re
import sys
import types
from pathlib import Path

from migsafe.model import Span
from migsafe.sql import facts as F
from migsafe.sources.core.tracing import Tracer
from migsafe.sources.django.static import revealed_field_base


class MissingPackages:
    """Last on sys.meta_path: a package the project imports that is not installed where migsafe
    runs (wagtail's modelcluster, oscar's phonenumber_field) gets a stand-in module, so that the
    project's apps and migrations still import. Only imports made by the project's own files are
    served (a library's `try: import x` keeps its fallback), and never one they guard themselves
    (`try: import x / except ImportError:` in a settings module). What a stand-in class becomes when a
    migration calls it is `_stand_in_field`'s business; `used` names what was stood in for."""

    def __init__(self, roots: tuple[str, ...]) -> None:
        self.folders = tuple(roots)  # (where the project's own sources are read: revealed_field_base)
        self.roots = tuple(str(Path(r).resolve()) + os.sep for r in roots)
        self.missing: set[str] = set()
        self.used: list[str] = []
        self.classes: dict[str, type] = {}  # _Missing.as_class

    def stand_in(self, qualname: str) -> _Missing:
        """What `qualname` (of a package not installed, or of the project under --no-exec) stands for."""
        return _Missing(qualname, self)

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top not in self.missing:
            if "." in name or top in sys.stdlib_module_names or not self._from_project():
                return None
            self.missing.add(top)
        return importlib.util.spec_from_loader(name, self, is_package=True)

    def _from_project(self) -> bool:
        frame = sys._getframe(2)
        while frame is not None and (frame.f_code.co_filename.startswith("<frozen")
                                     or "importlib" in frame.f_code.co_filename):
            frame = frame.f_back
        return (frame is not None and self.projects(frame)
                and frame.f_lineno not in _guarded_lines(frame.f_code.co_filename))

    def projects(self, frame) -> bool:
        """Whether `frame` runs the project's own code (not Django's, a library's, migsafe's)."""
        where = frame.f_code.co_filename
        return where.startswith(self.roots) and "-packages" + os.sep not in where

    def create_module(self, spec):
        module = _MissingModule(spec.name)
        module.__path__, module._migsafe_finder = [], self
        return module

    def exec_module(self, module) -> None:
        pass


@functools.lru_cache(maxsize=256)
def _guarded_lines(filename: str) -> frozenset[int]:
    """The lines of a file inside a `try` whose handlers catch ImportError: the code there has
    its own answer to a package that is not installed."""
    try:
        tree = ast.parse(Path(filename).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h.type) for h in node.handlers):
            lines.update(range(node.body[0].lineno, node.body[-1].end_lineno + 1))
    return frozenset(lines)


def _catches_import_error(handler) -> bool:
    caught = handler.elts if isinstance(handler, ast.Tuple) else [handler]
    return handler is None or any(getattr(c, "id", getattr(c, "attr", None)) in _IMPORT_ERROR_CATCHERS for c in caught)


_IMPORT_ERROR_CATCHERS = ("ImportError", "ModuleNotFoundError", "Exception", "BaseException")


class _MissingModule(types.ModuleType):
    def __getattr__(self, name: str):
        if name == "__all__":  # `from missing import *` (wagtail.search.queryset's, of modelsearch)
            self._star_imported(sys._getframe(1))
        if name.startswith("__"):
            raise AttributeError(name)
        value = _Missing(f"{self.__name__}.{name}", self._migsafe_finder)
        setattr(self, name, value)
        return value

    def _star_imported(self, importer) -> None:
        """The project's module that star-imports this one gets the names it would have got, as
        stand-ins, through a module __getattr__ of its own (PEP 562): `from it import Name` works."""
        finder, source = self._migsafe_finder, self.__name__
        if importer.f_code.co_name != "<module>" or not importer.f_code.co_filename.startswith(finder.roots):
            return

        def __getattr__(name: str):
            if name.startswith("__"):
                raise AttributeError(name)
            return _Missing(f"{source}.{name}", finder)

        importer.f_globals.setdefault("__getattr__", __getattr__)


class _Missing:
    """Whatever a package that is not installed would have held (`pkg.name`, `pkg.name.attr`):
    called (a field in a migration), a stand-in field (or, where no field can be made of the call,
    a stand-in for what it returned); used as a base class, a plain mixin."""

    def __init__(self, qualname: str, finder: MissingPackages) -> None:
        self._migsafe_missing, self._migsafe_finder = qualname, finder

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Missing(f"{self._migsafe_missing}.{name}", self._migsafe_finder)

    def __call__(self, *args, **kwargs):
        self._migsafe_finder.used.append(self._migsafe_missing)
        if _decorating(args, kwargs):  # @missing.decorator: the function stays as written
            return args[0]
        try:
            made = _stand_in_field(self._migsafe_missing, args, kwargs, self._migsafe_finder.folders,
                                   self._migsafe_finder)
        except Exception:  # noqa: BLE001 - not a field (a validator, a storage, ...): what it made stays unknown
            made = _Missing(f"{self._migsafe_missing}()", self._migsafe_finder)
        if TRACERS:  # where it was made: an operation's place, should it be one (classes_as_bases)
            made._migsafe_span = TRACERS[-1].caller_span()
        return made

    def __iter__(self):  # (validators=getattr(missing_module, "validators", []): nothing)
        return iter(())

    def __mro_entries__(self, bases):
        return (self.as_class(),)

    # isinstance(caches["default"], RedisCache) of a package not installed: what the project's
    # code made of it alone (a subclass of its mixin, as_class) is one
    def __instancecheck__(self, instance) -> bool:
        return isinstance(instance, self.as_class())

    def __subclasscheck__(self, subclass) -> bool:
        return isinstance(subclass, type) and issubclass(subclass, self.as_class())

    def as_class(self) -> type:
        """A plain class standing in for it (one per name): a mixin of a model class."""
        classes = self._migsafe_finder.classes
        if self._migsafe_missing not in classes:
            classes[self._migsafe_missing] = type(self._migsafe_missing.rpartition(".")[2], (), {"__module__": __name__})
        return classes[self._migsafe_missing]

    def __repr__(self) -> str:
        return f"<{self._migsafe_missing}, not installed>"


def stand_in_name(value) -> str | None:
    """What `value` stands in for (a _Missing or a stand-in field), else None."""
    if isinstance(value, _Missing):
        return value._migsafe_missing
    return vars(type(value)).get("_migsafe_stand_in")


def _decorating(args: tuple, kwargs: dict) -> bool:
    """A stand-in called with a function alone: a decorator (`@cache_memoize(60)` of a package not
    installed) over the project's function, which then stays as written."""
    return len(args) == 1 and not kwargs and inspect.isfunction(args[0])


def _stand_in_field(qualname: str, args: tuple, kwargs: dict, folders: tuple[str, ...],
                    finder: MissingPackages | None = None):
    """A field of a class that could not be imported, keeping what its deconstruction tells. Its
    class derives from the Django field class the project's own source derives it from, where
    that source says (static.revealed_field_base: `class SlugField(CharField)`); else,
    with `to` and `on_delete`, from ForeignKey, with `to` alone from ManyToManyField (what every
    relation field of a third-party package is at the database: the column follows the target's
    key); else from Field, with a column type migsafe does not know (_unknown_type). `finder`: what
    the project's own code asks of it beyond a field is a stand-in (_stand_in_class)."""
    from django.db import models

    relation = (models.ForeignKey if "on_delete" in kwargs else models.ManyToManyField) if "to" in kwargs else None
    bases = [b for b in (revealed_field_base(qualname, folders), relation) if b is not None]
    for base in bases:
        with contextlib.suppress(Exception):  # (arguments that base does not take as given): the next
            return _stand_in_class(qualname, base, args, kwargs, folders, finder)(*args, **kwargs)
    return _stand_in_class(qualname, models.Field, args, kwargs, folders, finder)(*args, **kwargs)


def stand_in_targets(state, labels: frozenset[str]) -> None:
    """A model that relations point at, of an app neither among the project's (`labels`) nor
    installed (openwisp's relations to openwisp_users.Organization, where openwisp_users is not
    installed), gets a stand-in state: its table named as Django names it, its key `id` and the
    fields a `to_field` names, each of a type migsafe does not know (_unknown_type), so that the
    relation's column, constraint and index are rendered and the referring model's SQL is judged.
    (Django's own rendering, which keeps no index of relations, is left as it is.)"""
    from django.apps import apps
    from django.db.migrations.state import ModelState, _get_app_label_and_model_name

    refs = getattr(state, "refs", {})
    if refs is _LOOKED_AT[0]:  # (replaced, never changed in place, when a relation changes)
        return
    for target, referrers in refs.items():
        if target[0] in labels or target[0] in apps.app_configs:
            continue
        model = state.models.get(target)
        if model is not None and not getattr(model, "_migsafe_stand_in", False):
            continue
        remotes = [f.remote_field for fields in referrers.values() for f in fields.values()]
        keys = dict.fromkeys(["id", *(r.field_name for r in remotes if getattr(r, "field_name", None))])  # (M2M: none)
        if model is not None and set(keys) <= set(model.fields) or not isinstance(remotes[0].model, str):
            continue
        label, name = _get_app_label_and_model_name(remotes[0].model, next(iter(referrers))[0])
        fields = [(k, _stand_in_field(f"{label}.{name}" + (f".{k}" if k != "id" else ""), (),
                                      {"primary_key": True, "serialize": False} if k == "id" else {"unique": True}, ()))
                  for k in keys]
        stand_in = ModelState(label, name, fields)
        stand_in._migsafe_stand_in = True
        state.add_model(stand_in)
    _LOOKED_AT[0] = getattr(state, "refs", None)


_LOOKED_AT = [None]  # the relations stand_in_targets last found nothing more to stand in for


def _stand_in_class(qualname: str, base: type, args: tuple, kwargs: dict, folders: tuple[str, ...],
                    finder: MissingPackages | None = None) -> type:
    """A subclass of `base` named as the missing class, taking the arguments `base` takes and
    deconstructing to what the migration gave. Arguments `base` does not take never reach the
    database through it: they join its non_db_attrs (changing them alone changes nothing). From
    Field, the column type is `unknown_<class>_<digest>` (_unknown_type). A call of a class not
    installed may have made anything (celery's `app = Celery(...)` in the project's module):
    what the project's own code asks of it that a field does not have (`app.config_from_object`)
    is a stand-in, while Django's and migsafe's probes (`getattr(field, "auto_now", False)`) get
    what a field of `base` answers."""
    from django.db import models

    module, _, name = qualname.rpartition(".")
    accepted = _field_parameters(base)
    unknown = base is models.Field
    # From Field, an argument of the missing class that is data (dimensions=1536) may shape its
    # column type; code (upload_to=, encoder=, dump_kwargs={"cls": ...}) and objects do not.
    python_side = tuple(k for k, v in kwargs.items() if k not in accepted and not (unknown and _plain(v)))

    def __init__(self, *a, **kw):
        self._migsafe_args = (a, kw)
        base.__init__(self, **{k: v for k, v in kw.items() if k in accepted})

    def deconstruct(self):
        field_name = base.deconstruct(self)[0]
        return field_name, qualname, list(self._migsafe_args[0]), dict(self._migsafe_args[1])

    def __call__(self, *a, **kw):  # what a factory returned, called in turn: get_image_field_class()(...)
        return a[0] if _decorating(a, kw) else _stand_in_field(f"{qualname}()", a, kw, folders, finder)

    def __getattr__(self, name: str):
        if name.startswith("__") or finder is None or not finder.projects(sys._getframe(1)):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return _Missing(f"{qualname}().{name}", finder)

    body = {"__init__": __init__, "deconstruct": deconstruct, "__call__": __call__, "__getattr__": __getattr__,
            "__module__": module,
            "_migsafe_stand_in": qualname, "non_db_attrs": (*models.Field.non_db_attrs, *python_side)}
    if unknown:
        # What may shape the type: `max_length`, and the class's own arguments that are data
        # (Field's others Django renders itself, null, unique, default, db_column, ..., or they never
        # reach the database, help_text, choices, ...). An empty value (None, "", {}, []) is taken
        # as the argument's default: as if not given.
        shaping = {k: v for k, v in kwargs.items()
                   if (k not in accepted or k == "max_length") and k not in python_side and (v or v is False or v == 0)}
        column_type = _unknown_type(qualname, args, shaping)
        body.update(db_type=lambda self, connection: column_type, _migsafe_type_arguments=frozenset(shaping))
    return type(name, (base,), body)


def _unknown_type(qualname: str, args: tuple, shaping: dict) -> str:
    """`unknown_<class>_<digest>`: the column type of a field class that is not installed, the
    digest over the class and what may shape its type (positional arguments that are data, the
    `shaping` keyword arguments)."""
    described = repr((qualname, [a for a in args if _plain(a)], sorted(shaping.items())))
    name = re.sub(r"\W", "", qualname.rpartition(".")[2].lower())
    return F.unknown_type(name, described)


@functools.lru_cache(maxsize=None)
def _field_parameters(base: type) -> frozenset[str]:
    """The keyword arguments a field class's __init__ takes, its bases' included."""
    names = set()
    for klass in base.__mro__:
        if "__init__" in vars(klass) and klass is not object:
            names |= {p.name for p in inspect.signature(klass.__init__).parameters.values()
                      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return frozenset(names - {"self"})


def _plain(value) -> bool:
    """Data (None, numbers, strings, and lists, tuples and dicts of those), not code nor objects."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    return value is None or isinstance(value, (bool, int, float, str, bytes, decimal.Decimal))


def unknown_type_change(old_field, new_field, connection) -> str | None:
    """What a reviewer must judge by hand when a column's type changes to or from one migsafe
    does not know (a stand-in field's, _unknown_type); None for any other change. The source
    says it (an Unknown fact, reported as unrecognized-statement, a warning) rather than the
    change-column-type rule judging a change between types it cannot compare."""
    try:
        types_ = [str(f.db_parameters(connection)["type"]) for f in (old_field, new_field)]
    except Exception:  # noqa: BLE001 - a field that cannot say its type: nothing to add
        return None
    if types_[0] == types_[1] or not any(t.startswith(F.UNKNOWN_TYPE) for t in types_):
        return None
    classes = [getattr(f, "_migsafe_stand_in", None) for f in (old_field, new_field)]
    column = new_field.column
    if classes[0] is not None and classes[0] == classes[1]:
        old, new = old_field._migsafe_args[1], new_field._migsafe_args[1]
        shaping = {k for f in (old_field, new_field) for k in getattr(f, "_migsafe_type_arguments", ())}
        changed = sorted(k for k in shaping if k not in old or k not in new or old[k] != new[k])
        return (f"the type of column {column} after a change of the arguments ({', '.join(changed) or 'positional'})"
                f" of its field class {classes[1]}, which is not installed where migsafe runs,")

    def described(kind: str, field) -> str:
        stand_in = getattr(field, "_migsafe_stand_in", None)
        if kind.startswith(F.UNKNOWN_TYPE) and stand_in:
            return f"{stand_in} (not installed where migsafe runs: its column type is not known)"
        return kind

    return f"the change of column {column} from {described(types_[0], old_field)} to {described(types_[1], new_field)}"


def classes_as_bases(migration):
    """CreateModel(bases=(missing.Mixin, ...)): Django builds the model with type(), which needs
    classes. An operation of a package that is not installed: an _UnknownOperation. A relation's
    related_name that is a stand-in (wagtail's COMMENTS_RELATION_NAME, from a module that could not
    be imported): Django's default name, as the reverse accessor never reaches the SQL."""
    from django.db.migrations.operations.base import Operation

    todo = [migration.operations]
    while todo:
        operations = todo.pop()
        for index, operation in enumerate(operations):
            if not isinstance(operation, Operation) and stand_in_name(operation):
                operations[index] = operation = _unknown_operation(stand_in_name(operation),
                                                                   getattr(operation, "_migsafe_span", None))
            todo += [getattr(operation, "database_operations", []), getattr(operation, "state_operations", [])]
            if isinstance(getattr(operation, "bases", None), tuple):
                operation.bases = tuple(b.as_class() if isinstance(b, _Missing) else b for b in operation.bases)
            for field in [f for _, f in getattr(operation, "fields", None) or ()] + [getattr(operation, "field", None)]:
                for name in ("related_name", "related_query_name"):
                    if stand_in_name(getattr(getattr(field, "remote_field", None), name, None)):
                        # (where Django keeps it, and where it rebuilds the field from: deconstruct())
                        setattr(field.remote_field, name, None)
                        setattr(field, f"_{name}", None)
                        getattr(field, "_migsafe_args", ((), {}))[1].pop(name, None)
    return migration


def _unknown_operation(qualname: str, span: Span | None):
    """An operation whose class migsafe has only a stand-in for (sortedm2m's AlterSortedManyToManyField,
    not installed; the project's own class under --no-exec): it changes no state migsafe knows of,
    and rendering it fails, which makes its migration not-analyzed at its line while the other
    operations are judged."""
    from django.db.migrations.operations.base import Operation

    class UnknownOperation(Operation):
        reduces_to_sql = True

        def state_forwards(self, app_label, state):
            pass

        def database_forwards(self, app_label, schema_editor, from_state, to_state):
            raise RuntimeError(f"{qualname} is an operation migsafe has only a stand-in for (not installed where"
                               " migsafe runs, or the project's own code under --no-exec): what it does to the"
                               " database is not known")

        def describe(self):
            return f"{qualname}, not installed"

    operation = UnknownOperation()
    operation._migsafe_span = span
    return operation


TRACERS: list[Tracer] = []

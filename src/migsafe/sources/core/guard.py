"""The one guard of `--no-exec` reading: what a source may evaluate of a migration it reads
without running it, checked on the syntax tree before anything is evaluated.

Reading statically evaluates expressions of the migration file over the framework's own classes,
pure standard modules and literals: never a name the project defines, never a way out to object
internals (dunder attributes lead to `__subclasses__`, `__globals__`, `__builtins__`, and from
there to anything), never an expression that runs code later (`await`, `yield`) or binds names.
Each source keeps its namespace (what its names resolve to); this module says what is refused.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable, Iterator

# Standard modules migrations use for values (timestamps, ids, enums), with nothing in them that
# touches files, processes or the network: safe to evaluate even under --no-exec.
PURE_STDLIB = ("datetime", "time", "uuid", "json", "enum", "decimal", "math", "string", "re", "textwrap",
               "functools", "itertools", "collections", "typing", "dataclasses", "logging")
SAFE_BUILTINS = {name: getattr(builtins, name) for name in (
    "True", "False", "None", "len", "range", "list", "dict", "tuple", "set", "frozenset", "str", "int",
    "float", "bool", "sorted", "enumerate", "zip", "min", "max", "reversed", "isinstance", "any", "all")}
# Dunder attributes that are data, not a way into object internals (SQLAlchemy models' table name).
DATA_DUNDERS = ("__tablename__", "__version__")
# Expressions that bind names or run code at another time than their evaluation.
REFUSED_EXPRESSIONS = (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)


class Unreadable(Exception):
    """This expression needs something only the running project has. `line`: where, when the
    source reports it at a line of its own (else the caller's)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def refusal(node: ast.AST, known: Callable[[str], bool], private: str = "dunder",
            lambdas_run: bool = True) -> tuple[ast.AST, str] | None:
    """The first part of `node` --no-exec must not evaluate, and what it is, or None.

    What it is: "attribute" (an attribute refused by `private`), "name" (a name `known` says is
    not bound to something readable), "expression" (one of REFUSED_EXPRESSIONS). The source words
    the reason (its users know its terms). `private`: "dunder" refuses `__x__` attributes but
    DATA_DUNDERS; "underscore" refuses every `_x` attribute as well (where even a private
    attribute of a library object may reach the running project's state). `lambdas_run=False`: a
    lambda's body is not looked into, where the source knows making it runs none of it (a
    column's Python-side default in DDL); where a framework may call it (a field default), it is."""
    prefix = "__" if private == "dunder" else "_"
    for sub in _walk(node, lambdas_run):
        if isinstance(sub, ast.Attribute) and sub.attr.startswith(prefix) and sub.attr not in DATA_DUNDERS:
            return sub, "attribute"
        if isinstance(sub, ast.Name) and not known(sub.id):
            return sub, "name"
        if isinstance(sub, REFUSED_EXPRESSIONS):
            return sub, "expression"
    return None


def _walk(node: ast.AST, lambdas_run: bool) -> Iterator[ast.AST]:
    """Every node (lambdas' bodies only if `lambdas_run`), in the order each source has always
    reported the first refusal in: breadth first where lambdas run, else depth first."""
    if lambdas_run:
        yield from ast.walk(node)
        return
    todo = [node]
    while todo:
        sub = todo.pop()
        yield sub
        if not isinstance(sub, ast.Lambda):
            todo.extend(ast.iter_child_nodes(sub))

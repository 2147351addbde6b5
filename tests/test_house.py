"""The house rules of the package, read from its imports (ast, never imported): no import cycle,
no private name taken from another module, no module over 800 lines. Imports inside functions
count as much as those at the top of a module: a cycle hidden in a function still ties the two
modules together."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "migsafe"
MAX_LINES = 800


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, str | None, int]]:
    """(module imported, the name taken from it or None, line), every import in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((sub, None, node.lineno) if sub in known else (base, alias.name, node.lineno))
    return [(m, n, line) for m, n, line in out if m == "migsafe" or m.startswith("migsafe.")]


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {m for m, _, _ in imports(name, path, known) if m in known and m != name}
            for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_walk_sees_imports_inside_functions():
    known = {"migsafe.a": Path("a.py"), "migsafe.b": Path("b.py")}
    assert cycles({"migsafe.a": {"migsafe.b"}, "migsafe.b": {"migsafe.a"}}) == [["migsafe.a", "migsafe.b"]]
    path = PACKAGE / "sources" / "alembic" / "in_worker.py"  # all of its imports are inside functions
    found = {m for m, _, _ in imports("migsafe.sources.alembic.in_worker", path, modules())}
    assert "migsafe.sources.alembic.render" in found and "migsafe.sql.split" in found
    assert cycles({k: set() for k in known}) == []


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_no_private_name_is_imported_from_another_module():
    known = modules()
    taken = [f"{path.relative_to(PACKAGE.parent)}:{line}: {name} from {module}"
             for importer, path in known.items() for module, name, line in imports(importer, path, known)
             if name is not None and name.startswith("_") and not name.startswith("__") and module != importer]
    assert taken == []


def test_no_module_is_over_800_lines():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_judging_and_reporting_load_no_sql_reader():
    """A warm run (every statement's facts cached) judges and reports without sqlglot, whose
    import is a third of such a run: the rules, fixes and reports import none of it."""
    import subprocess
    import sys

    code = ("import sys, migsafe.rules, migsafe.judge, migsafe.fixes.edits, migsafe.report, migsafe.engine;"
            " migsafe.rules.all_rules();"
            " print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlglot', 'pglast', 'alembic', 'sqlalchemy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

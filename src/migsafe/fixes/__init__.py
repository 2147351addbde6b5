"""Renderers: a Plan written as code of the finding's own framework.

`sql.py`, `alembic.py` and `django.py` each turn one phase's actions into code (`phase_code`)
and its rollback (`rollback_code`); `render_fix` picks the renderer the migration's source names
in the registry (sources/registry.py: `fixes`, `language`).
`edits.py` computes the mechanical rewrites (`fix.edits`) that `migsafe fix` applies.
"""

from __future__ import annotations

import ast
import functools
import importlib
import re
from dataclasses import dataclass

from migsafe import plans as P
from migsafe.fixes import layout
from migsafe.model import Fix, FixStep
from migsafe.sources.registry import source as source_named


@dataclass(frozen=True)
class Names:
    """What the finding's own migration says about its subject, where the framework names it
    differently from the database (Django: the model and field of the operation at the finding)."""

    app_label: str | None = None
    model_name: str | None = None
    field_name: str | None = None
    field: str | None = None  # the field's source text, e.g. models.IntegerField(default=0)
    table: str | None = None  # the table and column these names stand for
    column: str | None = None
    operation: str | None = None  # the operation's class name, e.g. "AddIndex"
    index: str | None = None  # AddIndex/RemoveIndex: the index's source text
    source: str | None = None  # the whole operation, as `migrations.<Operation>(...)`
    imports: tuple[str, ...] = ()  # the migration's import lines that the operation's text needs
    # Alembic: the project's MetaData naming convention, as (key, template) pairs (fixes/naming.py)
    naming_convention: tuple[tuple[str, str], ...] = ()
    # Django: the SQL the operation renders (an acknowledged statement among them is the user's own)
    statements: tuple[str, ...] = ()


@functools.lru_cache(maxsize=4)
def python_tree(text: str) -> ast.Module:
    """A migration's syntax tree, parsed once for all its findings (read, never changed).
    Raises SyntaxError or ValueError."""
    return ast.parse(text)


@functools.lru_cache(maxsize=4)
def _source_lines(text: str) -> list[str]:
    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)  # (lines as Python counts them)


def source_segment(text: str, node: ast.AST) -> str:
    """ast.get_source_segment, with the text's lines split once for all its findings (ast splits
    them again on every call: a tenth of a run over large squashed migrations)."""
    lines = _source_lines(text)
    first, last = node.lineno - 1, node.end_lineno - 1
    start, end = node.col_offset, node.end_col_offset  # UTF-8 byte offsets
    if first == last:
        return lines[first].encode()[start:end].decode()
    return "".join([lines[first].encode()[start:].decode(), *lines[first + 1:last], lines[last].encode()[:end].decode()])


def renderer(source: str):
    """The module that writes plans in `source`'s code (imported when first needed)."""
    return importlib.import_module(source_named(source).fixes)


def render_fix(plan: P.Plan, source: str = "sql", names: Names | None = None) -> Fix:
    module = renderer(source)
    if names is not None and names.naming_convention:
        from migsafe.fixes.naming import follow

        plan = follow(plan, dict(names.naming_convention))
    steps = []
    for phase in plan.phases:
        code = module.phase_code(phase.actions, names or Names())
        back = [u for u in map(P.undo, reversed(phase.actions)) if u is not None]
        rollback = module.rollback_code(back, names or Names()) if back else ""
        code += "\n\n" + rollback if rollback else ""
        language = source_named(source).language
        steps.append(FixStep(phase.phase, phase.title, language, layout.python(code) if language == "python" else code))
    return Fix(plan.summary, steps)


def names_at(migration, span, table: str | None, column: str | None) -> Names | None:
    """The framework's names for the finding's subject, read from its own migration (Django: the
    operation at the finding's line; Alembic: the project's naming convention), asked of its
    renderer's `names_at`. None where the source names things as the database does."""
    ask = getattr(renderer(migration.source), "names_at", None)
    if ask is None or not migration.text:
        return None
    return ask(migration, span, table, column)

"""Write a Plan as a Django migration module.

Where the finding's own operation names the model and field (AddField, RemoveField, AddIndex,
...), the plan uses Django operations on them: `SeparateDatabaseAndState` to take a field out of
the state before its column is dropped, `AddField(null=True)`, `AddIndexConcurrently`. Where only
the table and column are known, the SQL runs in `RunSQL`: model names are never guessed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import singledispatch

from migsafe import plans as P
from migsafe.fixes import Names, python_tree, source_segment
from migsafe.fixes import sql as S
from migsafe.fixes.alembic import s

LANGUAGE = "python"
_OPS = {"AddField", "AlterField", "RemoveField", "AddIndex", "RemoveIndex", "DeleteModel", "AddConstraint"}


def operation_names(text: str, line: int, app_label: str, table: str | None, column: str | None) -> Names | None:
    try:
        tree = python_tree(text)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.lineno == line and _op_name(node) in _OPS:
            args = {k.arg: k.value for k in node.keywords if k.arg}
            for key, value in zip(("model_name", "name", "field"), node.args):
                args.setdefault(key, value)
            model = _literal(args.get("model_name")) or (_literal(args.get("name")) if _op_name(node) == "DeleteModel" else None)
            name = _literal(args.get("name")) if "model_name" in args else None
            fld = source_segment(text, args["field"]) if "field" in args else None
            return Names(app_label, model, name, fld, table, column, _op_name(node),
                         source_segment(text, args["index"]) if "index" in args else None)
    return None


def _op_name(call: ast.Call) -> str | None:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None


def _literal(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


@dataclass
class Module:
    functions: list[str] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    atomic: bool = True
    imports: set[str] = field(default_factory=set)


def phase_code(actions: list[P.Action], names: Names) -> str:
    module = Module()
    for action in actions:
        operation(action, names, module)
    if all(ln.startswith("#") for op in module.operations for ln in op.splitlines()):  # no migration: code only
        return "\n".join(module.operations)
    return _module_text(module)


def rollback_code(actions: list[P.Action], names: Names) -> str:
    """Django reverses its own operations (`migrate app <previous>`); RunSQL carries reverse_sql.
    What is left are the code changes and the drops that no migration takes back."""
    notes = [f"# rollback: {a.text}" for a in actions if isinstance(a, P.CodeChange)]
    app = names.app_label or "<app>"
    return "\n".join([f"# roll back with: python manage.py migrate {app} <the migration before this one>"] + notes)


def _module_text(m: Module) -> str:
    head = ["from django.db import migrations, models"] + sorted(m.imports)
    out = head + [""] + [f + "\n" for f in m.functions] + ["", "class Migration(migrations.Migration):"]
    if not m.atomic:
        out.append("    atomic = False  # CONCURRENTLY and batch commits cannot run inside a transaction")
    out.append("    # dependencies: this app's previous migration")
    out.append("    operations = [")
    out += ["        " + ln if ln else "" for op in m.operations for ln in op.splitlines()]
    out.append("    ]")
    return "\n".join(out)


def _knows(names: Names, table: str, column: str | None = None) -> bool:
    """The finding's operation is about this table (and column): its model/field names apply."""
    return bool(names.model_name) and names.table == table and (column is None or names.column == column)


def run_sql(action: P.Action, reverse: P.Action | None = None, comment: str | None = None) -> str:
    comments, statements = S.pieces(action)
    back = "migrations.RunSQL.noop"
    if reverse is not None:
        _, rstatements = S.pieces(reverse)
        back = _sql_arg(rstatements) if rstatements else back
    lines = [f"# {c}" for c in comments] + ([comment] if comment else [])
    return "\n".join(lines + [f"migrations.RunSQL({_sql_arg(statements)}, reverse_sql={back}),"])


def _sql_arg(statements: list[str]) -> str:
    return s(statements[0]) if len(statements) == 1 else "[" + ", ".join(s(x) for x in statements) + "]"


def _field(source: str, **changes) -> str:
    """The field expression with keyword arguments replaced (None: removed)."""
    call = ast.parse(source, mode="eval").body
    call.keywords = [k for k in call.keywords if k.arg not in changes]
    call.keywords += [ast.keyword(k, ast.Constant(v)) for k, v in changes.items() if v is not None]
    return ast.unparse(call)


@singledispatch
def operation(action: P.Action, names: Names, m: Module) -> None:
    m.operations.append(run_sql(action, P.undo(action)))


@operation.register
def _(a: P.OutsideTransaction, names: Names, m: Module) -> None:
    m.atomic = False


@operation.register
def _(a: P.AddColumn, names: Names, m: Module) -> None:
    if _knows(names, a.table, a.column) and names.field and a.nullable and not a.default:
        m.operations.append(f"migrations.AddField(model_name={s(names.model_name)}, name={s(names.field_name)},"
                            f" field={_field(names.field, null=True, default=None, db_default=None)}),")
    else:
        m.operations.append(run_sql(a, P.undo(a)))


@operation.register
def _(a: P.Backfill, names: Names, m: Module) -> None:
    fn = f"backfill_{a.table.split('.')[-1]}_{a.column}"
    _, [update] = S.pieces(a)
    m.functions.append(
        f"def {fn}(apps, schema_editor):\n"
        f"    # batches of 10,000 rows, each committed on its own (atomic = False), until none is left\n"
        f"    with schema_editor.connection.cursor() as cursor:\n"
        f"        while True:\n"
        f"            cursor.execute({s(update)})\n"
        f"            if cursor.rowcount == 0:\n"
        f"                break")
    m.atomic = False
    m.operations.append(f"migrations.RunPython({fn}, migrations.RunPython.noop),")


@operation.register
def _(a: P.SetNotNull, names: Names, m: Module) -> None:
    if _knows(names, a.table, a.column) and names.field:
        m.operations.append(
            "migrations.SeparateDatabaseAndState(\n"
            f"    database_operations=[{run_sql(a, P.undo(a)).rstrip(',')}],\n"
            f"    state_operations=[migrations.AlterField(model_name={s(names.model_name)}, name={s(names.field_name)},"
            f" field={_field(names.field, null=None, default=None)})],\n),")
    else:
        m.operations.append(run_sql(a, P.undo(a)))


@operation.register
def _(a: P.CreateIndexConcurrently, names: Names, m: Module) -> None:
    m.atomic = False
    if names.operation == "AddIndex" and names.index and _knows(names, a.table):
        m.imports.add("from django.contrib.postgres.operations import AddIndexConcurrently")
        m.operations.append(f"AddIndexConcurrently(model_name={s(names.model_name)}, index={names.index}),")
    else:
        m.operations.append(run_sql(a, P.undo(a)))


@operation.register
def _(a: P.DropIndexConcurrently, names: Names, m: Module) -> None:
    m.atomic = False
    m.operations.append(run_sql(a))


@operation.register
def _(a: P.StopUsingColumn, names: Names, m: Module) -> None:
    if _knows(names, a.table, a.column) and names.field_name:
        m.operations.append(
            f"# remove the {names.field_name} field from the {names.model_name} model in this deploy; the column\n"
            "# stays in the database (no SQL runs) until the next step drops it\n"
            "migrations.SeparateDatabaseAndState(\n"
            f"    state_operations=[migrations.RemoveField(model_name={s(names.model_name)}, name={s(names.field_name)})],\n"
            "    database_operations=[],\n),")
    else:
        m.operations.append(f"# application change, deployed before the next step: {S.stop_using(a)}")


@operation.register
def _(a: P.StopUsingTable, names: Names, m: Module) -> None:
    if names.operation == "DeleteModel" and _knows(names, a.table):
        m.operations.append(
            f"# remove the {names.model_name} model in this deploy; its table stays until the next step\n"
            "migrations.SeparateDatabaseAndState(\n"
            f"    state_operations=[migrations.DeleteModel(name={s(names.model_name)})],\n"
            "    database_operations=[],\n),")
    else:
        m.operations.append(f"# application change, deployed before the next step: {S.stop_using(a)}")


@operation.register(P.DropColumn)
@operation.register(P.DropTable)
def _(a, names: Names, m: Module) -> None:
    rule = "drop-column" if isinstance(a, P.DropColumn) else "drop-table"
    m.operations.append(run_sql(P.Statement(S.sql(a).splitlines()[-1]),
                                comment=f"# migsafe: ignore[{rule}] {a.reason}"))


@operation.register
def _(a: P.CodeChange, names: Names, m: Module) -> None:
    m.operations.append(f"# application change, deployed before the next step: {a.text}")


@operation.register
def _(a: P.OnlineSchemaChange, names: Names, m: Module) -> None:
    m.operations.append("\n".join("#" + ln[2:] for ln in S.sql(a).splitlines()))

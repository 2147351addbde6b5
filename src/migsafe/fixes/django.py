"""Write a Plan as a Django migration module.

Where the finding's own operation names the model and field (AddField, RemoveField, AddIndex,
...), the plan uses Django operations on them, and keeps Django's migration state in step with the
database: `SeparateDatabaseAndState` carries the user's own operation as the state change where the
database gets it by other SQL (NOT VALID, CONCURRENTLY, a column added beside the renamed one), so
that `makemigrations` has nothing left to write. Where only the table and column are known, the
SQL runs in `RunSQL`: model names are never guessed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from functools import singledispatch

from migsafe import plans as P
from migsafe.fixes import Names, python_tree, source_segment
from migsafe.fixes import sql as S
from migsafe.fixes.alembic import s

# Each operation's positional parameters, as Django declares them.
_OPS = {
    "AddField": ("model_name", "name", "field"), "AlterField": ("model_name", "name", "field"),
    "RemoveField": ("model_name", "name"), "AddIndex": ("model_name", "index"),
    "RemoveIndex": ("model_name", "name"), "AddConstraint": ("model_name", "constraint"),
    "DeleteModel": ("name",), "RenameField": ("model_name", "old_name", "new_name"),
    "RenameModel": ("old_name", "new_name"), "AlterModelTable": ("name", "table"),
    "AddIndexConcurrently": ("model_name", "index"), "RemoveIndexConcurrently": ("model_name", "name"),
    "RemoveConstraint": ("model_name", "name"), "AlterUniqueTogether": ("name", "unique_together"),
}
_POSTGRES_OPS = ("AddIndexConcurrently", "RemoveIndexConcurrently")  # django.contrib.postgres.operations
HEAD = "from django.db import migrations, models"


def names_at(migration, span, table: str | None, column: str | None) -> Names | None:
    """The model and field of the operation at the finding's line (fixes.names_at asks)."""
    names = operation_names(migration.text, span.line, migration.name.partition(".")[0], table, column)
    own = tuple(st.sql for st in migration.statements if st.span.line == span.line)
    return replace(names, statements=own) if names else None


def operation_names(text: str, line: int, app_label: str, table: str | None, column: str | None) -> Names | None:
    try:
        tree = python_tree(text)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.lineno == line and _op_name(node) in _OPS:
            op = _op_name(node)
            args = {k.arg: k.value for k in node.keywords if k.arg}
            for key, value in zip(_OPS[op], node.args):
                args.setdefault(key, value)
            model = _literal(args.get("model_name")) or (_literal(args.get("name")) if "model_name" not in args
                                                         else None) or _literal(args.get("old_name"))
            name = _literal(args.get("name")) if "model_name" in args else None
            fld = source_segment(text, args["field"]) if "field" in args else None
            call = ast.parse(source_segment(text, node), mode="eval").body
            imports = _imports_for(tree, text, node)
            if op in _POSTGRES_OPS:  # however the file imported it
                call.func = ast.Name(op)
                imports += (f"from django.contrib.postgres.operations import {op}",)
            else:
                call.func = ast.Attribute(ast.Name("migrations"), op)
            return Names(app_label, model, name, fld, table, column, op,
                         source_segment(text, args["index"]) if "index" in args else None,
                         ast.unparse(call), imports)
    return None


def _imports_for(tree: ast.Module, text: str, node: ast.AST) -> tuple[str, ...]:
    """The module's import lines that bind a name the operation uses (e.g. `import
    django.db.models.deletion` for `on_delete=django.db.models.deletion.PROTECT`)."""
    used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - {"migrations", "models"}  # HEAD's
    lines = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            if {(a.asname or a.name).split(".")[0] for a in stmt.names} & used:
                lines.append(source_segment(text, stmt))
    return tuple(lines)


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
    head = [HEAD] + sorted(m.imports)
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


def _theirs(names: Names, m: Module, text: str) -> str:
    """`text`, written from the finding's own operation: the imports it needs come along."""
    m.imports.update(names.imports)
    return text


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


def _in_step(database: list[str], state: list[str], comment: str = "") -> str:
    """The database gets `database`, Django's state gets `state` (the user's own operation)."""
    def listed(ops: list[str]) -> str:
        return "[" + ", ".join(o.rstrip(",") for o in ops) + "]"
    return (comment + "migrations.SeparateDatabaseAndState(\n"
            f"    database_operations={listed(database)},\n"
            f"    state_operations={listed(state)},\n),")


def _field(source: str, **changes) -> str:
    """The field expression with keyword arguments replaced (None: removed; a str: its source)."""
    call = ast.parse(source, mode="eval").body
    call.keywords = [k for k in call.keywords if k.arg not in changes]
    call.keywords += [ast.keyword(k, _expression(v)) for k, v in changes.items() if v is not None]
    return ast.unparse(call)


def _expression(value) -> ast.expr:
    if not isinstance(value, str):
        return ast.Constant(value)
    if value == "<value>":  # for the author to write
        return ast.Name(value)
    return ast.parse(value, mode="eval").body


def _keyword(source: str, name: str) -> ast.expr | None:
    return next((k.value for k in ast.parse(source, mode="eval").body.keywords if k.arg == name), None)


def _python_literal(node: ast.expr | None) -> str | None:
    """The default's source where it is a plain value (0, "x", True), the same for every row;
    None for a callable (uuid.uuid4, timezone.now) or anything computed."""
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return ast.unparse(node)


def _add_field(names: Names, fld: str) -> str:
    return f"migrations.AddField(model_name={s(names.model_name)}, name={s(names.field_name)}, field={fld}),"


@singledispatch
def operation(action: P.Action, names: Names, m: Module) -> None:
    m.operations.append(run_sql(action, P.undo(action)))


@operation.register
def _(a: P.OutsideTransaction, names: Names, m: Module) -> None:
    m.atomic = False


@operation.register
def _(a: P.Statement, names: Names, m: Module) -> None:
    if names.operation in _POSTGRES_OPS and names.source:  # the user's own operation, in a non-atomic migration
        m.operations.append(_theirs(names, m, names.source + ","))
    else:
        m.operations.append(run_sql(a, P.undo(a)))


@operation.register
def _(a: P.AddColumn, names: Names, m: Module) -> None:
    if not (names.operation == "AddField" and _knows(names, a.table, a.column) and names.field):
        m.operations.append(run_sql(a, P.undo(a)))
    elif a.default is not None:
        _add_with_default(a, names, m)
    elif _foreign_key(names.field):
        _add_foreign_key_column(a, names, m)
    else:
        m.operations.append(_add_field(names, _field(names.field, null=True, default=None, db_default=None)))


def _add_with_default(a: P.AddColumn, names: Names, m: Module) -> None:
    """The column with a database default that stays (Django's AddField drops the one it sets).
    Written so that it runs on every Django migsafe supports (4.2+), the same whichever renders
    it; the Django 5.0+ way, `db_default`, is given beside it."""
    value = _python_literal(_keyword(names.field, "default")) or "<value>"  # a callable: none the database has
    add = P.AddColumn(a.table, a.column, a.type, a.default if value != "<value>" else value, a.nullable)
    note = "" if value != "<value>" else "# <value>: what the database gives each new row, e.g. now()\n"
    m.operations.append(_in_step([run_sql(add, P.undo(add))], [_theirs(names, m, names.source or "")], (
        f"{note}# the column keeps its default in the database; Django 5.0+ can say so in the field instead,\n"
        f"# with db_default on the model's field too (in place of the operation below):\n"
        f"# {db_default_operation(names, value)}\n")))


def db_default_operation(names: Names, value: str) -> str:
    """AddField with the default kept as `db_default` (Django 5.0+)."""
    return _add_field(names, _field(_final_field(names), db_default=value))


def _final_field(names: Names) -> str:
    """The field as the state has it after the user's operation: AddField(preserve_default=False)
    used its default once, to fill the existing rows."""
    once = _python_literal(_keyword(names.source or "f()", "preserve_default")) == "False"
    return _field(names.field, default=None) if once else names.field


def _foreign_key(source: str) -> bool:
    call = ast.parse(source, mode="eval").body
    return isinstance(call, ast.Call) and _op_name(call) == "ForeignKey" \
        and _python_literal(_keyword(source, "db_constraint")) != "False"


def _add_foreign_key_column(a: P.AddColumn, names: Names, m: Module) -> None:
    """The column alone (Django would add the constraint and its index with it, under locks that
    block writes): the key follows NOT VALID, the index CONCURRENTLY; the state has the field whole."""
    database = _field(names.field, db_constraint=False, db_index=False)
    m.operations.append(_in_step([_add_field(names, database)], [_theirs(names, m, names.source or "")],
                                 "# the column only; the foreign key follows NOT VALID in the next step\n"))
    if _python_literal(_keyword(names.field, "db_index")) != "False":
        m.atomic = False
        index = P.CreateIndexConcurrently(a.table, f"{a.table.split('.')[-1]}_{a.column}_idx", (a.column,))
        m.operations.append(run_sql(index, P.undo(index), "# the index Django makes for a foreign key"))


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
        state = (f"migrations.AlterField(model_name={s(names.model_name)}, name={s(names.field_name)},"
                 f" field={_final_field(names)})")
        m.operations.append(_in_step([run_sql(a, P.undo(a))], [_theirs(names, m, state)]))
    else:
        m.operations.append(run_sql(a, P.undo(a)))


@operation.register(P.AddCheckNotValid)
@operation.register(P.AddForeignKeyNotValid)
@operation.register(P.AddConstraintUsingIndex)
def _(a, names: Names, m: Module) -> None:
    """The constraint the user's AddConstraint (or AlterField to a ForeignKey) declares."""
    django_key = isinstance(a, P.AddForeignKeyNotValid) and names.operation in ("AddField", "AlterField") \
        and bool(names.field) and _foreign_key(names.field) and _knows(names, a.table)
    added = run_sql(_deferrable(a) if django_key else a, P.undo(a))
    if (names.operation == "AddConstraint" or django_key and names.operation == "AlterField") \
            and _knows(names, a.table) and names.source:
        m.operations.append(_in_step([added], [_theirs(names, m, names.source)]))
    else:
        m.operations.append(added)


def _deferrable(a: P.AddForeignKeyNotValid) -> P.Statement:
    """The key as Django's PostgreSQL backend makes every foreign key: checked at commit."""
    _, [statement] = S.pieces(a)
    return P.Statement(statement.replace(" NOT VALID", " DEFERRABLE INITIALLY DEFERRED NOT VALID"))


@operation.register
def _(a: P.CreateIndexConcurrently, names: Names, m: Module) -> None:
    m.atomic = False
    if names.operation == "AddIndex" and names.index and _knows(names, a.table):
        m.imports.add("from django.contrib.postgres.operations import AddIndexConcurrently")
        m.operations.append(_theirs(names, m, f"AddIndexConcurrently(model_name={s(names.model_name)},"
                                              f" index={names.index}),"))
    elif names.operation == "AddField" and names.field and _foreign_key(names.field) and _knows(names, a.table):
        # a foreign key's index: the field without it, then the index built CONCURRENTLY
        database = _add_field(names, _field(names.field, db_index=False))
        state = names.source or ""
        if _python_literal(_keyword(names.field, "db_index")) == "False":  # the index is built: the state has it
            state = _add_field(names, _field(names.field, db_index=None))
        m.operations.append(_in_step([_theirs(names, m, database)], [state]))
        m.operations.append(run_sql(a, P.undo(a)))
    else:
        m.operations.append(run_sql(a, P.undo(a)))


@operation.register
def _(a: P.DropIndexConcurrently, names: Names, m: Module) -> None:
    m.atomic = False
    if names.operation == "RemoveIndex" and names.model_name and names.field_name == a.name:
        m.imports.add("from django.contrib.postgres.operations import RemoveIndexConcurrently")
        m.operations.append(f"RemoveIndexConcurrently(model_name={s(names.model_name)}, name={s(a.name)}),")
    else:
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
    if names.operation in ("RenameModel", "AlterModelTable") and names.source:
        # the model moves to the new table with this deploy (the old name is a view until the next step)
        m.operations.append(_in_step([], [_theirs(names, m, names.source)]))


@operation.register
def _(a: P.SwitchColumn, names: Names, m: Module) -> None:
    """The model's field moves to the new column with this deploy: the state follows it."""
    m.operations.append(f"# application change, deployed before the next step: {a.text}")
    if names.operation == "RenameField" and names.source and names.table == a.table:
        m.operations.append(_in_step([], [_theirs(names, m, names.source)]))
    elif names.operation == "AlterField" and names.field and _knows(names, a.table, a.old):
        m.operations.append(f"# the model's field gets db_column={s(a.new)}\n" + _in_step([], [_theirs(
            names, m, f"migrations.AlterField(model_name={s(names.model_name)}, name={s(names.field_name)},"
                      f" field={_field(names.field, db_column=repr(a.new))})")]))


@operation.register
def _(a: P.Acknowledged, names: Names, m: Module) -> None:
    """The user's own operation (Django's state stays as the migration says), its reason above it;
    a statement the plan adds (drop-column's DROP NOT NULL first) as RunSQL."""
    comment = f"# {S.suppression(a)}"
    if names.source and a.sql in names.statements and names.operation not in _POSTGRES_OPS:
        m.operations.append(comment + "\n" + _theirs(names, m, names.source) + ",")
    else:
        m.operations.append(run_sql(P.Statement(a.sql), comment=comment))


@operation.register
def _(a: P.OnlineSchemaChange, names: Names, m: Module) -> None:
    m.operations.append("\n".join("#" + ln[2:] for ln in S.sql(a).splitlines()))

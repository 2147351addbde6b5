"""One Django migration -> SQL: each operation through the backend's schema editor, offline
(offline.py), over the project state rendered on demand (state.py), every statement at the line of
the operation that made it.

Django is imported inside the functions (only ever called in the worker, once it is set up).
"""

from __future__ import annotations

import os
from pathlib import Path

from migsafe.model import Span
from migsafe.sources.core.tracing import NO_WAY_BACK, statements_in
from migsafe.sources.django.facts import net_defaults, remade_tables, say_unknown_type
from migsafe.sources.django.offline import editor_class, offline_connection
from migsafe.sources.django.project import PROJECT, failure, forward
from migsafe.sources.django.stand_ins import stand_in_targets
from migsafe.sources.django.state import on_demand
from migsafe.sources.django.step import DjangoRendered
from migsafe.sql.translate import translate


def render_migration(migration, path: Path, text: str, dialect: str, target_version: str | None) -> DjangoRendered:
    """The SQL of `migration` (a loaded Migration instance) over the kept project state, which it
    carries forward; an operation that cannot be rendered is the error, the others are rendered."""
    from django.db.migrations.state import ProjectState

    state = on_demand(PROJECT.state if PROJECT.state is not None else ProjectState())
    connection = offline_connection(dialect, target_version)
    atomic = bool(migration.atomic and connection.features.can_rollback_ddl)
    editor = editor_class(connection.SchemaEditorClass)(connection, collect_sql=True, atomic=False)
    editor.in_transaction = atomic
    whole = Span(1, 1, 1, 1)
    irreversible = None
    _follow(migration.operations, editor)
    failed = []  # (why, line) of each operation that could not be rendered
    with editor:
        for operation in migration.operations:
            editor.current = getattr(operation, "_migsafe_span", None) or whole
            editor.in_transaction = atomic or bool(getattr(operation, "atomic", False))
            if not operation.reversible and irreversible is None:
                irreversible = (editor.current, f"{type(operation).__name__} has no reverse"
                                f" ({'reverse_sql' if hasattr(operation, 'reverse_sql') else 'reverse_code'});"
                                f" {NO_WAY_BACK}")
            if not operation.reduces_to_sql:  # RunPython: no SQL, and no guessing at what it does
                forward([operation], migration.app_label, state)
                continue
            emitted, deferred = len(editor.emitted), len(editor.deferred_sql)
            try:
                stand_in_targets(state, PROJECT.labels)  # (relations carried forward without rendering)
                before = editor.before = state.clone()
                operation.state_forwards(migration.app_label, state)
                stand_in_targets(state, PROJECT.labels)
                state.reload_models(())  # whatever the operation changed: rendered afresh on demand
                state.apps.earlier = before.apps
                if not _schema_unchanged(operation, migration.app_label, before, state):
                    operation.database_forwards(migration.app_label, editor, before, state)
            except Exception as err:  # noqa: BLE001 - project code: the other operations are still rendered
                # (its state changes as far as they went; its half-rendered SQL is dropped)
                failed.append((failure(err), editor.current.line))
                del editor.emitted[emitted:], editor.deferred_sql[deferred:]
        migration._migsafe_forwarded = True  # (render_step: nothing left to carry forward)
        editor.in_transaction = atomic  # deferred SQL runs when the migration ends
    PROJECT.state = state
    statements, unknown_types = [], []
    for sql, span, in_tx, unknown_type in editor.emitted:
        for stmt in statements_in(sql, span, dialect):
            stmt.in_transaction = in_tx
            statements.append(stmt)
            unknown_types.append(unknown_type)
    net_defaults(statements, dialect)
    remade_tables(statements, dialect)
    # parsed here, on the worker's core, not by the judging that waits for it
    for stmt, unknown_type in zip(statements, unknown_types):
        if stmt.facts is None:
            stmt.facts = translate(stmt.sql, dialect)
        if unknown_type is not None:
            say_unknown_type(stmt, *unknown_type)
    if failed:
        why, line = failed[0]
        more = f"; {len(failed) - 1} more of its operations could not be rendered either" if len(failed) > 1 else ""
        return DjangoRendered(statements, why + more, line, irreversible=irreversible)
    return DjangoRendered(statements, irreversible=irreversible)


def _schema_unchanged(operation, app_label: str, before, after) -> bool:
    """An AlterField that changes only what the database never sees (verbose_name, choices,
    help_text, ...): the schema editor's alter_field returns at once (_field_should_be_altered),
    so the models need not be rendered to learn that. Compared as Django compares them."""
    from django.db.migrations.operations import AlterField

    if type(operation) is not AlterField or os.environ.get("MIGSAFE_DJANGO_RENDER") == "full":
        return False
    key = (app_label, operation.model_name_lower)
    try:
        old, new = before.models[key].fields[operation.name], after.models[key].fields[operation.name]
    except KeyError:
        return False
    described = []
    for field in (old, new):
        _, path, args, kwargs = field.deconstruct()
        for attr in getattr(field, "non_db_attrs", ()):
            kwargs.pop(attr, None)
        described.append((path, args, kwargs))
    return described[0] == described[1]


def _follow(operations: list, editor) -> None:
    """SQL of an operation nested in SeparateDatabaseAndState points at that operation."""
    for operation in operations:
        inner = getattr(operation, "database_operations", None) or []
        for sub in inner:
            span = getattr(sub, "_migsafe_span", None)
            if span is not None:
                def forwards(*args, _original=sub.database_forwards, _span=span, **kwargs):
                    outer, editor.current = editor.current, _span
                    try:
                        return _original(*args, **kwargs)
                    finally:
                        editor.current = outer

                sub.database_forwards = forwards
        _follow(inner, editor)

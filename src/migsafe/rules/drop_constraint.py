"""drop-constraint: what the running app loses when a constraint (or a unique index) goes."""

import re

from migsafe import plans as P
from migsafe.model import Severity
from migsafe.rules import Hit, Rule, does_nothing, register
from migsafe.rules._columns import (columns_in_name, earlier_facts, index_column, is_not_null_check, is_partial,
                                    kind_by_name, later_facts, later_steps, made_here)
from migsafe.sql import facts as F

_KEYS = ("unique", "primary_key", "exclude", "unique index")
_WORD = {"unique": "UNIQUE constraint", "primary_key": "PRIMARY KEY", "exclude": "EXCLUDE constraint",
         "unique index": "unique index", "foreign_key": "foreign key", "check": "CHECK constraint"}


@register
class DropConstraint(Rule):
    id = "drop-constraint"
    severity = Severity.WARNING
    facts = (F.DropConstraint, F.DropIndex)

    def check(self, fact, ctx):
        if does_nothing(fact, ctx) or getattr(fact, "kind", None) == "primary_key_replaced":
            return  # (MySQL: DROP PRIMARY KEY, ADD PRIMARY KEY in one statement re-makes the key)
        subject = _subject(fact, ctx)
        if subject is None:
            return
        table, kind, columns, ref, guessed = subject
        if made_here(ctx, table) or _made_earlier(fact, ctx) or _replaced_later(fact, ctx, table, kind, columns) \
                or _goes_later(fact, ctx, table, columns):
            return
        if kind == "check" and _redundant_check(ctx, table, fact.name):
            return  # the helper CHECK (c IS NOT NULL) of a SET NOT NULL that now holds by itself
        name, cols = fact.name, f"({', '.join(columns)})" if columns else "on its columns"
        said = f"{_WORD.get(kind, 'constraint')} {name} on {table}"
        if guessed:
            said += f" (a {_WORD[kind]} judging by its name: the history does not show it)"
        dialect = ctx.dialect
        locks_both = dialect.name in ("postgresql", "generic")  # (MySQL: a metadata lock on each)
        if kind in _KEYS:
            what = (f"Dropping {said}: the running app's {dialect.upsert.format(columns=cols)}"
                    f" {dialect.upsert_unmatched}, and nothing refuses duplicates {cols} any more.")
            by_name = f" or {dialect.upsert_by_name} {name}" if dialect.upsert_by_name else ""
            code = (f"stop relying on {name}: no {dialect.upsert.format(columns=cols)}{by_name},"
                    " no handling of its duplicate-key error")
        elif kind == "foreign_key":
            parent = ref or "the table it references"
            lock = ""
            if locks_both:
                lock = (f" It also takes ACCESS EXCLUSIVE locks on both {table} and {parent}: every read and"
                        f" write on either waits for it, and behind it while it waits for a long query.")
            what = (f"Dropping {said}: {table} rows whose {f'{ref} row' if ref else 'referenced row'} is gone are"
                    f" no longer refused, and its ON DELETE action no longer runs, which the running app may rely"
                    f" on.{lock}")
            code = (f"stop relying on {name}: delete {table}'s rows before the {f'{ref} row' if ref else 'row'}"
                    " they reference where the key cascaded, and check that row exists where it matters")
        elif kind == "check":
            what = (f"Dropping {said}: the database stops refusing rows that break it. Mild: the running app"
                    " keeps working, but nothing checks what it writes any more.")
            code = f"check in the app what {name} checked, where it matters"
        else:
            upsert = dialect.upsert.format(columns="(its columns)")
            what = (f"Dropping constraint {name} on {table}, which the history does not show: if it is a UNIQUE"
                    f" or PRIMARY KEY, the running app's {upsert} {dialect.upsert_unmatched}; if a foreign key,"
                    f" its ON DELETE action stops{' and both tables are locked' if locks_both else ''}.")
            code = f"stop relying on {name} (an upsert on its columns, its ON DELETE action, its errors)"
        if getattr(fact, "cascade", False):
            what += " CASCADE also drops every foreign key that references it."
        yield Hit(what, table, columns[0] if len(columns) == 1 else None, ctx.dialect.lock(fact), P.Plan(
            "Deploy app code that no longer relies on the constraint first; drop it in a later migration.", [
                P.Phase("switch", "Deploy app code that no longer relies on it", [P.CodeChange(code)]),
                P.Phase("contract", "Drop it in a later migration", [
                    ctx.dialect.set_lock_timeout(),
                    P.Acknowledged(ctx.statement.sql, self.id, "the app stopped relying on it in the previous"
                                                               " deploy")]),
            ]))


def _subject(fact, ctx):
    """(table, kind, columns, referenced table, kind guessed from the name) of what is dropped;
    None for a plain index (non-concurrent-drop-index judges its lock)."""
    if isinstance(fact, F.DropIndex):
        index = ctx.schema.indexes.get(fact.name)
        if index is not None:
            return (index.table, "unique index", tuple(index.columns), None, False) if index.unique else None
        table = ctx.schema.table(fact.table) if fact.table else None  # MySQL: a UNIQUE KEY is dropped as an index
        con = table.constraints.get(fact.name.rpartition(".")[2]) if table else None
        if con is None or con.kind not in ("unique", "primary_key"):
            return None
        return fact.table, con.kind, con.columns, None, False
    table = ctx.schema.table(fact.table)
    con = table.constraints.get(fact.name) if table else None
    if con is not None:
        return fact.table, con.kind, con.columns, con.ref_table, False
    kind = {"primary_key_replaced": "primary_key"}.get(fact.kind, fact.kind)  # MySQL spells it
    if kind is not None:
        return fact.table, kind, (), None, False
    guessed = kind_by_name(fact.name)
    return fact.table, guessed, (), None, guessed is not None


def _made_earlier(fact, ctx) -> bool:
    """Added earlier in this migration: no running app version knows it."""
    for f in earlier_facts(fact, ctx):
        if isinstance(f, F.AddConstraint) and f.constraint.name == fact.name \
                or isinstance(f, F.CreateIndex) and f.name == fact.name:
            return True
    return False


def _replaced_later(fact, ctx, table: str, kind: str | None, columns: tuple[str, ...]) -> bool:
    """The same migration adds a constraint of the same kind (a unique index for a key) on the same
    columns (a rename by re-creation, a foreign key re-made with another ON DELETE): nothing is
    lost. Followed through renames: the key re-made on the renamed column or table is the same key."""
    t = ctx.schema.table(table)
    known = t is not None and fact.name in t.constraints
    check = t.constraints[fact.name].expression if known and kind == "check" else None
    named, wanted = table, _cols(columns)
    for step in later_steps(fact, ctx):
        f = step.fact
        if isinstance(f, F.RenameColumn) and f.table == table and f.column in wanted:
            wanted = wanted - {f.column} | {f.new_name}
        elif isinstance(f, F.RenameTable) and f.table == table:
            table = f.new_name
        elif isinstance(f, (F.AddConstraint, F.CreateIndex)) and f.table == table \
                and (not is_partial(step) or f.name == fact.name) \
                and (_same_check(check, f) if check else _remakes(fact, f, named, kind, wanted, known)):
            return True  # (a partial index under another name serves only some rows: Django's condition=)
    return False


def _same_check(expression: str, made) -> bool:
    """`made` adds a CHECK of the same expression (NOT VALID or not: the rows stay checked from then on)."""
    con = made.constraint if isinstance(made, F.AddConstraint) else None
    return con is not None and con.kind == "check" and _expression(con.expression) == _expression(expression)


def _expression(text: str | None) -> str:
    return re.sub(r'[\s"()]', "", (text or "").lower())


def _remakes(fact, made, table: str, kind: str | None, wanted: set, known: bool) -> bool:
    """`made` re-makes what `fact` drops (on `table`, its table then)."""
    con = made.constraint if isinstance(made, F.AddConstraint) else None
    made_kind = con.kind if con else "unique index" if made.unique else None
    made_cols = _cols(con.columns if con else made.columns)
    like = made_kind == kind or made_kind in _KEYS and kind in _KEYS
    if wanted:
        return like and made_cols == wanted
    if known or made_kind is None:
        return False
    # what the history does not show (a name computed at run time, a gap): re-made on the columns
    # its name spells (lemur's certificates_name_key1), or a constraint of its kind re-made on the
    # same table is taken as the same one (Superset's "ON DELETE CASCADE" revisions)
    spelled = columns_in_name(fact.name, table, made_cols)
    return (like or kind is None) and spelled is not None and set(spelled) == made_cols \
        or con is not None and (kind is None or made_kind == kind)


def _goes_later(fact, ctx, table: str, columns: tuple[str, ...]) -> bool:
    """Its columns (or its table) are dropped later in the migration, as Django's RemoveField and
    Alembic's drop_constraint-then-drop_column do: drop-column (drop-table) says what breaks, once."""
    left = _cols(columns)
    for f in later_facts(fact, ctx):
        if isinstance(f, F.DropTable) and f.table == table:
            return True
        if isinstance(f, F.DropColumn) and f.table == table:
            left.discard(f.column)
    return bool(columns) and not left


def _cols(columns) -> set:
    return {index_column(c) for c in columns}


def _redundant_check(ctx, table: str, name: str) -> bool:
    t = ctx.schema.table(table)
    con = t.constraints.get(name) if t else None
    return con is not None and any(is_not_null_check(con.expression, c.name) and not c.nullable
                                   for c in t.columns.values())

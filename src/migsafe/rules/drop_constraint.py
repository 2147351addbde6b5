"""drop-constraint: what the running app loses when a constraint (or a unique index) goes."""

from migsafe import plans as P
from migsafe.model import Severity
from migsafe.rules import Hit, Rule, does_nothing, register
from migsafe.rules._columns import earlier_facts, index_column, is_not_null_check, kind_by_name, later_facts
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
        if ctx.is_new(table) or _made_earlier(fact, ctx) or _replaced_later(fact, ctx, table, kind, columns) \
                or _goes_later(fact, ctx, table, columns):
            return
        if kind == "check" and _redundant_check(ctx, table, fact.name):
            return  # the helper CHECK (c IS NOT NULL) of a SET NOT NULL that now holds by itself
        name, cols = fact.name, f"({', '.join(columns)})" if columns else "on its columns"
        said = f"{_WORD.get(kind, 'constraint')} {name} on {table}"
        if guessed:
            said += f" (a {_WORD[kind]} judging by its name: the history does not show it)"
        if kind in _KEYS:
            what = (f"Dropping {said}: the running app's INSERT ... ON CONFLICT {cols} no longer finds a"
                    f" matching constraint and fails, and nothing refuses duplicates {cols} any more.")
            code = (f"stop relying on {name}: no ON CONFLICT {cols} or ON CONFLICT ON CONSTRAINT {name},"
                    " no handling of its duplicate-key error")
        elif kind == "foreign_key":
            parent = ref or "the referenced table"
            lock = ""
            if ctx.dialect.name in ("postgresql", "generic"):
                lock = (f" It also takes ACCESS EXCLUSIVE locks on both {table} and {parent}: every read and"
                        f" write on either waits for it, and behind it while it waits for a long query.")
            what = (f"Dropping {said}: {table} rows whose {parent} row is gone are no longer refused, and its"
                    f" ON DELETE action no longer runs, which the running app may rely on.{lock}")
            code = (f"stop relying on {name}: delete {table}'s rows before their {parent} row where the key"
                    " cascaded, and check the parent exists where it matters")
        elif kind == "check":
            what = (f"Dropping {said}: the database stops refusing rows that break it. Mild: the running app"
                    " keeps working, but nothing checks what it writes any more.")
            code = f"check in the app what {name} checked, where it matters"
        else:
            what = (f"Dropping constraint {name} on {table}, which the history does not show: if it is a UNIQUE"
                    f" or PRIMARY KEY, the running app's ON CONFLICT on it fails; if a foreign key, both tables"
                    f" are locked and its ON DELETE action stops.")
            code = f"stop relying on {name} (ON CONFLICT on it, its ON DELETE action, its errors)"
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
    """The same migration adds a constraint of the same kind on the same columns (a rename by
    re-creation, a foreign key re-made with another ON DELETE): nothing is lost."""
    if not columns:
        # what the history does not show (a name computed at run time, a gap): a constraint of its
        # kind re-made on the same table is taken as the same one (Superset's "ON DELETE CASCADE" revisions)
        known = ctx.schema.table(table) is not None and fact.name in ctx.schema.table(table).constraints
        return not known and any(isinstance(f, F.AddConstraint) and f.table == table
                                 and (kind is None or f.constraint.kind == kind) for f in later_facts(fact, ctx))
    unique = kind in _KEYS
    wanted = {index_column(c) for c in columns}
    for f in later_facts(fact, ctx):
        # followed through renames: the key re-made on the renamed column or table is the same key
        if isinstance(f, F.RenameColumn) and f.table == table and f.column in wanted:
            wanted = wanted - {f.column} | {f.new_name}
        elif isinstance(f, F.RenameTable) and f.table == table:
            table = f.new_name
        elif isinstance(f, F.AddConstraint) and f.table == table and _cols(f.constraint.columns) == wanted:
            if f.constraint.kind == kind or unique and f.constraint.kind in _KEYS:
                return True
        elif isinstance(f, F.CreateIndex) and f.table == table and f.unique and unique and _cols(f.columns) == wanted:
            return True
    return False


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

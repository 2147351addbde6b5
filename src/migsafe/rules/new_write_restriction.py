"""new-write-restriction: a constraint or unique index that the running app's writes may break.

Said once per restriction, where it starts: at the ADD (NOT VALID or not), not at its VALIDATE;
at the unique index, not at the ADD CONSTRAINT ... USING INDEX that adopts it; not at a SET NOT
NULL that a CHECK (c IS NOT NULL) already enforced; not where the same migration dropped the same
restriction first (a constraint re-made under another name or with another ON DELETE).
"""

import re

from migsafe import plans as P
from migsafe.model import Severity
from migsafe.rules import Hit, Rule, register
from migsafe.rules._columns import (columns_in_name, earlier_facts, index_column, is_not_null_check, kind_by_name,
                                    made_here)
from migsafe.sql import facts as F


@register
class NewWriteRestriction(Rule):
    id = "new-write-restriction"
    severity = Severity.WARNING
    facts = (F.AddConstraint, F.CreateIndex, F.SetNotNull, F.DropConstraint, F.DropIndex, F.RenameColumn,
             F.RenameTable)

    def check(self, fact, ctx):
        if isinstance(fact, (F.DropConstraint, F.DropIndex)):
            ctx.state.update(_dropped(fact, ctx))  # remembered for a re-made one later in the migration
            return
        if isinstance(fact, (F.RenameColumn, F.RenameTable)):
            _follow_rename(fact, ctx.state)  # a rule re-made on the renamed column or table is the same
            return
        table = fact.table
        cost = ctx.dialect.cost(fact, ctx.schema)
        if made_here(ctx, table) or cost is not None and cost.fails:  # (a statement the engine refuses adds nothing)
            return
        said = _restriction(fact, ctx)
        if said is None or _key(fact, ctx) in ctx.state or _implied_unique(fact, ctx) or _new_columns(fact, ctx):
            return
        if isinstance(fact, F.AddConstraint) and (f"{_rule_key}:{table}:unknown" in ctx.state or
                                                  f"{_rule_key}:references:{fact.constraint.ref_table}" in ctx.state):
            # re-makes a constraint this migration dropped (one whose definition the history does not
            # show, or a foreign key a DROP CONSTRAINT ... CASCADE took with the key it references)
            return
        what, breaks, column = said
        yield Hit(
            f"{what}: {breaks}",
            table, column, ctx.dialect.lock(fact),
            P.Plan("Deploy app code that writes only rows that satisfy the new rule first (and fix the rows"
                   " that break it); add it in a later migration.", [
                P.Phase("switch", "Deploy app code that never writes a row that breaks it", [
                    P.CodeChange(f"every write to {table} satisfies it: check in the app before the database"
                                 " refuses it")]),
                P.Phase("contract", "Add it in a later migration", [
                    P.Acknowledged(ctx.statement.sql, self.id, "every running app version writes only rows"
                                                               " that satisfy it since the previous deploy")]),
            ]))


def _restriction(fact, ctx):
    """(what is added, what breaks, the column) or None when the writes gain no new rule."""
    table = fact.table
    if isinstance(fact, F.CreateIndex):
        if not fact.unique:
            return None
        cols = ", ".join(fact.columns)
        left = (" (a CONCURRENTLY build that fails leaves an INVALID index behind, which still slows every write"
                " until it is dropped)") if fact.concurrently else ""
        name = f"{fact.name} " if fact.name else ""
        return (f"Adding unique index {name}on {table} ({cols})",
                f"a write of the running app that repeats an existing ({cols}) now fails with a unique"
                f" violation, and duplicates already in the table make the build fail{left}.",
                _one(fact.columns))
    if isinstance(fact, F.SetNotNull):
        col = ctx.schema.column(table, fact.column)
        if col is not None and col.type is not None and not col.nullable:
            return None  # already NOT NULL (MySQL's MODIFY restates it)
        if _has_not_null_check(ctx, table, fact.column):
            return None  # said at the CHECK
        return _not_null(table, fact.column)
    con = fact.constraint
    if con.using_index:
        return None  # said at the unique index it adopts
    name = f"{con.name} " if con.name else ""
    cols = ", ".join(con.columns)
    if con.kind == "not_null" or con.kind == "check" and len(con.columns) <= 1 and con.expression and \
            any(is_not_null_check(con.expression, c) for c in _words(con.expression)):
        column = con.columns[0] if con.columns else next(c for c in _words(con.expression)
                                                          if is_not_null_check(con.expression, c))
        return _not_null(table, column)
    if con.kind in ("unique", "primary_key"):
        word = "UNIQUE constraint" if con.kind == "unique" else "PRIMARY KEY"
        return (f"Adding {word} {name}on {table} ({cols})",
                f"a write of the running app that repeats an existing ({cols}) now fails with a unique"
                f" violation, and duplicates already in the table make the ADD fail.", _one(con.columns))
    if con.kind == "check":
        valid = " NOT VALID spares only the rows already there." if con.not_valid else ""
        return (f"Adding CHECK constraint {name}on {table}",
                f"a write of the running app that breaks ({con.expression}) now fails.{valid}", None)
    if con.kind == "foreign_key":
        return (f"Adding foreign key {name}on {table} ({cols}) → {con.ref_table}",
                f"a write of the running app with a ({cols}) that has no {con.ref_table} row now fails, and so"
                f" does a delete of a {con.ref_table} row that {table} still references (unless ON DELETE says"
                f" otherwise).", _one(con.columns))
    if con.kind == "exclude":
        return (f"Adding EXCLUDE constraint {name}on {table}",
                "a write of the running app that conflicts with an existing row now fails.", None)
    return None


def _new_columns(fact, ctx) -> bool:
    """Every column the rule is on was added earlier in this migration: the running app version does
    not write them (a foreign key on a new column, with its index, is the usual expand step)."""
    if isinstance(fact, F.SetNotNull):
        columns = {fact.column}
    elif isinstance(fact, F.CreateIndex):
        columns = {index_column(c) for c in fact.columns}
    else:
        columns = {index_column(c) for c in fact.constraint.columns}
    if not columns or None in columns:
        return False
    added = {f.column.name for f in earlier_facts(fact, ctx) if isinstance(f, F.AddColumn) and f.table == fact.table}
    return columns <= added


def _not_null(table: str, column: str):
    return (f"Making {table}.{column} NOT NULL",
            f"an insert or update of the running app that writes NULL to {column} (or leaves it out, with no"
            " default) now fails.", column)


def _one(columns) -> str | None:
    return index_column(columns[0]) if len(columns) == 1 else None


def _words(expression: str) -> list[str]:
    return re.findall(r'"[^"]+"|[A-Za-z_][A-Za-z0-9_$]*', expression)


def _has_not_null_check(ctx, table: str, column: str) -> bool:
    t = ctx.schema.table(table)
    return t is not None and any(c.kind == "check" and is_not_null_check(c.expression, column)
                                 for c in t.constraints.values())


def _norm(columns) -> str:
    return ",".join(sorted(filter(None, (index_column(c) for c in columns))))


def _key(fact, ctx) -> str:
    """What the restriction is, independent of its name: a re-made one has the same key."""
    if isinstance(fact, F.CreateIndex):
        return f"{_rule_key}:{fact.table}:unique:{_norm(fact.columns)}:"
    if isinstance(fact, F.SetNotNull):
        return f"{_rule_key}:{fact.table}:not_null:{fact.column}:"
    con = fact.constraint
    kind = "unique" if con.kind == "primary_key" else con.kind
    # (a foreign key re-made to a renamed table is the same rule: the referenced table is not part of it)
    extra = "" if con.kind == "foreign_key" else re.sub(r'[\s"()]', "", (con.expression or "").lower())
    # a CHECK is its expression (written on a column, it names that column; on the table, none)
    columns = "" if con.kind == "check" else _norm(con.columns)
    return f"{_rule_key}:{fact.table}:{kind}:{columns}:{extra or ''}"


_rule_key = "new-write-restriction:dropped"
_UNIQUE = ("unique", "primary_key")
_name_key = "new-write-restriction:dropped-unknown:"  # + the name of a dropped index or constraint the history lacks


def _follow_rename(fact, state: set[str]) -> None:
    """Rewrite the remembered drops of `fact`'s table through its rename."""
    prefix = f"{_rule_key}:{fact.table}:"
    for key in [k for k in state if k.startswith(prefix)]:
        kind, _, rest = key[len(prefix):].partition(":")
        if isinstance(fact, F.RenameTable):
            new = f"{_rule_key}:{fact.new_name}:{key[len(prefix):]}"
        elif rest:  # kind:columns:extra (not the markers "unknown", "primary_key")
            cols, _, extra = rest.partition(":")
            renamed = sorted(fact.new_name if c == fact.column else c for c in cols.split(","))
            new = f"{prefix}{kind}:{','.join(renamed)}:{extra}"
        else:
            continue
        state.discard(key)
        state.add(new)


def _implied_unique(fact, ctx) -> bool:
    """A unique rule on columns that already hold (or held until earlier in this migration) a
    unique rule on some of them: (a) unique makes (a, b) unique, so no write fails anew."""
    if isinstance(fact, F.CreateIndex):
        if not fact.unique:
            return False
        columns = fact.columns
    elif isinstance(fact, F.AddConstraint) and fact.constraint.kind in ("unique", "primary_key"):
        if fact.constraint.kind == "primary_key" and f"{_rule_key}:{fact.table}:primary_key" in ctx.state:
            return True  # the key is re-made (MySQL: DROP PRIMARY KEY, ADD PRIMARY KEY)
        columns = fact.constraint.columns
    else:
        return False
    new = set(_norm(columns).split(","))
    known = [c.columns for c in getattr(ctx.schema.table(fact.table), "constraints", {}).values()
             if c.kind in ("unique", "primary_key") and c.columns]
    known += [i.columns for i in ctx.schema.indexes.values() if i.table == fact.table and i.unique]
    held = [set(_norm(cols).split(",")) for cols in known]
    prefix = f"{_rule_key}:{fact.table}:unique:"
    held += [set(k[len(prefix):].split(":")[0].split(",")) for k in ctx.state if k.startswith(prefix)]
    # dropped earlier in this migration, unknown to the history: the columns its name spells
    # (prefect's uq_block_schema__checksum before a unique (checksum, version))
    held += [set(columns_in_name(k[len(_name_key):], fact.table, columns) or ()) for k in ctx.state
             if k.startswith(_name_key)]
    return any(h and h <= new for h in held if h != {""})


def _dropped(fact, ctx) -> set[str]:
    """Keys of what `fact` drops, from the schema just before it."""
    if isinstance(fact, F.DropIndex):
        index = ctx.schema.indexes.get(fact.name)
        if index is None:  # the history does not show it: its name may say it was unique, and on what
            return {_name_key + fact.name} if kind_by_name(fact.name) in _UNIQUE else set()
        return {f"{_rule_key}:{index.table}:unique:{_norm(index.columns)}:"} if index.unique else set()
    table = ctx.schema.table(fact.table)
    con = table.constraints.get(fact.name) if table else None
    if fact.cascade:  # the foreign keys that referenced a key of this table went with it
        cascaded = {f"{_rule_key}:references:{fact.table}"}
        return cascaded | (_dropped(F.DropConstraint(fact.table, fact.name, fact.kind, fact.if_exists), ctx))
    if fact.kind in ("primary_key", "primary_key_replaced"):  # MySQL's DROP PRIMARY KEY
        return {f"{_rule_key}:{fact.table}:primary_key"}
    if con is None:  # the history does not show it: a constraint re-made on the table may be this one
        unique = (fact.kind or kind_by_name(fact.name)) in _UNIQUE
        return {f"{_rule_key}:{fact.table}:unknown"} | ({_name_key + fact.name} if unique else set())
    probe = F.AddConstraint(fact.table, F.ConstraintDef(con.kind, con.name, con.columns, con.expression,
                                                        con.ref_table))
    return {_key(probe, ctx)}

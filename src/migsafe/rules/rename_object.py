"""rename-object: renames (and moves to another schema) of what the running app names besides
tables and columns.

Constraints: the app names a UNIQUE, PRIMARY KEY or EXCLUDE constraint in `ON CONFLICT ON
CONSTRAINT`, so renaming one (or the index behind it, which renames the constraint too) is
reported, and so is a constraint the history does not know. A CHECK, foreign key or NOT NULL
constraint is named only in error messages: not reported. Index renames are not reported either:
no PostgreSQL query names an index (MySQL's index hints aside, rare in app code).
"""

from migsafe import plans as P
from migsafe.fixes.sql import q
from migsafe.rules import Hit, Rule, register
from migsafe.rules._columns import earlier_facts
from migsafe.schema import type_name
from migsafe.sql import facts as F

NAMED_CONSTRAINTS = ("unique", "primary_key", "exclude")  # what ON CONFLICT ON CONSTRAINT accepts
VIEWS = ("view", "materialized view")
# How the running app names each kind of object, completing "the running app version still ...".
NAMES_IT = {
    "function": "calls {name}()", "procedure": "CALLs {name}",
    "type": "casts to {name} (and an ORM may name the type, e.g. SQLAlchemy's Enum(name=...))",
    "domain": "casts to {name}", "sequence": "names {name} where it calls nextval() or declares the Sequence",
    "schema": "qualifies names with {name}", "extension": "finds {name}'s functions through its schema",
    "database": "connects to {name}",
}


def _renamed_earlier(table: str, fact: F.Fact, ctx) -> bool:
    """The table got its name earlier in this migration (Prefect's and CKAN's renames of a table,
    then of its primary key's index): rename-table already reports that the running app's statements
    on it fail, its ON CONFLICT ON CONSTRAINT among them."""
    return any(isinstance(f, F.RenameTable) and f.new_name == table for f in earlier_facts(fact, ctx))


def bare(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def schema_of(name: str) -> str:
    return name.rpartition(".")[0] or "public"


@register
class RenameObject(Rule):
    id = "rename-object"
    dialects = ("postgresql", "mysql")
    facts = (F.RenameObject, F.RenameConstraint, F.RenameIndex, F.RenameTable)

    def check(self, fact, ctx):
        if isinstance(fact, F.RenameTable):  # RENAME TABLE / ALTER TABLE ... RENAME TO of a view
            view = ctx.schema.view(fact.table)
            if view is not None:
                yield from self._object(F.RenameObject(view.kind, fact.table, fact.new_name), ctx)
        elif isinstance(fact, F.RenameObject):
            yield from self._object(fact, ctx)
        else:
            yield from self._constraint(fact, ctx)

    def _object(self, fact: F.RenameObject, ctx):
        kind, old, new = fact.kind, fact.name, fact.new_name
        owner = {"enum value": "type"}.get(kind, kind.removesuffix(" column"))
        owner_name = old.rpartition(".")[0] if kind.endswith(" column") else old
        if ctx.schema.object_is_new(owner, owner_name, ctx.migration_index):
            return
        lock = ctx.dialect.lock(fact)
        if kind == "enum value":
            yield Hit(f"Renaming value '{fact.value}' of enum {old} to '{fact.new_value}' breaks the running app"
                      f" version: it still writes '{fact.value}', which fails with `invalid input value for enum`,"
                      f" and reads '{fact.new_value}', which it does not know.", None, None, lock,
                      self._enum_plan(fact, ctx))
            return
        verb = "Moving" if fact.moved else "Renaming"
        to = f"to schema {schema_of(new)}" if fact.moved else f"to {bare(new)}"
        uses = ("still queries " + old) if kind in VIEWS or kind.endswith(" column") else \
            NAMES_IT.get(kind, "names {name}").format(name=old)
        yield Hit(f"{verb} {kind} {old} {to} breaks the running app version, which {uses} until the deploy"
                  " finishes.", None, None, lock,
                  self._view_plan(fact, ctx) if kind in VIEWS else self._later_plan(fact, ctx))

    def _constraint(self, fact: F.RenameConstraint | F.RenameIndex, ctx):
        if ctx.dialect.name == "mysql":
            return  # MySQL has no ON CONFLICT ON CONSTRAINT: no query names a constraint or index
        if isinstance(fact, F.RenameConstraint):
            table, old, new = fact.table, fact.name, fact.new_name
            t = ctx.schema.table(table)
            con = t.constraints.get(old) if t else None
            if con is not None and con.kind not in NAMED_CONSTRAINTS:
                return  # a CHECK or foreign key: no query names it
            statement = f"ALTER TABLE {q(table)} RENAME CONSTRAINT {q(old)} TO {q(new)}"
        else:  # an index renames the constraint it backs
            old, new = fact.name, fact.new_name
            owners = [t for t in ctx.schema.tables.values() if bare(old) in t.constraints
                      and t.constraints[bare(old)].kind in NAMED_CONSTRAINTS]
            if not owners:
                return
            table, old, new = owners[0].name, bare(old), bare(new)
            statement = f"ALTER INDEX {q(fact.name)} RENAME TO {q(new)}"
        if ctx.is_new(table) or _renamed_earlier(table, fact, ctx):
            return
        yield Hit(f"Renaming constraint {old} on {table} to {new} breaks the running app version wherever it"
                  f" names {old}: `ON CONFLICT ON CONSTRAINT {old}` fails, and error handling that matches the name"
                  " stops matching.", table, None, ctx.dialect.lock(fact), P.Plan(
                      "Make the app name the columns instead of the constraint first; rename in a later deploy.", [
                          P.Phase("switch", f"Deploy app code that no longer names {old}", [
                              P.CodeChange(f"write ON CONFLICT (<its columns>) instead of ON CONFLICT ON CONSTRAINT"
                                           f" {old}, and match errors on both names")]),
                          P.Phase("contract", "Rename in a later migration", [
                              ctx.dialect.set_lock_timeout(),
                              P.Acknowledged(statement, self.id, f"the app stopped naming {old} in the previous"
                                                                 " deploy")]),
                      ]))

    def _view_plan(self, fact: F.RenameObject, ctx) -> P.Plan:
        old, new, keyword = fact.name, fact.new_name, fact.kind.upper()
        change = f"SET SCHEMA {q(schema_of(new))}" if fact.moved else f"RENAME TO {q(bare(new))}"
        rename = f"RENAME TABLE {old} TO {new}" if ctx.dialect.name == "mysql" else f"ALTER {keyword} {q(old)} {change}"
        return P.Plan(f"{'Move' if fact.moved else 'Rename'}, and leave a view under the old name until no app"
                      " version uses it.", [
                          P.Phase("expand", f"Rename and keep {old} readable as a view over {new}", [
                              ctx.dialect.set_lock_timeout(),
                              P.Acknowledged(rename, self.id,
                                             f"the view {old} keeps the old name working"),
                              P.Statement(f"CREATE VIEW {q(old)} AS SELECT * FROM {q(new)}")]),
                          P.Phase("switch", f"Deploy app code that uses {new}",
                                  [P.CodeChange(f"use {new} instead of {old}")]),
                          P.Phase("contract", "Drop the view in a later migration", [
                              ctx.dialect.set_lock_timeout(),
                              P.Acknowledged(f"DROP VIEW {q(old)}", "drop-object", P.DROP_REASON)]),
                      ])

    def _later_plan(self, fact: F.RenameObject, ctx) -> P.Plan:
        old, new, kind = fact.name, fact.new_name, fact.kind
        how = {"schema": f"reach its objects through search_path ({bare(new)}, {old}) and unqualified names, so that"
                         " either name works",
               "sequence": f"let the column default call nextval() instead of naming {old} (defaults hold the"
                           " sequence itself, not its name, and follow the rename)"}.get(
            kind, f"stop naming {kind} {old}, or work with either name")
        return P.Plan(f"Make the app work without the old name first; {'move' if fact.moved else 'rename'} in a"
                      " later deploy.", [
                          P.Phase("switch", f"Deploy app code that no longer needs the name {old}", [
                              P.CodeChange(how)]),
                          P.Phase("contract", f"{'Move' if fact.moved else 'Rename'} in a later migration", [
                              P.Acknowledged(ctx.statement.sql, self.id, f"the app no longer names {old}")]),
                      ])

    def _enum_plan(self, fact: F.RenameObject, ctx) -> P.Plan:
        enum, old, new = fact.name, fact.value, fact.new_value
        columns = [(t.name, c.name) for t in ctx.schema.tables.values() for c in t.columns.values()
                   if c.type is not None and type_name(c.type) == enum]
        backfill = [P.Statement(f"-- repeat until it updates 0 rows, each batch in its own transaction:\n"
                                f"UPDATE {q(t)} SET {q(c)} = '{new}'\n"
                                f"WHERE {P.batch_where('postgresql', q(t), f'{q(c)} = {chr(39)}{old}{chr(39)}')}")
                    for t, c in columns] or [P.CodeChange(f"update every column of type {enum} from '{old}' to"
                                                          f" '{new}', in batches")]
        return P.Plan(f"Add '{new}' beside '{old}', move the app and the rows to it; '{old}' stays in the type.", [
            P.Phase("expand", f"Add the value '{new}'", [P.Statement(f"ALTER TYPE {q(enum)} ADD VALUE '{new}'")]),
            P.Phase("switch", f"Deploy app code that writes '{new}' and reads both", [
                P.CodeChange(f"write '{new}' instead of '{old}' and treat both as the same")]),
            P.Phase("backfill", f"Move the rows from '{old}' to '{new}'", backfill),
        ])

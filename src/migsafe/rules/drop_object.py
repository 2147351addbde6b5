from migsafe import plans as P
from migsafe.fixes.sql import q
from migsafe.rules import Hit, Rule, does_nothing, register
from migsafe.schema import type_name
from migsafe.sql import facts as F

# What the running app loses with each kind of object, completing "... breaks the running app
# version: ".
BREAKS = {
    "view": "its queries of {name} fail with `relation \"{name}\" does not exist`",
    "materialized view": "its queries of {name} fail with `relation \"{name}\" does not exist`",
    "function": "its calls of {name}() fail, and so do the defaults, triggers and views that call it",
    "procedure": "its CALLs of {name} fail",
    "type": "its casts to {name} and the columns, functions and views that use the type stop working",
    "domain": "its casts to {name} and the columns, functions and views that use the domain stop working",
    "sequence": "code that names it (nextval('{name}'), an ORM's Sequence) fails, and so do the inserts"
                " whose column default reads it",
    "extension": "the functions, types and operators {name} provides are gone, with everything that uses them",
    "schema": "every name it qualifies ({name}.x) stops resolving",
    "database": "its connections to {name} fail, and every table in it is gone",
}
# Objects PostgreSQL locks like a table (every query of them waits for the drop).
RELATIONS = ("view", "materialized view", "sequence")


@register
class DropObject(Rule):
    id = "drop-object"
    facts = (F.DropObject, F.DropExpression)

    def check(self, fact, ctx):
        if isinstance(fact, F.DropExpression):
            yield from self._expression(fact, ctx)
            return
        schema = ctx.schema
        if schema.object_is_new(fact.kind, fact.name, ctx.migration_index) or does_nothing(fact, ctx):
            return
        made = schema.object(fact.kind, fact.name)
        if made is not None and made.trigger:
            return  # a trigger function: its trigger calls it, never the app (and the drop fails while one does)
        name = fact.name
        message = f"Dropping {fact.kind} {name} breaks the running app version: {BREAKS[fact.kind].format(name=name)}."
        gone = cascaded(fact, schema)
        if gone:
            message += f" CASCADE also drops {gone}."
        elif fact.kind == "schema" and fact.cascade:
            message += " CASCADE also drops every table, view and function in it."
        statement = f"DROP {fact.kind.upper()} {q(name)}{fact.args}{' CASCADE' if fact.cascade else ''}"
        relation = fact.kind in RELATIONS or (fact.kind == "schema" and fact.cascade)
        yield Hit(message, None, None, ctx.dialect.lock(fact), P.Plan(
            f"Stop using the {fact.kind} in the app first; drop it in a later deploy.", [
                P.Phase("expand", f"Deploy app code that no longer uses {fact.kind} {name}", [
                    P.CodeChange(f"remove every use of {fact.kind} {name} from the app")]),
                P.Phase("contract", f"Drop the {fact.kind} in a later migration", [
                    ctx.dialect.set_lock_timeout() if relation else None,
                    P.Acknowledged(statement, self.id, P.DROP_REASON)]),
            ]))

    def _expression(self, fact: F.DropExpression, ctx):
        if ctx.is_new(fact.table):
            return
        t, c = fact.table, fact.column
        yield Hit(
            f"Dropping the generation expression of {t}.{c} makes it a plain column: rows the running app"
            f" inserts from now on get NULL (or the column's default) in {c} instead of the computed value, and"
            " updates no longer recompute it.",
            t, c, ctx.dialect.lock(fact), P.Plan(
                "Make the app stop relying on the computed value first; drop the expression in a later deploy.", [
                    P.Phase("expand", f"Deploy app code that no longer relies on {c} being computed", [
                        P.CodeChange(f"compute {t}.{c} in the app where it is read, or stop reading it")]),
                    P.Phase("contract", "Drop the expression in a later migration", [
                        ctx.dialect.set_lock_timeout(),
                        P.Acknowledged(f"ALTER TABLE {q(t)} ALTER COLUMN {q(c)} DROP EXPRESSION", self.id,
                                       "the app stopped relying on the computed value in the previous deploy")]),
                ]))


def cascaded(fact: F.DropObject, schema) -> str:
    """What the history knows CASCADE takes along: a schema's tables, a type's or domain's columns."""
    if not fact.cascade:
        return ""
    if fact.kind == "schema":
        tables = sorted(n for n in schema.tables if n.startswith(fact.name + "."))
        return ("its tables " + ", ".join(tables)) if tables else ""
    if fact.kind in ("type", "domain"):
        columns = sorted(f"{t.name}.{c.name}" for t in schema.tables.values() for c in t.columns.values()
                         if c.type is not None and type_name(c.type) == fact.name)
        return ("the columns " + ", ".join(columns)) if columns else ""
    return ""

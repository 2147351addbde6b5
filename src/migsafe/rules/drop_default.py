"""drop-default: the default of a NOT NULL column that the running app's inserts rely on."""

from migsafe.rules import Hit, Rule, register
from migsafe.rules._columns import earlier_facts, inserts_set_it_first
from migsafe.sql import facts as F


def drops_default(fact: F.Fact) -> bool:
    """DROP DEFAULT, or SET DEFAULT NULL (the same thing)."""
    return isinstance(fact, F.DropDefault) or isinstance(fact, F.SetDefault) \
        and fact.default.text.strip().lower() == "null"


def numbers_rows(col) -> bool:
    """A serial's default (nextval) numbers the rows: dropping it is drop-identity's."""
    return col.identity == "serial" or col.default is not None and "nextval(" in col.default.text.lower()


@register
class DropDefault(Rule):
    id = "drop-default"
    facts = (F.DropDefault, F.SetDefault)

    def check(self, fact, ctx):
        if not drops_default(fact) or ctx.is_new(fact.table):
            return
        col = ctx.schema.column(fact.table, fact.column)
        if col is None or col.nullable or col.default is None or numbers_rows(col):
            return
        if _set_earlier(fact, ctx):
            # a default this migration set (Django's AlterField to NOT NULL): no app relied on it; or
            # a column it added (not-null-without-default judges the add-then-drop)
            return
        where = f"{fact.table}.{fact.column}"
        yield Hit(
            f"Dropping the default ({col.default.text}) of NOT NULL column {where}: inserts of the running app"
            f" version that leave {fact.column} out, relying on the default, now fail.",
            fact.table, fact.column, ctx.dialect.lock(fact),
            inserts_set_it_first(fact, ctx, self.id, "Deploy app code that sets the column on every insert first;"
                                 " drop the default in a later migration (or keep it).", "the default"))


def _set_earlier(fact, ctx) -> bool:
    for f in earlier_facts(fact, ctx):
        if isinstance(f, F.SetDefault) and f.table == fact.table and f.column == fact.column \
                or isinstance(f, F.AddColumn) and f.table == fact.table and f.column.name == fact.column:
            return True
    return False

"""ALTER TYPE ... ADD VALUE in a transaction: refused before PostgreSQL 12; from 12 the new value
may not be used before that transaction commits ("unsafe use of new value", P107)."""

import re
from dataclasses import dataclass, field

from migsafe import plans as P
from migsafe.model import Statement
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@dataclass
class _Added:
    """The enum values the transaction added so far."""

    values: dict[str, tuple[str, Statement]] = field(default_factory=dict)  # value -> (type, its ADD VALUE)
    judged: Statement | None = None  # the statement last looked at for uses (once per statement)


@register
class EnumAddValue(Rule):
    id = "enum-add-value"
    dialects = ("postgresql",)
    facts = (F.Fact,)  # a use of the value may be in any later statement

    def check(self, fact, ctx):
        if not ctx.in_transaction:
            return
        added_here = ctx.kept(self.id, _Added)
        if isinstance(fact, F.EnumAddValue):
            if ctx.dialect.add_value_in_transaction_fails():
                yield Hit(f"ALTER TYPE {fact.type_name} ADD VALUE cannot run inside a transaction block before"
                          f" PostgreSQL 12 (target {ctx.dialect.version_text}): the migration fails at deploy time.",
                          plan=P.Plan("Run ADD VALUE outside a transaction block.", [
                              P.Phase("single", "Run it outside the transaction", [
                                  P.OutsideTransaction(), P.Statement(ctx.statement.sql)])]))
            elif fact.value is not None:
                added_here.values[fact.value] = (fact.type_name, ctx.statement)
            return
        if not added_here.values or ctx.statement is added_here.judged:
            return
        added_here.judged = ctx.statement
        from migsafe.sql.translate import string_literals  # (sqlglot's tokenizer: only after an ADD VALUE)

        for value in sorted(string_literals(ctx.statement.sql) & added_here.values.keys()):
            type_name, added = added_here.values[value]
            if not _may_use(type_name, ctx):
                continue
            yield Hit(
                f"'{value}' is used here, in the transaction that added it to {type_name} (line {added.span.line}):"
                f" PostgreSQL refuses a new enum value before the transaction that added it commits (\"unsafe use of"
                f" new value\"), so the migration fails at deploy time.",
                getattr(fact, "table", None),
                plan=P.Plan("Add the value in a migration of its own; use it from the next migration on.", [
                    P.Phase("expand", "Add the value, committed on its own", [P.Statement(added.sql)]),
                    P.Phase("backfill", "Use it in the next migration", [P.Statement(ctx.statement.sql)])]))


def _may_use(type_name: str, ctx) -> bool:
    """The statement may turn the literal into the enum: it names the type (a cast), or a table it
    works on has a column of that type, or of a type the history does not know."""
    short = type_name.rpartition(".")[2]
    if re.search(rf'(?i)(?<![\w$]){re.escape(short)}(?![\w$])', ctx.statement.sql):
        return True
    facts = ctx.facts_of(ctx.statement)
    tables = {t for f in facts for t in (getattr(f, "table", None), *getattr(f, "sources", ())) if t}
    if not tables:
        return True  # a statement migsafe does not place (SELECT ... FROM): assume the worst
    for name in tables:
        table = ctx.schema.table(name)
        if table is None or not table.columns or any(c.type is None or c.type.name.rpartition(".")[2] == short
                                for c in table.columns.values()):
            return True
    return False

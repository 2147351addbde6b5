from migsafe.model import Severity
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@register
class UnrecognizedStatement(Rule):
    id = "unrecognized-statement"
    severity = Severity.WARNING
    facts = (F.Unknown,)

    def check(self, fact: F.Unknown, ctx):
        if fact.table is not None:
            if not ctx.is_new(fact.table):
                yield Hit(f"migsafe does not model {fact.what} on {fact.table}; check its locks and effect by hand.",
                          fact.table)
            return
        touched = [t for t in fact.tables if t in ctx.schema.tables and not ctx.is_new(t)]
        if touched:
            yield Hit(f"migsafe cannot see inside this {fact.what}, which mentions {', '.join(touched)};"
                      " check its locks and effect by hand.", touched[0])

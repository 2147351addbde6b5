from migsafe import plans as P
from migsafe.model import Severity
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@register
class NonConcurrentRefresh(Rule):
    """REFRESH MATERIALIZED VIEW holds ACCESS EXCLUSIVE on the view for the whole query (P95);
    CONCURRENTLY holds EXCLUSIVE, which lets readers go on (P96), and needs a unique index."""

    id = "non-concurrent-refresh"
    severity = Severity.WARNING
    dialects = ("postgresql",)
    facts = (F.RefreshMaterializedView,)

    def check(self, fact, ctx):
        if fact.concurrently or not fact.with_data or ctx.is_new(fact.view):  # a new view: nobody reads it yet
            return
        v = fact.view
        unique = [i for i in ctx.schema.indexes.values() if i.table == v and i.unique]
        steps: list[P.Action] = []
        if not unique:
            steps += [P.OutsideTransaction(),
                      P.CreateIndexConcurrently(v, f"{v.split('.')[-1]}_key", ("<columns that identify a row>",),
                                                unique=True)]
        steps.append(P.Statement(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {v}"))
        needs = (f"uses the unique index {unique[0].name}" if unique else
                 "needs a unique index on the view over columns that identify each row: build it first,"
                 " concurrently")
        yield Hit(
            f"REFRESH MATERIALIZED VIEW {v} without CONCURRENTLY holds an ACCESS EXCLUSIVE lock on {v} while the"
            " whole query runs again: every read of the view waits until the refresh ends.",
            None, None, ctx.dialect.lock(fact),
            P.Plan(f"Refresh CONCURRENTLY: readers go on while it runs. It {needs}; and the view must have been"
                   " populated once.", [P.Phase("single", "Refresh without blocking readers", steps)]))


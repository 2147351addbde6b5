"""BEGIN inside an open transaction (the runner's or the file's own), or a BEGIN whose transaction
the migration never ends."""

from migsafe import plans as P
from migsafe.model import Migration
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@register
class TransactionNesting(Rule):
    id = "transaction-nesting"
    facts = (F.Fact,)  # the transaction state follows every statement

    def __init__(self):
        self._migration: Migration | None = None
        self._open = False  # a transaction is open on the server before the current fact
        self._runner: bool | None = None  # the source's own word on the last statement

    def check(self, fact, ctx):
        stmt = ctx.statement
        if ctx.migration is not self._migration:
            self._migration, self._open, self._runner = ctx.migration, ctx.migration.starts_in_transaction, None
        if stmt.in_transaction is not None and stmt.in_transaction != self._runner:
            self._runner = self._open = stmt.in_transaction  # Alembic's autocommit_block, Django's atomic
        if isinstance(fact, F.Begin):
            if self._open:
                yield Hit(f"BEGIN inside a transaction that is already open here: {ctx.dialect.nested_begin}.",
                          plan=P.Plan("Remove this BEGIN and its COMMIT: the migration already runs in a transaction"
                                      " (or COMMIT the open one first, if two transactions are meant)."))
            elif ctx.migration.error is None and not _committed_later(ctx):
                # (A migration stopped by an error, its own raise or a failed rendering, has no statements
                # after the error: its COMMIT is missing because it never ran, not because it is unwritten.)
                yield Hit("This BEGIN opens a transaction that the migration never ends: unless something after the"
                          " migration commits it, everything after the BEGIN is rolled back when the runner's session"
                          " closes.",
                          plan=P.Plan("End the transaction in the same migration: COMMIT after its last statement.", [
                              P.Phase("single", "Commit what the BEGIN opened", [P.Statement("COMMIT")])]))
            self._open = True
        elif isinstance(fact, F.Commit):
            self._open = False
        elif not ctx.dialect.transactional_ddl and ctx.dialect.lock(fact) is not None:
            self._open = False  # MySQL/MariaDB commit implicitly before and after DDL


def _committed_later(ctx) -> bool:
    """A COMMIT or ROLLBACK follows the current statement in the migration."""
    statements = ctx.migration.statements
    later = statements[next(i for i, s in enumerate(statements) if s is ctx.statement) + 1:]
    return any(isinstance(f, F.Commit) for s in later for f in ctx.facts_of(s))

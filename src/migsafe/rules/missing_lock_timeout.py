from migsafe import plans as P
from migsafe.model import Severity
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F

AEL = "ACCESS EXCLUSIVE"


@register
class MissingLockTimeout(Rule):
    id = "missing-lock-timeout"
    severity = Severity.WARNING
    dialects = ("postgresql", "mysql")
    facts = (F.Fact,)  # any statement may take the lock

    def check(self, fact, ctx):
        if ctx.lock_timeout_set or self.id in ctx.state:
            return
        if (ctx.dialect.lock(fact) or "").upper() != AEL:
            return
        table = ctx.dialect.locked_table(fact, ctx.schema)
        if table is None or ctx.is_new(table):
            return
        ctx.state.add(self.id)  # once per migration
        setting = ctx.dialect.lock_timeout_setting
        yield Hit(
            f"This statement takes an ACCESS EXCLUSIVE lock on {table} with no {setting} set earlier in the"
            " migration: if it waits behind a long query, every read and write on the table queues behind it"
            " for as long as it waits.",
            table, None, AEL,
            P.Plan(f"Set {setting} at the start of the migration (and retry the deploy if it times out).", [
                P.Phase("single", "Fail fast instead of queueing every query", [P.SetLockTimeout()])]))

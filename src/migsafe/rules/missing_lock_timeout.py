from migsafe import plans as P
from migsafe.fixes import edits as E
from migsafe.model import Severity
from migsafe.rules import Hit, Rule, does_nothing, register
from migsafe.sql import facts as F

@register
class MissingLockTimeout(Rule):
    id = "missing-lock-timeout"
    severity = Severity.WARNING
    dialects = ("postgresql", "mysql")
    facts = (F.Fact,)  # any statement may take the lock

    def check(self, fact, ctx):
        if ctx.lock_timeout_set or self.id in ctx.state:
            return
        if isinstance(fact, (F.DropTable, F.DropIndex)) and does_nothing(fact, ctx):
            return  # nothing to lock (an ALTER TABLE's IF EXISTS drop still locks its table)
        lock = ctx.dialect.lock(fact)
        if lock != ctx.dialect.exclusive_lock:
            return
        table = ctx.dialect.locked_table(fact, ctx.schema)
        if table is None or ctx.is_new(table):
            return
        if isinstance(fact, (F.DropObject, F.CreateObject, F.RenameObject)) and (
                ctx.schema.object_is_new(fact.kind, fact.name, ctx.migration_index)
                or not ctx.schema.has_object(fact.kind, fact.name)):
            return  # a view or sequence made by this migration, or none at all: no query waits for it
        ctx.state.add(self.id)  # once per migration
        setting = ctx.dialect.lock_timeout_setting
        yield Hit(
            f"This statement takes an {lock} lock on {table} with no {setting} set earlier in the"
            " migration: if it waits behind a long query, every read and write on the table queues behind it"
            " for as long as it waits.",
            table, None, lock,
            P.Plan(f"Set {setting} at the start of the migration (and retry the deploy if it times out).", [
                P.Phase("single", "Fail fast instead of queueing every query", [ctx.dialect.set_lock_timeout()])]))

    def edits(self, fact, ctx, path, alone):
        return E.lock_timeout_first(ctx, path)

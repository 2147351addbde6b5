import re

from migsafe import plans as P
from migsafe.dialects.base import COLLATION_ONLY
from migsafe.rules import Hit, Rule, engine_cost, register
from migsafe.rules._swap import swapped_in_later
from migsafe.sql import facts as F


@register
class ChangeColumnType(Rule):
    id = "change-column-type"
    facts = (F.AlterColumnType, F.DropColumn, F.RenameColumn)

    def check(self, fact, ctx):
        if not isinstance(fact, F.AlterColumnType):
            yield from self._swap(fact, ctx)
            return
        col = ctx.schema.column(fact.table, fact.column)
        old = col.type if col else None
        if any(t is not None and t.unknown for t in (old, fact.new_type)):
            # A type only the project knows. Where the source said what it cannot judge (an
            # Unknown fact beside this one), that is the finding; elsewhere the old type is
            # unknown, and the change may rewrite.
            if any(isinstance(f, F.Unknown) for f in ctx.facts_of(ctx.statement)):
                return
            old = None
        judged = engine_cost(fact, ctx, f"Changing {fact.table}.{fact.column} to {fact.new_type.text}", fact.column)
        if judged is not None:
            yield from judged
            return
        if ctx.is_new(fact.table):
            return
        why = ctx.dialect.type_change_rewrite(old, fact.new_type, fact.using, fact.column, fact.collate)
        if why is None:
            yield from self._rechecked(fact, ctx)
            return
        if why == COLLATION_ONLY:
            yield from self._collation(fact, ctx)
            return
        t, c, new = fact.table, fact.column, f"{fact.column}_new"
        lock = ctx.dialect.lock(fact)
        if why == "UNKNOWN":
            message = (f"Changing {t}.{c} to {fact.new_type.text} may rewrite the whole table under an {lock}"
                       " lock, blocking every read and write until it finishes: the column's current type is not"
                       " known from the migration history, so migsafe cannot tell whether the change is"
                       " binary compatible.")
        else:
            message = (f"Changing {t}.{c} to {fact.new_type.text} rewrites the table and its indexes under an"
                       f" {lock} lock, blocking every read and write until it finishes ({why}). The running"
                       " app version may also misread the new type.")
        yield Hit(
            message,
            t, c, lock,
            P.Plan("Add a column of the new type, keep it in step, backfill, switch the app, drop the old one.", [
                P.Phase("expand", f"Add {new} of type {fact.new_type.text} and keep it in step", [
                    ctx.dialect.set_lock_timeout(), P.AddColumn(t, new, fact.new_type.text),
                    P.SyncTrigger(t, c, new, ctx.dialect.name)]),
                P.Phase("backfill", "Copy existing values in batches", [
                    P.Backfill(t, new, fact.using or c, ctx.dialect.name, from_row=True)]),
                P.Phase("switch", f"Deploy app code that uses {new}", [P.SwitchColumn(f"read and write {t}.{new}", t, c, new)]),
                P.Phase("contract", f"Drop the trigger and {c} in a later migration", [
                    ctx.dialect.set_lock_timeout(), P.DropSyncTrigger(t, c, new, ctx.dialect.name), P.DropColumn(t, c)]),
            ]))

    def _rechecked(self, fact: F.AlterColumnType, ctx):
        """A change the table keeps its rows through still checks every validated CHECK on the
        column against every row, under the ALTER's lock (measured on 15: a scan, no rewrite; a
        NOT VALID check is not checked). Dropped first and added again NOT VALID in the same
        transaction, the check is validated afterwards under SHARE UPDATE EXCLUSIVE."""
        table = ctx.schema.table(fact.table)
        if ctx.dialect.name != "postgresql" or table is None:
            return
        checks = [k for k in table.constraints.values()
                  if k.kind == "check" and k.validated and k.expression and _uses((k.expression,), fact.column)]
        if not checks:
            return
        t, c, lock = fact.table, fact.column, ctx.dialect.lock(fact)
        names = ", ".join(k.name for k in checks)
        yield Hit(
            f"Changing {t}.{c} to {fact.new_type.text} keeps the rows, but PostgreSQL checks {names} against every"
            f" row of {t} under an {lock} lock, blocking every read and write while it scans.",
            t, c, lock,
            P.Plan(f"Drop {names}, change the type and add the check again NOT VALID in one transaction (catalog-only),"
                   " then validate it in a later migration (a scan that lets reads and writes through).", [
                P.Phase("expand", "Change the type with the check added back NOT VALID", [
                    ctx.dialect.set_lock_timeout(), *[P.DropConstraint(t, k.name) for k in checks],
                    P.Statement(ctx.statement.sql),
                    *[P.Statement(f"ALTER TABLE {t} ADD CONSTRAINT {k.name} CHECK ({k.expression}) NOT VALID")
                      for k in checks]]),
                P.Phase("contract", "Validate the check in its own migration",
                        [P.ValidateConstraint(t, k.name) for k in checks]),
            ]))

    def _collation(self, fact: F.AlterColumnType, ctx):
        """A new collation keeps the table but rebuilds every index on the column, under the
        ALTER's ACCESS EXCLUSIVE lock (P110); with no index on it the change is catalog-only."""
        t, c = fact.table, fact.column
        indexes = [i for i in ctx.schema.indexes.values() if i.table == t and _uses(i.columns, c)]
        table = ctx.schema.table(t)
        keys = [k.name for k in (table.constraints.values() if table else ())
                if k.kind in ("unique", "primary_key", "exclude") and c in k.columns]
        if not indexes and not keys and table is not None and table.created_in is not None \
                and ctx.schema.knows_all("index"):
            return  # the history made the table and every index: none is on the column
        lock = ctx.dialect.lock(fact)
        names = ", ".join([i.name for i in indexes] + keys) or "each index on it"
        message = (f"Changing the collation of {t}.{c} to {fact.collate} rebuilds every index on the column ({names})"
                   f" under an {lock} lock on {t}, blocking every read and write until the rebuild ends (the table"
                   " itself is not rewritten).")
        if keys:  # a constraint's index cannot be dropped concurrently: no way around the rebuild
            yield Hit(message, t, c, lock, P.Plan(
                f"The index of {', '.join(keys)} is rebuilt whatever the steps: change the collation when {t} can"
                " do without reads and writes for that long (a maintenance window), with a lock timeout.", [
                    P.Phase("single", "Rebuild in a maintenance window",
                            [ctx.dialect.set_lock_timeout(), P.Statement(ctx.statement.sql)])]))
            return
        steps: list[P.Action] = [P.OutsideTransaction()]
        steps += [P.DropIndexConcurrently(i.name) for i in indexes] or [
            P.Statement(f"-- each index on {t}.{c}:\nDROP INDEX CONCURRENTLY <index>")]
        steps += [ctx.dialect.set_lock_timeout(), P.Statement(ctx.statement.sql)]
        # built again after the change, each index takes the column's new collation
        steps += [P.CreateIndexConcurrently(t, i.name, i.columns, i.unique) for i in indexes] or [
            P.Statement(f"-- each of them again, as it was defined (it takes the new collation):\n"
                        f"CREATE INDEX CONCURRENTLY <index> ON {t} (<its columns>)")]
        yield Hit(
            message, t, c, lock,
            P.Plan("Drop the column's indexes concurrently, change the collation (catalog-only with no index on the"
                   " column), then build the indexes again concurrently. Until they are back, queries that use them"
                   " are slower and a unique index does not enforce uniqueness.", [
                P.Phase("single", "Change the collation with no index to rebuild", steps)]))

    def _swap(self, fact: F.DropColumn | F.RenameColumn, ctx):
        """A column replaced in the same commit by another renamed to its name (rules/_swap.py):
        the running app version sees the type change, judged as ALTER COLUMN TYPE would be. The
        copy rewrites every row, under the lock the transaction holds on the table until it commits."""
        swap = swapped_in_later(fact, ctx)
        if swap is None or swap.new_type is None or ctx.is_new(fact.table):
            return
        t, c = fact.table, fact.column
        swapped = (f"Dropping {t}.{c} and renaming {swap.source} to {c}" if isinstance(fact, F.DropColumn)
                   else f"Renaming {t}.{c} to {fact.new_name} and {swap.source} to {c}")
        change = F.AlterColumnType(t, c, swap.new_type)
        if ctx.dialect.cost(change, ctx.schema) is not None:
            # MySQL, SQLite: what the engine does is the drop's and the rename's (table-rewrite
            # judges those); what remains is the new type the running app version reads.
            col = ctx.schema.column(t, c)
            if col is not None and col.type is not None and \
                    ctx.dialect.type_change_rewrite(col.type, swap.new_type, None, c, None) is not None:
                yield Hit(f"{swapped} (line {swap.statement.span.line}) in the same commit changes {t}.{c} from"
                          f" {col.type.text} to {swap.new_type.text}: the running app version may misread the"
                          " new type.", t, c)
            return
        for hit in self.check(change, ctx):
            hit.message = (f"{swapped} (line {swap.statement.span.line}) in the same commit changes the type of"
                           f" {t}.{c}, as ALTER COLUMN TYPE would: {hit.message[0].lower()}{hit.message[1:]}")
            yield hit


def _uses(columns: tuple[str, ...], column: str) -> bool:
    """An index over these columns or expressions reads `column`."""
    return any(re.search(rf'(?<![\w."]){re.escape(column)}(?![\w"])|"{re.escape(column)}"', col) for col in columns)

"""access-change: the running app's role may lose access to rows or tables.

A permissive CREATE POLICY only adds rows a role may see: not reported (its ACCESS EXCLUSIVE
lock is missing-lock-timeout's). DROP POLICY is reported here, not by drop-object: what it
breaks is access.
"""

from migsafe import plans as P
from migsafe.model import Severity
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@register
class AccessChange(Rule):
    id = "access-change"
    severity = Severity.WARNING
    dialects = ("postgresql", "mysql")
    facts = (F.AccessChange,)

    def check(self, fact: F.AccessChange, ctx):
        if not fact.narrows or (fact.table is not None and ctx.is_new(fact.table)):
            return
        t, what = fact.table, fact.what
        if what in ("ALTER POLICY", "DROP POLICY") and \
                ctx.schema.object_is_new("policy", f"{t} {fact.name}", ctx.migration_index):
            return
        lock = ctx.dialect.lock(fact)
        if what == "REVOKE":
            on = f"on {t} " if t else ""
            yield Hit(f"`{fact.name}`: if the running app's role (or PUBLIC, which every role is in) held this"
                      f" privilege, its queries {on}fail with `permission denied` from the commit on.", t, None, lock,
                      P.Plan("Check that the app's role keeps what it uses: `\\dp` (or has_table_privilege('<app"
                             " role>', ..., ...)) before and after, or grant it explicitly first.", [
                                 P.Phase("single", "Grant the app's role what it uses, then revoke", [
                                     P.CodeChange("list the privileges the app's role uses, and GRANT them to it"
                                                  " explicitly in the same migration if they came from the role"
                                                  " being revoked")])]))
            return
        policies = sorted(o.name.split(" ", 1)[1] for (kind, _), o in ctx.schema.objects.items()
                          if kind == "policy" and o.name.startswith(f"{t} "))
        if what.endswith("ROW LEVEL SECURITY"):
            known = f"the policies {', '.join(policies)}" if policies else "no policy the history knows of"
            owner = ", the table's owner included" if what.startswith("FORCE") else \
                " (the table's owner and BYPASSRLS roles excepted)"
            message = (f"`{what}` on {t}: from the commit on, every role{owner} sees and changes only"
                       f" the rows a policy grants it, and {t} has {known}: a role without one sees no rows at all.")
            reason = "a policy grants the app's role its rows"
            step = P.Statement(f"CREATE POLICY {t.rsplit('.', 1)[-1]}_app ON {t} TO <app role> USING (true)"
                               " WITH CHECK (true)")
        else:
            verb = {"CREATE POLICY": "Creating restrictive", "ALTER POLICY": "Changing",
                    "DROP POLICY": "Dropping"}[what]
            message = (f"{verb} policy {fact.name} on {t} changes which rows the running app's role sees and may"
                       " change: where row-level security is on, rows it used to read or update vanish for it.")
            reason = "checked as the app's role: its queries still see their rows"
            step = P.CodeChange(f"check, as the app's role (SET ROLE), that its queries on {t} still see their rows")
        yield Hit(message, t, None, lock, P.Plan(
            "Grant the app's role its rows by a policy in the same migration, and check it as that role.", [
                P.Phase("single", "Keep the app's rows visible to its role", [
                    ctx.dialect.set_lock_timeout(), step,
                    P.Acknowledged(ctx.statement.sql, self.id, reason)])]))

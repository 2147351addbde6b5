from migsafe import plans as P
from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F


@register
class ValidatingDomainConstraint(Rule):
    """ALTER DOMAIN ... ADD CONSTRAINT (or SET NOT NULL) checks every stored value of the domain:
    each table with a column of it is scanned under SHARE (writes wait, reads go on), measured on 15."""

    id = "validating-domain-constraint"
    dialects = ("postgresql",)
    facts = (F.DomainConstraint,)

    def check(self, fact, ctx):
        if fact.not_valid:
            return
        schema, d = ctx.schema, fact.domain
        if schema.domains.get(d) == ctx.migration_index:
            return  # made in this migration: its columns are new too
        users = [t for t in schema.domain_users(d) if not ctx.is_new(t)]
        if not users and d in schema.domains and schema.knows_all("column"):
            return  # the history made the domain and every table: none stores a value of it
        lock = ctx.dialect.scan_lock(fact)
        tables = ", ".join(users) if users else "every table with a column of it (the history does not show which)"
        change = "SET NOT NULL" if fact.set_not_null else \
            f"ADD {'CONSTRAINT ' + fact.name + ' ' if fact.name else ''}{fact.what}"
        name = fact.name or f"{d.split('.')[-1]}_{'not_null' if 'NULL' in fact.what.upper() else 'check'}"
        check = "CHECK (VALUE IS NOT NULL)" if "NULL" in fact.what.upper() and "CHECK" not in fact.what.upper() \
            else fact.what
        validate_lock = ctx.dialect.scan_lock(F.ValidateDomainConstraint(d, name))
        later = ("at a quiet time: on this version VALIDATE still holds SHARE on each table while it scans (writes"
                 " wait, reads go on), but the deploy no longer waits for it and new values are checked already"
                 if validate_lock != "SHARE UPDATE EXCLUSIVE" else "(SHARE UPDATE EXCLUSIVE: reads and writes go on)")
        yield Hit(
            f"ALTER DOMAIN {d} {change} checks every value of {d} already stored: it scans {tables} under a {lock}"
            f" lock, blocking every insert, update and delete on {'it' if len(users) == 1 else 'them'} until"
            f" {'the scan ends' if len(users) == 1 else 'all the scans end'}.",
            users[0] if len(users) == 1 else None, None, lock,
            P.Plan("Add the constraint NOT VALID (instant: new values are checked from then on), then VALIDATE it"
                   f" in its own migration {later}.", [
                P.Phase("expand", "Add the constraint without checking stored values", [
                    ctx.dialect.set_lock_timeout(),
                    P.Statement(f"ALTER DOMAIN {d} ADD CONSTRAINT {name} {check} NOT VALID")]),
                P.Phase("contract", "Validate it in a separate migration", [
                    P.Statement(f"ALTER DOMAIN {d} VALIDATE CONSTRAINT {name}")]),
            ]))

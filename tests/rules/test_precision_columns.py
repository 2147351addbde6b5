"""Issue 20, precision of the columns and constraints rules (drop-constraint, new-write-restriction,
drop-not-null): false positives and wording found by reading their findings on the real corpora
(benchmarks/corpus.py, scripts/django_corpus.py). Each case is the minimal migration that showed
one; the findings are (rule, line).
"""

from __future__ import annotations

from pathlib import Path

from migsafe import engine
from migsafe.config import load_settings
from migsafe.rules import default_severities
from tests.rules.test_transactions import lint, of

DROP, NEW, NULLS = "drop-constraint", "new-write-restriction", "drop-not-null"


def check(tmp_path: Path, *files: str, start_after: bool = True, **options) -> list:
    """Findings of .sql migrations V1, V2... (V1 the history unless start_after is False)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for n, sql in enumerate(files, 1):
        (tmp_path / f"V{n}__m.sql").write_text(sql)
    options = {k.replace("_", "-"): v for k, v in options.items()}
    if start_after:
        options["start-after"] = {"sql": "V1__m.sql"}
    return engine.check([tmp_path], load_settings(None, options, set(default_severities())), tmp_path).findings


def lines(findings, rule: str) -> list[int]:
    return [f.span.line for f in findings if f.rule == rule]


# --- drop-constraint ------------------------------------------------------------------------

def test_unknown_unique_constraint_replaced_by_a_unique_index_on_the_columns_its_name_spells(tmp_path):
    """lemur a9987414cf36: PostgreSQL named a second unnamed UNIQUE (name) `certificates_name_key1`; the
    history does not show it, and the migration drops it for a unique index on (name)."""
    code = ('def upgrade():\n'
            '    op.drop_constraint("customers_email_key1", "customers", type_="unique")\n'
            '    op.create_index("ix_customers_email", "customers", ["email"], unique=True)\n'
            '\n\ndef downgrade():\n    pass\n')
    assert of(lint(tmp_path / "a", code, "alembic"), DROP) == []
    # a unique index on other columns replaces nothing
    other = code.replace('["email"]', '["id", "email"]')
    assert of(lint(tmp_path / "b", other, "alembic"), DROP) == [9]


def test_partial_unique_index_replaces_no_unique_constraint(tmp_path):
    """phoenix a1b2c3d4e5f6: a UNIQUE (client, subject) dropped for a unique index WHERE kind = 'oauth':
    ON CONFLICT (client, subject) without the predicate matches no constraint any more."""
    history = "CREATE TABLE users (id bigint PRIMARY KEY, client text, subject text, kind text);"
    change = ("ALTER TABLE users DROP CONSTRAINT uq_users_client_subject;\n"
              "CREATE UNIQUE INDEX ix_users_oauth ON users (client, subject){where};")
    assert lines(check(tmp_path / "a", history, change.format(where=" WHERE kind = 'oauth'")), DROP) == [1]
    assert lines(check(tmp_path / "b", history, change.format(where="")), DROP) == []
    known = history + "\nALTER TABLE users ADD CONSTRAINT uq_users_client_subject UNIQUE (client, subject);"
    assert lines(check(tmp_path / "c", known, change.format(where=" where kind = 'oauth'")), DROP) == [1]
    # wagtail 0050: a partial unique index re-made under its own name with another condition
    remade = ("DROP INDEX uq_users_client_subject;\n"
              "CREATE UNIQUE INDEX uq_users_client_subject ON users (client, subject) WHERE kind <> 'ldap';")
    partial = history + ("\nCREATE UNIQUE INDEX uq_users_client_subject ON users (client, subject)"
                         " WHERE kind = 'oauth';")
    assert lines(check(tmp_path / "d", partial, remade), DROP) == []


def test_foreign_key_message_without_the_referenced_table(tmp_path):
    """39 findings said "rows whose the referenced table row is gone"."""
    [hit] = [f for f in check(tmp_path, "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint);",
                              "ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey;") if f.rule == DROP]
    assert "orders rows whose referenced row is gone are no longer refused" in hit.message
    assert "the referenced table" not in hit.message


def test_dropped_unique_key_speaks_the_dialects_upsert(tmp_path):
    """MySQL has no ON CONFLICT: its upsert is INSERT ... ON DUPLICATE KEY UPDATE, which inserts a
    second row once the key is gone."""
    history = ("CREATE TABLE users (id bigint PRIMARY KEY, email varchar(100) NOT NULL);\n"
               "ALTER TABLE users ADD UNIQUE KEY users_email_key (email);")
    [mysql] = [f for f in check(tmp_path / "m", history, "ALTER TABLE users DROP INDEX users_email_key;",
                                dialect="mysql") if f.rule == DROP]
    assert "INSERT ... ON DUPLICATE KEY UPDATE on (email)" in mysql.message
    assert "ON CONFLICT" not in mysql.message + mysql.fix.summary + str(mysql.fix.steps)
    pg_history = history.replace("UNIQUE KEY users_email_key", "CONSTRAINT users_email_key UNIQUE")
    [pg] = [f for f in check(tmp_path / "p", pg_history, "ALTER TABLE users DROP CONSTRAINT users_email_key;")
            if f.rule == DROP]
    assert "INSERT ... ON CONFLICT (email) no longer finds a matching constraint and fails" in pg.message


def test_drop_if_exists_of_a_constraint_a_history_from_empty_never_had(tmp_path):
    """airflow 0041: DROP CONSTRAINT IF EXISTS of names older databases may have; the history starts
    from an empty database and never made them. An unnamed constraint elsewhere (whose name the
    database picks) leaves the other tables' constraints known."""
    history = ("CREATE TABLE dag (id bigint PRIMARY KEY, owner text UNIQUE);\n"
               "CREATE TABLE run (id bigint PRIMARY KEY, dag_id bigint);")
    found = check(tmp_path / "a", history, "ALTER TABLE run DROP CONSTRAINT IF EXISTS run_dag_fkey;")
    assert lines(found, DROP) == []
    # on the table whose constraint the database named, the name may be one PostgreSQL numbered
    found = check(tmp_path / "b", history, "ALTER TABLE dag DROP CONSTRAINT IF EXISTS dag_owner_key1;")
    assert lines(found, DROP) == [1]


def test_unknown_foreign_key_re_made_after_its_table_is_renamed(tmp_path):
    """airflow 0041: keys dropped, the table renamed, the keys re-made on the new name."""
    found = check(tmp_path, "CREATE TABLE customers (id bigint PRIMARY KEY);",
                  "ALTER TABLE orders DROP CONSTRAINT orders_buyer_fkey;\n"
                  "ALTER TABLE orders RENAME TO purchases;\n"
                  "ALTER TABLE purchases ADD CONSTRAINT purchases_buyer_fkey FOREIGN KEY (customer_id)"
                  " REFERENCES customers (id) NOT VALID;")
    assert lines(found, DROP) == []


# --- new-write-restriction ------------------------------------------------------------------

def test_unique_on_more_columns_than_an_unknown_unique_index_it_replaces(tmp_path):
    """prefect sqlite e757138e954a: uq_block_schema__checksum (which the history does not show) is
    dropped for a unique (checksum, version): no write that passed before fails now."""
    history = "CREATE TABLE block_schema (id bigint PRIMARY KEY, checksum text);"
    change = ("DROP INDEX uq_block_schema__checksum;\n"
              "ALTER TABLE block_schema ADD COLUMN version text NOT NULL DEFAULT 'x';\n"
              "CREATE UNIQUE INDEX uq_block_schema__checksum_version ON block_schema (checksum, version);")
    assert lines(check(tmp_path / "a", history, change), NEW) == []
    # the dropped index's name spells another column: the new one restricts (checksum) anew
    other = change.replace("DROP INDEX uq_block_schema__checksum;", "DROP INDEX uq_block_schema__id;")
    assert lines(check(tmp_path / "b", history, other), NEW) == [3]
    # a plain index (by its name) restricted nothing
    plain = change.replace("DROP INDEX uq_block_schema__checksum;", "DROP INDEX ix_block_schema__checksum;")
    assert lines(check(tmp_path / "c", history, plain), NEW) == [3]


def test_unique_index_on_a_table_the_first_migration_makes_out_of_sight(tmp_path):
    """nova 8f2f1571d55b: the initial migration creates shadow tables in a loop over reflected
    tables that offline rendering cannot see, then a unique index on one: no app runs on it yet."""
    first = ("CREATE TABLE migrations (id bigint PRIMARY KEY, uuid text);\n"
             "CREATE UNIQUE INDEX shadow_migrations_uuid ON shadow_migrations (uuid);")
    assert lines(check(tmp_path / "a", first, start_after=False), NEW) == []
    # in a later migration the unknown table is an old one
    later = check(tmp_path / "b", "CREATE TABLE migrations (id bigint PRIMARY KEY, uuid text);",
                  "CREATE UNIQUE INDEX shadow_migrations_uuid ON shadow_migrations (uuid);")
    assert lines(later, NEW) == [1]


# --- drop-not-null --------------------------------------------------------------------------

def test_alter_field_null_then_remove_field_is_said_by_drop_column(tmp_path):
    """Django contenttypes 0002: AlterField(name, null=True), then RemoveField(name) in the same
    migration: drop-column says what breaks."""
    code = ('    operations = [\n'
            '        migrations.AlterField(model_name="item", name="customer_id",'
            ' field=models.BigIntegerField(null=True)),\n'
            '        migrations.RemoveField(model_name="item", name="customer_id"),\n'
            '    ]\n')
    found = lint(tmp_path / "a", code, "django")
    assert of(found, "drop-column") == [9]
    assert of(found, NULLS) == []
    alone = code.replace('        migrations.RemoveField(model_name="item", name="customer_id"),\n', '')
    assert of(lint(tmp_path / "b", alone, "django"), NULLS) == [8]

"""Issue 20, precision: false positives of the new rules found by reading their findings on the real
corpora (benchmarks/corpus.py, scripts/django_corpus.py). Each case is the minimal migration that
showed one, after the history of tests/rules/test_transactions.py; the findings are (rule, line).
"""

from __future__ import annotations

import pytest

from migsafe import engine
from migsafe.config import load_settings
from migsafe.rules import default_severities
from tests.rules.test_transactions import DJANGO_HEAD, DJANGO_HISTORY, HISTORY, lint, of

HELD = "lock-held-across-statements"


def test_held_lock_of_the_same_alembic_op_is_said_by_validating_foreign_key(tmp_path):
    """phoenix ab513d89518b: op.add_column of a column with a ForeignKey renders ADD COLUMN, then ADD
    FOREIGN KEY, at one op call: validating-foreign-key reports the scan; no line to commit first."""
    code = ('def upgrade():\n    op.execute("SET lock_timeout = \'5s\'")\n'
            '    op.add_column("orders", sa.Column("buyer_id", sa.BigInteger(), sa.ForeignKey("customers.id")))\n'
            '\n\ndef downgrade():\n    pass\n')
    found = lint(tmp_path, code, "alembic")
    assert of(found, "validating-foreign-key") == [10]
    assert of(found, HELD) == []


def test_held_lock_of_another_op_is_still_reported(tmp_path):
    """The same work after an earlier op call's lock: committing that one first helps."""
    code = ('def upgrade():\n    op.execute("SET lock_timeout = \'5s\'")\n'
            '    op.add_column("orders", sa.Column("buyer_id", sa.BigInteger()))\n'
            '    op.create_foreign_key("orders_buyer_fk", "orders", "customers", ["buyer_id"], ["id"])\n'
            '\n\ndef downgrade():\n    pass\n')
    found = lint(tmp_path, code, "alembic")
    assert of(found, "validating-foreign-key") == [11]
    assert of(found, HELD) == [11]


def test_held_lock_of_a_django_add_field_foreign_key(tmp_path):
    """Django's AddField(ForeignKey) on an existing table: ADD COLUMN ... REFERENCES, then CREATE INDEX,
    at one operation; non-concurrent-index reports the build."""
    code = ('    operations = [\n'
            '        migrations.AddField(model_name="item", name="parent", field=models.ForeignKey(\n'
            '            null=True, on_delete=models.CASCADE, to="shop.item")),\n'
            '    ]\n')
    found = lint(tmp_path, code, "django")
    assert of(found, "non-concurrent-index") == [8]
    assert of(found, HELD) == []


def test_constraint_rename_after_its_table_rename_is_said_by_rename_table(tmp_path):
    """prefect cdcb4018dd0e, ckan 034: the table renamed, then its primary key's index to match;
    rename-table already says the running app's statements on the table fail."""
    code = ('def upgrade():\n    op.execute("SET lock_timeout = \'5s\'")\n'
            '    op.rename_table("customers", "clients")\n'
            '    op.execute("ALTER INDEX customers_pkey RENAME TO clients_pkey")\n'
            '\n\ndef downgrade():\n    pass\n')
    found = lint(tmp_path, code, "alembic")
    assert of(found, "rename-table") == [10]
    assert of(found, "rename-object") == []
    # without the table rename, the same index rename is reported
    alone = lint(tmp_path / "alone", "SET lock_timeout = '5s';\nALTER INDEX customers_pkey RENAME TO clients_pkey;")
    assert of(alone, "rename-object") == [2]



def test_held_lock_of_a_django_alter_field_to_not_null_with_default(tmp_path):
    """edx-enterprise canvas 0014: AlterField to NOT NULL with a default renders SET DEFAULT, UPDATE ...
    WHERE c IS NULL, SET NOT NULL at one operation; set-not-null reports it."""
    migrations = tmp_path / "shop" / "migrations"
    migrations.mkdir(parents=True)
    for init in (tmp_path / "shop" / "__init__.py", migrations / "__init__.py"):
        init.write_text("")
    (migrations / "0001_history.py").write_text(DJANGO_HISTORY.format(history=HISTORY))
    (migrations / "0002_label.py").write_text(DJANGO_HEAD + (
        '    operations = [\n'
        '        migrations.AddField(model_name="item", name="label", field=models.TextField(null=True)),\n'
        '    ]\n'))
    (migrations / "0003_label_not_null.py").write_text(DJANGO_HEAD.replace("0001_history", "0002_label") + (
        '    operations = [\n'
        '        migrations.AlterField(model_name="item", name="label", field=models.TextField(default="")),\n'
        '    ]\n'))
    options = {"start-after": {"django": {"shop": "0002_label"}}}
    settings = load_settings(None, options, set(default_severities()))
    found = [(f.rule, f.span.line) for f in engine.check([tmp_path], settings, tmp_path).findings]
    assert of(found, "set-not-null") == [8]
    assert of(found, HELD) == []


def test_concurrent_index_if_not_exists_after_the_migration_checks_for_an_invalid_leftover(tmp_path):
    """prefect 50737cdaee36: the revision queries pg_index.indisvalid and drops an INVALID leftover
    before CREATE INDEX CONCURRENTLY IF NOT EXISTS (at run time: offline rendering skips the query)."""
    build = ('    with op.get_context().autocommit_block():\n'
             '        op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_o_total ON orders (total)")\n'
             '\n\ndef downgrade():\n    pass\n')
    guarded = ('def upgrade():\n    context = op.get_context()\n    if not context.as_sql:\n'
               '        bind = op.get_bind()\n'
               '        if bind.exec_driver_sql("SELECT 1 FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid"\n'
               '                                " WHERE c.relname = \'ix_o_total\' AND NOT i.indisvalid").scalar():\n'
               '            with context.autocommit_block():\n'
               '                op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_o_total")\n' + build)
    assert of(lint(tmp_path / "a", guarded, "alembic"), "concurrent-index-if-not-exists") == []
    plain = 'def upgrade():\n' + build
    assert of(lint(tmp_path / "b", plain, "alembic"), "concurrent-index-if-not-exists") == [10]


def test_corpus_scripts_print_every_rule_count(capsys):
    """benchmarks/corpus.py and scripts/django_corpus.py print each rule's findings over the corpus:
    the total, the projects with any, the projects with the most; a rule never hit is listed with 0."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from corpus import print_rule_counts

    print_rule_counts({"superset": {"drop-object": 2}, "ckan": {"drop-object": 6, "rename-object": 1}, "optuna": {}})
    lines = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[2:]}
    assert lines["drop-object"] == ["8", "2", "ckan", "6,", "superset", "2"]
    assert lines["rename-object"] == ["1", "1", "ckan", "1"]
    assert lines["enum-add-value"] == ["0", "0"]


def test_held_locks_on_both_tables_of_a_foreign_key_are_one_finding(tmp_path):
    """mlflow 1b5f0d9ad7c1, superset 4736ec66ce19 (50 statements of the Alembic corpus): a foreign key
    validated while both its tables are held was said twice at its line, once per table."""
    sql = ("SET lock_timeout = '5s';\nBEGIN;\nALTER TABLE orders ADD COLUMN x int;\n"
           "ALTER TABLE customers ADD COLUMN y int;\n"
           "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (customer_id) REFERENCES customers (id);\nCOMMIT;")
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "V1__history.sql").write_text(HISTORY)
    (tmp_path / "V2__change.sql").write_text(sql)
    settings = load_settings(None, {"start-after": {"sql": "V1__history.sql"}}, set(default_severities()))
    [held] = [f for f in engine.check([tmp_path], settings, tmp_path).findings if f.rule == HELD]
    assert held.span.line == 5
    assert held.message.startswith("This statement validates foreign key fk (a scan of orders and customers) while"
                                   " the transaction still holds the ACCESS EXCLUSIVE locks taken on orders at line 3"
                                   " and on customers at line 4: every read and write of orders and customers waits")
    assert held.fix.summary.startswith("Commit the changes at lines 3 and 4 first")


@pytest.mark.parametrize("options", [{}, {"no_exec": True}])
def test_a_revision_stopped_by_its_own_raise_leaves_no_transaction_open(tmp_path, options):
    """Alembic's runner BEGIN of a revision that raises (run, or read without running): its COMMIT is
    not missing, it never came; the raise is reported as not-analyzed, not as an unended transaction."""
    code = ('def upgrade():\n    op.execute("SET lock_timeout = \'5s\'")\n'
            '    op.add_column("orders", sa.Column("x", sa.Integer()))\n'
            '    raise RuntimeError("run the data fix by hand first")\n'
            '    op.drop_column("orders", "note")\n\n\ndef downgrade():\n    pass\n')
    found = lint(tmp_path, code, "alembic", **options)
    assert of(found, "not-analyzed") == [11]
    assert of(found, "transaction-nesting") == []


def test_foreign_key_of_a_table_made_in_the_migration_reads_nothing_under_the_held_lock(tmp_path):
    """Django's CreateModel with a ForeignKey after an AddField on the referenced model (wagtail,
    modelcluster): the new table is empty, so checking its foreign key reads no row of the held table."""
    sql = ("SET lock_timeout = '5s';\nBEGIN;\nALTER TABLE customers ADD COLUMN y int;\n"
           "CREATE TABLE notes (id bigint PRIMARY KEY, customer_id bigint);\n"
           "ALTER TABLE notes ADD CONSTRAINT notes_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);\n"
           "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);\n"
           "COMMIT;")
    # (orders has rows: its check reads customers, under the lock of line 3)
    assert of(lint(tmp_path, sql), HELD) == [6]


def test_held_lock_the_operation_takes_again_is_said_by_non_concurrent_index(tmp_path):
    """An AddField, then an AddField of a ForeignKey on the same model: the second one's ADD COLUMN
    locks the table again before its index build, so committing the first line frees nothing."""
    code = ('    operations = [\n'
            '        migrations.AddField(model_name="item", name="label", field=models.TextField(null=True)),\n'
            '        migrations.AddField(model_name="item", name="parent", field=models.ForeignKey(\n'
            '            null=True, on_delete=models.CASCADE, to="shop.item")),\n'
            '    ]\n')
    found = lint(tmp_path, code, "django")
    assert of(found, "non-concurrent-index") == [9]
    assert of(found, HELD) == []

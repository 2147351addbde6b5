"""Precision (issue 15, item 8): what real migrations do, judged as what it is. The column swap
is a type change; an `IF EXISTS` drop of what the history never had does nothing; a name known
only at run time is said in words; every finding at the line of its operation."""

from __future__ import annotations

import textwrap
from pathlib import Path

from migsafe import engine
from migsafe.config import load_settings
from migsafe.rules import default_severities

HISTORY = "CREATE TABLE t (id bigint PRIMARY KEY, kind int, note text);\nCREATE INDEX t_note_idx ON t (note);\n"


def check(path: Path, **overrides):
    settings = load_settings(None, {k.replace("_", "-"): v for k, v in overrides.items()}, set(default_severities()))
    return engine.check([path], settings, path)


def sql_findings(tmp_path: Path, sql: str, history: str = HISTORY, **overrides) -> list[tuple[str, int]]:
    """Findings of `sql` as the newest file, after `history` as the first."""
    (tmp_path / "V1__history.sql").write_text(history)
    (tmp_path / "V2__change.sql").write_text(textwrap.dedent(sql).lstrip())
    return [(f.rule, f.span.line) for f in check(tmp_path, **overrides).findings if f.path.endswith("V2__change.sql")]


def revisions(tmp_path: Path, *bodies: str) -> Path:
    """A versions/ folder with one revision per body (a linear chain from the root)."""
    versions = tmp_path / "versions"
    versions.mkdir()
    down = None
    for n, body in enumerate(bodies, 1):
        rev = f"r{n:03d}"
        head = f"from alembic import op\nimport sqlalchemy as sa\n\nrevision = {rev!r}\ndown_revision = {down!r}\n\n\n"
        (versions / f"{rev}_x.py").write_text(head + textwrap.dedent(body).strip() + "\n\n\ndef downgrade():\n"
                                              "    op.execute('SELECT 1')\n")
        down = rev
    return versions


CREATE_T = """
def upgrade():
    op.create_table("t", sa.Column("id", sa.BigInteger(), primary_key=True), sa.Column("kind", sa.Integer()))
"""


# --- the column swap ---------------------------------------------------------------------


def test_column_swap_in_one_transaction_is_a_type_change(tmp_path):
    findings = sql_findings(tmp_path, """
        BEGIN;
        SET lock_timeout = '5s';
        ALTER TABLE t ADD COLUMN kind_v2 text;
        UPDATE t SET kind_v2 = kind::text;
        ALTER TABLE t DROP COLUMN kind;
        ALTER TABLE t RENAME COLUMN kind_v2 TO kind;
        COMMIT;
    """)
    # the old app never sees `kind` missing, nor knew `kind_v2`: no drop-column, no rename-column
    assert findings == [("unbatched-backfill", 4), ("change-column-type", 5)]
    result = check(tmp_path)
    copy, change = result.findings
    assert "ACCESS EXCLUSIVE lock this transaction took on t at line 3, held until the migration commits" \
        in copy.message
    assert change.message.startswith("Dropping t.kind and renaming kind_v2 to kind (line 6) in the same commit"
                                     " changes the type of t.kind")
    assert "int to text is not binary compatible" in change.message and change.lock == "ACCESS EXCLUSIVE"


def test_column_swap_outside_a_transaction_leaves_kind_missing_for_a_while(tmp_path):
    findings = sql_findings(tmp_path, """
        SET lock_timeout = '5s';
        ALTER TABLE t ADD COLUMN kind_v2 text;
        UPDATE t SET kind_v2 = kind::text;
        ALTER TABLE t DROP COLUMN kind;
        ALTER TABLE t RENAME COLUMN kind_v2 TO kind;
    """)
    # each statement commits alone (sql-transaction = none): between the two, `kind` does not
    # exist. Renaming kind_v2, which only this migration added, breaks no running app version.
    assert findings == [("unbatched-backfill", 3), ("drop-column", 4)]


def test_column_swap_to_the_same_type_is_no_finding_and_renaming_away_is_a_swap_too(tmp_path):
    assert sql_findings(tmp_path, """
        BEGIN;
        SET lock_timeout = '5s';
        ALTER TABLE t ADD COLUMN kind_v2 int NOT NULL DEFAULT 0;
        UPDATE t SET kind_v2 = kind WHERE kind IS NOT NULL;
        ALTER TABLE t DROP COLUMN kind;
        ALTER TABLE t RENAME COLUMN kind_v2 TO kind;
        COMMIT;
    """) == [("lock-held-across-statements", 4)]  # the copy under the ADD's lock; no swap finding
    assert sql_findings(tmp_path, """
        BEGIN;
        SET lock_timeout = '5s';
        ALTER TABLE t ADD COLUMN kind_v2 bigint;
        ALTER TABLE t RENAME COLUMN kind TO kind_old;
        ALTER TABLE t RENAME COLUMN kind_v2 TO kind;
        ALTER TABLE t DROP COLUMN kind_old;
        COMMIT;
    """) == [("change-column-type", 4)]


def test_column_swap_of_an_existing_column_still_breaks_its_users(tmp_path):
    """`note` is renamed to `kind`: the old app's `note` is gone, whatever the transaction."""
    assert sql_findings(tmp_path, """
        BEGIN;
        SET lock_timeout = '5s';
        ALTER TABLE t DROP COLUMN kind;
        ALTER TABLE t RENAME COLUMN note TO kind;
        COMMIT;
    """) == [("change-column-type", 3), ("rename-column", 4)]


def test_column_swap_in_one_mysql_statement(tmp_path):
    """MySQL's DDL commits each statement: one ALTER TABLE is what commits at once."""
    assert sql_findings(tmp_path, """
        SET SESSION lock_wait_timeout = 5;
        ALTER TABLE t ADD COLUMN kind_v2 text;
        ALTER TABLE t DROP COLUMN kind, RENAME COLUMN kind_v2 TO kind;
    """, dialect="mysql") == [("change-column-type", 3)]


def test_column_swap_in_an_alembic_revision(tmp_path):
    versions = revisions(tmp_path, CREATE_T, """
        def upgrade():
            op.execute("SET lock_timeout = '5s'")
            op.add_column("t", sa.Column("kind_v2", sa.String(20)))
            op.execute("UPDATE t SET kind_v2 = CAST(kind AS VARCHAR(20))")
            op.drop_column("t", "kind")
            op.alter_column("t", "kind_v2", new_column_name="kind")
    """)
    assert [(f.rule, f.span.line) for f in check(versions).findings] == [
        ("unbatched-backfill", 11), ("change-column-type", 12)]
    # MySQL has no transactional DDL: each operation commits alone, `kind` is missing for a while
    assert [(f.rule, f.span.line) for f in check(versions, dialect="mysql").findings
            if f.rule in ("drop-column", "rename-column", "change-column-type")] == [("drop-column", 12)]


# --- IF EXISTS drops of what the history never had ---------------------------------------


def test_alembic_batch_temporary_table_is_never_a_finding(tmp_path):
    """Even where the history is incomplete (the root revision alters a table it did not create)."""
    versions = revisions(tmp_path, """
        def upgrade():
            op.add_column("tag", sa.Column("x", sa.Integer()))
    """, """
        def upgrade():
            op.execute("DROP TABLE IF EXISTS _alembic_tmp_tag")
            op.execute("DROP TABLE IF EXISTS legacy")
    """)
    # `legacy` may be in the database the history started from: still reported
    assert [(f.rule, f.span.line) for f in check(versions).findings if f.migration == "r002"] == [
        ("drop-table", 10), ("missing-lock-timeout", 10)]


def test_if_exists_drops_of_what_a_history_from_an_empty_database_never_had(tmp_path):
    assert sql_findings(tmp_path, """
        DROP TABLE IF EXISTS never_made;
        DROP INDEX IF EXISTS never_made_idx;
        SET lock_timeout = '5s';
        ALTER TABLE t DROP COLUMN IF EXISTS never_added;
    """) == []
    # what the history has is still judged
    assert sql_findings(tmp_path, """
        SET lock_timeout = '5s';
        DROP INDEX IF EXISTS t_note_idx;
        ALTER TABLE t DROP COLUMN IF EXISTS note;
        DROP TABLE IF EXISTS t;
    """) == [("non-concurrent-drop-index", 2), ("drop-column", 3), ("drop-table", 4)]
    # the ALTER TABLE still locks `t` while it finds there is no such column
    assert sql_findings(tmp_path, "ALTER TABLE t DROP COLUMN IF EXISTS never_added;") == [("missing-lock-timeout", 1)]


def test_if_exists_drops_in_alembic_revisions_from_the_root(tmp_path):
    versions = revisions(tmp_path, CREATE_T, """
        def upgrade():
            op.drop_index("never_made_idx", table_name="t", if_exists=True)
            op.drop_table("never_made", if_exists=True)
            op.drop_table("t", if_exists=True)
    """)
    assert [(f.rule, f.span.line) for f in check(versions).findings if f.migration == "r002"] == [
        ("drop-table", 11), ("missing-lock-timeout", 11)]


def test_if_exists_drops_are_judged_where_the_history_may_not_know_everything(tmp_path):
    started_late = "ALTER TABLE t ADD COLUMN note text;\nCREATE INDEX ON t (note);\n"
    assert sql_findings(tmp_path, """
        SET lock_timeout = '5s';
        DROP TABLE IF EXISTS legacy;
        ALTER TABLE t DROP COLUMN IF EXISTS kind;
    """, history=started_late) == [("drop-table", 2), ("drop-column", 3)]
    # a foreign key to a table the history never made: the database holds more than it knows
    assert sql_findings(tmp_path, "DROP TABLE IF EXISTS legacy;", history=HISTORY + (
        "ALTER TABLE t ADD COLUMN owner bigint REFERENCES users (id);\n")) == [("drop-table", 1), ("missing-lock-timeout", 1)]
    # an index the history made without a name: the database named it, maybe so
    assert sql_findings(tmp_path, "SET lock_timeout = '5s';\nDROP INDEX IF EXISTS t_kind_idx;\n",
                        history=HISTORY + "CREATE INDEX ON t (kind);\n") == [("non-concurrent-drop-index", 2)]


# --- names known only at run time ----------------------------------------------------------


def test_names_known_only_at_run_time_are_said_in_words(tmp_path):
    versions = revisions(tmp_path, CREATE_T, """
        from myapp import helpers  # not installed: read without running it

        def upgrade():
            op.execute("SET lock_timeout = '5s'")
            for index in helpers.indexes():
                op.drop_index(index["name"], table_name="t")
            for col in helpers.columns():
                op.drop_column("t", col)
            op.drop_column(helpers.table(), "legacy")
    """)
    messages = {(f.rule, f.span.line): f.message for f in check(versions).findings}
    assert messages[("non-concurrent-drop-index", 13)].startswith(
        "Dropping an index whose name is computed at run time (`index['name']`) without CONCURRENTLY")
    assert messages[("drop-column", 15)].startswith(
        "Dropping a column of t whose name is computed at run time (`col`) breaks")
    assert messages[("drop-column", 16)].startswith(
        "Dropping column legacy of a table whose name is computed at run time (`helpers.table()`) breaks")
    assert not any("<" in m for m in messages.values())


# --- every finding at the line of its operation --------------------------------------------


def test_statically_read_sqlite_batch_rebuild_is_at_its_with_line(tmp_path):
    versions = revisions(tmp_path, CREATE_T, """
        from myapp import helpers  # not installed: read without running it

        def upgrade():
            with op.batch_alter_table("t") as batch_op:
                batch_op.alter_column("kind", type_=sa.BigInteger())
    """)
    result = check(versions, dialect="sqlite")
    assert [(f.rule, f.span.line) for f in result.findings] == [("table-rewrite", 11)]  # was line 1


def test_a_column_dropped_before_its_table_is_one_finding(tmp_path):
    """Django's RemoveField before the DeleteModel of the same model: drop-table says it once."""
    from migsafe import engine
    from migsafe.config import load_settings
    from migsafe.rules import default_severities

    (tmp_path / "V1__t.sql").write_text("CREATE TABLE box (id int PRIMARY KEY, owner_id int);\n")
    (tmp_path / "V2__drop.sql").write_text(
        "BEGIN;\nALTER TABLE box DROP COLUMN owner_id;\nDROP TABLE box;\nCOMMIT;\n")
    settings = load_settings(None, {"ignore": ["missing-lock-timeout"]}, set(default_severities()))
    rules = [f.rule for f in engine.check([tmp_path], settings, tmp_path).findings]
    assert rules == ["drop-table"]
    (tmp_path / "V2__drop.sql").write_text("ALTER TABLE box DROP COLUMN owner_id;\nDROP TABLE box;\n")  # two commits
    assert sorted(f.rule for f in engine.check([tmp_path], settings, tmp_path).findings) == ["drop-column", "drop-table"]

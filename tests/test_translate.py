"""Statement -> facts, including every spelling where sqlglot 30 alone is not enough."""

import pytest

from migsafe.sql import facts as F
from migsafe.sql.translate import translate


def one(sql: str) -> F.Fact:
    facts = translate(sql)
    assert len(facts) == 1, facts
    return facts[0]


@pytest.mark.parametrize("sql, expected", [
    # sqlglot: opaque Command
    ("ALTER TABLE t VALIDATE CONSTRAINT ck", F.ValidateConstraint("t", "ck")),
    ("ALTER TABLE t ADD CONSTRAINT uq UNIQUE USING INDEX uq_idx",
     F.AddConstraint("t", F.ConstraintDef("unique", "uq", using_index="uq_idx"))),
    ("ALTER TABLE t ADD CONSTRAINT pk PRIMARY KEY USING INDEX pk_idx",
     F.AddConstraint("t", F.ConstraintDef("primary_key", "pk", using_index="pk_idx"))),
    ("ALTER TYPE mood ADD VALUE 'happy'", F.EnumAddValue("mood", "happy")),
    ("ALTER TYPE mood ADD VALUE IF NOT EXISTS 'it''s' AFTER 'sad'", F.EnumAddValue("mood", "it's")),
    ("REINDEX INDEX CONCURRENTLY idx", F.Reindex("index", "idx", True)),
    ("REINDEX TABLE users", F.Reindex("table", "users", False, "users")),
    ("ALTER TABLE t DETACH PARTITION t_2020 CONCURRENTLY", F.DetachPartition("t", "t_2020", True)),
    ("LOCK TABLE users IN ACCESS EXCLUSIVE MODE", F.LockTable("users", "ACCESS EXCLUSIVE")),
    ("LOCK users", F.LockTable("users", "ACCESS EXCLUSIVE")),
    ("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE NOWAIT", F.LockTable("users", "SHARE ROW EXCLUSIVE")),
    ("CREATE EXTENSION IF NOT EXISTS pgcrypto", F.CreateObject("CREATE EXTENSION", "extension", "pgcrypto")),
    ("ALTER TABLE t ADD CHECK (a > 0)", F.AddConstraint("t", F.ConstraintDef("check", None, expression="a > 0"))),
    ("ALTER TABLE t RENAME CONSTRAINT a TO b", F.RenameConstraint("t", "a", "b")),
    # sqlglot raises
    ("CLUSTER users USING users_pkey", F.TableRewrite("users", "CLUSTER")),
    # sqlglot misreads as a table rename: the form Alembic emits for every column rename
    ("ALTER TABLE users RENAME email TO email_address", F.RenameColumn("users", "email", "email_address")),
    ("ALTER TABLE users RENAME COLUMN email TO mail", F.RenameColumn("users", "email", "mail")),
    ("ALTER TABLE users RENAME TO people", F.RenameTable("users", "people")),
    ("ALTER TABLE public.users SET SCHEMA archive", F.RenameTable("users", "archive.users")),
    ("DROP INDEX CONCURRENTLY IF EXISTS a", F.DropIndex("a", True, if_exists=True)),
    ("ALTER TABLE t SET TABLESPACE fast", F.TableRewrite("t", "SET TABLESPACE")),
    ("ALTER TABLE t SET UNLOGGED", F.TableRewrite("t", "SET UNLOGGED")),
    ("ALTER TABLE t SET LOGGED", F.TableRewrite("t", "SET LOGGED")),
    ("SET lock_timeout = '2s'", F.SetSetting("lock_timeout", "2s")),
    ("SET LOCAL lock_timeout TO 2000", F.SetSetting("lock_timeout", "2000", True)),
    ("BEGIN", F.Begin()), ("START TRANSACTION", F.Begin()), ("COMMIT", F.Commit()), ("END", F.Commit()),
    ("ROLLBACK", F.Commit(rollback=True)),
    ("TRUNCATE TABLE ONLY users", F.Truncate("users")),
    ("UPDATE users SET a = 1", F.DataChange("UPDATE", "users", False)),
    ("DELETE FROM public.users WHERE id < 10", F.DataChange("DELETE", "users", True)),
    # a write inside WITH runs as the statement does, whatever reads its RETURNING
    ("WITH gone AS (DELETE FROM users RETURNING id) SELECT count(*) FROM gone", F.DataChange("DELETE", "users", False)),
    ("WITH recent AS (SELECT id FROM users) SELECT * FROM recent", F.Harmless("Select")),
    ("COMMENT ON TABLE users IS 'x;y'", F.Harmless("COMMENT ON")),
    ("GRANT SELECT ON users TO app", F.Harmless("GRANT SELECT")),
    ("ALTER INDEX a RENAME TO b", F.RenameIndex("a", "b")),
    ('ALTER TABLE "Users" DROP COLUMN "Email"', F.DropColumn("Users", "Email")),
    ("ALTER TABLE USERS DROP COLUMN EMAIL", F.DropColumn("users", "email")),
])
def test_spelling(sql, expected):
    assert one(sql) == expected


def test_drop_index_list_is_one_fact_per_index():
    assert translate("DROP INDEX a, public.b") == [F.DropIndex("a"), F.DropIndex("b")]


def test_vacuum_full_is_a_rewrite_that_cannot_run_in_a_transaction():
    assert translate("VACUUM (FULL, ANALYZE) users") == [F.NoTransaction("VACUUM", "users"),
                                                         F.TableRewrite("users", "VACUUM FULL")]
    assert translate("VACUUM users") == [F.NoTransaction("VACUUM", "users")]


def test_serial_is_kept_as_written():
    col = one("ALTER TABLE t ADD COLUMN id bigserial").column
    assert col.serial and col.type.text == "bigserial"


def test_identity_and_generated_columns():
    assert one("ALTER TABLE t ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY").column.identity
    assert one("ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (a * 2) STORED").column.generated == "stored"
    assert one("ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (a * 2)").column.generated == "default"


@pytest.mark.parametrize("default, volatility", [
    ("0", "constant"), ("'x'", "constant"), ("'{}'::jsonb", "constant"), ("-1", "constant"),
    ("now()", "stable"),  # sqlglot would rewrite this to CURRENT_TIMESTAMP; the text is kept
    ("CURRENT_TIMESTAMP", "stable"), ("false", "constant"),
    ("gen_random_uuid()", "volatile"), ("random()", "volatile"), ("clock_timestamp()", "volatile"),
    ("nextval('s')", "volatile"), ("my_func()", "volatile"),
])
def test_default_volatility(default, volatility):
    col = one(f"ALTER TABLE t ADD COLUMN c text DEFAULT {default}").column
    assert (col.default.text, col.default.volatility) == (default, volatility)


def test_column_constraints_inline():
    col = one("ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 1 CONSTRAINT fk REFERENCES u (id) "
              "ON DELETE CASCADE CHECK (c > 0) UNIQUE").column
    assert not col.nullable and col.default.text == "1"
    assert [(c.kind, c.name) for c in col.constraints] == [("foreign_key", "fk"), ("check", None), ("unique", None)]


def test_several_actions_in_one_alter_table():
    facts = translate("ALTER TABLE t ALTER COLUMN c TYPE numeric(12, 2), ALTER COLUMN d SET NOT NULL, "
                      "ADD COLUMN e int, VALIDATE CONSTRAINT ck")
    assert [type(f).__name__ for f in facts] == ["AlterColumnType", "SetNotNull", "AddColumn", "ValidateConstraint"]
    assert facts[0].new_type.name == "DECIMAL" and facts[0].new_type.params == (12, 2)


def test_type_change_with_using_and_collate():
    fact = one("ALTER TABLE t ALTER COLUMN c SET DATA TYPE varchar(10) COLLATE \"C\" USING lower(c)")
    assert (fact.new_type.text, fact.collate, fact.using) == ("varchar(10)", '"C"', "lower(c)")


def test_create_table_columns_and_constraints():
    fact = one("CREATE TABLE IF NOT EXISTS s.t (id serial PRIMARY KEY, name varchar(20) NOT NULL, "
               "CONSTRAINT ck CHECK (name <> ''), UNIQUE (name))")
    assert fact.table == "s.t"
    assert [(c.name, c.type.text, c.nullable) for c in fact.columns] == [("id", "serial", False),
                                                                         ("name", "varchar(20)", False)]
    assert [(c.kind, c.name) for c in fact.constraints] == [("check", "ck"), ("unique", None)]


def test_do_block_names_the_words_it_uses():
    fact = one("DO $$ BEGIN ALTER TABLE users DROP COLUMN x; END $$")
    assert isinstance(fact, F.Unknown) and "users" in fact.tables


@pytest.mark.parametrize("sql", ["SELEC 1", "ALTER TABLE", "ALTER TABLE t ADD CONSTRAINT", "CREATE INDEX ON"])
def test_unparseable_is_parse_failed(sql):
    assert isinstance(one(sql), F.ParseFailed)


def test_unknown_alter_table_form_names_the_table():
    fact = one("ALTER TABLE users OWNER TO app")
    assert isinstance(fact, F.Unknown) and fact.table == "users"


@pytest.mark.parametrize("sql", ["ALTER TABBLE users DROP COLUMN email", "FOO BAR", "CRATE TABLE t (id int)"])
def test_typos_are_not_accepted_as_opaque_commands(sql):
    assert isinstance(one(sql), F.ParseFailed)


def test_psql_variables_stand_for_names():
    assert one("alter table :SCHEMA.jobs drop column x") == F.DropColumn(":SCHEMA.jobs", "x")
    assert one("drop index :'schema'.jobs_idx") == F.DropIndex(":schema.jobs_idx")


def test_renamed_table_and_new_index_stay_in_their_table_schema():
    assert one("ALTER TABLE app.jobs RENAME TO jobs_old") == F.RenameTable("app.jobs", "app.jobs_old")
    assert one("CREATE INDEX i ON app.jobs (a)").name == "app.i"
    assert one("CREATE INDEX i ON public.jobs (a)").name == "i"
    assert one("ALTER INDEX app.i RENAME TO j") == F.RenameIndex("app.i", "app.j")


# --- MySQL / MariaDB spellings -----------------------------------------------------------


def mysql(sql: str) -> list[F.Fact]:
    return translate(sql, "mysql")


@pytest.mark.parametrize("sql, expected", [
    # not column drops (these were once read as DropColumn)
    ("ALTER TABLE t DROP FOREIGN KEY fk", [F.DropConstraint("t", "fk", "foreign_key")]),
    ("ALTER TABLE t DROP CHECK ck", [F.DropConstraint("t", "ck", "check")]),
    ("ALTER TABLE t DROP CONSTRAINT ck", [F.DropConstraint("t", "ck")]),
    ("ALTER TABLE t DROP PRIMARY KEY", [F.DropConstraint("t", "PRIMARY", "primary_key")]),
    ("ALTER TABLE `t` DROP INDEX `ix`", [F.DropIndex("ix", table="t")]),
    ("ALTER TABLE t DROP KEY ix", [F.DropIndex("ix", table="t")]),
    ("ALTER TABLE t DROP COLUMN c", [F.DropColumn("t", "c")]),
    ("ALTER TABLE t DROP c", [F.DropColumn("t", "c")]),
    ("DROP INDEX ix ON t", [F.DropIndex("ix", table="t")]),
    ("ALTER TABLE t ADD INDEX ix (a, b(10))", [F.CreateIndex("t", "ix", ("a", "b(10)"))]),
    ("ALTER TABLE t ADD KEY (a)", [F.CreateIndex("t", None, ("a",))]),
    ("ALTER TABLE t RENAME INDEX a TO b", [F.RenameIndex("a", "b")]),
    ("ALTER TABLE t RENAME t2", [F.RenameTable("t", "t2")]),
    ("ALTER TABLE t RENAME AS t2", [F.RenameTable("t", "t2")]),
    ("RENAME TABLE a TO b, c TO d", [F.RenameTable("a", "b"), F.RenameTable("c", "d")]),
    ("OPTIMIZE TABLE t", [F.TableRewrite("t", "OPTIMIZE TABLE", inplace=True)]),
    ("ALTER TABLE t FORCE", [F.TableRewrite("t", "FORCE", inplace=True)]),
    ("ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4", [F.TableRewrite("t", "CONVERT TO CHARACTER SET")]),
    ("ALTER TABLE t AUTO_INCREMENT = 100", [F.Harmless("ALTER TABLE table option")]),
    ("SET @@session.lock_wait_timeout = 5", [F.SetSetting("lock_wait_timeout", "5")]),
    ("SET SESSION lock_wait_timeout = 5", [F.SetSetting("lock_wait_timeout", "5")]),
])
def test_mysql_spelling(sql, expected):
    assert mysql(sql) == expected


def test_mysql_modify_and_change_restate_the_column():
    facts = mysql("ALTER TABLE t CHANGE COLUMN a b bigint NULL DEFAULT 5 COMMENT 'x'")
    assert [type(f) for f in facts] == [F.RenameColumn, F.AlterColumnType, F.DropNotNull, F.SetDefault, F.DropIdentity]
    assert facts[1].column == "b" and facts[1].new_type.name == "BIGINT"
    facts = mysql("ALTER TABLE t MODIFY COLUMN c varchar(10) CHARACTER SET latin1 NOT NULL AFTER b")
    assert [type(f) for f in facts] == [F.AlterColumnType, F.SetNotNull, F.DropDefault, F.DropIdentity]
    assert facts[0].new_type == F.TypeRef("VARCHAR", (10,), "varchar(10)", charset="latin1")


def test_mysql_algorithm_and_lock_clauses_reach_every_fact():
    facts = mysql("ALTER TABLE t ADD COLUMN c int, ADD INDEX ix (c), ALGORITHM=INPLACE, LOCK = NONE")
    assert [(type(f), f.algorithm, f.lock_clause) for f in facts] == [
        (F.AddColumn, "INPLACE", "NONE"), (F.CreateIndex, "INPLACE", "NONE")]
    index, = mysql("CREATE INDEX ix ON t (a) ALGORITHM=INPLACE LOCK=NONE")
    assert (index.algorithm, index.lock_clause) == ("INPLACE", "NONE")
    online, = mysql("ALTER ONLINE TABLE t ADD COLUMN c int")  # MariaDB
    assert online.lock_clause == "NONE"


def test_mysql_column_attributes():
    (add,) = mysql("ALTER TABLE t ADD COLUMN id2 bigint NOT NULL AUTO_INCREMENT UNIQUE FIRST")
    assert add.column.identity and add.column.position == "FIRST" and add.column.constraints[0].kind == "unique"
    (add,) = mysql("ALTER TABLE t ADD COLUMN g int AS (a * 2) STORED")
    assert add.column.generated == "stored"
    (add,) = mysql("ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (a * 2)")
    assert add.column.generated == "default"  # MySQL's default is VIRTUAL
    (add,) = mysql("ALTER TABLE t ADD d datetime DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP")
    assert add.column.default.text == "CURRENT_TIMESTAMP" and add.column.default.volatility == "stable"


def test_mysql_drop_primary_key_replaced_in_one_statement():
    drop, add = mysql("ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (a, b)")
    assert drop.kind == "primary_key_replaced" and add.constraint.kind == "primary_key"


def test_mysql_inline_index_in_create_table():
    table, index = mysql("CREATE TABLE t (id int PRIMARY KEY, v varchar(5), KEY t_v (v))")
    assert [c.name for c in table.columns] == ["id", "v"] and index == F.CreateIndex("t", "t_v", ("v",))

import dataclasses

from migsafe.rules import Hit, Rule, does_nothing, engine_cost, register
from migsafe.sql import facts as F
from migsafe import plans as P

# Changes whose cost no other rule judges where the engine decides by algorithm or rebuild
# (MySQL/MariaDB, SQLite): a copy or rebuild they cause is reported here.
OTHER_CHANGES = (F.DropNotNull, F.SetDefault, F.DropDefault, F.DropConstraint, F.CreateIndex, F.DropIndex,
                 F.RenameIndex, F.DropColumn, F.RenameColumn, F.RenameTable)
# Changes other rules judge, except when only the statement's ALGORITHM=COPY makes them a copy.
JUDGED_ELSEWHERE = (F.AddColumn, F.AlterColumnType, F.SetNotNull, F.AddConstraint)


@register
class TableRewrite(Rule):
    id = "table-rewrite"
    facts = (F.TableRewrite,) + OTHER_CHANGES + JUDGED_ELSEWHERE

    def check(self, fact, ctx):
        if does_nothing(fact, ctx):
            return
        subject = fact.what if isinstance(fact, F.TableRewrite) else _describe(ctx.statement.sql)
        judged = engine_cost(fact, ctx, subject, asked=True if isinstance(fact, JUDGED_ELSEWHERE) else None)
        if judged is not None and isinstance(fact, F.TableRewrite) and ctx.dialect.name == "sqlite":
            # The statement is already the rebuild SQLite needs (Alembic's batch_alter_table,
            # Django's schema editor): the dialect's plan, to rebuild the table, is what it does.
            judged = [dataclasses.replace(hit, plan=_rebuild_plan(fact)) for hit in judged]
        if judged is not None:
            yield from judged
            return
        if not isinstance(fact, F.TableRewrite) or ctx.is_new(fact.table):
            return
        lock = ctx.dialect.rewrite_lock
        yield Hit(
            f"{fact.what} rewrites all of {fact.table} and its indexes under an {lock} lock,"
            " blocking every read and write for as long as the copy takes.",
            fact.table, None, lock,
            P.Plan("Do it outside the deploy, in a maintenance window or with an online tool such as"
                   " pg_repack, or do not do it at all.", [
                P.Phase("single", "Leave the rewrite out of the migration", [
                    P.CodeChange(f"run {fact.what} on {fact.table} in a maintenance window, or use pg_repack"
                                 " (online rewrite without the long lock)")])]))


def _rebuild_plan(fact: F.TableRewrite) -> P.Plan:
    return P.Plan("The rebuild is how SQLite makes this change: run it when the app can do without"
                  " writes for as long as the copy takes, or leave the change out.", [
        P.Phase("single", "Rebuild when writes can wait", [
            P.CodeChange(f"deploy this migration in a maintenance window (or while {fact.table} is small),"
                         " or leave the change out of the migration")])])


def _describe(sql: str) -> str:
    text = " ".join(sql.split()).rstrip(";")
    return text if len(text) <= 80 else text[:77] + "..."

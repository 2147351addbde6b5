from migsafe.rules import Hit, Rule, register
from migsafe.sql import facts as F
from migsafe import plans as P


@register
class TableRewrite(Rule):
    id = "table-rewrite"
    facts = (F.TableRewrite,)

    def check(self, fact: F.TableRewrite, ctx):
        if ctx.is_new(fact.table):
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

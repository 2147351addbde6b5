"""Fix code laid out at a reviewer's width (fixes/layout.py), and the demo's output within 160
columns (the text report wraps long headings; fix code is laid out)."""

from __future__ import annotations

import ast
import re

import pytest

from migsafe.fixes.layout import python
from tests.conftest import REPO_ROOT

RUN_SQL = ('migrations.RunSQL("ALTER TABLE orders_order ADD CONSTRAINT orders_order_coupon_id_5bddb887_fk_orders_coupon_id'
           ' FOREIGN KEY (coupon_id) REFERENCES orders_coupon NOT VALID", reverse_sql=migrations.RunSQL.noop),')


def one_line(code: str) -> str:
    """`code` with each call laid out over several lines back on one (for tests that look for a call)."""
    flat = re.sub(r'"\s+"', "", code)  # adjacent string literals, as one
    flat = re.sub(r"([(\[])\s+", r"\1", flat)
    return re.sub(r",?\s+([)\]])", r"\1", flat)


def module(*operations: str) -> str:
    return ("from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    operations = [\n"
            + "".join(f"        {op}\n" for op in operations) + "    ]")


def assert_same_python(before: str, after: str) -> None:
    assert ast.dump(ast.parse(before)) == ast.dump(ast.parse(after))


def test_a_long_call_gets_one_argument_per_line_and_long_strings_split_at_spaces():
    code = module(RUN_SQL)
    out = python(code)
    assert_same_python(code, out)
    assert max(map(len, out.splitlines())) <= 100
    assert out.splitlines()[5:] == [
        "        migrations.RunSQL(",
        '            "ALTER TABLE orders_order ADD CONSTRAINT"',
        '            " orders_order_coupon_id_5bddb887_fk_orders_coupon_id FOREIGN KEY (coupon_id)"',
        '            " REFERENCES orders_coupon NOT VALID",',
        "            reverse_sql=migrations.RunSQL.noop,",
        "        ),",
        "    ]",
    ]


def test_arguments_that_fit_together_share_a_line_and_short_code_is_unchanged():
    call = 'op.create_foreign_key("fk_customer", "orders", "customers", ["customer_id"], ["id"], postgresql_not_valid=True)'
    out = python("def upgrade():\n    " + call)
    assert out.splitlines() == [
        "def upgrade():",
        "    op.create_foreign_key(",
        '        "fk_customer", "orders", "customers", ["customer_id"], ["id"], postgresql_not_valid=True',
        "    )",
    ]
    assert_same_python("def upgrade():\n    " + call, out)
    short = 'def upgrade():\n    op.drop_index("ix_a", postgresql_concurrently=True)'
    assert python(short) == short


def test_nested_calls_are_laid_out_level_by_level():
    field = ("migrations.AddField(model_name='order', name='coupon', field=models.ForeignKey(blank=True, null=True,"
             " on_delete=django.db.models.deletion.SET_NULL, to='orders.coupon', db_constraint=False, db_index=False)),")
    code = module(field)
    out = python(code)
    assert_same_python(code, out)
    assert "            field=models.ForeignKey(" in out.splitlines()
    assert "                db_index=False," in out.splitlines()
    assert max(map(len, out.splitlines())) <= 100


def test_strings_keep_their_value_escapes_included():
    text = "SELECT '" + "a\\\\ b " * 30 + "'"
    code = f"op.execute({text!r})"
    out = python(code)
    assert_same_python(code, out)
    assert len(out.splitlines()) > 1 and max(map(len, out.splitlines())) <= 100


def test_a_multi_line_string_keeps_its_rows_and_the_code_after_it_moves():
    code = module('migrations.RunSQL(["""CREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN RETURN NEW; END $$""",'
                  ' """CREATE TRIGGER t BEFORE UPDATE ON orders_orderitem\nFOR EACH ROW EXECUTE FUNCTION f()"""],'
                  ' reverse_sql=["DROP TRIGGER orders_orderitem_sync ON orders_orderitem", "DROP FUNCTION f()"]),')
    out = python(code)
    assert_same_python(code, out)
    assert "BEGIN RETURN NEW; END $$\"\"\"," in out and "            reverse_sql=[" in out.splitlines()
    # a row inside a string cannot get shorter: the layout is not changed for it
    long_row = 'cursor.execute("""UPDATE t SET a = b\n' + "WHERE " + "x AND " * 30 + 'y""")'
    assert python(long_row) == long_row


def test_comments_wrap_but_a_suppression_comment_stays_whole():
    note = "# application change, deployed before the next step: " + "remove the column from every query " * 3
    suppression = "    # migsafe: ignore[drop-column] " + "the app stopped using it in the previous deploy " * 2
    call = '    op.drop_column("orders", "status")  # migsafe: ignore[drop-column] ' + "a reason " * 12
    code = "\n".join([note.rstrip(), "def upgrade():", suppression.rstrip(), '    op.drop_column("orders", "status")',
                      call.rstrip()])
    out = python(code).splitlines()
    assert all(line.startswith("# ") and len(line) <= 100 for line in out[:2]) and out[2] == "def upgrade():"
    assert out[3] == suppression.rstrip() and out[-1] == call.rstrip()


@pytest.mark.parametrize("code", ["def upgrade(:\n    pass", "x = (1,\n", "f'{a b}'" + "x" * 200])
def test_code_that_cannot_be_read_is_kept(code):
    assert python(code) == code


@pytest.mark.slow
def test_the_demo_output_stays_within_160_columns(run_cli):
    # `make demo`: each line a reviewer reads fits; long headings wrap, fix code is laid out.
    code, out, err = run_cli(["check", "--no-cache", "fixtures/demo", "fixtures/alembic_shop", "fixtures/django_shop"],
                             cwd=REPO_ROOT)
    assert code == 1 and out.count("\n") > 500, err
    too_long = [line for line in out.splitlines() if len(line) > 160]
    assert too_long == []


def test_a_heading_longer_than_160_columns_wraps_at_120_and_a_shorter_one_stays_whole():
    import io

    from migsafe.model import Finding, Result, Severity, Span
    from migsafe.report import FORMATS, ReportContext

    def heading(message: str) -> list[str]:
        f = Finding(rule="drop-column", severity=Severity.ERROR, message=message, path="db/V2__drop.sql",
                    span=Span(1, 1, 1, 2), source="sql", migration="V2__drop.sql")
        out = io.StringIO()
        FORMATS["text"](Result([f], 1, 1, 1, "postgresql", "15"), out, ReportContext(color=False, source_lines=None))
        return out.getvalue().split("\n\n")[0].splitlines()

    long = "Dropping column orders.status breaks the running app version " * 4
    rows = heading(long.strip())
    assert len(rows) > 1 and all(len(r) <= 120 for r in rows) and rows[1].startswith("  ")
    assert " ".join(r.strip() for r in rows) == "db/V2__drop.sql:1:1: error[drop-column] " + long.strip()
    short = "Dropping column orders.status breaks the running app version that still reads or writes it."
    assert heading(short) == ["db/V2__drop.sql:1:1: error[drop-column] " + short]


def test_the_line_a_suppression_comment_names_stays_whole():
    # Django points a RunSQL's finding at its string: the comment above must stay right above it.
    run_sql = 'migrations.RunSQL("ALTER TABLE member DROP COLUMN code' + " " * 60 + '", reverse_sql=migrations.RunSQL.noop),'
    code = module("# migsafe: ignore[drop-column] the app stopped using it in the previous deploy", run_sql)
    assert python(code) == code

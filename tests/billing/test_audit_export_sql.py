"""On PostgreSQL the audit CSV export is written by the database (audit_log._copied_csv); the
export made row by row in Python (audit_log._written_csv) is its reference. The two must give
the same file, byte for byte, whatever the rows hold: every kind of column and of named
record, amounts in every kind of currency, texts a spreadsheet would take for formulas, texts
that need quoting, creations, changes and rows of several tables at the same moment."""

import csv
import datetime as dt
import decimal
import io

import pytest
from django.apps import apps
from django.db import connection
from django.http import QueryDict
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.audit import audited
from accounts.roles import Role
from billing import audit_log, diffs
from billing.models import Customer, Subscription
from billing.money import CURRENCIES, MAX_AMOUNT, Money, format_sql, grouped_sql
from support.models import Ticket
from tests.factories import (
    make_credit,
    make_customer,
    make_invoice,
    make_payment,
    make_price,
    make_staff,
    make_subscription,
    make_ticket,
)

pytestmark = pytest.mark.django_db


def both_exports(query: str) -> tuple[str, str]:
    filters = audit_log.AuditFilters.from_query(QueryDict(query))
    copied = "".join(audit_log._copied_csv(filters))
    written = "".join(audit_log._written_csv(filters))
    return copied, written


def assert_same_export(query: str) -> list[list[str]]:
    copied, written = both_exports(query)
    copied_rows = list(csv.reader(io.StringIO(copied)))
    written_rows = list(csv.reader(io.StringIO(written)))
    assert len(copied_rows) == len(written_rows), query
    for number, (ours, reference) in enumerate(zip(copied_rows, written_rows, strict=True)):
        for name, mine, theirs in zip(audit_log.CSV_HEADER, ours, reference, strict=True):
            assert mine == theirs, f"row {number}, {name}: {mine!r} != {theirs!r}"
    assert copied == written
    return written_rows


@pytest.fixture
def varied_history(support_user):
    """History rows of most tables, with the values that are easy to get wrong."""
    named = make_staff(Role.FINANCE, username="-fin")  # a username that starts like a formula
    named.first_name, named.last_name = "Fran", " Li\t"
    with audited(actor=None, reason="Staff names"):
        named.save()
    customers = [
        make_customer(name='=HYPERLINK("http://x", "click")', handle="eq, handle"),
        make_customer(name='Quote "and" comma, co.', currency="jpy"),
        make_customer(name="Line\nbreak\r\nInc", currency="kwd", handle="+plus"),
        make_customer(name="Ünïcødé — 株式会社", currency="eur"),
        make_customer(name="Pound Ltd", currency="gbp"),
        make_customer(name="Franc SA", currency="chf"),
    ]
    moment = timezone.now().replace(microsecond=0) - dt.timedelta(hours=2)
    for n, customer in enumerate(customers):
        price = make_price(
            code=f"plan{n}", amount=123_456_789 * (n + 1), currency=customer.currency
        )
        subscription = make_subscription(customer, price=price)
        unnumbered = make_invoice(customer, amount=1_234_567_891 + n)
        with audited(actor=None, reason="Stripe invoice.updated"):
            unnumbered.number = None
            unnumbered.save()
        make_invoice(customer, amount=7 + n, number=f"INV-{n}")
        payment = make_payment(customer, amount=99_999 + n)
        make_credit(customer, amount=500 + n)
        with audited(actor=support_user, reason=f"-{n}5.5" if n % 2 else "=1+1", ticket="ZD-1"):
            payment.amount_refunded = 1000 + n
            payment._history_date = moment  # several tables at one moment, no microseconds
            payment.save()
        with audited(actor=named, reason="Seats per the order, with a comma", ticket="ZD-2"):
            subscription.quantity = 8 + n
            subscription.discount_percent_off = decimal.Decimal("12.50")
            subscription.cancel_at_period_end = True
            subscription.save()
        with audited(actor=None, reason="Stripe webhook customer.updated"):
            customer.name = customer.name + " (renamed)"
            customer._history_date = moment
            customer.save()
        ticket = make_ticket(customer, ref=f"@T-{n}")
        with audited(actor=support_user, reason="+assigned", ticket=f"@T-{n}"):
            ticket.assignee = named if n % 2 else support_user
            ticket.status = "pending"
            ticket.save()
    with audited(actor=support_user, reason="Cleared"):
        Subscription.objects.filter(customer=customers[0]).get().delete()
    return customers


def test_the_database_writes_the_export_the_python_export_writes(varied_history):
    rows = assert_same_export("everyone=1")

    assert len(rows) > 80
    kinds = {row[2] for row in rows[1:]}
    assert {"billing.customer", "billing.payment", "billing.subscription"} <= kinds
    assert {"support.ticket", "billing.invoice", "accounts.user"} <= kinds
    changes = {row[5] for row in rows[1:]}
    assert changes == {"created", "changed", "deleted"}


@pytest.mark.parametrize(
    "query",
    [
        "",  # staff changes only
        "actor=sam",
        "ticket=ZD-2",
        "model=billing.payment&everyone=1",
        "kind=refund",
        "date_from=2000-01-01&date_to=2100-01-01&everyone=1",
        "date_to=2000-01-01",  # nothing
    ],
)
def test_every_filter_gives_the_same_file_either_way(varied_history, query):
    assert_same_export(query)


def test_a_customer_filter_gives_the_same_file_either_way(varied_history):
    assert_same_export(f"customer={varied_history[2].pk}&everyone=1")


def test_cells_a_spreadsheet_would_run_start_with_an_apostrophe_in_the_database_export(
    varied_history,
):
    copied, _ = both_exports("everyone=1")
    rows = list(csv.DictReader(io.StringIO(copied)))

    actors = {row["actor"] for row in rows}
    reasons = {row["reason"] for row in rows}
    assert "'-fin" in actors
    assert "'=1+1" in reasons
    assert "-15.5" in reasons  # a plain number stays a number
    assert "'@T-1" in {row["ticket"] for row in rows}
    assert any(row["record"].startswith("#") and "=HYPERLINK" in row["record"] for row in rows)


def test_every_column_of_every_history_table_has_a_display_the_database_writes():
    filters = audit_log.AuditFilters(everyone=True)

    sql, params = audit_log.export_sql(filters)

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
    assert len(filters.models()) == len(audit_log.historied_models())


def test_an_export_of_nothing_is_its_header_either_way():
    copied, written = both_exports("everyone=1&date_to=2000-01-01")

    assert copied == written == ",".join(audit_log.CSV_HEADER) + "\n"


def sql_values(expression: str, values: list[tuple]) -> list[str]:
    """`expression` over columns a and c of the rows `values`."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {expression} FROM unnest(%s::bigint[], %s::text[]) WITH ORDINALITY "
            "AS t(a, c, n) ORDER BY n",
            [[a for a, _ in values], [c for _, c in values]],
        )
        return [text for (text,) in cursor.fetchall()]


EDGES = [0, 1, -1, 9, 10, 99, 100, 999, 1000, 1001, 99_999, 100_000, 123_456_789, MAX_AMOUNT]
EDGES += [-value for value in EDGES] + [2**63 - 1, -(2**63)]


@pytest.mark.parametrize("currency", sorted(CURRENCIES))
def test_the_database_formats_money_as_money_format_does_in_every_currency(currency):
    values = [(amount, currency) for amount in EDGES]

    assert sql_values(format_sql("a", "c"), values) == [
        Money(amount, currency).format() for amount, _ in values
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=1, max_size=30))
def test_the_database_groups_any_bigint_as_python_does(amounts):
    assert sql_values(grouped_sql("a"), [(a, "usd") for a in amounts]) == [
        f"{a:,}" for a in amounts
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=20))
def test_the_database_guards_and_quotes_any_text_as_the_csv_module_does(texts):
    texts = [text.replace("\x00", "") for text in texts]
    cell = audit_log._cell_sql(audit_log._safe_sql("c"))

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {cell} FROM unnest(%s::text[]) WITH ORDINALITY AS t(c, n) ORDER BY n",
            [texts],
        )
        guarded = [text or "" for (text,) in cursor.fetchall()]

    assert guarded == [audit_log.safe_cell(text) for text in texts]


EMPTY = {"billing.action", "billing.balancetransaction"}  # none in varied_history


def test_named_records_are_named_by_the_database_as_their_str_is(varied_history):
    for label in diffs.NAME_SQL:
        model = apps.get_model(label)
        records = list(model._base_manager.all()[:20])
        assert records or label in EMPTY, label
        join = diffs.name_join(model, "t.k", "named")
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT named.name FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(k, n) "
                f"{join} ORDER BY t.n",
                [[record.pk for record in records]],
            )
            names = [text for (text,) in cursor.fetchall()]
        assert names == [str(record) for record in records], label


def test_each_kind_of_record_the_history_names_has_a_name_written_by_the_database():
    named = {
        column.related._meta.label_lower
        for model in audit_log.historied_models()
        for column in diffs._columns(diffs.history_model(model))
        if column.related is not None
    }

    assert named <= set(diffs.NAME_SQL)
    assert Customer._meta.label_lower in named
    assert Ticket._meta.label_lower in named


def test_the_database_shows_a_choice_as_its_label_whatever_the_kind_of_column():
    from django.db import models

    from billing.diffs import _choice_sql

    integer = models.IntegerField(choices=[(1, "One"), (-2, "Minus two"), (2**40, "Big")])
    amounts = [(1, ""), (-2, ""), (2**40, ""), (7, "")]
    assert sql_values(_choice_sql("a", integer), amounts) == ["One", "Minus two", "Big", "7"]
    text = models.CharField(choices=[("usd", "USD"), ("it's", "100% 'quoted'")])
    assert sql_values(_choice_sql("c", text), [(0, "usd"), (0, "it's"), (0, "x"), (0, "")]) == [
        "USD",
        "100% 'quoted'",
        "x",
        "—",
    ]
    # Keys that are not the column's own kind are compared as values: 1.00 is the choice 1.
    decimal = models.DecimalField(max_digits=5, decimal_places=2, choices=[(1, "One")])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_choice_sql('v', decimal)} FROM (SELECT 1.00::numeric AS v) t")
        assert cursor.fetchone() == ("One",)

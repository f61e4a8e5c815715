"""The global audit log at a million customers: every page, however filtered and however deep,
is a fixed handful of queries, each read from an index of the history tables (EXPLAINed on
PostgreSQL with sequential scans priced out)."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection, transaction
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import chain
from accounts.audit import audited
from billing import audit_log, diffs
from billing.models import Payment
from tests.billing.test_search_indexes import plans_of
from tests.factories import (
    make_customer,
    make_invoice,
    make_payment,
    make_price,
    make_subscription,
    make_ticket,
)

pytestmark = pytest.mark.django_db


def index_of(model, suffix: str) -> str:
    """The name of the history index of `model` whose name ends with `suffix`."""
    history = audit_log.history_model(model)
    [name] = [index.name for index in history._meta.indexes if index.name.endswith(suffix)]
    return name


def staff_work(actor, count: int, *, ticket: str = "ZD-9") -> None:
    """`count` payments changed by `actor` under `ticket`, a second apart, and as many
    customers renamed by the system: rows in several history tables."""
    start = timezone.now() - dt.timedelta(days=1)
    for n in range(count):
        payment = make_payment(make_customer())
        with audited(actor=actor, reason="Partial refund", ticket=ticket):
            payment.amount_refunded = 100 + n
            payment._history_date = start + dt.timedelta(seconds=n)
            payment.save()
        make_ticket(payment.customer)


def key_query_plan(query: str) -> str:
    """The plan of the query that finds a page's rows (the first query a page makes)."""
    filters = audit_log.AuditFilters.from_query(QueryDict(query))
    if filters.actor:
        filters.actor_id  # noqa: B018  (the person's id is its own query, looked up once)
    plans = plans_of(lambda: audit_log._page_keys(filters, 51))
    assert len(plans) == 1, plans
    return plans[0]


@pytest.mark.parametrize(
    ("query", "suffix"),
    [
        ("", "_staff"),  # staff changes, newest first
        ("date_from=2026-06-01&date_to=2026-06-01", "_staff"),  # one day
        ("before=2024-12-01T00:00:00%2B00:00|billing.customer|0", "_staff"),  # deep
        ("actor=sam", "_actor"),
        ("ticket=ZD-9", "_ticket"),
    ],
)
def test_each_view_of_the_log_is_read_from_an_index_of_each_history_table(
    support_user, query, suffix
):
    staff_work(support_user, 3)

    plan = key_query_plan(query)

    assert "Seq Scan" not in plan, plan
    assert index_of(Payment, suffix) in plan, plan


def test_a_deep_page_starts_its_index_scan_at_the_cursor(support_user):
    staff_work(support_user, 3)

    plan = key_query_plan("before=2024-12-01T00:00:00%2B00:00|billing.payment|10")

    payment_branch = plan[plan.index(index_of(Payment, "_staff")) :]
    assert "Index Cond: (history_date <=" in payment_branch, plan


def page_queries(query: str) -> int:
    filters = audit_log.AuditFilters.from_query(QueryDict(query))
    with CaptureQueriesContext(connection) as captured:
        audit_log.page(filters)
    return len(captured.captured_queries)


@pytest.mark.parametrize("query", ["", "actor=sam", "ticket=ZD-9"])
def test_a_page_costs_a_few_queries_whatever_the_number_of_rows(support_user, query):
    staff_work(support_user, 3)
    few = page_queries(query)
    staff_work(support_user, 60)

    many = page_queries(query)

    assert many == few
    # One for the page's keys; per table shown, its rows and their previous versions; one per
    # kind of record named in the diffs (customers, payments, invoices, people).
    assert many <= 9


def test_with_system_rows_the_kinds_of_record_shown_not_the_rows_set_the_cost(support_user):
    staff_work(support_user, 3)  # the page shows users, roles, customers, payments, tickets...
    mixed = page_queries("everyone=1")
    staff_work(support_user, 60)  # ...then only the three kinds written last

    assert page_queries("everyone=1") < mixed


def test_the_chain_heads_are_one_query_and_name_each_chains_latest_link(support_user):
    staff_work(support_user, 2)
    chain.seal_unsealed()

    with CaptureQueriesContext(connection) as captured:
        heads = chain.heads()

    assert len(captured.captured_queries) == 1
    latest = {
        head.table: head.digest
        for head in (
            chain.Head(link.table, link.digest, link.sealed_at)
            for link in chain.ChainLink.objects.order_by("id")
        )
    }
    assert {head.table: head.digest for head in heads} == latest


def export_lines(query: str, **kwargs) -> list[list[str]]:
    filters = audit_log.AuditFilters.from_query(QueryDict(query))
    text = "".join(audit_log.export_csv(filters, **kwargs))
    return list(csv.reader(io.StringIO(text)))


def test_the_export_diffs_each_change_against_the_version_before_it(support_user):
    staff_work(support_user, 2)

    header, *rows = export_lines("")

    changes = dict(zip(header, rows[0], strict=True))["changes"]
    assert changes == "Amount refunded: $0.00 → $1.01"


def test_the_export_reads_in_chunks_and_merges_the_tables_in_keyset_order(support_user):
    staff_work(support_user, 7)  # payments by staff; customers and tickets by the system

    whole = export_lines("everyone=1")
    chunked = export_lines("everyone=1", chunk=3)

    assert chunked == whole
    times = [row[0] for row in whole[1:]]
    assert times == sorted(times, reverse=True)
    assert {row[2] for row in whole[1:]} >= {"billing.payment", "billing.customer"}


def test_the_export_costs_the_same_queries_for_5_or_60_rows(support_user):
    def export_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            export_lines("everyone=1")
        return len(captured.captured_queries)

    staff_work(support_user, 5)
    few = export_queries()
    staff_work(support_user, 55)

    assert export_queries() == few


@pytest.mark.parametrize("label", sorted(diffs.NAMED_BY))
def test_the_names_of_the_records_named_most_read_only_the_columns_loaded(label):
    customer = make_customer()
    payment = make_payment(customer)
    subscription = make_subscription(customer, price=make_price())
    records = {
        "billing.customer": customer,
        "billing.payment": payment,
        "billing.invoice": payment.invoice or make_invoice(customer),
        "billing.subscription": subscription,
    }
    record = records[label]
    columns = {column: getattr(record, column) for column in diffs.NAMED_BY[label]}

    with CaptureQueriesContext(connection) as captured:
        name = diffs.name_from(type(record), columns)

    assert not captured.captured_queries
    assert name == str(record)


def test_the_export_reads_the_same_rows_as_the_orm_does(support_user):
    staff_work(support_user, 3)
    history = audit_log.history_model(Payment)
    rows = (
        audit_log._history_rows(Payment, audit_log.AuditFilters(everyone=True))
        .annotate(previous_id=diffs.previous_id(history))
        .values_list(*audit_log._read_columns(history), "previous_id", named=True)
    )

    with transaction.atomic():
        streamed = list(audit_log._stream(rows, 2))
        read = list(rows.iterator(chunk_size=2))

    assert streamed == read
    assert [row._fields for row in streamed] == [row._fields for row in read]
    assert [diffs._when(row.history_date) for row in streamed] == [
        diffs._when(row.history_date) for row in read
    ]

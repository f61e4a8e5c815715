"""Every lookup of the search box (SPEC §6), and every query a staff page makes to a big table,
is served by an index on PostgreSQL: each query the search runs is EXPLAINed with sequential
scans priced out, and must name the index that serves it."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.audit import audited
from accounts.roles import Role
from billing.actions import policy
from billing.models import Action, Customer, Payment
from tests.factories import make_customer, make_payment, make_staff

pytestmark = pytest.mark.django_db

QUERIES = [
    ("ap@globex.com", "customer_email_prefix"),  # email prefix
    ("globex.com", "customer_domain_ci"),  # domain (and name/handle)
    ("Globex Corp", "customer_name_prefix"),  # name starts with
    ("glob", "customer_handle_prefix"),  # handle prefix
    ("g", "customer_handle_prefix"),  # one character: prefixes only
    ("gl", "customer_name_prefix"),  # two characters
    ("obex", "customer_name_trgm"),  # name contains
    ("corporation", "customer_name_trgm"),  # ten characters and more
    ("cus_Globex123", "customer_stripe_customer_id_unique"),
    ("sub_Globex123", "subscription_stripe_subscription_id_unique"),
    ("in_Globex123", "invoice_stripe_invoice_id_unique"),
    ("ch_Globex123", "payment_stripe_charge_id_unique"),
    ("pi_Globex123", "payment_intent"),
    ("re_Globex123", "refund_stripe_id"),  # the full index, not the partial unique one
    ("GLBX-00042", "invoice_number_unique"),  # invoice number
    ("1881", "payment_card_last4_customer"),  # card last4
]


def plans_of(run) -> list[str]:
    """The plan of every query `run` makes, with sequential scans priced out (a tiny table
    is otherwise always scanned, which says nothing about a big one)."""
    with CaptureQueriesContext(connection) as captured:
        run()
    plans = []
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            for query in captured.captured_queries:
                cursor.execute("EXPLAIN " + query["sql"])
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        finally:
            cursor.execute("SET enable_seqscan = on")
    return plans


@pytest.mark.parametrize(("query", "index"), QUERIES)
def test_search_uses_indexes_not_table_scans(query, index):
    make_customer(name="Globex Corporation", handle="globex", billing_email="ap@globex.com")

    plans = plans_of(lambda: list(Customer.objects.search(query).order_by("name", "id")[:51]))

    for plan in plans:
        assert "Seq Scan" not in plan, plan
        assert "Index" in plan, plan
    assert any(index in plan for plan in plans), plans


def test_free_text_search_never_counts_nor_sorts_all_matches():
    make_customer(name="Globex Corporation", handle="globex")

    plans = plans_of(lambda: list(Customer.objects.search("obex").order_by("name", "id")[:51]))

    assert not any("Aggregate" in plan for plan in plans), plans
    assert all("Limit" in plan for plan in plans), plans


def test_a_customers_latest_payments_are_chosen_before_refundable_is_summed():
    customer = make_customer()
    first = make_payment(customer)
    # A whale: thousands of payments, and statistics of these rows (not of whatever an
    # earlier test left in the table), so the plan is the one such a customer gets.
    Payment.objects.bulk_create(
        Payment(
            **{
                field.attname: getattr(first, field.attname)
                for field in Payment._meta.concrete_fields
                if not field.primary_key
            }
            | {
                "stripe_charge_id": f"ch_whale{number}",
                "stripe_payment_intent_id": f"pi_whale{number}",
                "created": first.created - dt.timedelta(minutes=number),
            }
        )
        for number in range(1, 3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE billing_payment")

    [plan] = plans_of(
        lambda: list(Payment.objects.filter(customer=customer).latest_with_refundable(50))
    )

    assert "payment_customer_created" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_the_start_pages_latest_actions_are_read_from_an_index():
    [plan] = plans_of(lambda: list(Action.objects.select_related("customer", "actor")[:10]))

    assert "action_created" in plan, plan
    assert "Sort" not in plan, plan


def test_waiting_for_me_starts_from_the_pending_requests():
    finance = make_staff(Role.FINANCE)

    waiting = policy.decidable_by(finance, timezone.now())

    [plan] = plans_of(waiting.count)

    assert "approval_pending" in plan, plan


def test_the_inbox_picks_its_page_from_the_pending_requests_before_reading_the_rows(client):
    from tests.screens.test_query_budgets import pending_request

    support, finance = make_staff(Role.SUPPORT), make_staff(Role.FINANCE)
    customer = make_customer()
    with audited(actor=None, reason="test: a request waiting for finance"):
        pending_request(customer, support, make_payment(customer, amount=5000))
    client.force_login(finance)

    with CaptureQueriesContext(connection) as captured:
        assert client.get("/approvals/?tab=waiting").status_code == 200

    listed = [
        q["sql"] for q in captured.captured_queries if 'approvalrequest"."payload_hash' in q["sql"]
    ]
    assert len(listed) == 1, listed
    # The rows are read by id: the policy's EXISTS (which made PostgreSQL join every request
    # to its action first) ran in the query that chose the ids.
    assert "billing_policylimit" not in listed[0], listed[0]
    [pick] = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('SELECT "billing_approvalrequest"."id" AS "pk"')
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN " + pick)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert "approval_pending" in plan, plan


def test_the_ticket_queue_reads_the_newest_open_tickets_from_an_index():
    from support.models import Ticket

    [plan] = plans_of(
        lambda: list(Ticket.objects.unsolved().select_related("customer", "assignee")[:100])
    )

    assert "ticket_unsolved_created" in plan, plan

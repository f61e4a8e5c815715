"""Every lookup of the search box (SPEC §6), and every query a staff page makes to a big table,
is served by an index on PostgreSQL: each query the search runs is EXPLAINed with sequential
scans priced out, and must name the index that serves it."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.audit import audited
from accounts.roles import Role
from billing.actions import policy
from billing.models import Action, Customer, Payment
from devtools.benchmark import plans
from tests.factories import make_customer, make_invoice, make_payment, make_staff, make_ticket

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

    assert "payment_customer_created_id" in plan, plan
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


def generic_plans(run) -> list[tuple[str, str]]:
    """The plan PostgreSQL keeps for each statement `run` makes once it is prepared (settings:
    DB_PREPARED_STATEMENTS): the generic plan, made for any value of its parameters and so
    for any customer, big or small. One (statement, plan) pair per SELECT, in order."""
    _, statements = plans.statements_of(run)
    found = []
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        try:
            for number, (sql, params) in enumerate(statements):
                prepared, arguments = plans.as_prepared(sql, params)
                cursor.execute(f"PREPARE generic_{number} AS {prepared}")
                cursor.execute(f"EXPLAIN EXECUTE generic_{number}{arguments}")
                found.append((sql, "\n".join(row[0] for row in cursor.fetchall())))
                cursor.execute(f"DEALLOCATE generic_{number}")
        finally:
            cursor.execute("SET plan_cache_mode = auto")
    return found


def by_first_table(plans: list[tuple[str, str]]) -> dict[str, str]:
    """The first plan of each table, keyed by the table of the statement's first column."""
    keyed: dict[str, str] = {}
    for sql, plan in plans:
        first = re.match(r'SELECT (?:DISTINCT )?"(\w+)"\.', sql)
        keyed.setdefault(first.group(1) if first else sql, plan)
    return keyed


def test_a_whales_customer_page_sections_are_read_in_order_by_any_prepared_plan(client):
    """After five runs of a prepared statement PostgreSQL may keep one generic plan for every
    customer. With the sections' indexes lacking the id of their order, that plan read a
    whale's 5,000 invoices by the foreign key's index and sorted them all to show 20."""
    from tests.factories import make_credit
    from tests.screens.test_query_budgets import customer_with, pending_request

    finance = make_staff(Role.FINANCE)
    whale = customer_with(60, finance)
    # Many small customers beside it, each with a row of every section, as in a real
    # database: the generic plan is costed for the average customer, a few rows. (With the
    # whale's rows alone in a table, its statistics say every row is the whale's, and reading
    # that table in date order, skipping other customers' rows, is priced as cheap.)
    with audited(actor=None, reason="test: small customers beside the whale"):
        for _ in range(40):
            small = make_customer()
            payment = make_payment(small, invoice=make_invoice(small))
            pending_request(small, finance, payment)
            make_credit(small, amount=100)
    with connection.cursor() as cursor:
        for table in ("invoice", "payment", "balancetransaction", "action", "customer"):
            cursor.execute(f"ANALYZE billing_{table}")
        # These tables are tiny: a tiny table is scanned whole, or its few rows fetched by a
        # bitmap and sorted. Both priced out, the plans are those a whale's rows get.
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_bitmapscan = off")
    client.force_login(finance)

    try:
        plans = by_first_table(generic_plans(lambda: client.get(f"/customers/{whale.pk}/")))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_bitmapscan")

    for table, index in [
        ("billing_invoice", "invoice_customer_created_id"),
        ("billing_balancetransaction", "balancetxn_customer_created_id"),
        ("billing_action", "action_customer_created_id"),
    ]:
        assert index in plans[table], plans[table]
        assert "Sort" not in plans[table], plans[table]
    # Payments: the page's 21 rows are chosen from the index in order (no sort below the
    # Limit that picks them); only those 21 are then sorted for showing.
    payments = plans["billing_payment"]
    assert "payment_customer_created_id" in payments, payments
    below_limit = payments.split("->  Limit", 1)[1]
    assert "Sort" not in below_limit, payments


def test_the_ticket_queue_reads_open_tickets_from_its_index_under_any_prepared_plan(client):
    """The queue's open tickets and its tab counts read the partial index of unsolved tickets
    in the generic plan too. With the status bound as a parameter no generic plan could use
    that index (its condition is not provably implied by `status <> $1`), and the queue sorted
    every open ticket to show a hundred."""
    from support.models import Ticket

    support = make_staff(Role.SUPPORT)
    customer = make_customer()
    for number in range(60):
        make_ticket(customer, status="solved" if number % 3 else "open", assignee=support)
    assert Ticket.objects.filter(status="solved").count() == 40
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE support_ticket")
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_bitmapscan = off")
    client.force_login(support)

    try:
        plans = generic_plans(lambda: client.get("/tickets/?view=all"))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_bitmapscan")

    unsolved = [
        (sql, plan)
        for sql, plan in plans
        if sql.startswith('SELECT "support_ticket"')
        and (where := sql.split(" WHERE ", 1)[-1]).startswith("NOT (")
        and " AND " not in where
    ]
    # The "all open" list and its tab's count.
    assert len(unsolved) == 2, [sql for sql, _ in plans]
    for sql, plan in unsolved:
        assert "ticket_unsolved_created" in plan, (sql, plan)
        assert "Sort" not in plan, (sql, plan)

"""The customer page and the approvals inbox cost the same number of queries whatever the
customer holds (5 or 50 of each kind of row): no N+1 hides in a section."""

import datetime as dt
import re

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.audit import audited
from billing import page_revisions
from billing.actions import policy
from billing.actions.pipeline import payload_hash
from billing.models import (
    Action,
    ActionKind,
    ActionState,
    ApprovalRequest,
    BalanceTransaction,
    Refund,
)
from support.models import Note
from tests.factories import (
    fake_stripe_id,
    make_customer,
    make_invoice,
    make_payment,
    make_price,
    make_subscription,
    make_ticket,
    page_revisions_committed,
)

CUSTOMER_PAGE_QUERIES = 18  # its sections' 17 and the revision read first
# A page kept by the page cache: the session, the viewer, their roles and permissions (one
# query: accounts.backends), the navigation bar's approvals count, and the revision of what the
# page shows.
KEPT_PAGE_QUERIES = 5
INBOX_QUERIES = 8


def customer_with(rows: int, staff):
    customer = make_customer()
    make_subscription(customer, price=make_price(code=f"team-{customer.pk}"))
    ticket = make_ticket(customer)
    now = timezone.now()
    with audited(actor=None, reason="test: a customer with many rows"):
        for number in range(rows):
            invoice = make_invoice(customer)
            payment = make_payment(customer, invoice=invoice, amount=5000, amount_refunded=100)
            Refund.objects.create(
                payment=payment,
                stripe_refund_id=fake_stripe_id("re"),
                amount=100,
                currency="usd",
                status="succeeded",
                created=now,
            )
            BalanceTransaction.objects.create(
                customer=customer,
                stripe_balance_transaction_id=fake_stripe_id("cbtxn"),
                amount=-100 - number,
                currency="usd",
                ending_balance=-100,
                created=now - dt.timedelta(minutes=number),
            )
            Note.objects.create(
                customer=customer, ticket=ticket, author=staff, body="noted", created_at=now
            )
            pending_request(customer, staff, payment)
    return customer


def pending_request(customer, requester, payment, ref="ZD-1"):
    now = timezone.now()
    action = Action(
        kind=ActionKind.REFUND,
        state=ActionState.PENDING_APPROVAL,
        customer=customer,
        payment=payment,
        actor=requester,
        reason_code="duplicate",
        ticket_ref=ref,
        payload={"payment_id": payment.pk, "charge": payment.stripe_charge_id, "amount": 100},
        amount=100,
        measure=100,
        currency="usd",
        created_at=now,
    )
    action.payload_hash = payload_hash(action)
    action.save()
    return ApprovalRequest.objects.create(
        action=action,
        requested_by=requester,
        payload_hash=action.payload_hash,
        expires_at=now + policy.APPROVAL_LIFETIME,
        created_at=now,
    )


def queries_of(client, url, *, rendered=True) -> int:
    """The queries of one view of `url`: rendered (nothing kept) or as the page cache keeps it."""
    if rendered:
        caches["pages"].clear()
    page_revisions_committed()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("viewer", ["support_user", "finance_user", "auditor_user"])
def test_the_customer_page_costs_the_same_for_5_and_50_rows(client, support_user, request, viewer):
    small, big = customer_with(5, support_user), customer_with(50, support_user)
    client.force_login(request.getfixturevalue(viewer))
    client.get(f"/customers/{small.pk}/")  # warm the session and caches

    counts, kept = [], []
    for customer in (small, big):
        counts.append(queries_of(client, f"/customers/{customer.pk}/"))
        kept.append(queries_of(client, f"/customers/{customer.pk}/", rendered=False))

    assert counts[0] == counts[1], counts
    assert counts[0] <= CUSTOMER_PAGE_QUERIES, counts
    assert kept[0] == kept[1] <= KEPT_PAGE_QUERIES, kept


@pytest.mark.parametrize("tab", ["waiting", "mine", "decided"])
def test_the_inbox_costs_the_same_for_5_and_50_requests(client, support_user, finance_user, tab):
    customer_with(5, support_user)
    client.force_login(support_user if tab == "mine" else finance_user)
    small = queries_of(client, f"/approvals/?tab={tab}")
    customer_with(45, support_user)

    big = queries_of(client, f"/approvals/?tab={tab}")

    assert small == big
    assert small <= INBOX_QUERIES


# What a section reloaded alone (`?partial=`, as htmx does after an action) reads besides the
# request's own session, user and rights (read through their role memberships), and the
# customer.
SECTION_TABLES = {
    "notes": {"support_note", "support_ticket"},  # the note form picks one of the tickets
    "payments": {"billing_payment", "billing_refund"},
    "invoices": {"billing_invoice"},
    "balance": {"billing_balancetransaction"},
    "actions": {"billing_action"},
}
REQUEST_TABLES = {"django_session", "accounts_user", "accounts_user_groups", "billing_customer"}


@pytest.mark.parametrize("section", sorted(SECTION_TABLES))
def test_a_section_reloaded_alone_reads_only_its_own_rows(client, support_user, section):
    customer = customer_with(5, support_user)
    client.force_login(support_user)
    client.get(f"/customers/{customer.pk}/?partial={section}")
    caches["pages"].clear()

    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/customers/{customer.pk}/?partial={section}")

    assert response.status_code == 200
    # Each query's own table: the one its first column comes from (or, written by hand, the
    # first it reads).
    tables = {
        (
            re.match(r'SELECT (?:DISTINCT )?"(\w+)"\.', query["sql"])
            or re.search(r"\bFROM (\w+)", query["sql"])
        ).group(1)
        for query in captured.captured_queries
        if page_revisions.TABLE not in query["sql"]  # the revision kept pages are keyed on
    }
    # No other section, no navigation bar (its approvals count), no entitlements.
    assert tables - REQUEST_TABLES == SECTION_TABLES[section], tables


def test_the_customer_pages_statements_are_planned_once_per_connection(client, support_user):
    """Viewed a few times on one connection, the page's queries are prepared statements on
    the server (planned once, not on every view): the payments section's refundable subqueries
    cost several times more to plan than to run."""
    customer = customer_with(2, support_user)
    client.force_login(support_user)
    for _ in range(3):
        caches["pages"].clear()  # rendered each time, not kept
        assert client.get(f"/customers/{customer.pk}/").status_code == 200

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]

    assert any(
        statement.startswith('SELECT "billing_payment"."id"') and "$1" in statement
        for statement in prepared
    ), [s[:120] for s in prepared]

"""The customer page's kept content (support.page_cache) is never older than the rows it shows:
every kind of write, by any path, shows on the next view; what runs out with time runs out;
what one viewer may do never shows to another; the CSRF token is each viewer's own."""

import datetime as dt
import re

import pytest
import time_machine
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.audit import audited
from accounts.models import User
from accounts.roles import Role
from billing.models import (
    Action,
    BalanceTransaction,
    Customer,
    EntitlementOverride,
    Feature,
    Invoice,
    Payment,
    Plan,
    PlanEntitlement,
    Price,
    Refund,
    Subscription,
    SyncProblem,
)
from billing.templatetags.shown import history_url
from support import page_cache
from support.models import Note, Ticket
from support.views import CUSTOMER_SECTIONS, CustomerView, _render_customer
from tests.factories import fake_stripe_id, make_customer, make_staff, page_revisions_committed
from tests.screens.test_query_budgets import customer_with, pending_request

pytestmark = pytest.mark.django_db


def page(client: Client, customer: Customer, query: str = "") -> str:
    """A view of the page once what was written before has committed (in a test's
    transaction: see page_revisions_committed)."""
    page_revisions_committed()
    response = client.get(f"/customers/{customer.pk}/{query}")
    assert response.status_code == 200
    return response.content.decode()


def kept(client: Client, customer: Customer, query: str = "") -> str:
    """The page viewed twice, the second time from what the first kept (no section's query)."""
    first = page(client, customer, query)
    with CaptureQueriesContext(connection) as captured:
        again = page(client, customer, query)
    assert not any('"billing_invoice"' in q["sql"] for q in captured.captured_queries)
    assert _without_tokens(again) == _without_tokens(first)
    return again


def _without_tokens(html: str) -> str:
    return re.sub(r'(csrfmiddlewaretoken" value="|X-CSRFToken": "|nonce=")[^"]+', r"\1", html)


def _one(model, customer):
    return model.objects.filter(customer=customer).first()


# Each kind of row the page shows, written the way no service does (a bare UPDATE or INSERT):
# what the next view must show.
WRITES = {
    "customer": lambda c, staff: (
        Customer.objects.filter(pk=c.pk).update(name="Renamed Robotics"),
        "Renamed Robotics",
    ),
    "subscription": lambda c, staff: (
        Subscription.objects.filter(customer=c).update(quantity=77),
        "77 seats",
    ),
    "invoice": lambda c, staff: (
        Invoice.objects.filter(pk=_one(Invoice, c).pk).update(number="INV-RENUMBERED"),
        "INV-RENUMBERED",
    ),
    "payment": lambda c, staff: (
        Payment.objects.filter(pk=_one(Payment, c).pk).update(card_last4="9876"),
        "···· 9876",
    ),
    "refund": lambda c, staff: (
        Refund.objects.create(
            payment=Payment.objects.filter(customer=c).order_by("-created", "-id").first(),
            stripe_refund_id="re_newly_mirrored",
            amount=100,
            currency="usd",
            status="succeeded",
            created=timezone.now(),
        ),
        "re_newly_mirrored",
    ),
    "balance": lambda c, staff: (
        BalanceTransaction.objects.create(
            customer=c,
            stripe_balance_transaction_id=fake_stripe_id("cbtxn"),
            amount=-4321,
            currency="usd",
            ending_balance=-4421,
            description="Goodwill for the outage",
            created=timezone.now(),
        ),
        "Goodwill for the outage",
    ),
    "entitlement override": lambda c, staff: (
        EntitlementOverride.objects.create(
            customer=c,
            feature=Feature.BUILD_MINUTES,
            value="424242",
            starts_at=timezone.now() - dt.timedelta(minutes=1),
            expires_at=timezone.now() + dt.timedelta(days=3),
            reason="test",
        ),
        "424242",
    ),
    "action": lambda c, staff: (
        Action.objects.filter(customer=c).update(ticket_ref="ZD-987654"),
        "ZD-987654",
    ),
    "approval": lambda c, staff: _approval_for_a_new_action(c, staff),
    "sync problem": lambda c, staff: (
        SyncProblem.objects.create(
            stripe_object_id="in_unreadable",
            object_type="invoice",
            customer=c,
            error="price not mirrored yet",
            first_seen_at=timezone.now(),
            last_seen_at=timezone.now(),
        ),
        "price not mirrored yet",
    ),
    "ticket": lambda c, staff: (
        Ticket.objects.filter(customer=c).update(subject="Seat count looks wrong"),
        "Seat count looks wrong",
    ),
    "note": lambda c, staff: (
        Note.objects.create(
            customer=c,
            ticket=Ticket.objects.filter(customer=c).first(),
            author=staff,
            body="Called back, all sorted",
            created_at=timezone.now(),
        ),
        "Called back, all sorted",
    ),
    "plan": lambda c, staff: (
        Plan.objects.filter(prices__subscriptions__customer=c).update(name="Platinum"),
        "<strong>Platinum</strong>",
    ),
    "price": lambda c, staff: (
        Price.objects.filter(subscriptions__customer=c).update(unit_amount=98765),
        "$987.65",
    ),
    "plan entitlement": lambda c, staff: (
        PlanEntitlement.objects.filter(plan__prices__subscriptions__customer=c).update(
            value="31337"
        ),
        "31337",
    ),
    "staff name": lambda c, staff: (
        User.objects.filter(pk=staff.pk).update(first_name="Zora", last_name="Quist"),
        "Zora Quist",
    ),
}


def _approval_for_a_new_action(customer, staff):
    payment = Payment.objects.filter(customer=customer).first()
    approval = pending_request(customer, staff, payment, ref="ZD-31337")
    return None, history_url(approval)


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_every_kind_of_write_shows_on_the_next_view(client, support_user, finance_user, kind):
    customer = customer_with(3, support_user)
    client.force_login(finance_user)
    before = kept(client, customer)
    with audited(actor=None, reason="test: a write the page must show"):
        _, shown = WRITES[kind](customer, support_user)
    assert shown not in before

    assert shown in page(client, customer)


def test_a_write_in_plain_sql_shows_on_the_next_view(client, support_user):
    customer = customer_with(2, support_user)
    client.force_login(support_user)
    kept(client, customer, "?partial=invoices")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_invoice SET number = 'INV-BY-HAND' WHERE id = %s",
            [_one(Invoice, customer).pk],
        )

    assert "INV-BY-HAND" in page(client, customer, "?partial=invoices")


def test_every_table_the_page_reads_keeps_its_revision(support_user):
    """Each table the content's queries read (every section, rendered alone and together, as
    each viewer sees it) carries the revision triggers: a table the page starts reading
    without them fails here."""
    customer = customer_with(2, support_user)
    read: set[str] = set()
    for section in [*sorted(CUSTOMER_SECTIONS - {"timeline"}), ""]:
        for may in (True, False):
            view = CustomerView(section, (1, 1, 1), "ZD-1", (), "", may, may, may)
            with CaptureQueriesContext(connection) as captured:
                _render_customer(customer.pk, view)
            for statement in captured.captured_queries:
                read |= set(re.findall(r'(?:FROM|JOIN) "?(\w+)"?', statement["sql"]))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger "
            "WHERE tgname LIKE 'page_revision_%%'"
        )
        kept_by_triggers = {row[0] for row in cursor.fetchall()}

    assert read - kept_by_triggers == set()
    assert {"billing_refund", "support_note", "billing_plan", "accounts_user"} <= read


def test_an_override_shows_from_its_start_and_goes_when_it_runs_out(client, support_user):
    customer = customer_with(1, support_user)
    client.force_login(support_user)
    now = timezone.now().replace(microsecond=0)
    with audited(actor=None, reason="test"):
        EntitlementOverride.objects.create(
            customer=customer,
            feature=Feature.BUILD_MINUTES,
            value="55555",
            starts_at=now + dt.timedelta(hours=1),
            expires_at=now + dt.timedelta(hours=2),
            reason="test",
        )

    with time_machine.travel(now, tick=False) as clock:
        assert "55555" not in kept(client, customer, "?partial=entitlements")
        clock.move_to(now + dt.timedelta(hours=1, seconds=1))
        client.force_login(support_user)  # the session's idle limit ran out meanwhile
        assert "55555" in kept(client, customer, "?partial=entitlements")
        assert "55555" in kept(client, customer)
        clock.move_to(now + dt.timedelta(hours=2, seconds=1))
        client.force_login(support_user)
        assert "55555" not in page(client, customer, "?partial=entitlements")
        assert "55555" not in page(client, customer)


def test_what_one_viewer_may_do_never_shows_to_another(support_user, auditor_user, finance_user):
    customer = customer_with(2, support_user)
    finance, auditor = Client(), Client()
    finance.force_login(finance_user)
    auditor.force_login(auditor_user)

    assert "Refund</a>" in kept(finance, customer)
    shown = page(auditor, customer)

    assert "Refund</a>" not in shown
    assert "Add note" not in shown
    assert "Refund</a>" in page(finance, customer)


def test_the_kept_page_carries_each_viewers_own_csrf_token(support_user):
    customer = customer_with(1, support_user)
    other = make_staff(Role.SUPPORT)
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first.force_login(support_user)
    second.force_login(other)
    page(first, customer)

    html = kept(second, customer)
    note_form = html[html.index('class="note-form"') :]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', note_form).group(1)
    ticket = Ticket.objects.filter(customer=customer).first()

    assert page_cache.CSRF_PLACEHOLDER not in html
    response = second.post(
        f"/customers/{customer.pk}/notes/",
        {"csrfmiddlewaretoken": token, "ticket": ticket.pk, "body": "Token works"},
    )
    assert response.status_code == 302
    assert Note.objects.filter(customer=customer, body="Token works").exists()
    assert "Token works" in page(second, customer)


def test_a_page_kept_for_one_ticket_or_page_number_is_not_shown_for_another(client, support_user):
    customer = customer_with(25, support_user)
    client.force_login(support_user)
    kept(client, customer, "?ticket=ZD-111")

    assert "Working under ticket <strong>ZD-111</strong>" in page(
        client, customer, "?ticket=ZD-111"
    )
    assert "Working under ticket" not in page(client, customer)
    assert "page 2" in page(client, customer, "?partial=invoices&invoices_page=2")
    assert "page 2" not in page(client, customer, "?partial=invoices")


def test_no_customer_is_a_404_and_keeps_nothing(client, support_user):
    client.force_login(support_user)

    assert client.get("/customers/987654321/").status_code == 404
    assert client.get("/customers/987654321/?partial=payments").status_code == 404


def test_a_new_customer_has_a_page_of_its_own(client, support_user):
    client.force_login(support_user)
    one, two = make_customer(name="First Ltd"), make_customer(name="Second Ltd")

    assert "First Ltd" in kept(client, one)
    assert "Second Ltd" in kept(client, two)


def test_the_kept_content_reads_nothing_of_the_viewer_but_the_view():
    """The content is rendered without the request: what the viewer may do comes in the view
    (CustomerView), never from `user`, `perms` or `request`, which would render as nothing
    there and so differ from viewer to viewer unseen."""
    source = (settings.BASE_DIR / "templates/support/customer_sections.html").read_text()
    code = re.sub(r"\{#.*?#\}", "", source)  # comments may name them

    assert re.findall(r"(?<![\w.])(?:user|perms|request)\b", code) == []


def test_a_view_inside_a_transaction_with_its_own_writes_shows_them_and_keeps_nothing(
    client, support_user
):
    customer = customer_with(1, support_user)
    client.force_login(support_user)
    kept(client, customer)

    with transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(name="Rolled Back Ltd")
        assert "Rolled Back Ltd" in client.get(f"/customers/{customer.pk}/").content.decode()
        transaction.set_rollback(True)

    assert "Rolled Back Ltd" not in page(client, customer)

"""Real Chromium, real Stripe emulator, as the auditor: a refund support made shows on the
customer's timeline and as a diff on the payment; the customer "as of" before a seat change
shows the old seats; the log filtered by ticket finds exactly the actions under it, and its
CSV export parses and matches the screen (screenshots tests/screenshots/audit-*.png)."""

import csv
import io
from pathlib import Path
from urllib.parse import quote

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts import chain
from accounts.roles import Role
from billing import actions
from billing.actions import Change
from billing.models import Action, ActionState
from tests.billing.conftest import mirrored_account
from tests.browser import SCREENSHOTS, sign_in
from tests.factories import make_staff

pytestmark = pytest.mark.usefixtures("committed_db")


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"audit-{name}.png", full_page=True)


def test_the_auditor_follows_a_refund_and_a_seat_change(live_server, page, stripe_emulator):
    account = mirrored_account(quantity=10, unit_amount=5000)
    support = make_staff(Role.SUPPORT, username="sam")
    finance = make_staff(Role.FINANCE, username="fran")
    make_staff(Role.AUDITOR, username="ada")
    refund = actions.request_refund(
        actor=support,
        payment=account.payment,
        amount=2000,
        reason="duplicate",
        ticket="ZD-48213",
        note="Charged twice",
    )
    before_seats = timezone.now()
    seats = actions.request_subscription_change(
        actor=finance,
        subscription=account.subscription,
        change=Change(change="seats", quantity=15),
        reason="customer_request",
        ticket="ZD-500",
        note="",
    )
    assert (refund.state, seats.state) == (ActionState.SUCCEEDED, ActionState.SUCCEEDED)
    customer = account.customer
    sign_in(page, live_server, "ada")

    # The timeline: the refund with its actor, reason and ticket.
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    timeline = page.locator("#timeline")
    entry = timeline.locator(".timeline-entry", has_text="Refund $20.00 requested").first
    expect(entry).to_contain_text("sam")
    expect(entry).to_contain_text("ZD-48213")
    expect(entry).to_contain_text("Charged twice")
    shot(page, "1-timeline")

    # The payment's history: what the refund changed.
    page.goto(f"{live_server.url}/audit/object/billing.payment/{account.payment.pk}/")
    expect(page.locator("#history")).to_contain_text("Amount refunded")
    expect(page.locator("#history")).to_contain_text("$20.00")
    shot(page, "2-payment-history")

    # As of before the seat change: the old seats, read-only.
    moment = quote(before_seats.isoformat())
    page.goto(f"{live_server.url}/customers/{customer.pk}/?as_of={moment}")
    expect(page.locator("#past-view")).to_contain_text("Past view, read-only")
    expect(page.locator("#past-subscriptions")).to_contain_text("10 seats")
    expect(page.get_by_role("link", name="Seats")).to_have_count(0)
    shot(page, "3-as-of")
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    expect(page.locator("#subscriptions")).to_contain_text("15 seats")

    # The log under the ticket: exactly the refund's rows.
    page.goto(f"{live_server.url}/audit/")
    page.get_by_role("textbox", name="Ticket").fill("ZD-48213")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#audit-entries tbody tr")
    expect(rows.first).to_contain_text("ZD-48213")
    shot(page, "4-log-by-ticket")
    screen = [
        (cells[1], cells[6])
        for cells in (row.locator("td").all_inner_texts() for row in rows.all())
    ]
    under_ticket = set(Action.objects.for_ticket("ZD-48213").values_list("pk", flat=True))
    assert under_ticket == {refund.pk}
    assert screen
    assert all(ticket == "ZD-48213" for _, ticket in screen)

    # Its CSV export parses and matches the screen.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export this view as CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert [(r["actor"], r["ticket"]) for r in exported] == screen
    action_rows = {int(r["record_id"]) for r in exported if r["record_type"] == "billing.action"}
    assert action_rows == under_ticket
    assert page.problems == []

    # And the history is intact.
    rows_sealed, broken = chain.verify_chain(Action.history.model)
    assert broken is None
    assert rows_sealed >= 2

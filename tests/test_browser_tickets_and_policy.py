"""Real Chromium, real Stripe emulator: a ticket worked from the queue to a refund under its
reference, an admin's limit change taking effect, and the search driven from the keyboard.
Each step is saved as a screenshot (tests/screenshots/tickets-*.png, policy-*.png)."""

import pytest
from playwright.sync_api import Page, expect

from accounts.roles import Role
from billing.models import Action, ActionState, PolicyLimit
from billing.stripe import gateway
from support.models import Note, Ticket
from tests.billing.conftest import mirrored_account
from tests.browser import SCREENSHOTS, sign_in
from tests.factories import make_customer, make_staff

pytestmark = pytest.mark.usefixtures("committed_db")


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


@pytest.fixture
def paid(stripe_emulator):
    """A customer who paid $500.00 by card, at Stripe and in the mirror."""
    return mirrored_account(quantity=10, unit_amount=5000)


def test_a_ticket_is_opened_assigned_noted_and_refunded_under_its_reference(
    live_server, page, paid
):
    make_staff(Role.SUPPORT, username="sam")
    customer = paid.customer
    sign_in(page, live_server, "sam")

    page.goto(f"{live_server.url}/tickets/")
    page.get_by_role("link", name="New ticket").click()
    page.get_by_label("Reference").fill("zd-48213")
    page.get_by_label("Subject").fill("Charged twice for March")
    page.get_by_label("Requester email").fill(customer.billing_email)
    page.get_by_label("Customer").fill(customer.billing_email)
    page.get_by_label("Assign to").select_option(label="nobody")
    shot(page, "tickets-1-new")
    page.get_by_role("button", name="Open the ticket").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("ZD-48213: Charged twice")
    expect(page.locator("main")).to_contain_text("assignee nobody")
    shot(page, "tickets-2-opened")

    page.get_by_role("button", name="Assign to me").click()
    expect(page.locator("main")).to_contain_text("assignee Sam")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Open")
    page.get_by_label("Note").fill("Customer sent the bank statement; refunding the duplicate.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#ticket-notes")).to_contain_text("refunding the duplicate")
    shot(page, "tickets-3-assigned-and-noted")

    page.get_by_role("link", name="Act on this customer under ZD-48213").click()
    expect(page.locator(".working-on")).to_contain_text("ZD-48213")
    page.locator(f"#payment-{paid.payment.pk}").get_by_role("link", name="Refund").click()
    panel = page.locator("#action-panel")
    expect(panel.get_by_label("Ticket")).to_have_value("ZD-48213")
    panel.get_by_label("Amount").fill("20.00")
    panel.get_by_label("Reason").select_option("duplicate")
    shot(page, "tickets-4-refund-prefilled")
    panel.get_by_role("button", name="Review").click()
    expect(panel).to_contain_text("Runs now")
    panel.get_by_role("button", name="Confirm").click()
    expect(panel).to_contain_text("Succeeded")
    shot(page, "tickets-5-refunded")

    ticket = Ticket.objects.get()
    page.goto(f"{live_server.url}/tickets/{ticket.pk}/")
    expect(page.locator("#ticket-actions")).to_contain_text("Refund $20.00")
    expect(page.locator("#ticket-actions")).to_contain_text("Succeeded")
    shot(page, "tickets-6-actions-under-the-ticket")

    assert ticket.assignee.username == "sam"
    assert Note.objects.get().ticket == ticket
    assert Action.objects.get().ticket_ref == "ZD-48213"
    assert [r.amount for r in gateway.list_refunds(paid.payment.stripe_charge_id)] == [2000]
    assert page.problems == []


def test_a_note_is_added_on_the_customer_page_under_one_of_its_tickets(live_server, page, paid):
    from tests.factories import make_ticket

    make_staff(Role.SUPPORT, username="sam")
    make_ticket(paid.customer, ref="ZD-777")
    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/customers/{paid.customer.pk}/")
    notes = page.locator("#notes")

    notes.get_by_label("Under ticket").select_option(label="ZD-777: Charged twice this month")
    notes.get_by_label("Note", exact=True).fill("Called the customer back.")
    notes.get_by_role("button", name="Add note").click()

    expect(notes).to_contain_text("Note added under ZD-777.")
    expect(notes.locator("blockquote")).to_contain_text("Called the customer back.")
    shot(page, "tickets-7-note-on-the-customer-page")
    assert page.problems == []


def test_an_admin_lowers_a_limit_and_the_next_refund_goes_to_approval(live_server, page, paid):
    make_staff(Role.ADMIN, username="ada")
    make_staff(Role.SUPPORT, username="sam")
    limit = PolicyLimit.objects.get(role__name="support", kind="refund", currency="usd")
    sign_in(page, live_server, "ada")

    page.goto(f"{live_server.url}/policy/")
    row = page.locator(f"#limit-{limit.pk}")
    expect(row).to_contain_text("$100.00")
    row.get_by_text("Edit").click()
    row.get_by_label("Per action").fill("10.00")
    row.get_by_label("Reason for the change").fill("Fraud wave: smaller refunds need a second look")
    shot(page, "policy-1-edit-limit")
    row.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("changed")
    expect(page.locator(f"#limit-{limit.pk}")).to_contain_text("$10.00")
    expect(page.locator("main")).to_contain_text("per action $100.00 → $10.00")
    shot(page, "policy-2-limit-changed")
    page.context.clear_cookies()

    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/customers/{paid.customer.pk}/")
    page.locator(f"#payment-{paid.payment.pk}").get_by_role("link", name="Refund").click()
    panel = page.locator("#action-panel")
    panel.get_by_label("Amount").fill("20.00")
    panel.get_by_label("Reason").select_option("duplicate")
    panel.get_by_label("Ticket").fill("ZD-48220")
    panel.get_by_role("button", name="Review").click()
    expect(panel).to_contain_text("Goes for approval")
    expect(panel).to_contain_text("Above your limit of $10.00 per refund")
    shot(page, "policy-3-refund-now-needs-approval")
    panel.get_by_role("button", name="Ask for approval").click()
    expect(panel).to_contain_text("Waiting for approval")

    assert Action.objects.get().state == ActionState.PENDING_APPROVAL
    assert page.problems == []


def test_the_search_is_driven_from_the_keyboard(live_server, page):
    make_staff(Role.SUPPORT, username="sam")
    first = make_customer(name="Initech Europe", handle="initech-eu", billing_email="ap@initech.eu")
    second = make_customer(name="Initech US", handle="initech-us", billing_email="ap@initech.com")
    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/tickets/")

    page.keyboard.press("/")
    expect(page).to_have_url(f"{live_server.url}/customers/")
    box = page.get_by_role("searchbox", name="Find a customer")
    expect(box).to_be_focused()
    box.press_sequentially("initech")
    results = page.locator("#results a.result")
    expect(results).to_have_count(2)
    expect(page.locator("#results")).to_contain_text("handle (starts with it)")
    page.keyboard.press("ArrowDown")
    expect(results.nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(results.nth(1)).to_be_focused()
    shot(page, "tickets-8-search-keyboard")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/customers/{second.pk}/")

    page.keyboard.press("/")
    page.get_by_role("searchbox", name="Find a customer").fill("AP@initech.eu")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/customers/{first.pk}/")
    assert page.problems == []


def test_the_search_box_asks_for_results_from_the_third_character(live_server, page):
    make_staff(Role.SUPPORT, username="sam")
    make_customer(name="Initech Europe", handle="initech-eu", billing_email="ap@initech.eu")
    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/customers/")
    asked = []
    page.on(
        "request",
        lambda request: asked.append(request.url) if "/customers/?q=" in request.url else None,
    )
    box = page.get_by_role("searchbox", name="Find a customer")

    box.press_sequentially("in", delay=300)  # past the box's 250 ms pause after each key
    page.wait_for_timeout(500)
    assert asked == []
    expect(page.locator("#results")).to_contain_text("Type to search")

    box.press_sequentially("i", delay=300)
    expect(page.locator("#results a.result")).to_have_count(1)
    assert [url.split("?", 1)[1] for url in asked] == ["q=ini"]

    box.press("Enter")  # Enter searches whatever is typed, two characters included
    box.fill("in")
    box.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/customers/?q=in")
    expect(page.locator("#results a.result")).to_have_count(1)
    assert page.problems == []

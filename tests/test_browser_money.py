"""Real Chromium, real Stripe emulator: staff move money through the screens as they would on
a busy day, and every step is saved as a screenshot (tests/screenshots/money-*.png)."""

import pytest
from playwright.sync_api import Page, expect

from accounts.roles import Role
from billing.models import Action, ActionState
from billing.stripe import gateway
from tests.billing.conftest import mirrored_account
from tests.browser import SCREENSHOTS, sign_in
from tests.factories import make_staff

pytestmark = pytest.mark.usefixtures("committed_db")


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"money-{name}.png", full_page=True)


def open_customer_by_email(page: Page, live_server, email: str) -> None:
    page.goto(f"{live_server.url}/customers/")
    page.get_by_role("searchbox", name="Find a customer").fill(email)
    page.locator("#results a").first.click()


def fill_panel(page: Page, **fields: str) -> None:
    panel = page.locator("#action-panel")
    for name, value in fields.items():
        field = panel.locator(f"[name={name}]")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


@pytest.fixture
def paid(stripe_emulator):
    """A customer who paid $500.00 by card, at Stripe and in the mirror."""
    return mirrored_account(quantity=10, unit_amount=5000)


def test_support_refunds_20_through_the_panel_and_sees_it_on_the_payment(live_server, page, paid):
    make_staff(Role.SUPPORT, username="sam")
    sign_in(page, live_server, "sam")
    open_customer_by_email(page, live_server, paid.customer.billing_email)
    row = page.locator(f"#payment-{paid.payment.pk}")
    shot(page, "1-customer")

    row.get_by_role("link", name="Refund").click()
    panel = page.locator("#action-panel")
    expect(panel.get_by_role("heading", name="Refund")).to_be_visible()
    expect(panel.get_by_label("Amount")).to_be_focused()
    fill_panel(page, amount="20.00", reason="duplicate", ticket="ZD-48213")
    shot(page, "2-refund-form")
    panel.get_by_role("button", name="Review").click()
    expect(panel).to_contain_text("Refund $20.00 to Visa ···· 4242")
    expect(panel).to_contain_text("Runs now")
    shot(page, "3-refund-review")
    panel.get_by_role("button", name="Confirm").click()
    expect(panel).to_contain_text("Succeeded")
    expect(row).to_contain_text("$20.00")  # refunded, the section reloaded itself
    expect(row).to_contain_text("$480.00")  # refundable
    shot(page, "4-refund-done")

    assert [r.amount for r in gateway.list_refunds(paid.payment.stripe_charge_id)] == [2000]
    assert page.problems == []


def test_a_300_refund_waits_for_finance_who_approves_it_in_the_inbox(live_server, page, paid):
    make_staff(Role.SUPPORT, username="sam")
    make_staff(Role.FINANCE, username="fran")
    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/customers/{paid.customer.pk}/")
    page.locator(f"#payment-{paid.payment.pk}").get_by_role("link", name="Refund").click()
    fill_panel(page, amount="300", reason="requested_by_customer", ticket="ZD-48214")
    panel = page.locator("#action-panel")
    panel.get_by_role("button", name="Review").click()
    expect(panel).to_contain_text("Goes for approval")
    expect(panel).to_contain_text("finance")
    shot(page, "5-big-refund-review")
    panel.get_by_role("button", name="Ask for approval").click()
    expect(panel).to_contain_text("Waiting for approval")
    shot(page, "6-big-refund-waiting")
    page.context.clear_cookies()

    sign_in(page, live_server, "fran")
    expect(page.get_by_role("navigation", name="Sections")).to_contain_text("Approvals 1")
    page.goto(f"{live_server.url}/approvals/")
    card = page.locator("article.approval").first
    expect(card).to_contain_text("Refund $300.00 of payment")
    expect(card.locator(".preview-now")).to_contain_text("Refundable remaining")
    shot(page, "7-inbox")
    card.get_by_role("button", name="Approve").click()
    expect(page.locator("article.approval").first).to_contain_text("Succeeded")
    shot(page, "8-approved")
    page.goto(f"{live_server.url}/customers/{paid.customer.pk}/")
    expect(page.locator(f"#payment-{paid.payment.pk}")).to_contain_text("$300.00")
    shot(page, "9-refunded-after-approval")

    assert Action.objects.get().state == ActionState.SUCCEEDED
    assert page.problems == []


def test_finance_credits_15_and_the_balance_changes(live_server, page, paid):
    make_staff(Role.FINANCE, username="fran")
    sign_in(page, live_server, "fran")
    page.goto(f"{live_server.url}/customers/{paid.customer.pk}/")
    balance = page.locator("#balance")

    balance.get_by_role("link", name="Credit").click()
    fill_panel(page, amount="15.00", reason="goodwill", ticket="ZD-48215")
    panel = page.locator("#action-panel")
    panel.get_by_role("button", name="Review").click()
    expect(panel).to_contain_text("$15.00 credit")
    shot(page, "10-credit-review")
    panel.get_by_role("button", name="Confirm").click()
    expect(panel).to_contain_text("Succeeded")
    expect(page.locator("#balance .big-number")).to_have_text("$15.00 credit")
    shot(page, "11-credited")
    assert page.problems == []


def test_a_seat_change_shows_its_proration_before_it_is_confirmed(live_server, page, paid):
    make_staff(Role.FINANCE, username="fran")
    sign_in(page, live_server, "fran")
    page.goto(f"{live_server.url}/customers/{paid.customer.pk}/")

    page.locator("#subscriptions").get_by_role("link", name="Seats").click()
    fill_panel(page, quantity="12", reason="customer_request", ticket="ZD-48216")
    panel = page.locator("#action-panel")
    panel.get_by_role("button", name="Review").click()
    expect(panel).to_contain_text("Proration on the next invoice")
    expect(panel).to_contain_text("10")
    expect(panel).to_contain_text("12")
    shot(page, "12-seats-review")

    assert not Action.objects.exists()  # nothing until confirmed
    panel.get_by_role("button", name="Confirm").click()
    expect(panel).to_contain_text("Succeeded")
    expect(page.locator("#subscriptions")).to_contain_text("12 seats")
    shot(page, "13-seats-done")
    assert page.problems == []


def test_the_auditor_sees_every_section_and_no_action_control(live_server, page, paid):
    make_staff(Role.AUDITOR, username="otto")
    sign_in(page, live_server, "otto")

    page.goto(f"{live_server.url}/customers/{paid.customer.pk}/")

    expect(page.locator("#payments")).to_contain_text("$500.00")
    expect(page.locator("a[href*='/act/']")).to_have_count(0)
    expect(page.get_by_role("button", name="Resync from Stripe")).to_have_count(0)
    shot(page, "14-auditor")
    assert page.problems == []


def test_a_double_clicked_confirm_leaves_one_action(live_server, page, paid):
    make_staff(Role.FINANCE, username="fran")
    sign_in(page, live_server, "fran")
    page.goto(f"{live_server.url}/customers/{paid.customer.pk}/")
    page.locator(f"#payment-{paid.payment.pk}").get_by_role("link", name="Refund").click()
    fill_panel(page, amount="7.00", reason="duplicate", ticket="ZD-48217")
    panel = page.locator("#action-panel")
    panel.get_by_role("button", name="Review").click()
    expect(panel).to_contain_text("Runs now")

    panel.get_by_role("button", name="Confirm").dblclick()

    expect(panel).to_contain_text("Succeeded")
    assert Action.objects.count() == 1
    assert len(gateway.list_refunds(paid.payment.stripe_charge_id)) == 1

"""The emulator clock: renewals, failed renewals and dunning, trial ends, scheduled cancellation."""

from __future__ import annotations

import json
import urllib.request

import pytest

from devtools.stripe_emulator import Settings, start_emulator

from .conftest import make_client

DAY = 86_400
JAN_1 = 1_767_225_600  # 2026-01-01T00:00:00Z
FEB_1 = 1_769_904_000
MAR_1 = 1_772_323_200


@pytest.fixture
def january(emulator):
    emulator.set_clock(JAN_1, frozen=True)
    return emulator


def _subscribe(client, customer, price, **params):
    return client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}], **params}
    )


def test_advancing_through_period_end_renews_and_charges(
    client, january, make_customer, make_price
):
    customer = make_customer()
    subscription = _subscribe(client, customer, make_price(1000))

    january.advance_clock(40 * DAY)
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    invoice = client.v1.invoices.retrieve(renewed.latest_invoice)

    assert renewed.status == "active"
    assert renewed["items"].data[0].current_period_start == FEB_1
    assert renewed["items"].data[0].current_period_end == MAR_1
    assert invoice.billing_reason == "subscription_cycle"
    assert (invoice.status, invoice.amount_paid) == ("paid", 1000)
    # Stripe's invoice period looks back at the period that ended; the line bills the next.
    assert (invoice.period_start, invoice.period_end) == (JAN_1, FEB_1)
    assert (invoice.lines.data[0].period.start, invoice.lines.data[0].period.end) == (
        FEB_1,
        MAR_1,
    )
    assert invoice.created == FEB_1
    assert invoice.number == f"{customer.invoice_prefix}-0002"
    assert january.now() == JAN_1 + 40 * DAY


def test_history_can_be_seeded_in_the_past_and_advanced_to_now(
    client, emulator, make_customer, make_price
):
    emulator.set_clock(JAN_1, frozen=True)
    customer = make_customer()
    subscription = _subscribe(client, customer, make_price(1000))

    emulator.advance_clock_to(JAN_1 + 365 * DAY)
    invoices = client.v1.invoices.list({"subscription": subscription.id, "limit": 100})

    assert len(invoices.data) == 13
    assert all(invoice.status == "paid" for invoice in invoices.data)
    assert len({invoice.number for invoice in invoices.data}) == 13


def test_failing_card_at_renewal_makes_it_past_due_with_payment_failed(
    client, january, make_customer, make_price
):
    customer = make_customer()
    subscription = _subscribe(client, customer, make_price(1000))
    failing = client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", {"customer": customer.id}
    )
    client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": failing.id}}
    )

    january.advance_clock(32 * DAY)
    after = client.v1.subscriptions.retrieve(subscription.id)
    invoice = client.v1.invoices.retrieve(after.latest_invoice)
    failed = client.v1.events.list({"type": "invoice.payment_failed"}).data

    assert after.status == "past_due"
    assert (invoice.status, invoice.attempt_count) == ("open", 1)
    assert invoice.next_payment_attempt == FEB_1 + 3 * DAY
    assert [event.data.object.id for event in failed] == [invoice.id]
    charge = client.v1.charges.list({"customer": customer.id}).data[0]
    assert (charge.status, charge.failure_code) == ("failed", "card_declined")


def test_paying_a_past_due_invoice_makes_it_active_again(
    client, january, make_customer, make_price
):
    customer = make_customer(card="pm_card_chargeDeclined")
    subscription = _subscribe(client, customer, make_price(1000), trial_period_days=3)
    january.advance_clock(4 * DAY)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "past_due"

    latest = client.v1.subscriptions.retrieve(subscription.id).latest_invoice
    client.v1.invoices.pay(latest, {"payment_method": "pm_card_visa"})

    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"


def test_retries_exhausted_cancel_the_subscription(client, january, make_customer, make_price):
    customer = make_customer(card="pm_card_chargeDeclined")
    subscription = _subscribe(client, customer, make_price(1000), trial_period_days=1)

    january.advance_clock(30 * DAY)
    after = client.v1.subscriptions.retrieve(subscription.id)
    invoice = client.v1.invoices.retrieve(after.latest_invoice)

    assert after.status == "canceled"
    assert after.cancellation_details.reason == "payment_failed"
    assert invoice.attempt_count == 4
    assert len(client.v1.charges.list({"customer": customer.id}).data) == 4


def test_unpaid_setting_marks_the_subscription_unpaid_instead(emulator, make_customer, make_price):
    with start_emulator(settings=Settings(final_failure_action="unpaid")) as other:
        client = make_client(other)
        other.set_clock(JAN_1, frozen=True)
        customer = client.v1.customers.create(
            {
                "payment_method": "pm_card_chargeDeclined",
                "invoice_settings": {"default_payment_method": "pm_card_chargeDeclined"},
            }
        )
        product = client.v1.products.create({"name": "Team"})
        price = client.v1.prices.create(
            {
                "product": product.id,
                "unit_amount": 500,
                "currency": "usd",
                "recurring": {"interval": "month"},
            }
        )
        subscription = _subscribe(client, customer, price, trial_period_days=1)

        other.advance_clock(30 * DAY)

        assert client.v1.subscriptions.retrieve(subscription.id).status == "unpaid"


def test_trial_end_activates_and_charges(client, january, make_customer, make_price):
    subscription = _subscribe(client, make_customer(), make_price(2500), trial_period_days=14)

    january.advance_clock(15 * DAY)
    after = client.v1.subscriptions.retrieve(subscription.id)
    invoice = client.v1.invoices.retrieve(after.latest_invoice)
    types = [
        e.type
        for e in client.v1.events.list({"type": "customer.subscription.*", "limit": 100}).data
    ]

    assert after.status == "active"
    assert after["items"].data[0].current_period_start == JAN_1 + 14 * DAY
    assert (invoice.total, invoice.status) == (2500, "paid")
    assert "customer.subscription.trial_will_end" in types


def test_cancel_at_period_end_cancels_when_the_period_ends(
    client, january, make_customer, make_price
):
    subscription = _subscribe(client, make_customer(), make_price(1000))
    client.v1.subscriptions.update(subscription.id, {"cancel_at_period_end": True})

    january.advance_clock(31 * DAY + 1)
    after = client.v1.subscriptions.retrieve(subscription.id)

    assert after.status == "canceled"
    assert after.ended_at == FEB_1
    assert len(client.v1.invoices.list({"subscription": subscription.id}).data) == 1
    assert client.v1.events.list({"type": "customer.subscription.deleted"}).data[0].created == FEB_1


def test_pause_collection_voids_renewals_until_resumes_at(
    client, january, make_customer, make_price
):
    subscription = _subscribe(client, make_customer(), make_price(1000))
    client.v1.subscriptions.update(
        subscription.id, {"pause_collection": {"behavior": "void", "resumes_at": MAR_1 - DAY}}
    )

    january.advance_clock(32 * DAY)
    during = client.v1.subscriptions.retrieve(subscription.id)
    voided = client.v1.invoices.retrieve(during.latest_invoice)
    january.advance_clock_to(MAR_1 + DAY)
    after = client.v1.subscriptions.retrieve(subscription.id)

    assert during.status == "active"
    assert voided.status == "void"
    assert after.pause_collection is None
    assert client.v1.invoices.retrieve(after.latest_invoice).status == "paid"


def test_paused_subscription_does_not_renew(client, january, make_customer, make_price):
    subscription = _subscribe(client, make_customer(), make_price(1000))
    client.v1.subscriptions.pause(subscription.id)

    january.advance_clock(70 * DAY)

    assert (
        client.v1.invoices.list({"subscription": subscription.id}).data[0].id
        == subscription.latest_invoice
    )


def test_incomplete_subscription_expires_after_23_hours(client, january, make_customer, make_price):
    subscription = _subscribe(
        client, make_customer(card="pm_card_chargeDeclined"), make_price(1000)
    )

    january.advance_clock(24 * 3600)
    after = client.v1.subscriptions.retrieve(subscription.id)

    assert after.status == "incomplete_expired"
    assert client.v1.invoices.retrieve(subscription.latest_invoice).status == "void"


def test_clock_control_api_sets_and_advances(client, emulator, make_customer, make_price):
    def post(body):
        request = urllib.request.Request(
            emulator.url + "/_emulator/clock", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    post({"set": JAN_1, "freeze": True})
    subscription = _subscribe(client, make_customer(), make_price(1000))
    state = post({"advance_days": 31})

    assert state == {"now": FEB_1, "frozen": True, "offset": state["offset"]}
    assert (
        client.v1.subscriptions.retrieve(subscription.id)["items"].data[0].current_period_start
        == FEB_1
    )

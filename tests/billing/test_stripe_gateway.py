"""The gateway against the Stripe emulator over HTTP: typed results, idempotency, errors."""

import pytest

from billing.stripe import gateway
from tests import stripe_scenarios as scenario

pytestmark = pytest.mark.usefixtures("stripe_emulator")


def test_reads_come_back_as_typed_results():
    buyer, subscription = scenario.paying_customer(quantity=4)

    charge = scenario.charges_of(buyer.id)[0]
    invoice = gateway.list_invoices(buyer.id)[0]
    again = gateway.retrieve_subscription(subscription.id)

    assert isinstance(again, gateway.SubscriptionData)
    assert again.quantity == 4
    assert again.status == "active"
    assert again.current_period_end > again.current_period_start
    assert invoice.subscription == subscription.id
    assert invoice.status == "paid"
    assert invoice.amount_paid == 4 * 1200
    assert (charge.amount, charge.card_brand, charge.card_last4) == (4800, "visa", "4242")
    assert gateway.invoice_for_payment_intent(charge.payment_intent) == invoice.id


def test_a_replayed_idempotency_key_returns_the_first_refund():
    buyer, _ = scenario.paying_customer()
    charge = scenario.charges_of(buyer.id)[0]

    first = gateway.create_refund(
        charge_id=charge.id, amount=500, reason="duplicate", metadata={}, idempotency_key="refund:1"
    )
    again = gateway.create_refund(
        charge_id=charge.id, amount=500, reason="duplicate", metadata={}, idempotency_key="refund:1"
    )

    assert again.id == first.id
    assert gateway.retrieve_charge(charge.id).amount_refunded == 500
    assert len(gateway.list_refunds(charge.id)) == 1


def test_the_same_key_with_other_parameters_is_a_conflict():
    buyer, _ = scenario.paying_customer()
    charge = scenario.charges_of(buyer.id)[0]
    gateway.create_refund(
        charge_id=charge.id, amount=500, reason="", metadata={}, idempotency_key="refund:2"
    )

    with pytest.raises(gateway.IdempotencyConflict):
        gateway.create_refund(
            charge_id=charge.id, amount=900, reason="", metadata={}, idempotency_key="refund:2"
        )

    assert gateway.retrieve_charge(charge.id).amount_refunded == 500


def test_a_post_without_a_key_is_refused_before_stripe_is_asked():
    with pytest.raises(ValueError, match="idempotency key"):
        gateway.create_coupon(params={"percent_off": 10, "duration": "once"}, idempotency_key="")


def test_refunding_more_than_remains_is_an_invalid_request():
    buyer, _ = scenario.paying_customer(quantity=1)
    charge = scenario.charges_of(buyer.id)[0]

    with pytest.raises(gateway.InvalidRequest) as refused:
        gateway.create_refund(
            charge_id=charge.id, amount=5000, reason="", metadata={}, idempotency_key="refund:3"
        )

    assert refused.value.http_status == 400
    assert refused.value.message
    assert gateway.retrieve_charge(charge.id).amount_refunded == 0


def test_an_unknown_object_is_not_found():
    with pytest.raises(gateway.NotFound) as missing:
        gateway.retrieve_customer("cus_doesnotexist")

    assert missing.value.code == "resource_missing"


def test_a_declined_card_leaves_the_subscription_incomplete_and_paying_is_card_declined():
    price = scenario.plan()
    buyer = scenario.customer(card="pm_card_chargeDeclined")
    subscription = scenario.subscription(buyer.id, price.id)
    invoice = gateway.list_invoices(buyer.id)[0]

    with pytest.raises(gateway.CardDeclined) as declined:
        gateway.invoice_action(invoice_id=invoice.id, action="pay", idempotency_key="pay:1")

    assert subscription.status == "incomplete"
    assert declined.value.code == "card_declined"
    assert declined.value.decline_code == "generic_decline"
    assert gateway.retrieve_invoice(invoice.id).status == "open"


@pytest.mark.parametrize("fault", ["500", "503", "429", "timeout", "drop_after_apply"])
def test_stripe_failures_are_unavailable_and_retry_with_the_key_applies_once(
    stripe_emulator, fault
):
    buyer, _ = scenario.paying_customer()
    charge = scenario.charges_of(buyer.id)[0]
    stripe_emulator.add_fault("/v1/refunds", fault, method="POST", seconds=3)

    with pytest.raises(gateway.StripeUnavailable):
        gateway.create_refund(
            charge_id=charge.id, amount=700, reason="", metadata={}, idempotency_key="refund:9"
        )
    retried = gateway.create_refund(
        charge_id=charge.id, amount=700, reason="", metadata={}, idempotency_key="refund:9"
    )

    assert retried.amount == 700
    assert len(gateway.list_refunds(charge.id)) == 1
    assert gateway.retrieve_charge(charge.id).amount_refunded == 700


def test_invoice_preview_shows_the_proration_and_changes_nothing():
    _, subscription = scenario.paying_customer(quantity=3)
    before = gateway.retrieve_subscription(subscription.id)

    preview = gateway.preview_subscription_change(
        subscription_id=subscription.id,
        item_id=subscription.item_id,
        quantity=5,
        proration_date=before.current_period_start
        + (before.current_period_end - before.current_period_start) / 2,
    )

    assert preview.proration_total > 0
    assert any(line.proration for line in preview.lines)
    assert gateway.retrieve_subscription(subscription.id).quantity == 3

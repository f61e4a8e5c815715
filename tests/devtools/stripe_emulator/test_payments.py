"""PaymentIntents, charges and the test cards."""

from __future__ import annotations

import pytest
import stripe

CARDS = [
    ("pm_card_visa", "visa", "4242"),
    ("pm_card_mastercard", "mastercard", "4444"),
    ("pm_card_chargeDeclined", "visa", "0002"),
    ("pm_card_chargeDeclinedInsufficientFunds", "visa", "9995"),
]


@pytest.mark.parametrize(("token", "brand", "last4"), CARDS)
def test_test_cards_have_realistic_brand_and_last4(client, token, brand, last4):
    pm = client.v1.payment_methods.retrieve(token)

    assert (pm.type, pm.card.brand, pm.card.last4) == ("card", brand, last4)


def test_confirmed_payment_intent_succeeds_with_a_charge(client, make_customer):
    customer = make_customer()

    intent = client.v1.payment_intents.create(
        {
            "amount": 2500,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": customer.invoice_settings.default_payment_method,
            "confirm": True,
            "off_session": True,
            "metadata": {"action_id": "17"},
        }
    )
    charge = client.v1.charges.retrieve(intent.latest_charge)

    assert intent.status == "succeeded"
    assert intent.amount_received == 2500
    assert charge.payment_intent == intent.id
    assert (charge.status, charge.paid, charge.amount, charge.amount_captured) == (
        "succeeded",
        True,
        2500,
        2500,
    )
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    assert charge.payment_method_details.card.brand == "visa"
    assert charge.payment_method_details.card.last4 == "4242"
    assert charge.outcome.type == "authorized"
    assert charge.metadata.to_dict() == {"action_id": "17"}


@pytest.mark.parametrize(
    ("token", "decline_code", "message"),
    [
        ("pm_card_chargeDeclined", "generic_decline", "Your card was declined."),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
    ],
)
def test_declined_card_is_a_402_card_error_and_records_the_failed_charge(
    client, make_customer, token, decline_code, message
):
    customer = make_customer(card=token)

    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(
            {
                "amount": 2500,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": customer.invoice_settings.default_payment_method,
                "confirm": True,
            }
        )

    error = raised.value
    assert error.http_status == 402
    assert error.code == "card_declined"
    assert error.error.decline_code == decline_code
    assert error.user_message == message
    intent = error.error.payment_intent
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.decline_code == decline_code
    charge = client.v1.charges.retrieve(error.error.charge)
    assert (charge.status, charge.paid, charge.failure_code) == ("failed", False, "card_declined")
    assert charge.failure_message == message
    assert charge.outcome.reason == decline_code
    assert [c.id for c in client.v1.charges.list({"customer": customer.id}).data] == [charge.id]


def test_payment_intent_confirmed_later(client, make_customer):
    customer = make_customer()
    intent = client.v1.payment_intents.create(
        {"amount": 1000, "currency": "usd", "customer": customer.id}
    )

    confirmed = client.v1.payment_intents.confirm(
        intent.id, {"payment_method": customer.invoice_settings.default_payment_method}
    )

    assert intent.status == "requires_payment_method"
    assert confirmed.status == "succeeded"


def test_amount_below_minimum_is_refused(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create({"amount": 10, "currency": "usd"})

    assert raised.value.code == "amount_too_small"


def test_charges_and_intents_filter_by_customer_and_payment_intent(client, make_charge):
    first = make_charge(1000)
    make_charge(2000)

    by_customer = client.v1.charges.list({"customer": first.customer})
    by_intent = client.v1.charges.list({"payment_intent": first.payment_intent})
    intents = client.v1.payment_intents.list({"customer": first.customer})

    assert [c.id for c in by_customer.data] == [first.id]
    assert [c.id for c in by_intent.data] == [first.id]
    assert [i.id for i in intents.data] == [first.payment_intent]


def test_charges_filter_by_created_range(client, emulator, make_charge):
    old = make_charge(1000)
    emulator.set_clock(emulator.now() + 3600)
    new = make_charge(1000)

    recent = client.v1.charges.list({"created": {"gte": new.created}})
    earlier = client.v1.charges.list({"created": {"lt": new.created}})

    assert [c.id for c in recent.data] == [new.id]
    assert [c.id for c in earlier.data] == [old.id]

"""Balance transactions: what each succeeded charge and refund does to the Stripe balance."""

from __future__ import annotations

import pytest
import stripe

DAY = 86_400
JAN_1 = 1_767_225_600  # 2026-01-01T00:00:00Z


def test_a_succeeded_charge_names_its_balance_transaction(client, make_charge):
    charge = make_charge(5000)

    transaction = client.v1.balance_transactions.retrieve(charge.balance_transaction)

    assert transaction.id.startswith("txn_")
    assert (transaction.type, transaction.reporting_category) == ("charge", "charge")
    assert transaction.source == charge.id
    assert (transaction.amount, transaction.currency) == (5000, "usd")
    # Stripe's card fee: 2.9% + 30¢.
    assert (transaction.fee, transaction.net) == (175, 4825)
    assert [(fee.type, fee.amount) for fee in transaction.fee_details] == [("stripe_fee", 175)]


def test_a_declined_charge_moves_no_money(client, make_customer):
    customer = make_customer(card="pm_card_chargeDeclined")

    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(
            {
                "amount": 1000,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": customer.invoice_settings.default_payment_method,
                "confirm": True,
            }
        )

    charge = client.v1.charges.retrieve(raised.value.error.charge)
    assert charge.status == "failed"
    assert charge.balance_transaction is None
    assert client.v1.balance_transactions.list().data == []


def test_a_refund_names_a_negative_balance_transaction_without_fee(client, make_charge):
    charge = make_charge(5000)

    refund = client.v1.refunds.create({"charge": charge.id, "amount": 1200})
    transaction = client.v1.balance_transactions.retrieve(refund.balance_transaction)

    assert (transaction.type, transaction.source) == ("refund", refund.id)
    assert (transaction.amount, transaction.fee, transaction.net) == (-1200, 0, -1200)
    assert transaction.currency == "usd"


def test_an_invoice_paid_by_card_has_its_balance_transaction(client, make_customer, make_price):
    customer = make_customer()
    subscription = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": make_price(2000).id}]}
    )

    payment = client.v1.invoice_payments.list(
        {"invoice": subscription.latest_invoice, "expand": ["data.payment.payment_intent"]}
    ).data[0]
    charge = client.v1.charges.retrieve(
        payment.payment.payment_intent.latest_charge, {"expand": ["balance_transaction"]}
    )

    assert charge.balance_transaction.amount == 2000
    assert charge.balance_transaction.net == 2000 - charge.balance_transaction.fee


def test_funds_are_pending_until_two_days_after_the_charge(client, emulator, make_charge):
    emulator.set_clock(JAN_1 + 15 * 3600, frozen=True)
    charge = make_charge()

    pending = client.v1.balance_transactions.retrieve(charge.balance_transaction)
    emulator.advance_clock(2 * DAY)
    available = client.v1.balance_transactions.retrieve(charge.balance_transaction)

    assert pending.available_on == JAN_1 + 2 * DAY
    assert (pending.status, available.status) == ("pending", "available")


def test_balance_transactions_list_newest_first_and_filter_by_source_and_type(client, make_charge):
    first = make_charge(1000)
    second = make_charge(2000)
    refund = client.v1.refunds.create({"charge": first.id, "amount": 100})

    everything = client.v1.balance_transactions.list()
    refunds = client.v1.balance_transactions.list({"type": "refund"})
    of_second = client.v1.balance_transactions.list({"source": second.id})

    assert [t.source for t in everything.data] == [refund.id, second.id, first.id]
    assert [t.id for t in refunds.data] == [refund.balance_transaction]
    assert [t.id for t in of_second.data] == [second.balance_transaction]


def test_an_unknown_balance_transaction_is_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.balance_transactions.retrieve("txn_missing")

    assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")

"""Refunds, capped at what remains refundable on the charge."""

from __future__ import annotations

import threading

import pytest
import stripe

from .conftest import make_client


def test_partial_refunds_accumulate_on_the_charge(client, make_charge):
    charge = make_charge(5000)

    first = client.v1.refunds.create(
        {
            "charge": charge.id,
            "amount": 1500,
            "reason": "requested_by_customer",
            "metadata": {"action": "1"},
        }
    )
    client.v1.refunds.create({"charge": charge.id, "amount": 500})
    after = client.v1.charges.retrieve(charge.id)

    assert first.id.startswith("re_")
    assert (first.status, first.amount, first.reason) == (
        "succeeded",
        1500,
        "requested_by_customer",
    )
    assert first.payment_intent == charge.payment_intent
    assert (after.amount_refunded, after.refunded) == (2000, False)


def test_refund_without_amount_refunds_the_remainder(client, make_charge):
    charge = make_charge(5000)
    client.v1.refunds.create({"charge": charge.id, "amount": 1000})

    rest = client.v1.refunds.create({"payment_intent": charge.payment_intent})
    after = client.v1.charges.retrieve(charge.id)

    assert rest.amount == 4000
    assert (after.amount_refunded, after.refunded) == (5000, True)


def test_refund_above_remaining_is_rejected(client, make_charge):
    charge = make_charge(5000)
    client.v1.refunds.create({"charge": charge.id, "amount": 3000})

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create({"charge": charge.id, "amount": 2500})

    assert raised.value.http_status == 400
    assert raised.value.code == "amount_too_large"
    assert raised.value.param == "amount"
    assert str(raised.value.user_message) == (
        "Refund amount ($25.00) is greater than unrefunded amount on charge ($20.00)"
    )
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 3000


def test_refund_of_fully_refunded_charge_is_charge_already_refunded(client, make_charge):
    charge = make_charge(5000)
    client.v1.refunds.create({"charge": charge.id})

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create({"charge": charge.id, "amount": 1})

    assert raised.value.code == "charge_already_refunded"


def test_refund_needs_a_charge_or_payment_intent(client):
    with pytest.raises(stripe.InvalidRequestError, match="payment_intent or charge"):
        client.v1.refunds.create({"amount": 100})


def test_refunds_list_filters_by_charge_and_payment_intent(client, make_charge):
    charge = make_charge(5000)
    other = make_charge(5000)
    refund = client.v1.refunds.create({"charge": charge.id, "amount": 100})
    client.v1.refunds.create({"charge": other.id, "amount": 100})

    by_charge = client.v1.refunds.list({"charge": charge.id})
    by_intent = client.v1.refunds.list({"payment_intent": charge.payment_intent})
    fetched = client.v1.refunds.retrieve(refund.id)

    assert [r.id for r in by_charge.data] == [refund.id]
    assert [r.id for r in by_intent.data] == [refund.id]
    assert fetched.charge == charge.id


def test_refund_emits_refund_created_and_charge_refunded(client, make_charge):
    charge = make_charge(5000)

    client.v1.refunds.create({"charge": charge.id, "amount": 700})
    types = [e.type for e in client.v1.events.list({"limit": 3}).data]
    refunded = client.v1.events.list({"type": "charge.refunded"}).data[0]

    assert types[:2] == ["charge.refunded", "refund.created"]
    assert refunded.data.object.amount_refunded == 700
    assert refunded.data.previous_attributes.amount_refunded == 0


def test_concurrent_refunds_never_exceed_the_charge(emulator, make_charge):
    charge = make_charge(5000)
    outcomes: list[str] = []
    lock = threading.Lock()

    def refund() -> None:
        client = make_client(emulator)
        try:
            client.v1.refunds.create({"charge": charge.id, "amount": 300})
            result = "ok"
        except stripe.InvalidRequestError as error:
            result = error.code or "error"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=refund) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    after = make_client(emulator).v1.charges.retrieve(charge.id)
    assert outcomes.count("ok") == 16  # 16 × 300 = 4800 ≤ 5000 < 17 × 300
    assert outcomes.count("amount_too_large") == 4
    assert after.amount_refunded == 4800
    refunds = make_client(emulator).v1.refunds.list({"charge": charge.id, "limit": 100})
    assert sum(r.amount for r in refunds.data) == 4800

"""Idempotency keys, as Stripe's: replay, mismatch, key in use, per API key."""

from __future__ import annotations

import threading
import time
import urllib.request

import pytest
import stripe

from .conftest import make_client


def test_same_key_and_parameters_replays_the_first_response(client, make_charge):
    charge = make_charge(5000)
    params = {"charge": charge.id, "amount": 1000}

    first = client.v1.refunds.create(params, {"idempotency_key": "refund:17"})
    second = client.v1.refunds.create(params, {"idempotency_key": "refund:17"})

    assert second.id == first.id
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 1000
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"
    assert second.last_response.request_id == first.last_response.request_id


def test_same_key_with_different_parameters_is_an_idempotency_error(client, make_charge):
    charge = make_charge(5000)
    client.v1.refunds.create(
        {"charge": charge.id, "amount": 1000}, {"idempotency_key": "refund:18"}
    )

    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.refunds.create(
            {"charge": charge.id, "amount": 2000}, {"idempotency_key": "refund:18"}
        )

    assert raised.value.http_status == 400
    assert raised.value.error.type == "idempotency_error"
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 1000


def test_errors_from_execution_are_replayed_too(client, make_charge):
    charge = make_charge(1000)

    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.refunds.create(
                {"charge": charge.id, "amount": 5000}, {"idempotency_key": "too-much"}
            )
        assert raised.value.code == "amount_too_large"


def test_declines_are_replayed_without_a_second_charge(client, make_customer):
    customer = make_customer(card="pm_card_chargeDeclined")
    params = {
        "amount": 1000,
        "currency": "usd",
        "customer": customer.id,
        "payment_method": customer.invoice_settings.default_payment_method,
        "confirm": True,
    }

    for _ in range(2):
        with pytest.raises(stripe.CardError):
            client.v1.payment_intents.create(params, {"idempotency_key": "pay:1"})

    assert len(client.v1.charges.list({"customer": customer.id}).data) == 1


def test_validation_failures_are_not_saved_so_the_key_can_be_reused(client):
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.prices.create({"unit_amount": 100}, {"idempotency_key": "price:1"})  # type: ignore[typeddict-item]

    product = client.v1.products.create({"name": "Team"})
    price = client.v1.prices.create(
        {"unit_amount": 100, "currency": "usd", "product": product.id},
        {"idempotency_key": "price:1"},
    )

    assert price.unit_amount == 100


def test_keys_are_scoped_per_api_key(emulator):
    one = stripe.StripeClient(
        "sk_test_one", base_addresses={"api": emulator.url}, max_network_retries=0
    )
    two = stripe.StripeClient(
        "sk_test_two", base_addresses={"api": emulator.url}, max_network_retries=0
    )

    first = one.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "shared"})
    second = two.v1.customers.create({"email": "b@example.com"}, {"idempotency_key": "shared"})

    assert first.id != second.id


def test_request_in_flight_with_the_same_key_is_409(emulator):
    emulator.add_fault("/v1/customers", "delay", method="POST", seconds=1.0)
    results: list[str] = []

    def slow() -> None:
        customer = make_client(emulator).v1.customers.create({}, {"idempotency_key": "busy"})
        results.append(customer.id)

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.3)
    with pytest.raises(stripe.APIError) as raised:
        make_client(emulator).v1.customers.create({}, {"idempotency_key": "busy"})
    thread.join()

    assert raised.value.http_status == 409
    assert raised.value.error.code == "idempotency_key_in_use"
    assert len(results) == 1
    assert len(make_client(emulator).v1.customers.list().data) == 1


def test_get_requests_ignore_idempotency_keys(emulator, client):
    customer = client.v1.customers.create({})
    request = urllib.request.Request(
        f"{emulator.url}/v1/customers/{customer.id}",
        headers={"Authorization": "Bearer sk_test_x", "Idempotency-Key": "k"},
    )

    with urllib.request.urlopen(request) as response:
        assert response.headers.get("Idempotent-Replayed") is None

"""Injected faults: 5xx, rate limits, timeouts and dropped connections."""

from __future__ import annotations

import json
import urllib.request

import pytest
import stripe

from .conftest import make_client


def _client_with_timeout(emulator, seconds: float) -> stripe.StripeClient:
    return make_client(emulator, http_client=stripe.RequestsClient(timeout=seconds))


@pytest.mark.parametrize("status", ["500", "503"])
def test_5xx_fault_is_an_api_error_and_applies_nothing(client, emulator, make_charge, status):
    charge = make_charge(5000)
    emulator.add_fault("/v1/refunds", status, method="POST")

    with pytest.raises(stripe.APIError) as raised:
        client.v1.refunds.create({"charge": charge.id, "amount": 100}, {"idempotency_key": "r1"})
    retried = client.v1.refunds.create(
        {"charge": charge.id, "amount": 100}, {"idempotency_key": "r1"}
    )

    assert raised.value.http_status == int(status)
    assert raised.value.error.type == "api_error"
    assert retried.last_response.headers.get("Idempotent-Replayed") is None
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 100


def test_429_fault_is_a_rate_limit_error(client, emulator):
    emulator.add_fault("/v1/customers", "429")

    with pytest.raises(stripe.RateLimitError) as raised:
        client.v1.customers.create({})

    assert raised.value.http_status == 429
    assert raised.value.error.code == "rate_limit"
    assert client.v1.customers.list().data == []


def test_faults_are_consumed_per_matching_request(client, emulator):
    emulator.add_fault("/v1/customers", "503", method="POST", count=2)

    for _ in range(2):
        with pytest.raises(stripe.APIError):
            client.v1.customers.create({})
    client.v1.customers.list()  # GET does not match the POST fault
    customer = client.v1.customers.create({})

    assert customer.id.startswith("cus_")


def test_timeout_fault_times_the_client_out_without_applying(emulator, make_charge):
    charge = make_charge(5000)
    emulator.add_fault("/v1/refunds", "timeout", method="POST", seconds=1.5)
    client = _client_with_timeout(emulator, 0.5)

    with pytest.raises(stripe.APIConnectionError):
        client.v1.refunds.create({"charge": charge.id, "amount": 100}, {"idempotency_key": "t1"})
    retried = client.v1.refunds.create(
        {"charge": charge.id, "amount": 100}, {"idempotency_key": "t1"}
    )

    assert retried.last_response.headers.get("Idempotent-Replayed") is None
    assert make_client(emulator).v1.charges.retrieve(charge.id).amount_refunded == 100


def test_timeout_fault_with_apply_executes_and_the_retry_replays(emulator, make_charge):
    charge = make_charge(5000)
    emulator.add_fault("/v1/refunds", "timeout", method="POST", seconds=1.5, apply=True)
    client = _client_with_timeout(emulator, 0.5)

    with pytest.raises(stripe.APIConnectionError):
        client.v1.refunds.create({"charge": charge.id, "amount": 100}, {"idempotency_key": "t2"})
    retried = client.v1.refunds.create(
        {"charge": charge.id, "amount": 100}, {"idempotency_key": "t2"}
    )

    assert retried.last_response.headers.get("Idempotent-Replayed") == "true"
    assert make_client(emulator).v1.charges.retrieve(charge.id).amount_refunded == 100


def test_drop_after_apply_loses_the_response_but_not_the_change(client, emulator, make_charge):
    charge = make_charge(5000)
    emulator.add_fault("/v1/refunds", "drop_after_apply", method="POST")

    with pytest.raises(stripe.APIConnectionError):
        client.v1.refunds.create({"charge": charge.id, "amount": 300}, {"idempotency_key": "d1"})
    applied = client.v1.charges.retrieve(charge.id).amount_refunded
    retried = client.v1.refunds.create(
        {"charge": charge.id, "amount": 300}, {"idempotency_key": "d1"}
    )

    assert applied == 300
    assert retried.last_response.headers.get("Idempotent-Replayed") == "true"
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 300
    assert len(client.v1.refunds.list({"charge": charge.id}).data) == 1


def test_faults_are_scheduled_through_the_control_api(client, emulator):
    spec = {"method": "POST", "path": "/v1/customers", "fault": "500", "count": 1}
    urllib.request.urlopen(
        urllib.request.Request(
            emulator.url + "/_emulator/faults", data=json.dumps(spec).encode(), method="POST"
        )
    ).close()

    with pytest.raises(stripe.APIError):
        client.v1.customers.create({})
    assert client.v1.customers.create({}).id.startswith("cus_")


def test_reset_clears_state_and_faults(client, emulator):
    client.v1.customers.create({})
    emulator.add_fault("/v1/customers", "500")

    emulator.reset()

    assert client.v1.customers.list().data == []
    assert client.v1.customers.create({}).id.startswith("cus_")

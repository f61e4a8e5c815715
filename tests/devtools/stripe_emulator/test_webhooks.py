"""Events and signed webhook delivery."""

from __future__ import annotations

import json
import random
import time
import urllib.request

import pytest
import stripe

from devtools.stripe_emulator import signature_header

SECRET = "whsec_test_secret"


def test_events_list_filters_by_type_and_types(client):
    customer = client.v1.customers.create({"email": "a@example.com"})
    client.v1.customers.update(customer.id, {"name": "Ada"})
    client.v1.products.create({"name": "Team"})

    customers = client.v1.events.list({"type": "customer.*"})
    exact = client.v1.events.list({"types": ["customer.updated", "product.created"]})
    one = client.v1.events.retrieve(customers.data[0].id)

    assert [e.type for e in customers.data] == ["customer.updated", "customer.created"]
    assert [e.type for e in exact.data] == ["product.created", "customer.updated"]
    assert one.api_version == "2026-10-28.endive"
    assert one.request.id.startswith("req_")


def test_update_event_carries_previous_attributes(client):
    customer = client.v1.customers.create({"email": "old@example.com"})

    client.v1.customers.update(customer.id, {"email": "new@example.com"})
    event = client.v1.events.list({"type": "customer.updated"}).data[0]

    assert event.data.object.email == "new@example.com"
    assert event.data.previous_attributes.to_dict() == {"email": "old@example.com"}


def test_events_carry_the_idempotency_key_of_their_request(client):
    customer = client.v1.customers.create({}, {"idempotency_key": "create-customer-1"})

    event = client.v1.events.list({"type": "customer.created"}).data[0]

    assert event.data.object.id == customer.id
    assert event.request.idempotency_key == "create-customer-1"


def test_webhooks_are_signed_so_stripe_python_verifies_them(client, emulator, receiver):
    emulator.add_webhook_endpoint(receiver.url, SECRET)

    customer = client.v1.customers.create({"email": "hook@example.com"})
    assert receiver.wait_for(lambda deliveries: len(deliveries) >= 1)
    delivery = receiver.accepted()[0]
    event = stripe.Webhook.construct_event(delivery["payload"], delivery["signature"], SECRET)

    assert event.type == "customer.created"
    assert event.data.object.id == customer.id
    assert delivery["signature"].startswith("t=")


def test_signature_with_wrong_secret_or_stale_time_fails_verification(client, emulator, receiver):
    emulator.add_webhook_endpoint(receiver.url, SECRET)
    client.v1.customers.create({})
    assert receiver.wait_for(lambda deliveries: len(deliveries) >= 1)
    payload = receiver.accepted()[0]["payload"]
    stale = signature_header(payload, SECRET, timestamp=int(time.time()) - 3600)

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, receiver.accepted()[0]["signature"], "whsec_forged")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, stale, SECRET)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            payload.replace("customer", "kustomer"), receiver.accepted()[0]["signature"], SECRET
        )


def test_signature_time_is_wall_clock_even_when_the_emulator_clock_is_in_the_past(
    client, emulator, receiver
):
    emulator.set_clock(1_600_000_000, frozen=True)
    emulator.add_webhook_endpoint(receiver.url, SECRET)

    client.v1.customers.create({})
    assert receiver.wait_for(lambda deliveries: len(deliveries) >= 1)
    delivery = receiver.accepted()[0]
    event = stripe.Webhook.construct_event(delivery["payload"], delivery["signature"], SECRET)

    assert event.created == 1_600_000_000


def test_deliveries_are_in_event_order(client, emulator, receiver):
    emulator.add_webhook_endpoint(receiver.url, SECRET)

    for index in range(5):
        client.v1.customers.create({"email": f"c{index}@example.com"})
    assert receiver.wait_for(lambda deliveries: len(deliveries) >= 5)
    ids = [json.loads(d["payload"])["id"] for d in receiver.accepted()]

    assert ids == [e.id for e in reversed(client.v1.events.list().data)]


def test_failed_delivery_is_retried_until_accepted(client, emulator, receiver):
    receiver.statuses.extend([500, 503])
    emulator.add_webhook_endpoint(receiver.url, SECRET)

    client.v1.customers.create({})
    assert receiver.wait_for(lambda deliveries: len(deliveries) >= 3)

    assert [d["status"] for d in receiver.deliveries] == [500, 503, 200]
    assert len({d["payload"] for d in receiver.deliveries}) == 1


def test_paused_deliveries_can_be_drained_and_sent_shuffled(client, emulator, receiver):
    emulator.add_webhook_endpoint(receiver.url, SECRET)
    emulator.pause_webhooks()
    for index in range(4):
        client.v1.customers.create({"email": f"c{index}@example.com"})
    time.sleep(0.1)
    assert receiver.deliveries == []

    deliveries = emulator.drain_webhooks()
    random.Random(7).shuffle(deliveries)
    for delivery in deliveries:
        request = urllib.request.Request(
            delivery["url"],
            data=delivery["payload"].encode(),
            headers=delivery["headers"],
            method="POST",
        )
        urllib.request.urlopen(request).close()

    assert len(receiver.accepted()) == 4
    for delivery in receiver.accepted():
        stripe.Webhook.construct_event(delivery["payload"], delivery["signature"], SECRET)


def test_flush_delivers_while_paused(client, emulator, receiver):
    emulator.add_webhook_endpoint(receiver.url, SECRET)
    emulator.pause_webhooks()
    client.v1.customers.create({})

    assert emulator.flush_webhooks(timeout=5)
    assert receiver.accepted_types() == ["customer.created"]


def test_webhook_endpoint_configured_through_the_control_api(client, emulator, receiver):
    body = json.dumps({"url": receiver.url, "secret": SECRET}).encode()
    urllib.request.urlopen(
        urllib.request.Request(emulator.url + "/_emulator/webhooks", data=body, method="POST")
    ).close()

    client.v1.customers.create({})

    assert receiver.wait_for(lambda deliveries: len(deliveries) >= 1)

"""The HTTP contract every endpoint shares: keys, errors, unknown URLs, ids, lists, expand."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
import stripe

from devtools.stripe_emulator import EmulatorHandle


def _raw(
    handle: EmulatorHandle, method: str, path: str, key: str | None = "sk_test_x", body: str = ""
):
    request = urllib.request.Request(
        handle.url + path, data=body.encode() if method == "POST" else None, method=method
    )
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_request_without_api_key_is_401(emulator):
    status, headers, body = _raw(emulator, "GET", "/v1/customers", key=None)

    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert "did not provide an API key" in body["error"]["message"]
    assert headers["Request-Id"].startswith("req_")


def test_live_or_malformed_key_is_rejected_by_stripe_python(emulator):
    client = stripe.StripeClient(
        "sk_live_nope1234", base_addresses={"api": emulator.url}, max_network_retries=0
    )

    with pytest.raises(stripe.AuthenticationError, match="Invalid API Key provided"):
        client.v1.customers.list()


def test_unknown_endpoint_is_404_unrecognized_url(emulator):
    status, headers, body = _raw(emulator, "GET", "/v1/teleporters")

    assert status == 404
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("Unrecognized request URL (GET: /v1/teleporters)")
    assert headers["Request-Id"].startswith("req_")


def test_unsupported_method_on_known_path_is_unrecognized(emulator):
    status, _, body = _raw(emulator, "DELETE", "/v1/charges")

    assert status == 404
    assert "Unrecognized request URL (DELETE: /v1/charges)" in body["error"]["message"]


def test_every_response_carries_a_request_id(emulator):
    _, headers, _ = _raw(emulator, "POST", "/v1/customers", body="email=a%40b.c")

    assert re.fullmatch(r"req_[A-Za-z0-9]{14}", headers["Request-Id"])


def test_missing_object_is_resource_missing_with_stripe_wording(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.retrieve("cus_doesnotexist")

    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.param == "id"
    assert str(raised.value.user_message) == "No such customer: 'cus_doesnotexist'"


def test_missing_required_parameter_is_parameter_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.prices.create({"unit_amount": 100, "product": "prod_x"})

    assert raised.value.code == "parameter_missing"
    assert raised.value.param == "currency"


def test_unknown_parameter_on_strict_endpoint_is_parameter_unknown(client, make_charge):
    charge = make_charge()
    refund = client.v1.refunds.create({"charge": charge.id, "amount": 100})

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.update(refund.id, {"amount": 5})  # type: ignore[typeddict-unknown-key]

    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "amount"


def test_ids_have_stripe_prefixes_and_objects_common_fields(client, make_customer):
    customer = make_customer()

    assert re.fullmatch(r"cus_[A-Za-z0-9]{14,24}", customer.id)
    assert customer.object == "customer"
    assert customer.livemode is False
    assert isinstance(customer.created, int)
    assert customer.metadata.to_dict() == {}


def test_list_paginates_newest_first_with_cursors(client):
    created = [client.v1.customers.create({"email": f"c{i}@example.com"}).id for i in range(5)]

    first = client.v1.customers.list({"limit": 2})
    second = client.v1.customers.list({"limit": 2, "starting_after": first.data[-1].id})
    back = client.v1.customers.list({"limit": 2, "ending_before": second.data[0].id})
    everything = [c.id for c in client.v1.customers.list({"limit": 2}).auto_paging_iter()]

    assert first.object == "list"
    assert first.url == "/v1/customers"
    assert [c.id for c in first.data] == created[::-1][:2]
    assert first.has_more is True
    assert [c.id for c in second.data] == created[::-1][2:4]
    assert [c.id for c in back.data] == [c.id for c in first.data]
    assert everything == created[::-1]


def test_list_limit_above_100_is_rejected(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.list({"limit": 101})

    assert raised.value.param == "limit"


def test_expand_replaces_an_id_with_the_object(client, make_customer, make_price):
    customer = make_customer()
    price = make_price()
    subscription = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}]}
    )

    expanded = client.v1.subscriptions.retrieve(
        subscription.id, {"expand": ["latest_invoice", "customer"]}
    )

    assert expanded.latest_invoice.object == "invoice"
    assert expanded.customer.id == customer.id


def test_control_api_is_json_and_separate_from_stripe_paths(emulator):
    status, _, body = _raw(emulator, "GET", "/_emulator/clock", key=None)

    assert status == 200
    assert set(body) == {"now", "frozen", "offset"}

"""Saving the emulator's state to a file and loading it back: a restart keeps the account."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import stripe

from devtools.stripe_emulator import EmulatorHandle, Settings, start_emulator
from devtools.stripe_emulator.persistence import StateFileError

from .conftest import make_client
from .test_command import ROOT, _free_port

DAY = 86_400
JAN_1 = 1_767_225_600  # 2026-01-01T00:00:00Z


@contextmanager
def restarted(path: Path, **kwargs) -> Iterator[tuple[EmulatorHandle, stripe.StripeClient]]:
    handle = start_emulator(state_path=path, **kwargs)
    try:
        yield handle, make_client(handle)
    finally:
        handle.stop()


def _subscribed(client, make_customer, make_price, quantity: int = 3):
    customer = make_customer()
    price = make_price(1000)
    subscription = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id, "quantity": quantity}]}
    )
    return customer, subscription


def test_a_loaded_emulator_shows_every_object_and_event_as_saved(
    client, emulator, make_customer, make_price, tmp_path
):
    emulator.set_clock(JAN_1, frozen=True)
    customer, subscription = _subscribed(client, make_customer, make_price)
    emulator.advance_clock(40 * DAY)
    saved = emulator.state()

    emulator.save(tmp_path / "state.pickle")

    with restarted(tmp_path / "state.pickle") as (loaded, loaded_client):
        assert loaded.state() == saved
        assert loaded_client.v1.subscriptions.retrieve(subscription.id).status == "active"
        invoices = loaded_client.v1.invoices.list({"customer": customer.id})
        assert [invoice.number for invoice in invoices.data] == [
            f"{customer.invoice_prefix}-0002",
            f"{customer.invoice_prefix}-0001",
        ]
        events = loaded_client.v1.events.list({"limit": 100})
        assert [event.id for event in events.data] == [event["id"] for event in saved["event"]]


def test_the_clock_comes_back_frozen_or_running_as_it_was(emulator, tmp_path):
    emulator.set_clock(JAN_1, frozen=True)
    emulator.save(tmp_path / "frozen.pickle")
    emulator.set_clock(int(time.time()) - 7 * DAY, frozen=False)
    emulator.save(tmp_path / "running.pickle")

    with restarted(tmp_path / "frozen.pickle") as (frozen, _):
        assert frozen.now() == JAN_1
        assert frozen.emulator.clock.frozen
    with restarted(tmp_path / "running.pickle") as (running, _):
        assert abs(running.now() - (int(time.time()) - 7 * DAY)) <= 2
        assert not running.emulator.clock.frozen


def test_a_loaded_account_carries_on_renewing_numbering_and_linking(
    client, emulator, make_customer, make_price, tmp_path
):
    emulator.set_clock(JAN_1, frozen=True)
    customer, subscription = _subscribed(client, make_customer, make_price)
    emulator.save(tmp_path / "state.pickle")

    with restarted(tmp_path / "state.pickle") as (loaded, loaded_client):
        item = subscription["items"].data[0]
        loaded_client.v1.subscriptions.update(
            subscription.id,
            {"items": [{"id": item.id, "quantity": 5}], "proration_behavior": "none"},
        )
        loaded.advance_clock(32 * DAY)
        newcomer = loaded_client.v1.customers.create({"email": "new@example.com"})
        renewed = loaded_client.v1.invoices.retrieve(
            loaded_client.v1.subscriptions.retrieve(subscription.id).latest_invoice
        )
        customers = loaded_client.v1.customers.list()

        # The item is one object in the subscription and on its own, after loading as before.
        assert loaded_client.v1.subscription_items.retrieve(item.id).quantity == 5
        assert (renewed.number, renewed.amount_paid) == (f"{customer.invoice_prefix}-0002", 5000)
        assert [c.id for c in customers.data] == [newcomer.id, customer.id]


def test_idempotency_keys_replay_after_loading(client, emulator, make_charge, tmp_path):
    charge = make_charge(5000)
    params = {"charge": charge.id, "amount": 1000}
    first = client.v1.refunds.create(params, {"idempotency_key": "refund:1"})
    emulator.save(tmp_path / "state.pickle")

    with restarted(tmp_path / "state.pickle") as (_, loaded_client):
        replayed = loaded_client.v1.refunds.create(params, {"idempotency_key": "refund:1"})
        with pytest.raises(stripe.IdempotencyError):
            loaded_client.v1.refunds.create(
                {"charge": charge.id, "amount": 2000}, {"idempotency_key": "refund:1"}
            )

        assert replayed.id == first.id
        assert replayed.last_response.headers.get("Idempotent-Replayed") == "true"
        assert loaded_client.v1.charges.retrieve(charge.id).amount_refunded == 1000


def test_webhooks_still_queued_are_delivered_after_loading(client, emulator, receiver, tmp_path):
    emulator.add_webhook_endpoint("http://127.0.0.1:9/not-listening", "whsec_old")
    emulator.pause_webhooks()
    customer = client.v1.customers.create({"email": "queued@example.com"})
    emulator.save(tmp_path / "state.pickle")
    emulator.drain_webhooks()

    with restarted(tmp_path / "state.pickle", webhook_url=receiver.url, webhook_secret="whsec_x"):
        delivered = receiver.wait_for(lambda deliveries: len(deliveries) >= 1)

        assert delivered
        assert receiver.accepted_types() == ["customer.created"]
        payload = json.loads(receiver.accepted()[0]["payload"])
        assert payload["data"]["object"]["id"] == customer.id
        stripe.WebhookSignature.verify_header(
            receiver.accepted()[0]["payload"], receiver.accepted()[0]["signature"], "whsec_x"
        )


def test_the_saved_account_settings_come_back(tmp_path):
    handle = start_emulator(settings=Settings(final_failure_action="past_due"))
    handle.save(tmp_path / "state.pickle")
    handle.stop()

    with restarted(tmp_path / "state.pickle") as (loaded, _):
        assert loaded.emulator.ctx.settings.final_failure_action == "past_due"


def test_a_missing_file_starts_an_empty_emulator_that_saves_there(tmp_path):
    path = tmp_path / "new" / "state.pickle"

    with restarted(path) as (loaded, loaded_client):
        loaded_client.v1.customers.create({"email": "first@example.com"})
        loaded.save()

    assert path.exists()
    assert [entry.name for entry in path.parent.iterdir()] == ["state.pickle"]
    with restarted(path) as (again, _):
        assert [c["email"] for c in again.state("customer")["customer"]] == ["first@example.com"]


def test_a_file_that_is_not_a_saved_state_is_refused(emulator, tmp_path):
    path = tmp_path / "state.pickle"
    path.write_bytes(b"not a pickle")

    with pytest.raises(StateFileError):
        emulator.load(path)
    with pytest.raises(ValueError, match="needs a path"):
        emulator.save()


def test_the_command_keeps_its_state_across_restarts_with_state(tmp_path):
    path = tmp_path / "state.pickle"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(action):
        port = _free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devtools.stripe_emulator",
                "--port",
                str(port),
                "--state",
                path,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            if process.stdout:
                process.stdout.readline()
            result = action(
                stripe.StripeClient(
                    "sk_test_cli",
                    base_addresses={"api": f"http://127.0.0.1:{port}"},
                    max_network_retries=0,
                )
            )
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
            return result
        finally:
            if process.poll() is None:
                process.kill()

    created = run(lambda client: client.v1.customers.create({"email": "kept@example.com"}))
    listed = run(lambda client: client.v1.customers.list())

    assert [customer.id for customer in listed.data] == [created.id]

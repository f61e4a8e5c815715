"""Fixtures: one real emulator per session on loopback (reset before every test), a
stripe-python client pointed at it, a webhook receiver, and small builders for test data."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from devtools.stripe_emulator import EmulatorHandle, start_emulator

API_KEY = "sk_test_emulator"


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[EmulatorHandle]:
    handle = start_emulator(webhook_backoff_seconds=(0.05, 0.1, 0.2), timeout_fault_seconds=1.5)
    yield handle
    handle.stop()


@pytest.fixture
def emulator(emulator_session: EmulatorHandle) -> EmulatorHandle:
    emulator_session.reset()
    emulator_session.emulator.webhooks.clear_endpoints()
    return emulator_session


def make_client(handle: EmulatorHandle, **kwargs: Any) -> stripe.StripeClient:
    return stripe.StripeClient(
        API_KEY, base_addresses={"api": handle.url}, max_network_retries=0, **kwargs
    )


@pytest.fixture
def client(emulator: EmulatorHandle) -> stripe.StripeClient:
    return make_client(emulator)


class WebhookReceiver:
    """A loopback endpoint that records deliveries and answers with scripted statuses."""

    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self.statuses: deque[int] = deque()
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._cond:
                    status = receiver.statuses.popleft() if receiver.statuses else 200
                    receiver.deliveries.append(
                        {
                            "payload": body.decode("utf-8"),
                            "signature": self.headers.get("Stripe-Signature"),
                            "status": status,
                        }
                    )
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stripe/webhook/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def accepted(self) -> list[dict[str, Any]]:
        with self._cond:
            return [d for d in self.deliveries if 200 <= d["status"] < 300]

    def accepted_types(self) -> list[str]:
        return [json.loads(d["payload"])["type"] for d in self.accepted()]

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0
    ) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.deliveries), timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def make_customer(client: stripe.StripeClient) -> Callable[..., Any]:
    def make(card: str | None = "pm_card_visa", **fields: Any) -> Any:
        params: dict[str, Any] = {"email": "ada@example.com", "name": "Ada Lovelace", **fields}
        if card:
            params["payment_method"] = card
            params["invoice_settings"] = {"default_payment_method": card}
        return client.v1.customers.create(params)

    return make


@pytest.fixture
def make_price(client: stripe.StripeClient) -> Callable[..., Any]:
    def make(amount: int = 1000, interval: str | None = "month", name: str = "Team") -> Any:
        product = client.v1.products.create({"name": name})
        params: dict[str, Any] = {"product": product.id, "unit_amount": amount, "currency": "usd"}
        if interval:
            params["recurring"] = {"interval": interval}
        return client.v1.prices.create(params)

    return make


@pytest.fixture
def make_charge(
    client: stripe.StripeClient, make_customer: Callable[..., Any]
) -> Callable[..., Any]:
    """A succeeded charge of ``amount`` on a fresh customer's Visa."""

    def make(amount: int = 5000) -> Any:
        customer = make_customer()
        intent = client.v1.payment_intents.create(
            {
                "amount": amount,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": customer.invoice_settings.default_payment_method,
                "confirm": True,
                "off_session": True,
            }
        )
        return client.v1.charges.retrieve(intent.latest_charge)

    return make

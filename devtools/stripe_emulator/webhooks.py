"""Webhook delivery, signed like Stripe's.

Each event is POSTed as JSON to every configured endpoint with the header
``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}.{payload}")>``, which
``stripe.Webhook.construct_event(payload, header, secret)`` verifies. ``t`` is the wall-clock
time of the delivery attempt, never the emulator clock: receivers compare it to their own real
time (Stripe's default tolerance is 300 s).

A background thread delivers one event at a time, in the order events happened. A non-2xx
answer or a connection error is retried after a short backoff, up to ``max_attempts``; then the
delivery is dropped and recorded as failed. Delivery can be paused, so a test can let events pile
up, take them (already signed) with :meth:`WebhookDispatcher.drain` and send them itself in any
order, or release them with :meth:`WebhookDispatcher.flush`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from . import ids


def signature_header(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` value for ``payload`` signed with ``secret`` at ``timestamp``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode("utf-8"), f"{t}.{payload}".encode(), hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


@dataclass
class Endpoint:
    url: str
    secret: str
    id: str = field(default_factory=lambda: ids.new_id("we"))

    def describe(self) -> dict[str, str]:
        return {"id": self.id, "url": self.url, "secret": self.secret}


@dataclass
class Delivery:
    endpoint: Endpoint
    event_id: str
    event_type: str
    payload: str
    attempts: int = 0
    not_before: float = 0.0
    last_error: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint.url,
            "event_id": self.event_id,
            "type": self.event_type,
            "attempts": self.attempts,
            "last_error": self.last_error,
        }


class WebhookDispatcher:
    def __init__(
        self,
        *,
        max_attempts: int = 4,
        backoff_seconds: tuple[float, ...] = (0.2, 0.5, 1.0),
        timeout_seconds: float = 5.0,
    ) -> None:
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self._cond = threading.Condition()
        self._endpoints: list[Endpoint] = []
        self._queue: deque[Delivery] = deque()
        self._log: deque[dict[str, Any]] = deque(maxlen=1000)
        self._paused = False
        self._flushing = 0
        self._busy = False
        self._stopped = False
        self._thread = threading.Thread(
            target=self._run, name="stripe-emulator-webhooks", daemon=True
        )

    # Configuration -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=self.timeout_seconds + 1)

    def add_endpoint(self, url: str, secret: str) -> Endpoint:
        endpoint = Endpoint(url=url, secret=secret)
        with self._cond:
            self._endpoints.append(endpoint)
        return endpoint

    def clear_endpoints(self) -> None:
        with self._cond:
            self._endpoints = []

    def endpoint_count(self) -> int:
        with self._cond:
            return len(self._endpoints)

    def endpoints(self) -> list[Endpoint]:
        with self._cond:
            return list(self._endpoints)

    def reset(self) -> None:
        """Forget queued deliveries and the delivery log; endpoints and pause state stay."""
        with self._cond:
            self._queue.clear()
            self._log.clear()

    # Producing -----------------------------------------------------------------------------

    def enqueue(self, event: dict[str, Any]) -> int:
        """Queue ``event`` for every endpoint; returns how many deliveries are pending."""
        payload = json.dumps(event, indent=2)
        with self._cond:
            for endpoint in self._endpoints:
                self._queue.append(Delivery(endpoint, event["id"], event["type"], payload))
            self._cond.notify_all()
            return len(self._endpoints)

    def queued_events(self) -> list[tuple[str, str, str]]:
        """``(event id, type, payload)`` of every event with a delivery still queued, in order."""
        with self._cond:
            seen: dict[str, tuple[str, str, str]] = {}
            for delivery in self._queue:
                seen.setdefault(
                    delivery.event_id,
                    (delivery.event_id, delivery.event_type, delivery.payload),
                )
            return list(seen.values())

    def requeue(self, event_id: str, event_type: str, payload: str) -> int:
        """Queue an already serialised event (from a saved state) for every endpoint."""
        with self._cond:
            for endpoint in self._endpoints:
                self._queue.append(Delivery(endpoint, event_id, event_type, payload))
            self._cond.notify_all()
            return len(self._endpoints)

    # Control -------------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        with self._cond:
            return self._paused

    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def pending(self) -> list[dict[str, Any]]:
        with self._cond:
            return [delivery.describe() | {"payload": delivery.payload} for delivery in self._queue]

    def log(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._log)

    def drain(self) -> list[dict[str, Any]]:
        """Take every queued delivery out, each signed now, for the caller to send itself."""
        with self._cond:
            taken = list(self._queue)
            self._queue.clear()
        return [
            {
                "url": delivery.endpoint.url,
                "event_id": delivery.event_id,
                "type": delivery.event_type,
                "payload": delivery.payload,
                "headers": {
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": signature_header(
                        delivery.payload, delivery.endpoint.secret
                    ),
                },
            }
            for delivery in taken
        ]

    def flush(self, timeout: float = 10.0) -> bool:
        """Deliver everything queued now, even while paused; True if the queue emptied in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._queue or self._busy:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return True
            finally:
                self._flushing -= 1

    # Delivering ----------------------------------------------------------------------------

    def _next_ready(self) -> Delivery | None:
        """Wait (holding the condition) for a deliverable head of the queue; None when stopped."""
        while not self._stopped:
            if self._queue and (not self._paused or self._flushing):
                head = self._queue[0]
                wait = head.not_before - time.monotonic()
                if wait <= 0:
                    self._busy = True
                    return head
                self._cond.wait(wait)
            else:
                self._cond.wait()
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                delivery = self._next_ready()
            if delivery is None:
                return
            status, error = self._post(delivery)
            with self._cond:
                self._busy = False
                delivery.attempts += 1
                delivery.last_error = error
                delivered = error is None
                if delivered or delivery.attempts >= self.max_attempts:
                    if self._queue and self._queue[0] is delivery:
                        self._queue.popleft()
                    self._log.append(
                        delivery.describe() | {"status": status, "delivered": delivered}
                    )
                else:
                    index = min(delivery.attempts - 1, len(self.backoff_seconds) - 1)
                    delay = self.backoff_seconds[index] if self.backoff_seconds else 0.0
                    delivery.not_before = time.monotonic() + delay
                self._cond.notify_all()

    def _post(self, delivery: Delivery) -> tuple[int | None, str | None]:
        body = delivery.payload.encode("utf-8")
        request = urllib.request.Request(
            delivery.endpoint.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": signature_header(delivery.payload, delivery.endpoint.secret),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            return exc.code, f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}"
        if 200 <= status < 300:
            return status, None
        return status, f"HTTP {status}"

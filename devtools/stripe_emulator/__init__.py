"""A stateful Stripe emulator over HTTP, for tests and the demo.

stripe-python talks to it exactly as to Stripe::

    handle = start_emulator()                     # 127.0.0.1, a free port, background thread
    client = stripe.StripeClient(
        "sk_test_emulator",
        base_addresses={"api": handle.url},
        max_network_retries=0,
    )
    client.v1.customers.create({"email": "ada@example.com"})
    handle.stop()

It follows Stripe's documented behaviour for API version ``2026-10-28.endive`` (the version
pinned by stripe-python 16.1.0) for what the billing admin uses: customers and balance
transactions, products, prices, coupons, test cards, subscriptions (trials, proration, discounts,
pause collection, cancellation), invoices (finalize, pay, void, uncollectible, previews),
payment intents, charges and their balance transactions, refunds, credit notes, events and
signed webhooks, plus idempotency keys and injected faults. It is at least as strict as Stripe:
every endpoint accepts only the parameters it declares (:mod:`.schema`, checked in the tests
against stripe-python's own request types), so a parameter Stripe does not know, a missing
required one, an unsupported currency, an amount over eight digits or metadata over Stripe's
limits is refused with Stripe's error, as are idempotency keys over 255 characters and
``expand[]`` of what cannot be expanded. It imports neither Django nor ``stripe``; only the
standard library.

Its state lives in memory; ``handle.save(path)`` writes all of it to a file and
``start_emulator(state_path=path)`` (or ``handle.load(path)``) brings it back, so a restart
keeps the account (see :mod:`.persistence`).

Module map: :mod:`.server` (HTTP), :mod:`.app` (one request end to end), :mod:`.encoding`,
:mod:`.schema` (what each endpoint accepts) and :mod:`.params` (reading it), :mod:`.currencies`,
:mod:`.routing`, :mod:`.errors`, :mod:`.store` and :mod:`.ids`
(state), :mod:`.clock`, :mod:`.lifecycle` (what the clock drives), :mod:`.billing_math` and
:mod:`.periods` (money and calendar), :mod:`.events`, :mod:`.webhooks`, :mod:`.idempotency`,
:mod:`.faults`, :mod:`.expansion`, :mod:`.listing`, :mod:`.control` (the ``/_emulator`` API),
:mod:`.persistence` (save and load) and :mod:`.resources` (one module per Stripe area).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import ids, persistence
from .app import Emulator
from .context import Settings
from .server import EmulatorHTTPServer
from .webhooks import signature_header

__all__ = ["EmulatorHandle", "Settings", "signature_header", "start_emulator"]


@dataclass
class EmulatorHandle:
    """A running emulator: its ``url``, and direct access to its state for assertions."""

    emulator: Emulator
    server: EmulatorHTTPServer
    thread: threading.Thread
    webhook_secret: str | None = None
    state_path: Path | None = None
    _stopped: bool = field(default=False, repr=False)

    @property
    def host(self) -> str:
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def reset(self) -> None:
        self.emulator.reset()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.emulator.webhooks.stop()
        self.thread.join(timeout=5)

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # State -----------------------------------------------------------------------------------

    def state(self, kind: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Every object (or those of one kind, e.g. ``"charge"``) as the API shows them."""
        with self.emulator.store.lock:
            return self.emulator.store.dump(kind)

    def get(self, object_id: str) -> dict[str, Any] | None:
        from .store import render

        with self.emulator.store.lock:
            found = self.emulator.store.find(object_id)
            return render(found) if found is not None else None

    # Saving and loading ----------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the whole state to ``path`` (default: the ``state_path`` it started with)."""
        target = path if path is not None else self.state_path
        if target is None:
            raise ValueError("save() needs a path: this emulator was started without state_path.")
        return persistence.save(self.emulator, target)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Replace the state with the one saved at ``path``; its queued webhooks are queued
        again for the endpoints configured now."""
        persistence.load(self.emulator, path)

    # Clock -----------------------------------------------------------------------------------

    def now(self) -> int:
        return self.emulator.clock.now()

    def set_clock(self, timestamp: int, *, frozen: bool | None = None) -> None:
        """Jump to ``timestamp`` (past or future) without running anything."""
        with self.emulator.store.lock:
            self.emulator.clock.set(timestamp, frozen=frozen)

    def advance_clock(self, seconds: int) -> int:
        """Move forward, running renewals, trial ends and retries that fall due."""
        return self.emulator.advance_to(self.now() + seconds)

    def advance_clock_to(self, timestamp: int) -> int:
        return self.emulator.advance_to(timestamp)

    # Webhooks and faults ---------------------------------------------------------------------

    def add_webhook_endpoint(self, url: str, secret: str) -> None:
        self.emulator.webhooks.add_endpoint(url, secret)

    def pause_webhooks(self) -> None:
        self.emulator.webhooks.pause()

    def resume_webhooks(self) -> None:
        self.emulator.webhooks.resume()

    def flush_webhooks(self, timeout: float = 10.0) -> bool:
        return self.emulator.webhooks.flush(timeout)

    def drain_webhooks(self) -> list[dict[str, Any]]:
        return self.emulator.webhooks.drain()

    def add_fault(
        self,
        path: str,
        fault: str,
        *,
        method: str | None = None,
        count: int = 1,
        seconds: float | None = None,
        apply: bool = False,
    ) -> None:
        spec: dict[str, Any] = {
            "path": path,
            "fault": fault,
            "method": method,
            "count": count,
            "apply": apply,
        }
        if seconds is not None:
            spec["seconds"] = seconds
        self.emulator.faults.add(spec)


def start_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    *,
    settings: Settings | None = None,
    frozen_at: int | None = None,
    webhook_max_attempts: int = 4,
    webhook_backoff_seconds: tuple[float, ...] = (0.2, 0.5, 1.0),
    timeout_fault_seconds: float = 5.0,
    verbose: bool = False,
    state_path: str | os.PathLike[str] | None = None,
) -> EmulatorHandle:
    """Serve an emulator in a background thread; ``port=0`` picks a free port.

    ``webhook_url`` adds an endpoint signed with ``webhook_secret`` (a ``whsec_`` secret is
    generated when omitted; read it from ``handle.webhook_secret``). ``frozen_at`` freezes the
    clock at that Unix time. ``state_path`` loads the state saved there if the file exists (its
    account settings replace ``settings``; ``frozen_at``, if given, then sets the clock) and is
    where ``handle.save()`` writes by default.
    """
    emulator = Emulator(
        settings=settings,
        webhook_max_attempts=webhook_max_attempts,
        webhook_backoff_seconds=webhook_backoff_seconds,
        timeout_fault_seconds=timeout_fault_seconds,
    )
    if webhook_url:
        webhook_secret = webhook_secret or f"whsec_{ids.random_token(32)}"
        emulator.webhooks.add_endpoint(webhook_url, webhook_secret)
    if state_path is not None and Path(state_path).exists():
        persistence.load(emulator, state_path)
    if frozen_at is not None:
        emulator.clock.set(frozen_at, frozen=True)
    # Bind first: a port already taken fails here, before any thread is started.
    server = EmulatorHTTPServer((host, port), emulator, verbose=verbose)
    emulator.webhooks.start()
    thread = threading.Thread(
        target=server.serve_forever,
        name="stripe-emulator",
        kwargs={"poll_interval": 0.1},
        daemon=True,
    )
    thread.start()
    return EmulatorHandle(
        emulator,
        server,
        thread,
        webhook_secret,
        Path(state_path) if state_path is not None else None,
    )

"""Events: one for every state change, as Stripe records them.

An event carries ``data.object``, a snapshot of the whole object at that moment, and for
``*.updated`` events ``data.previous_attributes`` with the old values of what changed (nested
hashes only list their changed keys; an array that changed is given whole). ``request`` names
the API request and idempotency key that caused it, or is null for changes the clock drove
(renewals, trial ends). Events are stored like other objects (``evt_`` ids, newest first) and
handed to the webhook dispatcher in the order they happen.

This API version has no event for customer balance transactions; a balance change shows up as
``customer.updated`` with ``previous_attributes.balance``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from . import ids
from .clock import Clock
from .store import Store, render

API_VERSION = "2026-10-28.endive"

# (request id, idempotency key) of the API request being served; unset for clock-driven work.
current_request: ContextVar[tuple[str | None, str | None]] = ContextVar(
    "current_request", default=(None, None)
)

_MISSING = object()


class Deliverer(Protocol):
    """Where events go once recorded (the webhook dispatcher)."""

    def endpoint_count(self) -> int: ...

    def enqueue(self, event: dict[str, Any]) -> int: ...


def previous_attributes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Stripe's ``previous_attributes``: old values of changed keys, recursing into hashes."""
    changed: dict[str, Any] = {}
    for key in list(before) + [key for key in after if key not in before]:
        old = before.get(key, _MISSING)
        new = after.get(key, _MISSING)
        if old == new:
            continue
        if (
            isinstance(old, dict)
            and isinstance(new, dict)
            and old.get("object") != "list"
            and "id" not in old
        ):
            changed[key] = previous_attributes(old, new)
        else:
            changed[key] = None if old is _MISSING else old
    return changed


class EventLog:
    def __init__(self, store: Store, clock: Clock, webhooks: Deliverer) -> None:
        self._store = store
        self._clock = clock
        self._webhooks = webhooks

    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        previous: dict[str, Any] | None = None,
        *,
        snapshot: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an event; ``snapshot`` is an already rendered copy of ``obj`` to reuse."""
        request_id, idempotency_key = current_request.get()
        data: dict[str, Any] = {"object": snapshot if snapshot is not None else render(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": ids.new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self._clock.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": self._webhooks.endpoint_count(),
            "request": {"id": request_id, "idempotency_key": idempotency_key},
            "type": event_type,
        }
        self._store.add(event)
        # The webhook payload is serialised at once, so a shallow copy without "_order" will do.
        self._webhooks.enqueue({key: value for key, value in event.items() if key[0] != "_"})
        return event

    @contextmanager
    def updating(self, obj: dict[str, Any], event_type: str) -> Iterator[None]:
        """Emit ``event_type`` with ``previous_attributes`` if the block changed ``obj``."""
        before = render(obj)
        yield
        after = render(obj)
        changed = previous_attributes(before, after)
        if changed:
            self.emit(event_type, obj, changed, snapshot=after)

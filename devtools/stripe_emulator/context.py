"""What a handler works with: the store, the clock, the event log and the account's settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import ids
from .clock import Clock
from .events import EventLog
from .store import Store


@dataclass
class Settings:
    """Account-level billing settings, as in the Dashboard's subscription and email settings.

    ``retry_schedule_days``: Smart Retries approximated as a fixed schedule; after a renewal
    payment fails, it is retried this many days after the previous attempt.
    ``final_failure_action``: what happens to the subscription when the last retry fails:
    ``cancel`` (Stripe's default), ``unpaid`` or ``past_due`` (leave it).
    """

    retry_schedule_days: tuple[int, ...] = (3, 5, 7)
    final_failure_action: str = "cancel"
    trial_will_end_days: int = 3
    account_name: str = "Emulated Stripe Account"
    account_country: str = "US"


@dataclass
class Context:
    store: Store
    clock: Clock
    events: EventLog
    settings: Settings = field(default_factory=Settings)

    def now(self) -> int:
        return self.clock.now()

    def create(
        self, kind: str, fields: dict[str, Any], *, object_id: str | None = None
    ) -> dict[str, Any]:
        """Store a new object with the fields every Stripe object has, then ``fields``."""
        obj: dict[str, Any] = {
            "id": object_id or ids.new_id(ids.KIND_PREFIX[kind]),
            "object": kind,
            "created": self.now(),
            "livemode": False,
        }
        obj.update(fields)
        obj.setdefault("metadata", {})
        return self.store.add(obj)

    def emit(
        self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.events.emit(event_type, obj, previous)

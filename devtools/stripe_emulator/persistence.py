"""Saving the emulator's whole state to a file and loading it back, so a restart keeps it.

What is saved: every object and deleted-object stub (events included), the id ordering and
invoice-prefix counters, the clock (frozen instant, or offset from real time), the saved
idempotency responses, the account settings, and the webhook deliveries still queued (as their
events). What is not: injected faults, the delivery log and the webhook endpoints themselves,
which are configuration of the process that runs the emulator (``reset`` keeps them too).
Deliveries saved as queued are queued again on load for the endpoints configured by then.

The file is a pickle, because objects share nested dicts (a subscription item is the same dict
in ``subscription.items`` and in the store; an item's ``price`` is the price object) and a
pickle keeps those identities, which JSON would split apart. Load only files you wrote: a
pickle can run code. Writes go to a temporary file first and replace the old one atomically, so
a crash mid-save leaves the previous state intact.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .events import API_VERSION

if TYPE_CHECKING:
    from .app import Emulator

FORMAT = "billing-stripe-emulator-state"
VERSION = 2  # 2: balance transactions, invoice periods as Stripe defines them


class StateFileError(ValueError):
    """The file is not an emulator state this version can load."""


def snapshot(emulator: Emulator) -> bytes:
    """The whole state, pickled, taken under the store lock (so it is consistent)."""
    with emulator.store.lock:
        state: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "api_version": API_VERSION,
            "store": emulator.store.snapshot(),
            "clock": emulator.clock.snapshot(),
            "idempotency": emulator.idempotency.snapshot(),
            "settings": asdict(emulator.ctx.settings),
            "webhooks": emulator.webhooks.queued_events(),
        }
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def restore(emulator: Emulator, data: bytes) -> None:
    """Replace the emulator's state with a snapshot (queued webhooks are added, not replaced)."""
    try:
        # Only our own files are loaded (see the module docstring): a pickle can run code.
        state = pickle.loads(data)
    except Exception as error:
        raise StateFileError(f"Not an emulator state file: {error}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise StateFileError("Not an emulator state file.")
    if state.get("version") != VERSION:
        raise StateFileError(
            f"Emulator state version {state.get('version')} cannot be loaded (expected {VERSION})."
        )
    with emulator.store.lock:
        emulator.store.restore(state["store"])
        emulator.clock.restore(state["clock"])
        emulator.idempotency.restore(state["idempotency"])
        settings = emulator.ctx.settings
        for setting in fields(settings):
            if setting.name in state["settings"]:
                setattr(settings, setting.name, state["settings"][setting.name])
        emulator.faults.clear()
        for event_id, event_type, payload in state["webhooks"]:
            emulator.webhooks.requeue(event_id, event_type, payload)


def save(emulator: Emulator, path: str | os.PathLike[str]) -> Path:
    """Write the state to ``path`` atomically; returns the path."""
    target = Path(path)
    data = snapshot(emulator)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def load(emulator: Emulator, path: str | os.PathLike[str]) -> None:
    restore(emulator, Path(path).read_bytes())

"""The emulator's state: every object by kind and id, guarded by one lock.

Objects are kept as the JSON dicts the API returns. Keys starting with ``_`` are private
bookkeeping (a card's scripted outcome, insertion order) and never leave the emulator:
:func:`render` drops them and deep-copies, so a response or an event is a snapshot that later
changes cannot alter. Nested objects that Stripe also serves on their own (subscription items,
invoice lines) are the same dict in both places, so they cannot drift apart.

Concurrency: the HTTP server is threaded; every request handler runs while holding
``Store.lock`` (a re-entrant lock), so a read-modify-write such as "refund what is left on this
charge" is atomic. Twenty concurrent refunds on one charge are serialised here and can never
refund more than the charge amount.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from . import errors, ids

# Human names used in "No such ...: 'id'" messages, as Stripe words them.
NOUNS: dict[str, str] = {
    "customer": "customer",
    "customer_balance_transaction": "customer balance transaction",
    "product": "product",
    "price": "price",
    "coupon": "coupon",
    "payment_method": "PaymentMethod",
    "subscription": "subscription",
    "subscription_item": "subscription item",
    "discount": "discount",
    "invoice": "invoice",
    "invoiceitem": "invoice item",
    "invoice_payment": "invoice payment",
    "payment_intent": "payment_intent",
    "charge": "charge",
    "refund": "refund",
    "credit_note": "credit note",
    "event": "event",
    "balance_transaction": "balance transaction",
}


def render(value: Any) -> Any:
    """A deep copy without private (``_``-prefixed) keys: what the API shows."""
    kind = type(value)
    if kind is dict:
        return {key: render(item) for key, item in value.items() if key[0] != "_"}
    if kind is list:
        return [render(item) for item in value]
    return value


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._objects: dict[str, dict[str, dict[str, Any]]] = {}
        self._deleted: dict[str, dict[str, Any]] = {}
        self._order = itertools.count(1)
        self._invoice_prefix_counter = itertools.count(1)

    def reset(self) -> None:
        with self.lock:
            self._objects = {}
            self._deleted = {}
            self._order = itertools.count(1)
            self._invoice_prefix_counter = itertools.count(1)

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object under its ``object`` kind; lists show newest first by this order."""
        obj["_order"] = next(self._order)
        self._objects.setdefault(obj["object"], {})[obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str) -> dict[str, Any] | None:
        return self._objects.get(kind, {}).get(object_id)

    def require(self, kind: str, object_id: Any, *, param: str | None = "id") -> dict[str, Any]:
        """The live object, or Stripe's 404 ``resource_missing`` naming it."""
        noun = NOUNS.get(kind, kind)
        if not isinstance(object_id, str) or not object_id:
            raise errors.resource_missing(noun, str(object_id), param=param)
        obj = self.get(kind, object_id)
        if obj is None:
            raise errors.resource_missing(noun, object_id, param=param)
        return obj

    def find(self, object_id: str) -> dict[str, Any] | None:
        """Any object by id (its prefix gives the kind), for ``expand[]``."""
        kind = ids.kind_of(object_id)
        if kind is not None:
            return self.get(kind, object_id)
        return None

    def all(self, kind: str) -> list[dict[str, Any]]:
        """Every live object of a kind, newest first (Stripe's list order)."""
        objects = list(self._objects.get(kind, {}).values())
        objects.sort(key=lambda obj: obj["_order"], reverse=True)
        return objects

    def values(self, kind: str) -> list[dict[str, Any]]:
        """Every live object of a kind, oldest first (cheaper than :meth:`all`)."""
        return list(self._objects.get(kind, {}).values())

    def delete(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Remove an object; retrieving it afterwards shows Stripe's ``deleted: true`` stub."""
        self._objects.get(obj["object"], {}).pop(obj["id"], None)
        stub = {"id": obj["id"], "object": obj["object"], "deleted": True}
        self._deleted[obj["id"]] = stub
        return stub

    def deleted(self, object_id: str) -> dict[str, Any] | None:
        return self._deleted.get(object_id)

    def next_invoice_prefix(self) -> str:
        """A customer's ``invoice_prefix``: eight upper-case letters and digits, unique."""
        number = next(self._invoice_prefix_counter)
        return f"{ids.random_token(4).upper()}{number:04d}"

    def dump(self, kind: str | None = None) -> dict[str, list[dict[str, Any]]]:
        kinds = [kind] if kind else sorted(self._objects)
        return {name: [render(obj) for obj in self.all(name)] for name in kinds}

    # Saving and loading (see ``persistence``); the caller holds the lock ----------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything, private keys included, for a pickle (which keeps shared dicts shared)."""
        # A counter cannot be read without consuming it: take its next value, then start a
        # new counter there, so the next object still gets that value.
        next_order = next(self._order)
        self._order = itertools.count(next_order)
        next_prefix = next(self._invoice_prefix_counter)
        self._invoice_prefix_counter = itertools.count(next_prefix)
        return {
            "objects": self._objects,
            "deleted": self._deleted,
            "next_order": next_order,
            "next_invoice_prefix": next_prefix,
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        self._objects = snapshot["objects"]
        self._deleted = snapshot["deleted"]
        self._order = itertools.count(snapshot["next_order"])
        self._invoice_prefix_counter = itertools.count(snapshot["next_invoice_prefix"])

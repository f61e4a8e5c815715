"""``expand[]``: replace ids in a response with the objects they name.

Paths are dotted (``latest_invoice.payments``); on list responses they start with ``data.``
(``data.payment.payment_intent``). An array of ids (``discounts``) expands element-wise. Stripe
allows four levels. Some properties are *includable*: absent unless expanded, such as an
invoice's ``payments`` and a charge's ``refunds``; they are built here on request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import errors, listing
from .store import Store, render

MAX_DEPTH = 4

# Fields whose ids have no prefix (coupons are named by the merchant).
_FIELD_KINDS = {"coupon": "coupon"}


def _invoice_payments(store: Store, invoice: dict[str, Any]) -> dict[str, Any]:
    payments = [p for p in store.all("invoice_payment") if p["invoice"] == invoice["id"]]
    return listing.list_object(
        [render(p) for p in payments], f"/v1/invoice_payments?invoice={invoice['id']}"
    )


def _charge_refunds(store: Store, charge: dict[str, Any]) -> dict[str, Any]:
    refunds = [r for r in store.all("refund") if r["charge"] == charge["id"]]
    return listing.list_object([render(r) for r in refunds], f"/v1/charges/{charge['id']}/refunds")


INCLUDABLE: dict[tuple[str, str], Callable[[Store, dict[str, Any]], dict[str, Any]]] = {
    ("invoice", "payments"): _invoice_payments,
    ("charge", "refunds"): _charge_refunds,
}


def _resolve(store: Store, field: str, value: str) -> dict[str, Any] | None:
    obj = store.find(value)
    if obj is None and field in _FIELD_KINDS:
        obj = store.get(_FIELD_KINDS[field], value)
    if obj is None:
        obj = store.deleted(value)
    return render(obj) if obj is not None else None


def _expand_value(store: Store, field: str, value: Any, rest: list[str], path: str) -> Any:
    if isinstance(value, str):
        resolved = _resolve(store, field, value)
        if resolved is None:
            raise errors.invalid_request(
                f"This property cannot be expanded ({path}).", param="expand", replayable=False
            )
        value = resolved
    if isinstance(value, list):
        return [_expand_value(store, field, item, rest, path) for item in value]
    if rest and isinstance(value, dict):
        _expand_in(store, value, rest, path)
    return value


def _expand_in(store: Store, obj: dict[str, Any], parts: list[str], path: str) -> None:
    field, rest = parts[0], parts[1:]
    if obj.get("object") == "list" and field == "data":
        for item in obj["data"]:
            if rest:
                _expand_in(store, item, rest, path)
        return
    includable = INCLUDABLE.get((obj.get("object", ""), field))
    if includable is not None and field not in obj:
        obj[field] = includable(store, obj)
    if field not in obj or obj[field] is None:
        return
    obj[field] = _expand_value(store, field, obj[field], rest, path)


def expand(store: Store, payload: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """Apply every ``expand[]`` path to an already rendered response, in place."""
    for path in paths:
        parts = [part for part in path.split(".") if part]
        depth = len(parts) - (1 if parts and parts[0] == "data" else 0)
        if not parts or depth > MAX_DEPTH:
            raise errors.invalid_request(
                f"You cannot expand more than {MAX_DEPTH} levels of a property. Property: {path}",
                param="expand",
                replayable=False,
            )
        _expand_in(store, payload, parts, path)
    return payload

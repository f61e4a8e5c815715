"""``expand[]``: replace ids in a response with the objects they name, or refuse as Stripe does.

Paths are dotted (``latest_invoice.payments``); on list responses they start with ``data.``
(``data.payment.payment_intent``). A path may run through embedded objects and hashes
(``items.data.price.product``, ``discounts.source.coupon``) but must end at a property Stripe
declares expandable for that object (:data:`EXPANDABLE`, the ``ExpandableField`` properties
of the pinned stripe-python, checked by a test) or an *includable* one, absent unless expanded
(:data:`INCLUDABLE`: an invoice's ``payments``, a charge's ``refunds``). Anything else, a
property that does not exist or one that is not expandable, is Stripe's 400 "This property
cannot be expanded (x)." An array of ids (``discounts``) expands element-wise; a null stays
null. Stripe allows four levels, a list's ``data`` counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import errors, listing
from .store import Store, render

MAX_DEPTH = 4

# Fields whose ids have no prefix (coupons are named by the merchant).
_FIELD_KINDS = {"coupon": "coupon"}

# Per object type, the dotted paths (inside the object) of its expandable properties.
EXPANDABLE: dict[str, frozenset[str]] = {
    "balance_transaction": frozenset({"source"}),
    "charge": frozenset(
        {
            "application",
            "application_fee",
            "balance_transaction",
            "customer",
            "failure_balance_transaction",
            "on_behalf_of",
            "payment_intent",
            "payment_method_details.card.mandate",
            "review",
            "source_transfer",
            "transfer",
            "transfer_data.destination",
        }
    ),
    "credit_note": frozenset(
        {
            "customer",
            "customer_balance_transaction",
            "discount_amounts.discount",
            "invoice",
            "pretax_credit_amounts.credit_balance_transaction",
            "pretax_credit_amounts.discount",
            "refunds.refund",
            "shipping_cost.shipping_rate",
        }
    ),
    "credit_note_line_item": frozenset(
        {
            "discount_amounts.discount",
            "pretax_credit_amounts.credit_balance_transaction",
            "pretax_credit_amounts.discount",
        }
    ),
    "customer": frozenset(
        {"default_source", "invoice_settings.default_payment_method", "test_clock"}
    ),
    "customer_balance_transaction": frozenset(
        {"checkout_session", "credit_note", "customer", "invoice"}
    ),
    "discount": frozenset({"customer", "promotion_code", "source.coupon"}),
    "invoice": frozenset(
        {
            "application",
            "automatic_tax.liability.account",
            "customer",
            "default_payment_method",
            "default_source",
            "discounts",
            "from_invoice.invoice",
            "issuer.account",
            "latest_revision",
            "on_behalf_of",
            "parent.subscription_details.subscription",
            "shipping_cost.shipping_rate",
            "test_clock",
            "total_discount_amounts.discount",
            "total_pretax_credit_amounts.credit_balance_transaction",
            "total_pretax_credit_amounts.discount",
        }
    ),
    "invoice_payment": frozenset(
        {"invoice", "payment.charge", "payment.payment_intent", "payment.payment_record"}
    ),
    "invoiceitem": frozenset(
        {
            "customer",
            "invoice",
            "pricing.price_details.price",
            "proration_details.discount_amounts.discount",
            "test_clock",
        }
    ),
    "line_item": frozenset(
        {
            "discount_amounts.discount",
            "discounts",
            "pretax_credit_amounts.credit_balance_transaction",
            "pretax_credit_amounts.discount",
            "pricing.price_details.price",
            "subscription",
        }
    ),
    "payment_intent": frozenset(
        {
            "application",
            "customer",
            "latest_charge",
            "on_behalf_of",
            "payment_method",
            "payment_record",
            "review",
            "source",
            "transfer_data.destination",
        }
    ),
    "payment_method": frozenset({"card.generated_from.setup_attempt", "customer"}),
    "plan": frozenset({"product"}),
    "price": frozenset({"product"}),
    "product": frozenset({"default_price", "tax_code"}),
    "refund": frozenset(
        {
            "balance_transaction",
            "charge",
            "customer",
            "failure_balance_transaction",
            "payment_intent",
            "payment_method",
            "source_transfer_reversal",
            "transfer_reversal",
        }
    ),
    "subscription": frozenset(
        {
            "application",
            "automatic_tax.liability.account",
            "customer",
            "default_payment_method",
            "default_source",
            "discounts",
            "invoice_settings.issuer.account",
            "latest_invoice",
            "on_behalf_of",
            "pending_setup_intent",
            "schedule",
            "test_clock",
            "transfer_data.destination",
        }
    ),
    "subscription_item": frozenset({"discounts"}),
}


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
INCLUDED_KINDS = {("invoice", "payments"): "invoice_payment", ("charge", "refunds"): "refund"}

# Objects embedded whole in another (not expandable, but a path may run through them):
# object type -> property -> (the embedded object's type, whether it is a list object).
EMBEDDED: dict[str, dict[str, tuple[str, bool]]] = {
    "subscription": {"items": ("subscription_item", True)},
    "subscription_item": {"plan": ("plan", False), "price": ("price", False)},
    "invoice": {"lines": ("line_item", True)},
    "credit_note": {"lines": ("credit_note_line_item", True)},
}

# What an expandable property expands to, by its last segment where it is not its own name.
_TARGETS = {
    "balance_transaction": "balance_transaction",
    "charge": "charge",
    "coupon": "coupon",
    "credit_note": "credit_note",
    "customer": "customer",
    "customer_balance_transaction": "customer_balance_transaction",
    "default_payment_method": "payment_method",
    "default_price": "price",
    "discount": "discount",
    "discounts": "discount",
    "failure_balance_transaction": "balance_transaction",
    "invoice": "invoice",
    "latest_charge": "charge",
    "latest_invoice": "invoice",
    "payment_intent": "payment_intent",
    "payment_method": "payment_method",
    "price": "price",
    "product": "product",
    "refund": "refund",
    "subscription": "subscription",
}

# The object type of a list answer, by the last segment of its URL.
_LISTED = {
    "balance_transactions": "balance_transaction",
    "charges": "charge",
    "coupons": "coupon",
    "credit_notes": "credit_note",
    "customers": "customer",
    "events": "event",
    "invoice_payments": "invoice_payment",
    "invoiceitems": "invoiceitem",
    "invoices": "invoice",
    "payment_intents": "payment_intent",
    "payment_methods": "payment_method",
    "prices": "price",
    "products": "product",
    "refunds": "refund",
    "subscription_items": "subscription_item",
    "subscriptions": "subscription",
}


def _listed_kind(url: str) -> str | None:
    path = url.split("?", 1)[0].rstrip("/")
    segments = path.split("/")
    if segments[-1] == "lines":
        return "credit_note_line_item" if "credit_notes" in segments else "line_item"
    if segments[-1] == "balance_transactions" and "customers" in segments:
        return "customer_balance_transaction"
    return _LISTED.get(segments[-1])


def check_path(kind: str | None, parts: list[str]) -> None:
    """Refuse a path Stripe would refuse for an object of ``kind``, whatever the object holds
    (an empty list, a null on the way): each segment must be a property that can be expanded,
    or lead through a hash or an embedded object to one."""
    index, prefix = 0, ""
    while index < len(parts) and kind is not None:
        segment, last = parts[index], index == len(parts) - 1
        path = prefix + segment
        expandable = EXPANDABLE.get(kind, frozenset())
        if path in expandable:
            kind, prefix, index = _TARGETS.get(path.rsplit(".", 1)[-1]), "", index + 1
            continue
        included = INCLUDED_KINDS.get((kind, segment)) if not prefix else None
        embedded = EMBEDDED.get(kind, {}).get(path)
        target: tuple[str, bool] | None = None
        if included is not None:
            target = (included, True)
        elif embedded is not None and not last:
            target = embedded
        if target is not None:
            kind, is_list = target
            prefix, index = "", index + 1
            if is_list and index < len(parts):
                if parts[index] != "data":
                    raise _refused(parts[index], hint=True)
                index += 1
            continue
        if not last and any(known.startswith(path + ".") for known in expandable):
            prefix, index = path + ".", index + 1
            continue
        raise _refused(segment)


def _refused(segment: str, *, hint: bool = False) -> errors.StripeError:
    message = f"This property cannot be expanded ({segment})."
    if hint:
        message = message[:-1] + f". You may want to try expanding 'data.{segment}' instead."
    return errors.invalid_request(message, replayable=False)


def _resolve(store: Store, field: str, value: str) -> dict[str, Any] | None:
    obj = store.find(value)
    if obj is None and field in _FIELD_KINDS:
        obj = store.get(_FIELD_KINDS[field], value)
    if obj is None:
        obj = store.deleted(value)
    return render(obj) if obj is not None else None


def _expanded(store: Store, field: str, value: Any) -> Any:
    """An expandable property's value with its ids replaced by the objects they name."""
    if isinstance(value, str):
        resolved = _resolve(store, field, value)
        return resolved if resolved is not None else value
    if isinstance(value, list):
        return [_expanded(store, field, item) for item in value]
    return value


def _walk(store: Store, value: Any, parts: list[str], kind: str, prefix: str) -> None:
    """Continue a path into ``value`` (an object, a hash, or a list of either)."""
    if isinstance(value, list):
        for item in value:
            _walk(store, item, parts, kind, prefix)
        return
    if not isinstance(value, dict):
        return  # a null, or an id that could not be expanded
    own_kind = value.get("object")
    if own_kind is not None and own_kind != "list":
        kind, prefix = own_kind, ""
    _expand_in(store, value, parts, kind, prefix)


def _expand_in(store: Store, obj: dict[str, Any], parts: list[str], kind: str, prefix: str) -> None:
    segment, rest = parts[0], parts[1:]
    if obj.get("object") == "list":
        if segment != "data":
            raise _refused(segment, hint=True)
        if rest:
            for item in obj["data"]:
                _walk(store, item, rest, kind, prefix)
        return
    path = prefix + segment
    if path in EXPANDABLE.get(kind, ()):
        if obj.get(segment) is not None:
            obj[segment] = _expanded(store, segment, obj[segment])
            if rest:
                _walk(store, obj[segment], rest, kind, path + ".")
        return
    includable = INCLUDABLE.get((kind, segment)) if not prefix else None
    if includable is not None:
        if segment not in obj:
            obj[segment] = includable(store, obj)
        if rest:
            _walk(store, obj[segment], rest, kind, "")
        return
    if rest and isinstance(obj.get(segment), dict | list):
        _walk(store, obj[segment], rest, kind, path + ".")
        return
    raise _refused(segment)


def expand(store: Store, payload: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """Apply every ``expand[]`` path to an already rendered response, in place."""
    for path in paths:
        parts = [part for part in path.split(".") if part]
        # Stripe counts every segment, a list's `data` included: on a list of charges,
        # `data.invoice.subscription.default_source` is the deepest path it takes.
        if not parts or len(parts) > MAX_DEPTH:
            raise errors.invalid_request(
                f"You cannot expand more than {MAX_DEPTH} levels of a property. Property: {path}",
                param="expand",
                replayable=False,
            )
        if payload.get("object") == "list":
            if parts[0] != "data":
                raise _refused(parts[0], hint=True)
            check_path(_listed_kind(payload.get("url", "")), parts[1:])
        else:
            check_path(payload.get("object"), parts)
        _expand_in(store, payload, parts, payload.get("object", ""), "")
    return payload

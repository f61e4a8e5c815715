"""Object ids in Stripe's shape: a type prefix and random alphanumerics (``cus_Q1w2E3r4T5y6U7``).

The prefix tells the object's type, which is how ``expand[]`` finds the object behind an id.
"""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits

# Prefix -> the store's kind (the object's ``object`` value).
PREFIX_KIND: dict[str, str] = {
    "cus": "customer",
    "cbtxn": "customer_balance_transaction",
    "prod": "product",
    "price": "price",
    "pm": "payment_method",
    "sub": "subscription",
    "si": "subscription_item",
    "di": "discount",
    "in": "invoice",
    "il": "line_item",
    "ii": "invoiceitem",
    "inpay": "invoice_payment",
    "pi": "payment_intent",
    "ch": "charge",
    "re": "refund",
    "cn": "credit_note",
    "cnli": "credit_note_line_item",
    "evt": "event",
    "txn": "balance_transaction",
}

KIND_PREFIX: dict[str, str] = {kind: prefix for prefix, kind in PREFIX_KIND.items()}


def random_token(length: int = 24) -> str:
    # Modulo over random bytes: a negligible bias, and far cheaper than secrets.choice per char.
    return "".join(_ALPHABET[byte % 62] for byte in secrets.token_bytes(length))


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_{random_token(length)}"


def request_id() -> str:
    return new_id("req", 14)


def kind_of(object_id: str) -> str | None:
    """The kind an id names, from its prefix; ``None`` for ids without one (coupons)."""
    prefix, underscore, _ = object_id.partition("_")
    if not underscore:
        return None
    return PREFIX_KIND.get(prefix)

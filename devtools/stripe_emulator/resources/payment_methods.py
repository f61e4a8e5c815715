"""PaymentMethods and Stripe's test card tokens.

A test token such as ``pm_card_visa`` is not a stored object: as in Stripe test mode, each use
creates a new card PaymentMethod (``pm_`` + random) with the token's brand and last4, and the
token's scripted outcome decides every later charge on it:

=========================================  ==========  =====  ======================================
token                                      brand       last4  charge outcome
=========================================  ==========  =====  ======================================
pm_card_visa                               visa        4242   succeeds
pm_card_mastercard                         mastercard  4444   succeeds
pm_card_amex                               amex        8431   succeeds
pm_card_chargeDeclined                     visa        0002   card_declined / generic_decline
pm_card_chargeDeclinedInsufficientFunds    visa        9995   card_declined / insufficient_funds
pm_card_chargeCustomerFail                 visa        0341   card_declined / generic_decline
=========================================  ==========  =====  ======================================

Where a customer's payment method is expected (``invoice_settings[default_payment_method]``, a
subscription's ``default_payment_method``), a token is materialised and attached to that
customer. Deviation: Stripe runs a $0 check when attaching, so real Stripe refuses to attach the
two ``chargeDeclined*`` cards; the emulator attaches them so that failed renewals can be set up
with one token (``pm_card_chargeCustomerFail`` behaves as Stripe does with either rule).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .. import errors, ids
from ..context import Context
from ..listing import page
from ..params import Params, apply_metadata
from ..routing import Router
from ..schema import Enum, Metadata, String, accepts, listing
from ..store import render

routes = Router()

# token -> (brand, last4, funding, decline code or None when charges succeed)
TEST_CARDS: dict[str, tuple[str, str, str, str | None]] = {
    "pm_card_visa": ("visa", "4242", "credit", None),
    "pm_card_mastercard": ("mastercard", "4444", "credit", None),
    "pm_card_amex": ("amex", "8431", "credit", None),
    "pm_card_chargeDeclined": ("visa", "0002", "credit", "generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995", "credit", "insufficient_funds"),
    "pm_card_chargeCustomerFail": ("visa", "0341", "credit", "generic_decline"),
}

DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
}


def is_test_token(value: str) -> bool:
    return value in TEST_CARDS


def _from_token(ctx: Context, token: str) -> dict[str, Any]:
    brand, last4, funding, decline = TEST_CARDS[token]
    exp_year = datetime.fromtimestamp(ctx.now(), UTC).year + 3
    return ctx.create(
        "payment_method",
        {
            "allow_redisplay": "unspecified",
            "billing_details": {
                "address": {
                    "city": None,
                    "country": None,
                    "line1": None,
                    "line2": None,
                    "postal_code": None,
                    "state": None,
                },
                "email": None,
                "name": None,
                "phone": None,
                "tax_id": None,
            },
            "card": {
                "brand": brand,
                "checks": {
                    "address_line1_check": None,
                    "address_postal_code_check": None,
                    "cvc_check": "pass",
                },
                "country": "US",
                "display_brand": brand,
                "exp_month": 12,
                "exp_year": exp_year,
                "fingerprint": ids.random_token(16),
                "funding": funding,
                "generated_from": None,
                "last4": last4,
                "networks": {"available": [brand], "preferred": None},
                "regulated_status": "unregulated",
                "three_d_secure_usage": {"supported": True},
                "wallet": None,
            },
            "customer": None,
            "customer_account": None,
            "type": "card",
            "_decline": decline,
            "_token": token,
        },
    )


def resolve(ctx: Context, value: str, *, param: str = "payment_method") -> dict[str, Any]:
    """A stored PaymentMethod, or a fresh one made from a test token."""
    if is_test_token(value):
        return _from_token(ctx, value)
    return ctx.store.require("payment_method", value, param=param)


def attach(ctx: Context, payment_method: dict[str, Any], customer: dict[str, Any]) -> None:
    if payment_method["customer"] == customer["id"]:
        return
    if payment_method["customer"] is not None:
        raise errors.invalid_request(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
        )
    payment_method["customer"] = customer["id"]
    ctx.emit("payment_method.attached", payment_method)


def resolve_for_customer(
    ctx: Context, value: str, customer: dict[str, Any], *, param: str
) -> dict[str, Any]:
    """A PaymentMethod that belongs to ``customer``; test tokens are created and attached."""
    if is_test_token(value):
        created = _from_token(ctx, value)
        attach(ctx, created, customer)
        return created
    payment_method = ctx.store.get("payment_method", value)
    if payment_method is None or payment_method["customer"] != customer["id"]:
        raise errors.invalid_request(
            f"The customer does not have a payment method with the ID {value}. The payment "
            "method must be attached to the customer.",
            param=param,
            replayable=False,
        )
    return payment_method


def card_summary(payment_method: dict[str, Any]) -> dict[str, Any]:
    """The brand/last4 facts a charge copies into ``payment_method_details.card``."""
    card = payment_method["card"]
    return {
        "brand": card["brand"],
        "country": card["country"],
        "exp_month": card["exp_month"],
        "exp_year": card["exp_year"],
        "fingerprint": card["fingerprint"],
        "funding": card["funding"],
        "last4": card["last4"],
        "network": card["brand"],
    }


@routes.get("/v1/payment_methods/{payment_method}", accepts("PaymentMethodRetrieveParams"))
def retrieve(ctx: Context, params: Params, payment_method: str) -> dict[str, Any]:
    return render(resolve(ctx, payment_method))


@routes.post(
    "/v1/payment_methods/{payment_method}",
    accepts("PaymentMethodUpdateParams", metadata=Metadata(unset=True)),
)
def update(ctx: Context, params: Params, payment_method: str) -> dict[str, Any]:
    pm = ctx.store.require("payment_method", payment_method)
    with ctx.events.updating(pm, "payment_method.updated"):
        apply_metadata(pm, params)
    return render(pm)


@routes.post(
    "/v1/payment_methods/{payment_method}/attach",
    accepts("PaymentMethodAttachParams", customer=String(required=True)),
)
def attach_endpoint(ctx: Context, params: Params, payment_method: str) -> dict[str, Any]:
    customer = ctx.store.require("customer", params.require_str("customer"), param="customer")
    pm = resolve(ctx, payment_method)
    attach(ctx, pm, customer)
    return render(pm)


@routes.post("/v1/payment_methods/{payment_method}/detach", accepts("PaymentMethodDetachParams"))
def detach(ctx: Context, params: Params, payment_method: str) -> dict[str, Any]:
    pm = ctx.store.require("payment_method", payment_method)
    if pm["customer"] is None:
        raise errors.invalid_request(
            "The payment method you provided is not attached to a customer so detachment is "
            "impossible."
        )
    customer = ctx.store.get("customer", pm["customer"])
    pm["customer"] = None
    if customer is not None:
        settings = customer["invoice_settings"]
        if settings["default_payment_method"] == pm["id"]:
            with ctx.events.updating(customer, "customer.updated"):
                settings["default_payment_method"] = None
    ctx.emit("payment_method.detached", pm, {"customer": customer["id"] if customer else None})
    return render(pm)


def _list(ctx: Context, params: Params, customer_id: str | None, url: str) -> dict[str, Any]:
    methods = ctx.store.all("payment_method")
    if customer_id is not None:
        ctx.store.require("customer", customer_id, param="customer")
        methods = [pm for pm in methods if pm["customer"] == customer_id]
    kind = params.str("type")
    if kind:
        methods = [pm for pm in methods if pm["type"] == kind]
    return page(methods, params, url)


@routes.get(
    "/v1/payment_methods",
    listing("PaymentMethodListParams", created=False, customer=String(), type=Enum("card")),
)
def list_all(ctx: Context, params: Params) -> dict[str, Any]:
    return _list(ctx, params, params.str("customer"), "/v1/payment_methods")


@routes.get(
    "/v1/customers/{customer}/payment_methods",
    listing("CustomerPaymentMethodListParams", created=False, type=Enum("card")),
)
def list_for_customer(ctx: Context, params: Params, customer: str) -> dict[str, Any]:
    return _list(ctx, params, customer, f"/v1/customers/{customer}/payment_methods")

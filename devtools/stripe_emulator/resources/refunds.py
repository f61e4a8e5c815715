"""Refunds of a charge (named directly or through its PaymentIntent).

The refundable remainder is ``charge.amount - charge.amount_refunded``. ``amount`` defaults to
all of it. Asking for more is a 400 ``invalid_request_error``: code ``charge_already_refunded``
when nothing is left, else ``amount_too_large`` with Stripe's "Refund amount ($x) is greater
than unrefunded amount on charge ($y)". Test-card refunds succeed at once, so the charge's
``amount_refunded`` and ``refunded`` change in the same request; the whole read-check-write runs
under the store lock, so concurrent refunds can never exceed the charge.
"""

from __future__ import annotations

from typing import Any

from .. import errors, ids
from ..context import Context
from ..listing import filter_created, page
from ..params import Params, apply_metadata
from ..routing import Router
from ..schema import Amount, Enum, Metadata, String, accepts, listing
from ..store import render
from . import balance_transactions

routes = Router()

REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def _money(amount: int, currency: str) -> str:
    if currency in ("jpy", "krw", "vnd", "clp", "pyg", "ugx", "xaf", "xof"):
        return f"{amount}"
    return f"${amount // 100}.{amount % 100:02d}"


def create_refund(
    ctx: Context,
    charge: dict[str, Any],
    amount: int | None,
    *,
    reason: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Refund ``amount`` (default: all that is left) of ``charge``."""
    if charge["status"] != "succeeded":
        raise errors.invalid_request(
            f"Charge {charge['id']} has not succeeded and cannot be refunded.", param="charge"
        )
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise errors.invalid_request(
            f"Charge {charge['id']} has already been refunded.",
            code="charge_already_refunded",
        )
    if amount is None:
        amount = remaining
    if amount > remaining:
        raise errors.invalid_request(
            f"Refund amount ({_money(amount, charge['currency'])}) is greater than unrefunded "
            f"amount on charge ({_money(remaining, charge['currency'])})",
            param="amount",
            code="amount_too_large",
        )
    refund = ctx.create(
        "refund",
        {
            "amount": amount,
            "balance_transaction": None,
            "charge": charge["id"],
            "currency": charge["currency"],
            "customer": charge["customer"],
            "customer_account": None,
            "destination_details": {
                "card": {
                    "reference": ids.random_token(23).upper(),
                    "reference_status": "available",
                    "reference_type": "acquirer_reference_number",
                    "type": "refund",
                },
                "type": "card",
            },
            "metadata": dict(metadata or {}),
            "payment_intent": charge["payment_intent"],
            "payment_method": charge["payment_method"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        },
    )
    del refund["livemode"]  # refunds have no livemode in Stripe's API
    refund["balance_transaction"] = balance_transactions.for_refund(ctx, refund)["id"]
    ctx.emit("refund.created", refund)
    with ctx.events.updating(charge, "charge.refunded"):
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    return refund


@routes.post(
    "/v1/refunds",
    accepts(
        "RefundCreateParams",
        amount=Amount(minimum=1),
        charge=String(),
        metadata=Metadata(unset=True),
        payment_intent=String(),
        reason=Enum(*REASONS),
    ),
)
def create(ctx: Context, params: Params) -> dict[str, Any]:
    charge_id = params.str("charge")
    intent_id = params.str("payment_intent")
    if not charge_id and not intent_id:
        raise errors.invalid_request(
            "One of the following params should be provided for this request: payment_intent or "
            "charge.",
            replayable=False,
        )
    if charge_id:
        charge = ctx.store.require("charge", charge_id, param="charge")
        if intent_id and charge["payment_intent"] != intent_id:
            raise errors.invalid_request(
                f"Charge {charge_id} does not belong to PaymentIntent {intent_id}.",
                param="payment_intent",
                replayable=False,
            )
    else:
        intent = ctx.store.require("payment_intent", intent_id, param="payment_intent")
        if intent["status"] != "succeeded" or not intent["latest_charge"]:
            raise errors.invalid_request(
                f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        charge = ctx.store.require("charge", intent["latest_charge"])
    amount = params.int("amount", minimum=1)
    holder: dict[str, Any] = {"metadata": {}}
    apply_metadata(holder, params)
    refund = create_refund(
        ctx,
        charge,
        amount,
        reason=params.str("reason"),
        metadata=holder["metadata"],
    )
    return render(refund)


@routes.get("/v1/refunds/{refund}", accepts("RefundRetrieveParams"))
def retrieve(ctx: Context, params: Params, refund: str) -> dict[str, Any]:
    return render(ctx.store.require("refund", refund, param="refund"))


@routes.post("/v1/refunds/{refund}", accepts("RefundUpdateParams", metadata=Metadata(unset=True)))
def update(ctx: Context, params: Params, refund: str) -> dict[str, Any]:
    found = ctx.store.require("refund", refund, param="refund")
    with ctx.events.updating(found, "refund.updated"):
        apply_metadata(found, params)
    return render(found)


@routes.post("/v1/refunds/{refund}/cancel", accepts("RefundCancelParams"))
def cancel(ctx: Context, params: Params, refund: str) -> dict[str, Any]:
    found = ctx.store.require("refund", refund, param="refund")
    raise errors.invalid_request(
        f"Can't cancel a refund that is in status {found['status']}; only refunds that require "
        "action can be canceled.",
        param="refund",
    )


@routes.get("/v1/refunds", listing("RefundListParams", charge=String(), payment_intent=String()))
def list_refunds(ctx: Context, params: Params) -> dict[str, Any]:
    refunds = filter_created(ctx.store.all("refund"), params)
    for key in ("charge", "payment_intent"):
        value = params.str(key)
        if value:
            refunds = [r for r in refunds if r[key] == value]
    return page(refunds, params, "/v1/refunds")

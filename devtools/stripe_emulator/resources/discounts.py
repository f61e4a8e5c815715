"""Discounts: a coupon applied to a subscription, and what it takes off an invoice.

``discounts[0][coupon]=X`` creates a Discount (``di_``) whose ``source.coupon`` is the coupon;
``discounts=`` removes them all. A discount applies to the invoice's *discountable* lines
(prorations are not discountable, as Stripe's classic proration lines say). Duration:
``once`` applies to the first invoice and is then removed from the subscription; ``repeating``
applies to invoices for periods starting before ``discount.end``; ``forever`` always applies.
Each discount's amount is allocated to the discountable lines in proportion to their amounts
(rounded half up, remainder on the last line).
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..billing_math import coupon_discount, round_half_up
from ..context import Context
from ..params import Params
from ..periods import boundary
from . import catalog


def create_for_subscription(
    ctx: Context, coupon: dict[str, Any], *, customer: str, subscription: str
) -> dict[str, Any]:
    start = ctx.now()
    months = coupon["duration_in_months"]
    coupon["times_redeemed"] += 1
    discount = ctx.create(
        "discount",
        {
            "checkout_session": None,
            "customer": customer,
            "customer_account": None,
            "end": boundary(start, months, "month") if months else None,
            "invoice": None,
            "invoice_item": None,
            "promotion_code": None,
            "source": {"coupon": coupon["id"], "type": "coupon"},
            "start": start,
            "subscription": subscription,
            "subscription_item": None,
            "_coupon": coupon,
        },
    )
    # A Discount has ``start`` instead of ``created`` and carries no metadata.
    for key in ("created", "livemode", "metadata"):
        discount.pop(key, None)
    return discount


def from_params(
    ctx: Context, entries: list[Params], *, customer: str, subscription: str
) -> list[str]:
    """Discount ids for a ``discounts`` array of ``{coupon}`` or ``{discount}`` entries."""
    result: list[str] = []
    for entry in entries:
        coupon_id = entry.str("coupon")
        discount_id = entry.str("discount")
        if entry.str("promotion_code"):
            raise errors.invalid_request(
                "Promotion codes are not supported by the emulator.",
                param=entry.name("promotion_code"),
            )
        if coupon_id:
            coupon = catalog.redeemable_coupon(ctx, coupon_id, param=entry.name("coupon"))
            result.append(
                create_for_subscription(ctx, coupon, customer=customer, subscription=subscription)[
                    "id"
                ]
            )
        elif discount_id:
            ctx.store.require("discount", discount_id, param=entry.name("discount"))
            result.append(discount_id)
        else:
            raise errors.missing_param(entry.name("coupon"))
    return result


def applies(discount: dict[str, Any], period_start: int) -> bool:
    end = discount["end"]
    return end is None or period_start < end


def allocate(
    ctx: Context, discount_ids: list[str], lines: list[dict[str, Any]], period_start: int
) -> list[dict[str, Any]]:
    """Set each line's ``discount_amounts``; return the invoice's ``total_discount_amounts``."""
    totals: list[dict[str, Any]] = []
    for line in lines:
        line["discount_amounts"] = []
        line["discounts"] = []
    for discount_id in discount_ids:
        discount = ctx.store.get("discount", discount_id)
        if discount is None or not applies(discount, period_start):
            continue
        eligible = [line for line in lines if line["discountable"] and line["amount"] > 0]
        remaining = [
            line["amount"] - sum(d["amount"] for d in line["discount_amounts"]) for line in eligible
        ]
        base = sum(remaining)
        amount = coupon_discount(discount["_coupon"], base)
        if amount <= 0:
            continue
        allocated = 0
        for index, (line, line_base) in enumerate(zip(eligible, remaining, strict=True)):
            if index == len(eligible) - 1:
                share = amount - allocated
            else:
                share = round_half_up(amount * line_base, base)
            allocated += share
            line["discount_amounts"].append({"amount": share, "discount": discount_id})
            line["discounts"].append(discount_id)
        totals.append({"amount": amount, "discount": discount_id})
    return totals


def consume_once(ctx: Context, subscription: dict[str, Any], used: list[dict[str, Any]]) -> None:
    """After an invoice used a ``once`` coupon, the discount leaves the subscription."""
    used_ids = {entry["discount"] for entry in used}
    keep = []
    for discount_id in subscription["discounts"]:
        discount = ctx.store.get("discount", discount_id)
        if (
            discount is not None
            and discount_id in used_ids
            and discount["_coupon"]["duration"] == "once"
        ):
            ctx.store.delete(discount)
            continue
        keep.append(discount_id)
    subscription["discounts"] = keep

"""``POST /v1/invoices/create_preview``: the invoice a change would produce, changing nothing.

This API version has no ``GET /v1/invoices/upcoming``; stripe-python 16 exposes only
``InvoiceService.create_preview``. The preview's id starts with ``upcoming_in_``, its lines are not
stored, and ``parent.subscription_details.subscription_proration_date`` records the proration time.

The preview's ``period_start``/``period_end`` mean what an invoice's do (the window of pending
items: the current period for the next renewal, empty for an invoice made at once); the service
is on the lines. With ``subscription_details[items]`` (and optionally ``proration_date``,
default now), the lines are what Stripe would bill:

- ``proration_behavior=create_prorations`` (default): the next renewal invoice, that is pending
  items, the prorations of the change (``parent.subscription_item_details.proration = true``)
  and the next period at the new prices;
- ``always_invoice``: the invoice the update would create immediately, prorations only;
- ``none``: the next renewal at the new prices, without prorations.

Without a subscription change it is the subscription's next renewal invoice.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..context import Context
from ..params import Params
from ..periods import boundary, next_boundary
from ..routing import Router
from ..schema import Array, Enum, Hash, String, Timestamp, accepts
from . import invoices, subscription_billing, subscriptions

routes = Router()


def _next_period(subscription: dict[str, Any], interval_change: bool, at: int) -> tuple[int, int]:
    interval, count = subscription_billing.interval_of(subscription)
    _, end = subscription_billing.period_of(subscription)
    if subscription["status"] == "trialing":
        return end, boundary(end, 1, interval, count)
    if interval_change:
        return at, at
    return end, next_boundary(subscription["billing_cycle_anchor"], end, interval, count)


@routes.post(
    "/v1/invoices/create_preview",
    accepts(
        "InvoiceCreatePreviewParams",
        customer=String(),
        subscription=String(),
        subscription_details=Hash(
            {
                "items": Array(Hash(subscriptions.ITEM_CHANGE)),
                "proration_behavior": Enum(*subscriptions.PRORATION_BEHAVIORS),
                "proration_date": Timestamp(),
            }
        ),
    ),
)
def create_preview(ctx: Context, params: Params) -> dict[str, Any]:
    customer_id = params.str("customer")
    subscription_id = params.str("subscription")
    subscription = None
    if subscription_id:
        subscription = ctx.store.require("subscription", subscription_id, param="subscription")
        if customer_id and subscription["customer"] != customer_id:
            raise errors.invalid_request(
                "The subscription does not belong to the customer.", param="subscription"
            )
        customer_id = subscription["customer"]
    if not customer_id:
        raise errors.missing_param("customer")
    customer = ctx.store.require("customer", customer_id, param="customer")
    details = params.sub("subscription_details") or Params({}, "subscription_details")
    if subscription is None and details.list("items") is None:
        live = [
            s
            for s in ctx.store.all("subscription")
            if s["customer"] == customer_id and s["status"] in ("active", "trialing", "past_due")
        ]
        if len(live) == 1:
            subscription = live[0]
    if subscription is None:
        return _new_subscription_preview(ctx, customer, details)
    if subscription["status"] in ("canceled", "incomplete_expired"):
        raise errors.invalid_request(
            f"No upcoming invoices for customer: {customer_id}",
            code="invoice_upcoming_none",
        )
    at = details.int("proration_date") or ctx.now()
    behavior = details.str("proration_behavior") or "create_prorations"
    entries = details.list("items") or []
    changes = subscription_billing.plan_changes(ctx, subscription, entries)
    interval_change = subscription_billing.interval_changes(subscription, changes)
    lines: list[dict[str, Any]] = [
        invoices.line_from_invoice_item(ctx, item)
        for item in invoices.pending_items(ctx, customer_id, subscription["id"])
    ]
    if behavior != "none":
        specs = subscription_billing.proration_specs(
            ctx, subscription, changes, at, credit_only=interval_change
        )
        lines += [subscription_billing.spec_line(subscription, spec) for spec in specs]
    new_items = [
        (change.item["id"] if change.item else None, change.new_price, change.new_quantity)
        for change in changes
        if change.new_price is not None
    ]
    start, end = _next_period(subscription, interval_change, at)
    if interval_change:
        interval, count = (
            new_items[0][1]["recurring"]["interval"],
            new_items[0][1]["recurring"]["interval_count"],
        )
        start, end = at, boundary(at, 1, interval, count)
    if behavior != "always_invoice" or interval_change:
        lines += subscription_billing.period_lines(ctx, subscription, (start, end), items=new_items)
    if behavior == "always_invoice" or interval_change:
        # Invoiced at once: an empty window at the change, billing from then.
        window, service_start = (at, at), at
    else:
        # The next renewal gathers what the current period left pending.
        window, service_start = subscription_billing.period_of(subscription), start
    invoice = invoices.new_invoice(
        ctx,
        customer,
        billing_reason="upcoming",
        lines=lines,
        subscription=subscription,
        collection_method=subscription["collection_method"],
        period=window,
        discount_ids=list(subscription["discounts"]),
        discount_at=service_start,
        currency=subscription["currency"],
        store=False,
    )
    invoice["parent"]["subscription_details"]["subscription_proration_date"] = at
    invoice["next_payment_attempt"] = end if behavior != "always_invoice" else None
    return invoices.show(invoice)


def _new_subscription_preview(
    ctx: Context, customer: dict[str, Any], details: Params
) -> dict[str, Any]:
    """Preview of a subscription not yet created (``subscription_details[items]`` only)."""
    entries = details.list("items")
    if not entries:
        raise errors.invalid_request(
            f"No upcoming invoices for customer: {customer['id']}",
            code="invoice_upcoming_none",
        )
    now = ctx.now()
    prices = [subscription_billing.price_for(ctx, entry) for entry in entries]
    subscription_billing.check_compatible(prices)
    recurring = prices[0]["recurring"]
    period = (now, boundary(now, 1, recurring["interval"], recurring["interval_count"]))
    lines = []
    for price, entry in zip(prices, entries, strict=True):
        quantity = entry.int("quantity", minimum=0)
        quantity = 1 if quantity is None else quantity
        lines.append(
            invoices.new_line(
                amount=price["unit_amount"] * quantity,
                currency=price["currency"],
                description=f"{quantity} × {subscription_billing.product_name(ctx, price)}",
                period=period,
                price=price,
                quantity=quantity,
                subscription="sub_pending",
                subscription_item="si_pending",
            )
        )
    invoice = invoices.new_invoice(
        ctx,
        customer,
        billing_reason="upcoming",
        lines=lines,
        discount_at=now,
        currency=prices[0]["currency"],
        store=False,
    )
    return invoices.show(invoice)

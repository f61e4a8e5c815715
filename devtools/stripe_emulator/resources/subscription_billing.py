"""Subscription billing arithmetic: items, periods, proration and the lines they bill.

Everything here computes; nothing is invoiced. :mod:`.subscriptions` applies the results and
:mod:`.invoice_preview` shows them without applying.

Proration follows Stripe: for a change at ``t`` inside the current period ``[start, end)``, each
changed item gets a credit line for the unused time on the old price and quantity
(``-(old amount × (end - t) / (end - start))``) and a debit line for the remaining time on the new
one, each rounded half up to the minor unit. Proration lines are not discountable. A period shorter
than a full one (a future ``billing_cycle_anchor``) is billed pro rata too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import errors
from ..billing_math import prorate
from ..context import Context
from ..params import Params, apply_metadata
from . import catalog, invoice_items, invoices

# Reading a subscription ----------------------------------------------------------------------


def items_of(subscription: dict[str, Any]) -> list[dict[str, Any]]:
    return subscription["items"]["data"]


def period_of(subscription: dict[str, Any]) -> tuple[int, int]:
    first = items_of(subscription)[0]
    return first["current_period_start"], first["current_period_end"]


def interval_of(subscription: dict[str, Any]) -> tuple[str, int]:
    recurring = items_of(subscription)[0]["price"]["recurring"]
    return recurring["interval"], recurring["interval_count"]


def set_period(subscription: dict[str, Any], start: int, end: int) -> None:
    for item in items_of(subscription):
        item["current_period_start"] = start
        item["current_period_end"] = end


def _money(amount: int, currency: str) -> str:
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if currency == "usd":
        return f"{sign}${amount // 100:,}.{amount % 100:02d}"
    return f"{sign}{amount // 100:,}.{amount % 100:02d} {currency.upper()}"


def _date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%d %b %Y")


def product_name(ctx: Context, price: dict[str, Any]) -> str:
    product = ctx.store.get("product", price["product"])
    return product["name"] if product else price["product"]


# Items ---------------------------------------------------------------------------------------


def new_item(
    ctx: Context,
    subscription: dict[str, Any],
    price: dict[str, Any],
    quantity: int,
    period: tuple[int, int],
    metadata: Params | None = None,
) -> dict[str, Any]:
    item = ctx.create(
        "subscription_item",
        {
            "billing_thresholds": None,
            "current_period_end": period[1],
            "current_period_start": period[0],
            "current_trial": None,
            "discounts": [],
            "plan": catalog.plan_from_price(price),
            "price": price,
            "quantity": quantity,
            "subscription": subscription["id"],
            "tax_rates": [],
        },
    )
    del item["livemode"]  # subscription items have no livemode in Stripe's API
    if metadata is not None:
        apply_metadata(item, metadata)
    return item


def price_for(ctx: Context, entry: Params) -> dict[str, Any]:
    price_id = entry.str("price") or entry.str("plan")
    if not price_id:
        raise errors.missing_param(entry.name("price"))
    price = ctx.store.require("price", price_id, param=entry.name("price"))
    if price["recurring"] is None:
        raise errors.invalid_request(
            "The price specified is set to `type=one_time` but this field only accepts prices "
            "with `type=recurring`.",
            param=entry.name("price"),
            replayable=False,
        )
    if not price["active"]:
        raise errors.invalid_request(
            "The price specified is inactive. This field only accepts active prices.",
            param=entry.name("price"),
            replayable=False,
        )
    return price


def check_compatible(prices: list[dict[str, Any]]) -> None:
    if not prices:
        raise errors.missing_param("items")
    first = prices[0]
    for price in prices[1:]:
        if (
            price["currency"] != first["currency"]
            or price["recurring"]["interval"] != first["recurring"]["interval"]
            or price["recurring"]["interval_count"] != first["recurring"]["interval_count"]
        ):
            raise errors.invalid_request(
                "Currency and interval fields must match across all plans on this subscription. "
                "Found mismatch in interval or currency.",
                param="items",
                replayable=False,
            )
    ids_seen = [price["id"] for price in prices]
    if len(set(ids_seen)) != len(ids_seen):
        raise errors.invalid_request(
            "Cannot add multiple subscription items with the same price.",
            param="items",
            replayable=False,
        )


@dataclass
class ItemChange:
    """One item's state before and after an update; ``new_price`` None means deleted."""

    item: dict[str, Any] | None
    old_price: dict[str, Any] | None
    old_quantity: int
    new_price: dict[str, Any] | None
    new_quantity: int
    metadata: Params | None = None

    @property
    def changed(self) -> bool:
        return self.old_price is not self.new_price or self.old_quantity != self.new_quantity


def plan_changes(
    ctx: Context, subscription: dict[str, Any], entries: list[Params]
) -> list[ItemChange]:
    """What ``items[...]`` asks for, validated, without changing anything."""
    by_id = {item["id"]: item for item in items_of(subscription)}
    changes: dict[str, ItemChange] = {
        item["id"]: ItemChange(
            item, item["price"], item["quantity"], item["price"], item["quantity"]
        )
        for item in items_of(subscription)
    }
    added: list[ItemChange] = []
    for entry in entries:
        item_id = entry.str("id")
        quantity = entry.int("quantity", minimum=0)
        if item_id:
            if item_id not in by_id:
                raise errors.invalid_request(
                    f"No such subscription item: '{item_id}'",
                    param=entry.name("id"),
                    code="resource_missing",
                    replayable=False,
                )
            change = changes[item_id]
            if entry.bool("deleted"):
                change.new_price = None
                change.new_quantity = 0
                continue
            if entry.str("price") or entry.str("plan"):
                change.new_price = price_for(ctx, entry)
            if quantity is not None:
                change.new_quantity = quantity
            change.metadata = entry.sub("metadata") and entry
        else:
            price = price_for(ctx, entry)
            added.append(
                ItemChange(None, None, 0, price, 1 if quantity is None else quantity, entry)
            )
    result = list(changes.values()) + added
    remaining = [change.new_price for change in result if change.new_price is not None]
    check_compatible([price for price in remaining if price is not None])
    if remaining and remaining[0]["currency"] != subscription["currency"]:
        raise errors.invalid_request(
            "You cannot change the currency of a subscription.", param="items", replayable=False
        )
    return result


def interval_changes(subscription: dict[str, Any], changes: list[ItemChange]) -> bool:
    old = interval_of(subscription)
    for change in changes:
        if change.new_price is not None:
            recurring = change.new_price["recurring"]
            return (recurring["interval"], recurring["interval_count"]) != old
    return False


def proration_specs(
    ctx: Context,
    subscription: dict[str, Any],
    changes: list[ItemChange],
    at: int,
    *,
    credit_only: bool = False,
) -> list[dict[str, Any]]:
    """Proration lines for ``changes`` at ``at``: unused time credited, remaining time charged."""
    start, end = period_of(subscription)
    if subscription["status"] == "trialing" or not start <= at < end:
        return []
    specs: list[dict[str, Any]] = []
    for change in changes:
        if not change.changed and not credit_only:
            continue
        item_id = change.item["id"] if change.item else None
        if change.old_price is not None and change.old_quantity > 0:
            amount = prorate(
                change.old_price["unit_amount"] * change.old_quantity, end - at, end - start
            )
            specs.append(
                {
                    "amount": -amount,
                    "description": f"Unused time on {change.old_quantity} × "
                    f"{product_name(ctx, change.old_price)} after {_date(at)}",
                    "price": change.old_price,
                    "quantity": change.old_quantity,
                    "period": (at, end),
                    "subscription_item": item_id,
                }
            )
        if credit_only:
            continue
        if change.new_price is not None and change.new_quantity > 0:
            amount = prorate(
                change.new_price["unit_amount"] * change.new_quantity, end - at, end - start
            )
            specs.append(
                {
                    "amount": amount,
                    "description": f"Remaining time on {change.new_quantity} × "
                    f"{product_name(ctx, change.new_price)} after {_date(at)}",
                    "price": change.new_price,
                    "quantity": change.new_quantity,
                    "period": (at, end),
                    "subscription_item": item_id,
                }
            )
    return specs


def spec_line(subscription: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A proration spec as a preview invoice line."""
    return invoices.new_line(
        amount=spec["amount"],
        currency=subscription["currency"],
        description=spec["description"],
        period=spec["period"],
        price=spec["price"],
        quantity=spec["quantity"],
        proration=True,
        subscription=subscription["id"],
        subscription_item=spec["subscription_item"] or "si_pending",
    )


def spec_items(ctx: Context, subscription: dict[str, Any], specs: list[dict[str, Any]]) -> None:
    """Proration specs as pending invoice items for the next invoice."""
    for spec in specs:
        invoice_items.new_item(
            ctx,
            customer=subscription["customer"],
            amount=spec["amount"],
            currency=subscription["currency"],
            description=spec["description"],
            period=spec["period"],
            price=spec["price"],
            quantity=spec["quantity"],
            proration=True,
            subscription=subscription["id"],
            subscription_item=spec["subscription_item"],
        )


def period_lines(
    ctx: Context,
    subscription: dict[str, Any],
    period: tuple[int, int],
    *,
    items: list[tuple[str | None, dict[str, Any], int]] | None = None,
    trial: bool = False,
    full_period_start: int | None = None,
) -> list[dict[str, Any]]:
    """One line per item for ``period``; prorated when the period is shorter than a full one."""
    entries = items
    if entries is None:
        entries = [(item["id"], item["price"], item["quantity"]) for item in items_of(subscription)]
    lines = []
    for item_id, price, quantity in entries:
        name = product_name(ctx, price)
        if trial:
            amount = 0
            description = f"Trial period for {name}"
        else:
            amount = price["unit_amount"] * quantity
            if full_period_start is not None and full_period_start < period[0]:
                amount = prorate(amount, period[1] - period[0], period[1] - full_period_start)
            interval = price["recurring"]["interval"]
            description = (
                f"{quantity} × {name} (at {_money(price['unit_amount'], price['currency'])} / "
                f"{interval})"
            )
        lines.append(
            invoices.new_line(
                amount=amount,
                currency=price["currency"],
                description=description,
                period=period,
                price=price,
                quantity=quantity,
                subscription=subscription["id"],
                subscription_item=item_id or "si_pending",
            )
        )
    return lines

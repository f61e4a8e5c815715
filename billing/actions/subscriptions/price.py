"""A plan or price change, prorated from the moment it is asked."""

from __future__ import annotations

import datetime as dt

from billing.actions.base import JSON, PreviewLine, register
from billing.actions.errors import ActionConflict
from billing.actions.subscriptions.base import (
    Change,
    StripeParams,
    SubscriptionChange,
    SubscriptionPayload,
)
from billing.models import ActionKind, Subscription
from billing.money import format_amount
from billing.stripe import gateway


class PricePayload(SubscriptionPayload):
    price_id: int
    stripe_price: str
    item: str
    quantity: int
    from_price: str
    from_quantity: int
    proration_date: int


def proration(
    subscription: Subscription, *, price_id: str | None, quantity: int | None, now: dt.datetime
) -> int:
    """What Stripe will add to the next invoice for the change, from its invoice preview."""
    try:
        preview = gateway.preview_subscription_change(
            subscription_id=subscription.stripe_subscription_id,
            item_id=subscription.stripe_item_id,
            price_id=price_id,
            quantity=quantity,
            proration_date=now,
        )
    except gateway.StripeGatewayError as error:
        raise ActionConflict(f"Stripe could not preview this change: {error.message}") from None
    return preview.proration_total


def proration_lines(subscription: Subscription, total: int) -> tuple[str, PreviewLine]:
    currency = subscription.price.currency
    summary = (
        f"Takes effect now; the proration of {format_amount(total, currency)} is added to "
        "the next invoice."
    )
    return summary, PreviewLine("Proration on the next invoice", "", format_amount(total, currency))


@register
class PriceChange(SubscriptionChange[PricePayload]):
    kind = ActionKind.PRICE_CHANGE
    change = "price"

    def validate(
        self, subscription: Subscription, change: Change, now: dt.datetime, errors: dict[str, str]
    ) -> tuple[dict[str, JSON], int | None]:
        price = change.price
        if price is None:
            errors["price"] = "Choose the new price."
        elif price.pk == subscription.price_id:
            errors["price"] = "That is already the subscription's price."
        elif not price.active or not price.stripe_price_id:
            errors["price"] = "That price is no longer offered."
        elif price.currency != subscription.price.currency:
            errors["price"] = f"Choose a price in {subscription.price.currency.upper()}."
        else:
            return {
                "price_id": price.pk,
                "stripe_price": price.stripe_price_id,
                "item": subscription.stripe_item_id,
                "quantity": subscription.quantity if price.plan.per_seat else 1,
                "from_price": subscription.price.stripe_price_id or "",
                "from_quantity": subscription.quantity,
                "proration_date": int(now.timestamp()),
            }, None
        return {}, None

    def preview(
        self, subscription: Subscription, payload: PricePayload, change: Change, now: dt.datetime
    ) -> tuple[str, list[PreviewLine]]:
        total = proration(
            subscription, price_id=payload["stripe_price"], quantity=payload["quantity"], now=now
        )
        summary, line = proration_lines(subscription, total)
        return summary, [PreviewLine("Price", str(subscription.price), str(change.price)), line]

    def params(self, payload: PricePayload) -> StripeParams:
        item = {"id": payload["item"], "price": payload["stripe_price"]}
        return {
            "items": [{**item, "quantity": payload["quantity"]}],
            "proration_behavior": "create_prorations",
            "proration_date": payload["proration_date"],
        }

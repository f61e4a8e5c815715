"""A seat change of a per-seat plan, prorated from the moment it is asked."""

from __future__ import annotations

import datetime as dt

from billing.actions.base import JSON, PreviewLine, register
from billing.actions.errors import ActionConflict
from billing.actions.subscriptions.base import (
    Change,
    StripeParams,
    SubscriptionChange,
    SubscriptionPayload,
    check_live,
)
from billing.actions.subscriptions.price import proration, proration_lines
from billing.models import ActionKind, Subscription

MAX_SEATS = 100_000


class SeatsPayload(SubscriptionPayload):
    item: str
    quantity: int
    from_quantity: int
    proration_date: int


@register
class SeatChange(SubscriptionChange[SeatsPayload]):
    kind = ActionKind.SEAT_CHANGE
    change = "seats"

    def check_state(self, subscription: Subscription, now: dt.datetime) -> None:
        check_live(subscription)
        if not subscription.price.plan.per_seat:
            raise ActionConflict(f"The {subscription.price.plan.name} plan is not priced per seat.")

    def validate(
        self, subscription: Subscription, change: Change, now: dt.datetime, errors: dict[str, str]
    ) -> tuple[dict[str, JSON], int | None]:
        quantity = change.quantity
        if type(quantity) is not int or not 1 <= quantity <= MAX_SEATS:
            errors["quantity"] = f"Seats are a whole number from 1 to {MAX_SEATS:,}."
        elif quantity == subscription.quantity:
            errors["quantity"] = f"The subscription already has {quantity} seats."
        else:
            return {
                "item": subscription.stripe_item_id,
                "quantity": quantity,
                "from_quantity": subscription.quantity,
                "proration_date": int(now.timestamp()),
            }, None
        return {}, None

    def preview(
        self, subscription: Subscription, payload: SeatsPayload, change: Change, now: dt.datetime
    ) -> tuple[str, list[PreviewLine]]:
        total = proration(subscription, price_id=None, quantity=payload["quantity"], now=now)
        summary, line = proration_lines(subscription, total)
        seats = PreviewLine("Seats", str(subscription.quantity), str(payload["quantity"]))
        return summary, [seats, line]

    def params(self, payload: SeatsPayload) -> StripeParams:
        return {
            "items": [{"id": payload["item"], "quantity": payload["quantity"]}],
            "proration_behavior": "create_prorations",
            "proration_date": payload["proration_date"],
        }

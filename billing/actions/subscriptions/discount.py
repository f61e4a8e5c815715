"""A discount: a coupon made for this request (percentage or amount off, for once, some
months or forever) and applied to the subscription."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import NotRequired

from billing.actions.base import JSON, PreviewLine, register
from billing.actions.subscriptions.base import (
    Change,
    StripeParams,
    SubscriptionChange,
    SubscriptionPayload,
)
from billing.models import Action, ActionKind, Subscription
from billing.money import MAX_AMOUNT, format_amount
from billing.stripe import gateway

DURATIONS = ("once", "repeating", "forever")
COUPON_FIELDS = ("percent_off", "amount_off", "currency", "duration", "duration_in_months")


class DiscountPayload(SubscriptionPayload):
    duration: str
    from_coupon: str
    percent_off: NotRequired[str]  # a decimal, as text: no floats near money
    amount_off: NotRequired[int]
    currency: NotRequired[str]
    duration_in_months: NotRequired[int | None]


@register
class DiscountChange(SubscriptionChange[DiscountPayload]):
    kind = ActionKind.DISCOUNT
    change = "discount"

    def validate(
        self, subscription: Subscription, change: Change, now: dt.datetime, errors: dict[str, str]
    ) -> tuple[dict[str, JSON], int | None]:
        coupon: dict[str, JSON] = {}
        if (change.percent_off is None) == (change.amount_off is None):
            errors["percent_off"] = "Give either a percentage or an amount off."
            return coupon, None
        if change.percent_off is not None:
            try:
                percent = Decimal(str(change.percent_off)).quantize(Decimal("0.01"))
            except InvalidOperation:
                percent = Decimal(0)
            if not Decimal(0) < percent <= Decimal(100):
                errors["percent_off"] = "A percentage from 0.01 to 100."
            coupon["percent_off"] = str(percent)
        else:
            amount = change.amount_off
            if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
                errors["amount_off"] = "Enter an amount above zero."
            coupon.update(amount_off=amount, currency=subscription.price.currency)
        if change.duration not in DURATIONS:
            errors["duration"] = "Once, for some months, or forever."
        elif change.duration == "repeating":
            months = change.duration_in_months
            if type(months) is not int or not 1 <= months <= 36:
                errors["duration_in_months"] = "From 1 to 36 months."
            coupon["duration_in_months"] = months
        coupon["duration"] = change.duration
        coupon["from_coupon"] = subscription.discount_coupon_id
        return coupon, None

    def preview(
        self,
        subscription: Subscription,
        payload: DiscountPayload,
        change: Change,
        now: dt.datetime,
    ) -> tuple[str, list[PreviewLine]]:
        currency = subscription.price.currency
        if "percent_off" in payload:
            off = f"{payload['percent_off']}% off"
        else:
            off = f"{format_amount(payload.get('amount_off'), currency)} off"
        length = {
            "once": "on the next invoice",
            "forever": "on every invoice",
            "repeating": f"for {payload.get('duration_in_months')} months",
        }[payload["duration"]]
        line = PreviewLine("Discount", subscription.discount_coupon_id or "none", off)
        return f"{off} {length}", [line]

    def perform(self, action: Action, metadata: dict[str, str]) -> gateway.SubscriptionData:
        payload = self.payload(action)
        coupon: StripeParams = {
            key: payload[key]  # type: ignore[literal-required]
            for key in COUPON_FIELDS
            if payload.get(key) is not None
        }
        coupon_id = gateway.create_coupon(
            params={**coupon, "metadata": metadata},
            idempotency_key=f"{action.idempotency_key}:coupon",
        )
        return gateway.update_subscription(
            subscription_id=payload["stripe_subscription"],
            params={"discounts": [{"coupon": coupon_id}], "metadata": metadata},
            idempotency_key=action.idempotency_key,
        )

"""Cancelling (now, or at the end of the period) and reactivating a subscription set to
cancel at the period end."""

from __future__ import annotations

import datetime as dt

from billing.actions.base import JSON, PreviewLine, register
from billing.actions.errors import ActionConflict
from billing.actions.subscriptions.base import (
    Change,
    StripeParams,
    SubscriptionChange,
    SubscriptionPayload,
    day,
)
from billing.models import Action, ActionKind, Subscription, SubscriptionStatus
from billing.stripe import gateway


class CancelPayload(SubscriptionPayload):
    at_period_end: bool


@register
class Cancel(SubscriptionChange[CancelPayload]):
    kind = ActionKind.CANCEL
    change = "cancel"

    def validate(
        self, subscription: Subscription, change: Change, now: dt.datetime, errors: dict[str, str]
    ) -> tuple[dict[str, JSON], int | None]:
        if change.at_period_end and subscription.cancel_at_period_end:
            errors["at_period_end"] = "It already cancels at the end of the period."
        return {"at_period_end": bool(change.at_period_end)}, None

    def preview(
        self, subscription: Subscription, payload: CancelPayload, change: Change, now: dt.datetime
    ) -> tuple[str, list[PreviewLine]]:
        when = "at the end of the period" if payload["at_period_end"] else "now"
        ends = subscription.current_period_end if payload["at_period_end"] else now
        line = PreviewLine("Ends", "renews", f"{when} ({day(ends)})")
        return f"Cancel {when}; access ends {day(ends)}.", [line]

    def find_existing(self, action: Action) -> gateway.SubscriptionData | None:
        """Cancelling now is a DELETE, which Stripe does not make idempotent: look first."""
        payload = self.payload(action)
        if payload["at_period_end"]:
            return None
        subscription = gateway.retrieve_subscription(payload["stripe_subscription"])
        return subscription if subscription.status == SubscriptionStatus.CANCELED else None

    def perform(self, action: Action, metadata: dict[str, str]) -> gateway.SubscriptionData:
        payload = self.payload(action)
        if payload["at_period_end"]:
            return gateway.update_subscription(
                subscription_id=payload["stripe_subscription"],
                params={"cancel_at_period_end": True, "metadata": metadata},
                idempotency_key=action.idempotency_key,
            )
        return gateway.cancel_subscription(
            subscription_id=payload["stripe_subscription"],
            prorate=False,
            idempotency_key=action.idempotency_key,
        )


@register
class Reactivate(SubscriptionChange[SubscriptionPayload]):
    kind = ActionKind.REACTIVATE
    change = "reactivate"

    def check_state(self, subscription: Subscription, now: dt.datetime) -> None:
        if (
            not subscription.cancel_at_period_end
            or subscription.status == SubscriptionStatus.CANCELED
        ):
            raise ActionConflict(
                "Only a subscription set to cancel at the period end can be reactivated."
            )

    def validate(
        self, subscription: Subscription, change: Change, now: dt.datetime, errors: dict[str, str]
    ) -> tuple[dict[str, JSON], int | None]:
        return {}, None

    def preview(
        self,
        subscription: Subscription,
        payload: SubscriptionPayload,
        change: Change,
        now: dt.datetime,
    ) -> tuple[str, list[PreviewLine]]:
        renews = day(subscription.current_period_end)
        line = PreviewLine("Ends", renews, "renews")
        return f"Keep the subscription: it renews on {renews}.", [line]

    def params(self, payload: SubscriptionPayload) -> StripeParams:
        return {"cancel_at_period_end": False}

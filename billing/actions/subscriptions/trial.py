"""A trial extension: the trial ends later, and the first charge moves with it."""

from __future__ import annotations

import datetime as dt
import math

from billing.actions.base import JSON, PreviewLine, register
from billing.actions.errors import ActionConflict
from billing.actions.subscriptions.base import (
    Change,
    StripeParams,
    SubscriptionChange,
    SubscriptionPayload,
    check_live,
    day,
    timestamp,
)
from billing.models import ActionKind, Subscription, SubscriptionStatus

MAX_TRIAL_DAYS_AHEAD = 365


class TrialPayload(SubscriptionPayload):
    trial_end: int
    days: int
    from_trial_end: int | None


@register
class TrialExtension(SubscriptionChange[TrialPayload]):
    kind = ActionKind.TRIAL_EXTENSION
    change = "trial_end"

    def check_state(self, subscription: Subscription, now: dt.datetime) -> None:
        check_live(subscription)
        if subscription.status != SubscriptionStatus.TRIALING:
            raise ActionConflict("Only a subscription on trial can have its trial extended.")

    def validate(
        self, subscription: Subscription, change: Change, now: dt.datetime, errors: dict[str, str]
    ) -> tuple[dict[str, JSON], int | None]:
        new_end, current = change.trial_end, subscription.trial_end
        if new_end is None:
            errors["trial_end"] = "Give the new end of the trial."
        elif new_end <= max(current or now, now):
            errors["trial_end"] = f"The trial already runs until {day(current)}; pick a later date."
        elif new_end > now + dt.timedelta(days=MAX_TRIAL_DAYS_AHEAD):
            errors["trial_end"] = f"A trial can end at most {MAX_TRIAL_DAYS_AHEAD} days from now."
        else:
            # The measure the limit counts: whole days added (a part of a day counts whole).
            days = math.ceil((new_end - (current or now)) / dt.timedelta(days=1))
            payload: dict[str, JSON] = {
                "trial_end": int(new_end.timestamp()),
                "days": days,
                "from_trial_end": timestamp(current),
            }
            return payload, days
        return {}, None

    def preview(
        self, subscription: Subscription, payload: TrialPayload, change: Change, now: dt.datetime
    ) -> tuple[str, list[PreviewLine]]:
        line = PreviewLine("Trial ends", day(subscription.trial_end), day(change.trial_end))
        return f"Extend the trial by {payload['days']} days; the first charge moves with it.", [
            line
        ]

    def params(self, payload: TrialPayload) -> StripeParams:
        return {"trial_end": payload["trial_end"], "proration_behavior": "none"}

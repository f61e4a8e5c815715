"""What every change to a subscription shares: how it is asked (`Change`), the checks of the
subscription's state, and how it is made at Stripe (one update with the action's key)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import TypedDict

from django.utils import timezone

from billing.actions.base import JSON, Handler, PreviewLine, required
from billing.actions.errors import ActionConflict
from billing.models import (
    LIVE_STATUSES,
    SUBSCRIPTION_KINDS,
    Action,
    Price,
    Subscription,
)
from billing.stripe import gateway
from billing.stripe.mirror import Snapshot


@dataclass(frozen=True)
class Change:
    """What a change asks, as given by a screen or the API (already typed)."""

    change: str
    price: Price | None = None
    quantity: int | None = None
    trial_end: dt.datetime | None = None
    percent_off: str | Decimal | None = None
    amount_off: int | None = None
    duration: str = "once"
    duration_in_months: int | None = None
    behavior: str = ""
    resumes_at: dt.datetime | None = None
    at_period_end: bool = True


# The parameters of a Stripe request, as the gateway takes them.
type StripeParams = dict[str, object]


class SubscriptionPayload(TypedDict):
    """What every subscription change's payload starts with; each kind adds its own keys."""

    subscription_id: int
    stripe_subscription: str
    change: str


def day(moment: dt.datetime | None) -> str:
    return f"{moment:%Y-%m-%d}" if moment else "—"


def timestamp(moment: dt.datetime | None) -> int | None:
    return int(moment.timestamp()) if moment else None


def check_live(subscription: Subscription) -> None:
    if subscription.status not in LIVE_STATUSES:
        raise ActionConflict(
            f"This subscription is {subscription.get_status_display().lower()}; "
            "it can no longer be changed."
        )


def check_settled(subscription: Subscription) -> None:
    """No other change of this subscription is in flight, or done at Stripe but not yet
    mirrored: this one would be judged (and previewed) against a state that is no more."""
    other = (
        Action.objects.filter(subscription=subscription, kind__in=SUBSCRIPTION_KINDS)
        .outstanding()
        .first()
    )
    if other is not None:
        raise ActionConflict(
            f"{other.get_kind_display()} #{other.pk} of this subscription is still being "
            "confirmed by Stripe; look again in a minute."
        )


# The state each kind remembers when it is asked, and what a person calls it.
FROM_FIELDS = {
    "from_price": "price",
    "from_quantity": "seats",
    "from_trial_end": "trial end",
    "from_coupon": "discount",
}


def current_state(subscription: Subscription) -> dict[str, object]:
    return {
        "from_price": subscription.price.stripe_price_id,
        "from_quantity": subscription.quantity,
        "from_trial_end": timestamp(subscription.trial_end),
        "from_coupon": subscription.discount_coupon_id,
    }


class SubscriptionChange[P: SubscriptionPayload](Handler[P, gateway.SubscriptionData]):
    """One kind of subscription change: its checks, its preview and its Stripe parameters.

    Subclasses set `kind` and `change` (the name screens and the API use), and implement
    `validate`, `preview` and `params` (or `perform`)."""

    change: str

    def check_state(self, subscription: Subscription, now: dt.datetime) -> None:
        """Whether the subscription, as it is now, allows this kind of change at all."""
        check_live(subscription)

    def validate(
        self,
        subscription: Subscription,
        change: Change,
        now: dt.datetime,
        errors: dict[str, str],
    ) -> tuple[dict[str, JSON], int | None]:
        """This kind's payload keys and the measure its limit counts (None if none); every
        problem with what was asked goes into `errors`, keyed by field."""
        raise NotImplementedError

    def preview(
        self, subscription: Subscription, payload: P, change: Change, now: dt.datetime
    ) -> tuple[str, list[PreviewLine]]:
        """The summary and the lines of what will happen."""
        raise NotImplementedError

    def params(self, payload: P) -> StripeParams:
        """The parameters of Stripe's subscription update for this change."""
        raise NotImplementedError

    # Handler -------------------------------------------------------------------------------

    def check_locked(self, action: Action) -> None:
        subscription = (
            Subscription.objects.select_for_update(no_key=True, of=("self",))
            .select_related("price__plan")
            .get(pk=required(action.subscription_id, "subscription"))
        )
        self.check_state(subscription, timezone.now())
        check_settled(subscription)
        self.check_unchanged(action, subscription)

    def check_unchanged(self, action: Action, subscription: Subscription) -> None:
        """The subscription is still as it was when the change was asked (and previewed): a
        request approved later must not undo what was changed meanwhile (e.g. set the seats
        back, or shorten a trial extended since)."""
        expected = action.payload
        for key, now_value in current_state(subscription).items():
            if key in expected and expected[key] != now_value:
                raise ActionConflict(
                    f"The subscription's {FROM_FIELDS[key]} changed since this was requested; "
                    "ask again from its current state."
                )

    def perform(self, action: Action, metadata: dict[str, str]) -> gateway.SubscriptionData:
        payload = self.payload(action)
        return gateway.update_subscription(
            subscription_id=payload["stripe_subscription"],
            params={**self.params(payload), "metadata": metadata},
            idempotency_key=action.idempotency_key,
        )

    def read_back(self, action: Action, result: gateway.SubscriptionData) -> Snapshot:
        snapshot = Snapshot(fetched_at=timezone.now())
        snapshot.read_price_if_unknown(result.price)
        snapshot.subscriptions.append(gateway.retrieve_subscription(result.id))
        return snapshot

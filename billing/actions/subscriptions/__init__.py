"""Changes to a subscription: plan or price, seats, trial end, discount, pausing and resuming
collection, cancelling (now or at the period end) and reactivating.

Each kind is one class in its own module (its validation, preview, Stripe call and record);
CHANGES is the one table of them, by the name screens and the API use.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from django.utils import timezone

from accounts.models import User
from billing.actions.base import HANDLERS, Preview, Proposal
from billing.actions.errors import InvalidAction
from billing.actions.justification import justify
from billing.actions.pipeline import submit
from billing.actions.subscriptions.base import (
    Change,
    SubscriptionChange,
    SubscriptionPayload,
    check_settled,
)
from billing.actions.subscriptions.cancellation import Cancel, Reactivate
from billing.actions.subscriptions.collection import PauseCollection, ResumeCollection
from billing.actions.subscriptions.discount import DiscountChange
from billing.actions.subscriptions.price import PriceChange
from billing.actions.subscriptions.seats import MAX_SEATS, SeatChange
from billing.actions.subscriptions.trial import MAX_TRIAL_DAYS_AHEAD, TrialExtension
from billing.models import Action, Subscription

CHANGES: dict[str, SubscriptionChange[SubscriptionPayload]] = {
    kind.change: cast(SubscriptionChange[SubscriptionPayload], HANDLERS[kind.kind])
    for kind in (
        PriceChange,
        SeatChange,
        TrialExtension,
        DiscountChange,
        PauseCollection,
        ResumeCollection,
        Cancel,
        Reactivate,
    )
}


def _kind(change: Change) -> SubscriptionChange[SubscriptionPayload]:
    kind = CHANGES.get(change.change)
    if kind is None:
        raise InvalidAction({"change": f"“{change.change[:40]}” is not a change we know."})
    return kind


def _proposal(subscription: Subscription, change: Change, now: dt.datetime) -> Proposal:
    """Validate a change against the subscription as it is, and describe it as a payload."""
    kind = _kind(change)
    kind.check_state(subscription, now)
    check_settled(subscription)
    errors: dict[str, str] = {}
    extra, measure = kind.validate(subscription, change, now, errors)
    if errors:
        raise InvalidAction(errors)
    payload = {
        "subscription_id": subscription.pk,
        "stripe_subscription": subscription.stripe_subscription_id,
        "change": change.change,
        **extra,
    }
    return Proposal(
        kind=kind.kind,
        customer=subscription.customer,
        payload=payload,
        measure=measure,
        subscription_id=subscription.pk,
    )


def _fresh(subscription: Subscription) -> Subscription:
    """The subscription as it is now (a screen may hold an older copy)."""
    return Subscription.objects.select_related("customer", "price__plan").get(pk=subscription.pk)


def preview_subscription_change(
    *, subscription: Subscription, change: Change, now: dt.datetime | None = None
) -> Preview:
    now = now or timezone.now()
    subscription = _fresh(subscription)
    proposal = _proposal(subscription, change, now)
    kind = _kind(change)
    payload = cast(SubscriptionPayload, proposal.payload)
    summary, lines = kind.preview(subscription, payload, change, now)
    return Preview(
        kind=proposal.kind,
        summary=summary,
        lines=lines,
        currency=proposal.currency,
        measure=proposal.measure,
    )


def request_subscription_change(
    *,
    actor: User,
    subscription: Subscription,
    change: Change,
    reason: str,
    ticket: str,
    note: str = "",
    now: dt.datetime | None = None,
) -> Action:
    now = now or timezone.now()
    kind = _kind(change)
    justification = justify(kind=kind.kind, reason=reason, ticket=ticket, note=note)
    proposal = _proposal(_fresh(subscription), change, now)
    return submit(proposal, actor=actor, justification=justification, now=now)


__all__ = [
    "CHANGES",
    "MAX_SEATS",
    "MAX_TRIAL_DAYS_AHEAD",
    "Change",
    "preview_subscription_change",
    "request_subscription_change",
]

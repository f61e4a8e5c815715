"""Pausing collection (what happens to invoices meanwhile, and until when) and resuming it."""

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
    day,
)
from billing.models import ActionKind, PauseBehavior, Subscription


class PausePayload(SubscriptionPayload):
    behavior: str
    resumes_at: int | None


@register
class PauseCollection(SubscriptionChange[PausePayload]):
    kind = ActionKind.PAUSE_COLLECTION
    change = "pause_collection"

    def check_state(self, subscription: Subscription, now: dt.datetime) -> None:
        check_live(subscription)
        if subscription.collection_paused:
            raise ActionConflict("Collection is already paused.")

    def validate(
        self, subscription: Subscription, change: Change, now: dt.datetime, errors: dict[str, str]
    ) -> tuple[dict[str, JSON], int | None]:
        if change.behavior not in PauseBehavior.values:
            errors["behavior"] = "Choose what happens to invoices while collection is paused."
        elif change.resumes_at is not None and change.resumes_at <= now:
            errors["resumes_at"] = "Collection can only resume in the future."
        else:
            resumes_at = int(change.resumes_at.timestamp()) if change.resumes_at else None
            return {"behavior": change.behavior, "resumes_at": resumes_at}, None
        return {}, None

    def preview(
        self, subscription: Subscription, payload: PausePayload, change: Change, now: dt.datetime
    ) -> tuple[str, list[PreviewLine]]:
        behavior = PauseBehavior(payload["behavior"]).label.lower()
        resumes = day(change.resumes_at) if change.resumes_at else "when resumed by staff"
        line = PreviewLine("Collection", "active", f"paused ({behavior})")
        return f"Pause collection: {behavior} until {resumes}.", [line]

    def params(self, payload: PausePayload) -> StripeParams:
        pause: dict[str, object] = {"behavior": payload["behavior"]}
        if payload["resumes_at"]:
            pause["resumes_at"] = payload["resumes_at"]
        return {"pause_collection": pause}


@register
class ResumeCollection(SubscriptionChange[SubscriptionPayload]):
    kind = ActionKind.RESUME_COLLECTION
    change = "resume_collection"

    def check_state(self, subscription: Subscription, now: dt.datetime) -> None:
        check_live(subscription)
        if not subscription.collection_paused:
            raise ActionConflict("Collection is not paused.")

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
        line = PreviewLine("Collection", "paused", "active")
        return "Resume collecting payment on the next invoice.", [line]

    def params(self, payload: SubscriptionPayload) -> StripeParams:
        return {"pause_collection": ""}  # Stripe's way to unset it

"""Changes to a subscription: plan or price, seats, trial end, discount, pausing and resuming
collection, cancelling (now or at the period end) and reactivating."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from accounts.models import User
from billing.actions.errors import ActionConflict, InvalidAction
from billing.actions.pipeline import (
    Handler,
    Preview,
    PreviewLine,
    Proposal,
    justify,
    register,
    required,
    submit,
)
from billing.models import (
    LIVE_STATUSES,
    Action,
    ActionKind,
    PauseBehavior,
    Price,
    Subscription,
    SubscriptionStatus,
)
from billing.money import MAX_AMOUNT, format_amount
from billing.stripe import gateway
from billing.stripe.mirror import Snapshot

CHANGE_KINDS = {
    "price": ActionKind.PRICE_CHANGE,
    "seats": ActionKind.SEAT_CHANGE,
    "trial_end": ActionKind.TRIAL_EXTENSION,
    "discount": ActionKind.DISCOUNT,
    "pause_collection": ActionKind.PAUSE_COLLECTION,
    "resume_collection": ActionKind.RESUME_COLLECTION,
    "cancel": ActionKind.CANCEL,
    "reactivate": ActionKind.REACTIVATE,
}
MAX_SEATS = 100_000
MAX_TRIAL_DAYS_AHEAD = 365
DURATIONS = ("once", "repeating", "forever")


def _day(moment: dt.datetime | None) -> str:
    return f"{moment:%Y-%m-%d}" if moment else "—"


def _timestamp(moment: dt.datetime | None) -> int | None:
    return int(moment.timestamp()) if moment else None


def check_unchanged(action: Action, subscription: Subscription) -> None:
    """The subscription is still as it was when the change was asked (and previewed).

    A request approved later must not undo what was changed meanwhile (e.g. set the seats
    back, or shorten a trial extended since)."""
    expected = action.payload
    found = {
        "from_price": subscription.price.stripe_price_id,
        "from_quantity": subscription.quantity,
        "from_trial_end": _timestamp(subscription.trial_end),
        "from_coupon": subscription.discount_coupon_id,
    }
    labels = {
        "from_price": "price",
        "from_quantity": "seats",
        "from_trial_end": "trial end",
        "from_coupon": "discount",
    }
    for key, now_value in found.items():
        if key in expected and expected[key] != now_value:
            raise ActionConflict(
                f"The subscription's {labels[key]} changed since this was requested; "
                "ask again from its current state."
            )


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


def _live(subscription: Subscription) -> None:
    if subscription.status not in LIVE_STATUSES:
        raise ActionConflict(
            f"This subscription is {subscription.get_status_display().lower()}; "
            "it can no longer be changed."
        )


def _proposal(subscription: Subscription, change: Change, now: dt.datetime) -> Proposal:
    """Validate a change against the subscription as it is, and describe it as a payload."""
    if change.change not in CHANGE_KINDS:
        raise InvalidAction({"change": f"“{change.change}” is not a change we know."})
    kind = CHANGE_KINDS[change.change]
    errors: dict[str, str] = {}
    payload: dict[str, Any] = {
        "subscription_id": subscription.pk,
        "stripe_subscription": subscription.stripe_subscription_id,
        "change": change.change,
    }
    measure = None
    check_state(kind, subscription, now)
    if kind == ActionKind.PRICE_CHANGE:
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
            payload.update(
                price_id=price.pk,
                stripe_price=price.stripe_price_id,
                item=subscription.stripe_item_id,
                quantity=subscription.quantity if price.plan.per_seat else 1,
                from_price=subscription.price.stripe_price_id,
                from_quantity=subscription.quantity,
                proration_date=int(now.timestamp()),
            )
    elif kind == ActionKind.SEAT_CHANGE:
        quantity = change.quantity
        if type(quantity) is not int or not 1 <= quantity <= MAX_SEATS:
            errors["quantity"] = f"Seats are a whole number from 1 to {MAX_SEATS:,}."
        elif quantity == subscription.quantity:
            errors["quantity"] = f"The subscription already has {quantity} seats."
        else:
            payload.update(
                item=subscription.stripe_item_id,
                quantity=quantity,
                from_quantity=subscription.quantity,
                proration_date=int(now.timestamp()),
            )
    elif kind == ActionKind.TRIAL_EXTENSION:
        new_end, current = change.trial_end, subscription.trial_end
        if new_end is None:
            errors["trial_end"] = "Give the new end of the trial."
        elif new_end <= max(current or now, now):
            errors["trial_end"] = (
                f"The trial already runs until {_day(current)}; pick a later date."
            )
        elif new_end > now + dt.timedelta(days=MAX_TRIAL_DAYS_AHEAD):
            errors["trial_end"] = f"A trial can end at most {MAX_TRIAL_DAYS_AHEAD} days from now."
        else:
            measure = math.ceil((new_end - (current or now)) / dt.timedelta(days=1))
            payload.update(
                trial_end=int(new_end.timestamp()),
                days=measure,
                from_trial_end=_timestamp(current),
            )
    elif kind == ActionKind.DISCOUNT:
        payload.update(_discount(subscription, change, errors))
        payload["from_coupon"] = subscription.discount_coupon_id
    elif kind == ActionKind.PAUSE_COLLECTION:
        if change.behavior not in PauseBehavior.values:
            errors["behavior"] = "Choose what happens to invoices while collection is paused."
        elif change.resumes_at is not None and change.resumes_at <= now:
            errors["resumes_at"] = "Collection can only resume in the future."
        else:
            payload.update(
                behavior=change.behavior,
                resumes_at=int(change.resumes_at.timestamp()) if change.resumes_at else None,
            )
    elif kind == ActionKind.CANCEL:
        payload.update(at_period_end=bool(change.at_period_end))
        if change.at_period_end and subscription.cancel_at_period_end:
            errors["at_period_end"] = "It already cancels at the end of the period."
    if errors:
        raise InvalidAction(errors)
    return Proposal(
        kind=kind,
        customer=subscription.customer,
        payload=payload,
        measure=measure,
        targets={"subscription": subscription},
    )


def _discount(subscription: Subscription, change: Change, errors: dict[str, str]) -> dict:
    coupon: dict[str, Any] = {}
    if (change.percent_off is None) == (change.amount_off is None):
        errors["percent_off"] = "Give either a percentage or an amount off."
        return coupon
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
    return coupon


def check_state(kind: str, subscription: Subscription, now: dt.datetime) -> None:
    """Whether the subscription, as it is now, allows this kind of change."""
    if kind == ActionKind.REACTIVATE:
        if (
            not subscription.cancel_at_period_end
            or subscription.status == SubscriptionStatus.CANCELED
        ):
            raise ActionConflict(
                "Only a subscription set to cancel at the period end can be reactivated."
            )
        return
    _live(subscription)
    if kind == ActionKind.SEAT_CHANGE and not subscription.price.plan.per_seat:
        raise ActionConflict(f"The {subscription.price.plan.name} plan is not priced per seat.")
    if kind == ActionKind.TRIAL_EXTENSION and subscription.status != SubscriptionStatus.TRIALING:
        raise ActionConflict("Only a subscription on trial can have its trial extended.")
    if kind == ActionKind.PAUSE_COLLECTION and subscription.collection_paused:
        raise ActionConflict("Collection is already paused.")
    if kind == ActionKind.RESUME_COLLECTION and not subscription.collection_paused:
        raise ActionConflict("Collection is not paused.")


def _fresh(subscription: Subscription) -> Subscription:
    """The subscription as it is now (a screen may hold an older copy)."""
    return Subscription.objects.select_related("customer", "price__plan").get(pk=subscription.pk)


def preview_subscription_change(
    *, subscription: Subscription, change: Change, now: dt.datetime | None = None
) -> Preview:
    now = now or timezone.now()
    subscription = _fresh(subscription)
    proposal = _proposal(subscription, change, now)
    payload = proposal.payload
    currency = subscription.price.currency
    kind = proposal.kind
    lines: list[PreviewLine] = []
    if kind in (ActionKind.PRICE_CHANGE, ActionKind.SEAT_CHANGE):
        try:
            preview = gateway.preview_subscription_change(
                subscription_id=subscription.stripe_subscription_id,
                item_id=subscription.stripe_item_id,
                price_id=payload.get("stripe_price"),
                quantity=payload.get("quantity"),
                proration_date=now,
            )
        except gateway.StripeGatewayError as error:
            raise ActionConflict(f"Stripe could not preview this change: {error.message}") from None
        if kind == ActionKind.PRICE_CHANGE:
            lines.append(PreviewLine("Price", str(subscription.price), str(change.price)))
        else:
            lines.append(PreviewLine("Seats", str(subscription.quantity), str(payload["quantity"])))
        lines.append(
            PreviewLine(
                "Proration on the next invoice",
                "",
                format_amount(preview.proration_total, currency),
            )
        )
        summary = (
            "Takes effect now; the proration of "
            f"{format_amount(preview.proration_total, currency)} is added to the next invoice."
        )
    elif kind == ActionKind.TRIAL_EXTENSION:
        lines.append(
            PreviewLine("Trial ends", _day(subscription.trial_end), _day(change.trial_end))
        )
        summary = f"Extend the trial by {payload['days']} days; the first charge moves with it."
    elif kind == ActionKind.DISCOUNT:
        off = (
            f"{payload['percent_off']}% off"
            if "percent_off" in payload
            else f"{format_amount(payload['amount_off'], currency)} off"
        )
        length = {
            "once": "on the next invoice",
            "forever": "on every invoice",
            "repeating": f"for {payload.get('duration_in_months')} months",
        }[payload["duration"]]
        lines.append(PreviewLine("Discount", subscription.discount_coupon_id or "none", off))
        summary = f"{off} {length}"
    elif kind == ActionKind.PAUSE_COLLECTION:
        behavior = PauseBehavior(payload["behavior"]).label.lower()
        resumes = _day(change.resumes_at) if change.resumes_at else "when resumed by staff"
        lines.append(PreviewLine("Collection", "active", f"paused ({behavior})"))
        summary = f"Pause collection: {behavior} until {resumes}."
    elif kind == ActionKind.RESUME_COLLECTION:
        lines.append(PreviewLine("Collection", "paused", "active"))
        summary = "Resume collecting payment on the next invoice."
    elif kind == ActionKind.CANCEL:
        when = "at the end of the period" if payload["at_period_end"] else "now"
        ends = subscription.current_period_end if payload["at_period_end"] else now
        lines.append(PreviewLine("Ends", "renews", f"{when} ({_day(ends)})"))
        summary = f"Cancel {when}; access ends {_day(ends)}."
    else:
        lines.append(PreviewLine("Ends", _day(subscription.current_period_end), "renews"))
        summary = f"Keep the subscription: it renews on {_day(subscription.current_period_end)}."
    return Preview(kind=kind, summary=summary, lines=lines)


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
    kind = CHANGE_KINDS.get(change.change)
    if kind is None:
        raise InvalidAction({"change": f"“{change.change}” is not a change we know."})
    justification = justify(kind=kind, reason=reason, ticket=ticket, note=note)
    proposal = _proposal(_fresh(subscription), change, now)
    return submit(proposal, actor=actor, justification=justification, now=now)


class SubscriptionHandler(Handler):
    def check_locked(self, action: Action) -> None:
        subscription = (
            Subscription.objects.select_for_update(no_key=True)
            .select_related("price__plan")
            .get(pk=required(action.subscription_id, "subscription"))
        )
        check_state(action.kind, subscription, timezone.now())
        check_unchanged(action, subscription)

    def params(self, action: Action) -> dict[str, Any]:
        raise NotImplementedError

    def perform(self, action: Action, metadata: dict[str, str]) -> gateway.SubscriptionData:
        return gateway.update_subscription(
            subscription_id=action.payload["stripe_subscription"],
            params={**self.params(action), "metadata": metadata},
            idempotency_key=action.idempotency_key,
        )

    def read_back(self, action: Action, result: gateway.SubscriptionData) -> Snapshot:
        snapshot = Snapshot(fetched_at=timezone.now())
        snapshot.read_price_if_unknown(result.price)
        snapshot.subscriptions.append(gateway.retrieve_subscription(result.id))
        return snapshot


@register
class PriceChangeHandler(SubscriptionHandler):
    kind = ActionKind.PRICE_CHANGE

    def params(self, action: Action) -> dict[str, Any]:
        p = action.payload
        return {
            "items": [{"id": p["item"], "price": p["stripe_price"], "quantity": p["quantity"]}],
            "proration_behavior": "create_prorations",
            "proration_date": p["proration_date"],
        }


@register
class SeatChangeHandler(SubscriptionHandler):
    kind = ActionKind.SEAT_CHANGE

    def params(self, action: Action) -> dict[str, Any]:
        p = action.payload
        return {
            "items": [{"id": p["item"], "quantity": p["quantity"]}],
            "proration_behavior": "create_prorations",
            "proration_date": p["proration_date"],
        }


@register
class TrialExtensionHandler(SubscriptionHandler):
    kind = ActionKind.TRIAL_EXTENSION

    def params(self, action: Action) -> dict[str, Any]:
        return {"trial_end": action.payload["trial_end"], "proration_behavior": "none"}


@register
class PauseCollectionHandler(SubscriptionHandler):
    kind = ActionKind.PAUSE_COLLECTION

    def params(self, action: Action) -> dict[str, Any]:
        pause = {"behavior": action.payload["behavior"]}
        if action.payload["resumes_at"]:
            pause["resumes_at"] = action.payload["resumes_at"]
        return {"pause_collection": pause}


@register
class ResumeCollectionHandler(SubscriptionHandler):
    kind = ActionKind.RESUME_COLLECTION

    def params(self, action: Action) -> dict[str, Any]:
        return {"pause_collection": ""}  # Stripe's way to unset it


@register
class ReactivateHandler(SubscriptionHandler):
    kind = ActionKind.REACTIVATE

    def params(self, action: Action) -> dict[str, Any]:
        return {"cancel_at_period_end": False}


@register
class DiscountHandler(SubscriptionHandler):
    kind = ActionKind.DISCOUNT

    def perform(self, action: Action, metadata: dict[str, str]) -> gateway.SubscriptionData:
        payload = action.payload
        coupon = {
            key: payload[key]
            for key in ("percent_off", "amount_off", "currency", "duration", "duration_in_months")
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


@register
class CancelHandler(SubscriptionHandler):
    kind = ActionKind.CANCEL

    def find_existing(self, action: Action) -> gateway.SubscriptionData | None:
        """Cancelling now is a DELETE, which Stripe does not make idempotent: look first."""
        if action.payload["at_period_end"]:
            return None
        subscription = gateway.retrieve_subscription(action.payload["stripe_subscription"])
        return subscription if subscription.status == SubscriptionStatus.CANCELED else None

    def perform(self, action: Action, metadata: dict[str, str]) -> gateway.SubscriptionData:
        if action.payload["at_period_end"]:
            return gateway.update_subscription(
                subscription_id=action.payload["stripe_subscription"],
                params={"cancel_at_period_end": True, "metadata": metadata},
                idempotency_key=action.idempotency_key,
            )
        return gateway.cancel_subscription(
            subscription_id=action.payload["stripe_subscription"],
            prorate=False,
            idempotency_key=action.idempotency_key,
        )

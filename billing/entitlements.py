"""A customer's effective entitlements: what their plan includes plus active overrides."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from billing.models import Customer, EntitlementOverride, Feature, Subscription
from billing.models.prebuilt import CompiledOnce


@dataclass(frozen=True)
class Entitlement:
    feature: str
    value: str
    source: str

    @property
    def label(self) -> str:
        return Feature(self.feature).label


def effective_entitlements(customer: Customer, *, at: dt.datetime) -> list[Entitlement]:
    """Plan entitlements of the live subscriptions, then overrides in force at `at` on top.

    For a per-seat plan the seat count is the subscription's quantity.
    """
    return effective_entitlements_until(customer, at=at)[0]


def effective_entitlements_until(
    customer: Customer, *, at: dt.datetime
) -> tuple[list[Entitlement], dt.datetime | None]:
    """The effective entitlements at `at`, and the next moment they change with nothing
    written (an override starting, expiring or ending early; None: only a write changes them)."""
    found: dict[str, Entitlement] = {}
    for subscription in _live_subscriptions(customer=customer.pk):
        plan = subscription.price.plan
        for included in plan.entitlements.all():
            found[included.feature] = Entitlement(
                included.feature, included.value, f"{plan.name} plan"
            )
        if plan.per_seat:
            found[Feature.SEATS] = Entitlement(
                Feature.SEATS, str(subscription.quantity), f"{plan.name} plan, seats bought"
            )
    changes: list[dt.datetime] = []
    for override in _overrides_not_over(customer=customer.pk, at=at):
        changes += [moment for moment in (override.starts_at, override.ended_at) if moment]
        changes.append(override.expires_at)
        if override.starts_at > at:
            continue  # not in force yet
        found[override.feature] = Entitlement(
            override.feature,
            override.value,
            f"Override until {override.expires_at:%Y-%m-%d %H:%M} UTC",
        )
    order = {feature: position for position, feature in enumerate(Feature.values)}
    shown = sorted(found.values(), key=lambda entitlement: order[entitlement.feature])
    return shown, min((moment for moment in changes if moment > at), default=None)


# Read on every customer page: compiled once (billing/models/prebuilt.py).
_live_subscriptions = CompiledOnce(
    lambda *, customer: (
        Subscription.objects.filter(customer=customer)
        .live()
        .select_related("price__plan")
        .prefetch_related("price__plan__entitlements")
        .order_by("created")
    ),
    customer=int,
)
_overrides_not_over = CompiledOnce(
    lambda *, customer, at: (
        EntitlementOverride.objects.filter(customer=customer).not_over(at).order_by("starts_at")
    ),
    customer=int,
    at=dt.datetime,
)

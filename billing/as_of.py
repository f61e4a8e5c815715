"""A customer as they were at a past moment, built from the history (SPEC §4 "as of"):
their record, subscriptions (price, seats, trial, discount, collection paused), effective
entitlements with their source, balance and open invoices.

Each record is its latest history row at or before the moment (the history is append-only,
so this is exactly what the records held then). The ledgers (balance) are insert-only: their
rows created by then. Plans and prices are named as they are now.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import OuterRef, Subquery, Sum
from django.utils.dateparse import parse_date, parse_datetime

from billing.diffs import history_model
from billing.entitlements import Entitlement
from billing.models import (
    BalanceTransaction,
    Customer,
    EntitlementOverride,
    Feature,
    Invoice,
    InvoiceStatus,
    Price,
    Subscription,
)
from billing.models.subscriptions import LIVE_STATUSES


class InvalidMoment(ValueError):
    pass


def parse_moment(raw: str, *, now: dt.datetime) -> dt.datetime:
    """ "2026-11-30T14:05" (UTC), an ISO time with its zone, or a date (its midnight UTC)."""
    text = raw.strip()
    try:
        moment = parse_datetime(text) if "T" in text or " " in text else None
        day = parse_date(text) if moment is None and len(text) == 10 else None
    except ValueError:  # well formed but impossible, e.g. month 13
        moment = day = None
    if moment is None:
        if day is None:
            raise InvalidMoment(f"“{text[:40]}” is not a date and time (YYYY-MM-DDTHH:MM, UTC).")
        moment = dt.datetime.combine(day, dt.time.min)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if moment > now:
        raise InvalidMoment("That moment is in the future; the past view shows what was.")
    return moment


def _as_of(model: type[models.Model], moment: dt.datetime, **whose: Any) -> models.QuerySet:
    """The latest history row of each record (of `whose`) at or before `moment`, unless the
    record had been deleted by then."""
    history: Any = history_model(model)  # its `objects` is simple-history's manager
    latest = (
        history.objects.filter(id=OuterRef("id"), history_date__lte=moment)
        .order_by("-history_date", "-history_id")
        .values("history_id")[:1]
    )
    return (
        history.objects.filter(history_date__lte=moment, **whose)
        .filter(history_id=Subquery(latest))
        .exclude(history_type="-")
    )


@dataclass(frozen=True)
class PastSubscription:
    row: Any  # the subscription's history row: its fields as they were
    price: Price | None

    @property
    def is_live(self) -> bool:
        return self.row.status in LIVE_STATUSES


@dataclass(frozen=True)
class CustomerAsOf:
    moment: dt.datetime
    customer: Any  # the customer's history row
    subscriptions: list[PastSubscription]
    entitlements: list[Entitlement]
    balance: int
    open_invoices: list[Any]


def customer_as_of(customer: Customer, moment: dt.datetime) -> CustomerAsOf | None:
    """The customer at `moment`; None if they did not exist yet."""
    record = _as_of(Customer, moment, id=customer.pk).first()
    if record is None:
        return None
    subscription_rows = list(
        _as_of(Subscription, moment, customer_id=customer.pk).order_by("created")
    )
    prices = (
        Price.objects.select_related("plan")
        .prefetch_related("plan__entitlements")
        .in_bulk({row.price_id for row in subscription_rows})
    )
    subscriptions = [PastSubscription(row, prices.get(row.price_id)) for row in subscription_rows]
    overrides = [
        row
        for row in _as_of(EntitlementOverride, moment, customer_id=customer.pk).order_by(
            "starts_at"
        )
        if row.starts_at <= moment < row.expires_at
        and (row.ended_at is None or row.ended_at > moment)
    ]
    balance = (
        BalanceTransaction.objects.filter(customer=customer, created__lte=moment).aggregate(
            total=Sum("amount")
        )["total"]
        or 0
    )
    open_invoices = list(
        _as_of(Invoice, moment, customer_id=customer.pk)
        .filter(status=InvoiceStatus.OPEN)
        .order_by("-created")
    )
    return CustomerAsOf(
        moment=moment,
        customer=record,
        subscriptions=subscriptions,
        entitlements=_entitlements(subscriptions, overrides),
        balance=balance,
        open_invoices=open_invoices,
    )


def _entitlements(subscriptions: list[PastSubscription], overrides: list[Any]) -> list[Entitlement]:
    """As billing.entitlements.effective_entitlements, from the past rows."""
    found: dict[str, Entitlement] = {}
    for subscription in subscriptions:
        if not subscription.is_live or subscription.price is None:
            continue
        plan = subscription.price.plan
        for included in plan.entitlements.all():
            found[included.feature] = Entitlement(
                included.feature, included.value, f"{plan.name} plan"
            )
        if plan.per_seat:
            found[Feature.SEATS] = Entitlement(
                Feature.SEATS, str(subscription.row.quantity), f"{plan.name} plan, seats bought"
            )
    for override in overrides:
        found[override.feature] = Entitlement(
            override.feature,
            override.value,
            f"Override until {override.expires_at:%Y-%m-%d %H:%M} UTC",
        )
    order = {feature: position for position, feature in enumerate(Feature.values)}
    return sorted(found.values(), key=lambda entitlement: order[entitlement.feature])

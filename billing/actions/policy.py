"""Who may do how much without asking: limits per role, action kind and currency (SPEC §3).

A staff member's limit for a kind and currency is the largest of their roles' limits, per
action and per rolling 24 hours (NULL is no cap; 0 is "request only"; no row at all is also
"request only"). The 24-hour sum counts every action of theirs of that kind and currency that
may still move money or already did: waiting for approval, approved, executing, succeeded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db.models import Sum

from accounts.models import User
from billing.models import COMMITTED_STATES, MONEY_KINDS, Action, ActionKind, PolicyLimit

WINDOW = dt.timedelta(hours=24)
APPROVAL_LIFETIME = dt.timedelta(hours=72)


@dataclass(frozen=True)
class Limit:
    per_action: int | None  # None: no cap
    per_day: int | None

    @classmethod
    def largest(cls, rows: list[PolicyLimit]) -> Limit | None:
        if not rows:
            return None
        return cls(
            per_action=_largest(row.per_action for row in rows),
            per_day=_largest(row.per_day for row in rows),
        )


def _largest(values: Iterable[int | None]) -> int | None:
    found = list(values)
    if any(value is None for value in found):
        return None
    return max(value for value in found if value is not None)


def measured(kind: str) -> bool:
    """Whether a kind's limit counts an amount (money, or days for trial extensions)."""
    return kind in MONEY_KINDS or kind == ActionKind.TRIAL_EXTENSION


def limit_for(user: User, kind: str, currency: str) -> Limit | None:
    rows = list(
        PolicyLimit.objects.filter(
            role__in=user.groups.all(), kind=kind, currency=currency if kind in MONEY_KINDS else ""
        )
    )
    return Limit.largest(rows)


@dataclass(frozen=True)
class Decision:
    direct: bool
    why: str  # for the requester: why an approval is needed (empty when direct)


def decide(
    *, user: User, kind: str, currency: str, measure: int | None, now: dt.datetime
) -> Decision:
    """Whether `user` may do this directly, or must ask for an approval."""
    limit = limit_for(user, kind, currency)
    label = ActionKind(kind).label.lower()
    if limit is None or limit.per_action == 0 or limit.per_day == 0:
        where = f" in {currency.upper()}" if kind in MONEY_KINDS else ""
        return Decision(False, f"Your roles may only request a {label}{where}.")
    if not measured(kind) or measure is None:
        return Decision(True, "")
    unit = _unit(kind, currency)
    if limit.per_action is not None and measure > limit.per_action:
        return Decision(False, f"Above your limit of {unit(limit.per_action)} per {label}.")
    if limit.per_day is not None:
        used = used_in_window(user=user, kind=kind, currency=currency, now=now)
        if used + measure > limit.per_day:
            return Decision(
                False,
                f"Above your limit of {unit(limit.per_day)} per 24 hours "
                f"({unit(used)} already used).",
            )
    return Decision(True, "")


def used_in_window(*, user: User, kind: str, currency: str, now: dt.datetime) -> int:
    actions = Action.objects.filter(
        actor=user,
        kind=kind,
        state__in=COMMITTED_STATES,
        created_at__gt=now - WINDOW,
        created_at__lte=now,
    )
    if kind in MONEY_KINDS:
        return actions.filter(currency=currency).aggregate(total=Sum("amount"))["total"] or 0
    return sum(action.payload.get("days", 0) for action in actions)


def covers(*, user: User, kind: str, currency: str, measure: int | None) -> bool:
    """Whether `user`'s own per-action limit covers an action (to approve it)."""
    limit = limit_for(user, kind, currency)
    if limit is None or limit.per_action == 0 or limit.per_day == 0:
        return False
    if not measured(kind) or measure is None:
        return True
    return limit.per_action is None or measure <= limit.per_action


def _unit(kind: str, currency: str) -> Callable[[int], str]:
    if kind in MONEY_KINDS:
        from billing.money import format_amount

        return lambda value: format_amount(value, currency)
    return lambda value: f"{value} day{'s' if value != 1 else ''}"

"""Who may do how much without asking, and who may decide a request (SPEC §3, policy).

A staff member's limit for a kind and currency is the largest of their roles' limits, per
action and per rolling 24 hours (NULL is no cap; 0 is "request only"; no row at all is also
"request only"). Only roles holding `billing.act_directly` act directly within their limits;
the agent role (automations) asks for an approval of everything.

The 24-hour sum counts every action of theirs of that kind and currency that may still move
money or already did (waiting for approval, approved, executing, succeeded), read under the
actor's lock and never bounded by the caller's clock, so simultaneous requests cannot add up
past the limit.

Who may decide a request is one rule, `deciders()`, expressed in SQL so that the inbox,
the start page, approve and reject all use it: another active staff member holding
`billing.approve_action` whose own per-action limit covers the request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce

from accounts.models import User
from billing.models import (
    MEASURED_KINDS,
    MONEY_KINDS,
    Action,
    ActionKind,
    ApprovalRequest,
    PolicyLimit,
)
from billing.models.prebuilt import CompiledOnce
from billing.money import format_amount

WINDOW = dt.timedelta(hours=24)
APPROVAL_LIFETIME = dt.timedelta(hours=72)
ACT_DIRECTLY = "billing.act_directly"
REQUEST = "billing.request_action"
APPROVE = "billing.approve_action"


@dataclass(frozen=True)
class Limit:
    per_action: int | None  # None: no cap
    per_day: int | None

    @classmethod
    def largest(cls, rows: Iterable[PolicyLimit]) -> Limit | None:
        found = list(rows)
        if not found:
            return None
        return cls(
            per_action=_largest(row.per_action for row in found),
            per_day=_largest(row.per_day for row in found),
        )

    @property
    def request_only(self) -> bool:
        return self.per_action == 0 or self.per_day == 0

    def covers(self, measure: int | None) -> bool:
        """Whether one action of this size is within the per-action limit."""
        if self.request_only:
            return False
        return measure is None or self.per_action is None or measure <= self.per_action


def _largest(values: Iterable[int | None]) -> int | None:
    found = list(values)
    if any(value is None for value in found):
        return None
    return max(value for value in found if value is not None)


def measured(kind: str) -> bool:
    """Whether a kind's limit counts an amount (money, or days for trial extensions)."""
    return kind in MEASURED_KINDS


def limit_for(user: User, kind: str, currency: str) -> Limit | None:
    rows = PolicyLimit.objects.filter(
        role__in=user.groups.all(), kind=kind, currency=currency if kind in MONEY_KINDS else ""
    )
    return Limit.largest(rows)


@dataclass(frozen=True)
class Decision:
    direct: bool
    why: str  # for the requester: why an approval is needed (empty when direct)
    room: str = ""  # when direct: what the limits leave, in words


def decide(
    *, user: User, kind: str, currency: str, measure: int | None, now: dt.datetime
) -> Decision:
    """Whether `user` may do this directly, or must ask for an approval.

    Call it under the actor's lock (the pipeline's submit does), so that the 24-hour sum
    includes every request of theirs that committed before."""
    label = ActionKind(kind).label.lower()
    if not user.has_perm(ACT_DIRECTLY):
        return Decision(False, f"Your role asks for an approval of every {label}.")
    limit = limit_for(user, kind, currency)
    if limit is None or limit.request_only:
        where = f" in {currency.upper()}" if kind in MONEY_KINDS else ""
        return Decision(False, f"Your roles may only request a {label}{where}.")
    if not measured(kind) or measure is None:
        return Decision(True, "")
    unit = _unit(kind, currency)
    if not limit.covers(measure):
        return Decision(False, f"Above your limit of {unit(limit.per_action or 0)} per {label}.")
    room = f"within your limit of {unit(limit.per_action)} per {label}" if limit.per_action else ""
    if limit.per_day is not None:
        used = Action.objects.window_total(
            actor=user, kind=kind, currency=currency, since=now - WINDOW
        )
        if used + measure > limit.per_day:
            return Decision(
                False,
                f"Above your limit of {unit(limit.per_day)} per 24 hours "
                f"({unit(used)} already used).",
            )
        left = unit(limit.per_day - used - measure)
        room = f"{room}; {left} left of your {unit(limit.per_day)} per 24 hours after it"
    return Decision(True, "", room.strip("; "))


def roles_that_may_decide(*, kind: str, currency: str, measure: int | None) -> list[str]:
    """The roles whose members may approve such a request (to say who will decide it)."""
    deciders = Group.objects.filter(permissions__codename="approve_action").distinct()
    rows = PolicyLimit.objects.filter(
        role__in=deciders, kind=kind, currency=currency if kind in MONEY_KINDS else ""
    ).select_related("role")
    by_role: dict[str, list[PolicyLimit]] = {}
    for row in rows:
        by_role.setdefault(row.role.name, []).append(row)
    return sorted(
        name
        for name, role_rows in by_role.items()
        if (limit := Limit.largest(role_rows)) is not None and limit.covers(measure)
    )


def _unit(kind: str, currency: str) -> Callable[[int], str]:
    if kind in MONEY_KINDS:
        return lambda value: format_amount(value, currency)
    return lambda value: f"{value} day{'s' if value != 1 else ''}"


# Who may decide -------------------------------------------------------------------------------


def _covering(user_id: int) -> Q:
    """Requests whose action one of the user's roles covers: a limit row of that kind and
    currency whose per-action cap is none or at least the action's measure, and whose daily
    cap is not 0. (Limit.covers says the same of the largest limit; a test holds them equal.)"""
    rows = PolicyLimit.objects.filter(
        role__in=Group.objects.filter(user=user_id),
        kind=OuterRef("action__kind"),
        currency=OuterRef("action__currency"),
    )
    per_action = rows.filter(
        Q(per_action__isnull=True)
        | Q(per_action__gt=0, per_action__gte=Coalesce(OuterRef("action__measure"), 1))
    )
    per_day = rows.filter(Q(per_day__isnull=True) | Q(per_day__gt=0))
    return Q(Exists(per_action)) & Q(Exists(per_day))


def deciders(user: User) -> Q:
    """The requests `user` may decide, whatever their state: someone else's, covered by
    `user`'s own limit, if `user` is active and may approve at all."""
    if not (user.is_active and user.has_perm(APPROVE)):
        return Q(pk__in=[])
    return _others_covered(user.pk)


def _others_covered(user_id: int) -> Q:
    """deciders, for a user already known to be an active approver: someone else's requests
    that one of the user's limits covers."""
    return ~Q(requested_by=user_id) & _covering(user_id)


def decidable_by(user: User, now: dt.datetime) -> QuerySet[ApprovalRequest]:
    """Requests waiting for `user`: pending, not expired, and theirs to decide."""
    waiting: QuerySet[ApprovalRequest] = ApprovalRequest.objects.pending(now)
    return waiting.filter(deciders(user))


def waiting_count(user: User, now: dt.datetime) -> int:
    """How many requests wait for `user` (`decidable_by(user, now).count()`), as the
    navigation bar's badge shows on every page.

    Building that query costs Django twice what PostgreSQL takes to run it, so its SQL is
    compiled once per process (CompiledOnce) and run with the user's id and the moment: their
    roles, the limits and the requests are read by the statement itself, so it counts what
    holds when it runs."""
    if not (user.is_active and user.has_perm(APPROVE)):
        return 0
    return _waiting(user=user.pk, now=now).count()


# decidable_by, for a user already known to be an active approver.
_waiting = CompiledOnce(
    lambda *, user, now: (
        ApprovalRequest.objects.pending(now).filter(_others_covered(user)).order_by().values("pk")
    ),
    user=int,
    now=dt.datetime,
)


def may_decide(user: User, approval: ApprovalRequest) -> bool:
    """Whether `user` is one who may decide this request (whether it still waits for a
    decision is the request's own state: see ApprovalRequestQuerySet.pending). Also asked
    before an approved request first runs: the approver must still be one."""
    return ApprovalRequest.objects.filter(pk=approval.pk).filter(deciders(user)).exists()


def may_request(user: User) -> bool:
    return user.is_active and user.has_perm(REQUEST)

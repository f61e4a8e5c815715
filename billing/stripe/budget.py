"""Each staff member's budget of Stripe reads (SPEC §5, sync): "Resync from Stripe" and
"Compare with Stripe" re-read a customer's whole billing (tens of calls for a customer with
a few dozen payments), so nobody may spend the Stripe rate limit that money actions need.

The budget is counted from an insert-only ledger (StripeRead), under the staff member's lock,
so two simultaneous clicks cannot both pass a full budget, whichever process serves them.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing.models import Customer, StripeRead, StripeReadKind

WINDOW = dt.timedelta(minutes=10)
# Per staff member and per WINDOW.
BUDGET = {StripeReadKind.RESYNC: 5, StripeReadKind.COMPARE: 10}


class OverBudget(Exception):
    """Too many Stripe reads for now; `retry_after` seconds until the next one is allowed."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def spend(
    *, user: User, customer: Customer, kind: StripeReadKind, now: dt.datetime | None = None
) -> None:
    """Record one read of `customer` from Stripe by `user`, or refuse it (OverBudget)."""
    now = now or timezone.now()
    allowed = BUDGET[kind]
    with transaction.atomic(durable=True):
        User.objects.select_for_update(no_key=True).get(pk=user.pk)
        recent = list(
            StripeRead.objects.filter(user=user, kind=kind, at__gt=now - WINDOW)
            .order_by("-at")
            .values_list("at", flat=True)[:allowed]
        )
        if len(recent) >= allowed:
            retry_after = max(1, int((recent[-1] + WINDOW - now).total_seconds()) + 1)
            minutes = max(1, round(retry_after / 60))
            raise OverBudget(
                f"You already asked Stripe for {allowed} {kind.label.lower()}s in the last "
                f"{int(WINDOW.total_seconds() // 60)} minutes; the next is possible in about "
                f"{minutes} minute{'s' if minutes != 1 else ''}. (Stripe's rate limit is kept "
                "for money actions.)",
                retry_after=retry_after,
            )
        StripeRead.objects.create(user=user, customer=customer, kind=kind, at=now)

"""The reconciler's eyes: which customers to compare with Stripe, and which actions wait too
long for their next attempt (SPEC §3: webhooks and the reconciler confirm actions).

Every few minutes the pipeline's `reconcile` task asks this module what to look at, compares
those customers with Stripe (the drift report), mends what differs by reading the customer
back (which also confirms the actions Stripe shows done), runs overdue attempts, and records
the run. This module reads and reports; the pipeline moves actions.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from billing.models import (
    Action,
    ActionState,
    BalanceTransaction,
    Customer,
    ReconcileRun,
    Refund,
)

EVERY = dt.timedelta(minutes=5)
LOOKBACK = dt.timedelta(hours=24)
# An executing action whose next attempt is this late lost its retry task (a worker died).
OVERDUE = dt.timedelta(minutes=10)
# Customers compared per run: each costs a few Stripe reads; the rest wait for the next run.
PER_RUN = 50


def last_run() -> ReconcileRun | None:
    return ReconcileRun.objects.order_by("-started_at", "-id").first()


def customers_to_check(*, now: dt.datetime) -> list[Customer]:
    """First the customers of actions done at Stripe but not mirrored yet, then those with
    actions or ledger rows since the last run (within the lookback), at most PER_RUN."""
    previous = last_run()
    since = max(previous.started_at - EVERY, now - LOOKBACK) if previous else now - LOOKBACK
    chosen: list[int] = []

    def add(ids: list[int]) -> None:
        for customer_id in ids:
            if customer_id not in chosen and len(chosen) < PER_RUN:
                chosen.append(customer_id)

    add(list(Action.objects.unmirrored().values_list("customer_id", flat=True).distinct()))
    add(
        list(
            Action.objects.filter(
                Q(created_at__gt=since) | Q(completed_at__gt=since),
                created_at__gt=now - LOOKBACK,
            )
            .exclude(state=ActionState.PENDING_APPROVAL)
            .values_list("customer_id", flat=True)
            .distinct()
        )
    )
    add(
        list(
            Refund.objects.filter(recorded_at__gt=since)
            .values_list("payment__customer_id", flat=True)
            .distinct()
        )
    )
    add(
        list(
            BalanceTransaction.objects.filter(recorded_at__gt=since)
            .values_list("customer_id", flat=True)
            .distinct()
        )
    )
    found = Customer.objects.filter(pk__in=chosen).exclude(stripe_customer_id=None)
    by_id = {customer.pk: customer for customer in found}
    return [by_id[pk] for pk in chosen if pk in by_id]


def overdue_actions(*, now: dt.datetime) -> list[int]:
    return list(
        Action.objects.filter(
            state=ActionState.EXECUTING, next_attempt_at__lt=now - OVERDUE
        ).values_list("pk", flat=True)[:PER_RUN]
    )


def ran_recently(*, now: dt.datetime) -> bool:
    """Another run started less than half a period ago: a second chain of the periodic task
    (two were scheduled) ends itself here."""
    previous = last_run()
    return previous is not None and previous.started_at > now - EVERY / 2


def due(*, now: dt.datetime) -> bool:
    """No run for a while: the periodic task's chain ended (or never began)."""
    previous = last_run()
    return previous is None or previous.started_at < now - 3 * EVERY


def record_run(
    *,
    started_at: dt.datetime,
    checked: int,
    differences: int,
    confirmed: int,
    retried: int,
    mended: list[str],
    errors: list[str],
    now: dt.datetime,
) -> ReconcileRun:
    return ReconcileRun.objects.create(
        started_at=started_at,
        finished_at=now,
        customers_checked=checked,
        differences_found=differences,
        actions_confirmed=confirmed,
        actions_retried=retried,
        mended="\n".join(mended),
        error="\n".join(errors),
    )

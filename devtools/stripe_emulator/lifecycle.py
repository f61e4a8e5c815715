"""What happens when the emulator clock moves forward, in time order.

Advancing from ``now`` to ``target`` repeatedly takes the earliest thing due at or before
``target``, sets the clock to that moment (so objects and events are dated when Stripe would
have done it) and does it:

- ``customer.subscription.trial_will_end`` three days before a trial ends;
- a trial's end: the subscription becomes ``active``, a new period starts and its invoice is
  charged (``past_due`` on failure), or it is canceled/paused per ``cancel_at_period_end`` and
  ``trial_settings``;
- a period's end: renewal (invoice for the next period with pending prorations, paid with the
  default payment method) or cancellation when ``cancel_at_period_end``/``cancel_at`` says so;
- ``cancel_at`` inside a period;
- ``pause_collection.resumes_at`` passing: collection resumes;
- a failed invoice's ``next_payment_attempt``: the payment is retried (after the last retry the
  subscription is canceled or marked unpaid, see :class:`~.context.Settings`);
- a first invoice unpaid for 23 hours: voided, and the subscription becomes
  ``incomplete_expired``;
- a manual draft invoice with ``auto_advance`` is finalized an hour after creation, and
  charged.

Deviation: Stripe finalizes and charges a renewal invoice about an hour after creating it; here
both happen at the period boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .context import Context
from .periods import DAY
from .resources import invoices, subscription_billing, subscriptions

MAX_STEPS = 100_000
INCOMPLETE_EXPIRY = 23 * 3600

Step = tuple[int, int, Callable[[], None]]


def _subscription_steps(ctx: Context, subscription: dict[str, Any], target: int) -> list[Step]:
    status = subscription["status"]
    steps: list[Step] = []
    order = subscription["_order"]
    if status == "trialing":
        trial_end = subscription["trial_end"]
        warn_at = trial_end - ctx.settings.trial_will_end_days * DAY
        if not subscription.get("_trial_will_end_sent") and warn_at <= target:

            def warn() -> None:
                subscription["_trial_will_end_sent"] = True
                ctx.emit("customer.subscription.trial_will_end", subscription)

            steps.append((max(warn_at, subscription["created"]), order, warn))
        if trial_end <= target:

            def finish_trial() -> None:
                cancel_at = subscription["cancel_at"]
                if subscription["cancel_at_period_end"] or (cancel_at and cancel_at <= trial_end):
                    subscriptions.cancel_now(
                        ctx, subscription, reason="cancellation_requested", at=trial_end
                    )
                else:
                    subscriptions.end_trial(
                        ctx, subscription, trial_end, billing_reason="subscription_cycle"
                    )

            steps.append((trial_end, order, finish_trial))
    if status in ("active", "past_due", "unpaid"):
        _, period_end = subscription_billing.period_of(subscription)
        cancel_at = subscription["cancel_at"]
        if cancel_at is not None and cancel_at < period_end and cancel_at <= target:
            steps.append(
                (
                    cancel_at,
                    order,
                    lambda: subscriptions.cancel_now(
                        ctx, subscription, reason="cancellation_requested", at=cancel_at
                    ),
                )
            )
        elif period_end <= target:

            def end_period() -> None:
                if subscription["cancel_at_period_end"] or (
                    cancel_at is not None and cancel_at <= period_end
                ):
                    subscriptions.cancel_now(
                        ctx, subscription, reason="cancellation_requested", at=period_end
                    )
                else:
                    subscriptions.renew(ctx, subscription, period_end)

            steps.append((period_end, order, end_period))
    if status == "incomplete":
        expires = subscription["created"] + INCOMPLETE_EXPIRY
        if expires <= target:

            def expire() -> None:
                invoice = ctx.store.get("invoice", subscription["latest_invoice"] or "")
                if invoice is not None and invoice["status"] == "open":
                    invoices.void(ctx, invoice)
                if subscription["status"] == "incomplete":
                    with ctx.events.updating(subscription, "customer.subscription.updated"):
                        subscription["status"] = "incomplete_expired"
                        subscription["ended_at"] = expires

            steps.append((expires, order, expire))
    pause = subscription["pause_collection"]
    if pause is not None and pause["resumes_at"] is not None and pause["resumes_at"] <= target:

        def resume_collection() -> None:
            with ctx.events.updating(subscription, "customer.subscription.updated"):
                subscription["pause_collection"] = None

        steps.append((pause["resumes_at"], order, resume_collection))
    return steps


def _invoice_steps(ctx: Context, invoice: dict[str, Any], target: int) -> list[Step]:
    if invoice["status"] not in ("open", "draft"):
        return []
    order = invoice["_order"]
    due = invoice["next_payment_attempt"]
    if (
        invoice["status"] == "open"
        and due is not None
        and due <= target
        and invoice["collection_method"] == "charge_automatically"
    ):

        def retry() -> None:
            invoice["next_payment_attempt"] = None
            invoices.attempt_payment(ctx, invoice)

        return [(due, order, retry)]
    finalize_at = invoice["automatically_finalizes_at"]
    if invoice["status"] == "draft" and finalize_at is not None and finalize_at <= target:

        def auto_finalize() -> None:
            invoices.finalize(ctx, invoice)
            if (
                invoice["status"] == "open"
                and invoice["collection_method"] == "charge_automatically"
            ):
                invoice["next_payment_attempt"] = None
                invoices.attempt_payment(ctx, invoice)

        return [(finalize_at, order, auto_finalize)]
    return []


def _next_step(ctx: Context, target: int) -> Step | None:
    steps: list[Step] = []
    for subscription in ctx.store.values("subscription"):
        if subscription["status"] not in ("canceled", "incomplete_expired"):
            steps.extend(_subscription_steps(ctx, subscription, target))
    for invoice in ctx.store.values("invoice"):
        steps.extend(_invoice_steps(ctx, invoice, target))
    if not steps:
        return None
    return min(steps, key=lambda step: (step[0], step[1]))


def advance_to(ctx: Context, target: int) -> int:
    """Do everything due up to ``target`` and leave the clock there; returns steps taken."""
    taken = 0
    while taken < MAX_STEPS:
        step = _next_step(ctx, target)
        if step is None:
            break
        when, _, action = step
        if when > ctx.now():
            ctx.clock.set(when)
        action()
        taken += 1
    if target > ctx.now():
        ctx.clock.set(target)
    return taken

"""Background tasks (django-tasks-db). Ids in, never model instances."""

from __future__ import annotations

from django.tasks import task
from django.utils import timezone

from billing import webhooks
from billing.models import StripeEvent


@task()
def process_stripe_event(event_pk: int) -> None:
    """Apply a stored Stripe event to the mirror; on failure, try again later, less often."""
    if webhooks.process_event(event_pk):
        return
    attempts = StripeEvent.objects.values_list("attempts", flat=True).get(pk=event_pk)
    if attempts < len(webhooks.RETRY_DELAYS) + 1:
        run_after = timezone.now() + webhooks.retry_delay(attempts)
        process_stripe_event.using(run_after=run_after).enqueue(event_pk)


@task()
def retry_action(action_pk: int) -> None:
    """Ask Stripe again, with the same idempotency key, for an action still executing."""
    from billing import services

    services.execute(action_pk)


@task()
def expire_approval(approval_pk: int) -> None:
    from billing import services

    services.expire(approval_pk=approval_pk)


@task()
def end_entitlement_override(override_pk: int) -> None:
    from billing import services

    services.end_override(override_pk=override_pk)


@task()
def resync_customer(stripe_customer_id: str) -> None:
    """Bring one customer's mirror level with Stripe (e.g. after an answer we could not
    record locally)."""
    from billing import stripe_mirror

    stripe_mirror.resync_customer(stripe_customer_id, reason="Resync after a Stripe answer")

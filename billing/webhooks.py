"""Stripe's webhook: verify the signature, store the raw event once, answer, process later.

The answer goes back in milliseconds: nothing here calls Stripe. The event's unique id makes a
repeated delivery a no-op (answered 200, so Stripe stops retrying), even when two deliveries
race. Processing happens in a task (`process_stripe_event`, below), which records any
error on the event so it can be retried.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_tasks_db.backend import DatabaseBackend

from accounts import chain
from accounts.audit import audited
from billing.actions import pipeline
from billing.models import Customer, StripeEvent
from billing.models.stripe_events import history_model
from billing.observability import task
from billing.stripe import gateway, mirror

logger = logging.getLogger(__name__)

# Retries of an event whose processing failed: soon, then less and less often, up to a day.
RETRY_DELAYS = [dt.timedelta(seconds=s) for s in (10, 60, 300, 1800, 7200, 21600, 86400)]


@login_not_required
@csrf_exempt  # Stripe cannot send our CSRF token; the signature authenticates the request.
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    try:
        event = gateway.verify_webhook(
            request.body,
            request.headers.get("Stripe-Signature", ""),
            settings.STRIPE_WEBHOOK_SECRET,
        )
    except gateway.InvalidWebhook as error:
        logger.warning("Rejected a Stripe webhook: %s", error)
        return JsonResponse({"error": str(error)}, status=400)
    except gateway.MalformedEvent as error:
        # Signed by Stripe's secret but not an event: kept (as failed, with its error) for
        # someone to look at, never processed, and refused so that it is not taken as read.
        logger.warning("Stored a malformed Stripe webhook: %s", error.message)
        store_malformed(request.body, error)
        return JsonResponse({"error": error.message}, status=400)
    stored = store_event(event, raw_body=request.body.decode("utf-8", errors="replace"))
    return JsonResponse({"received": event.id, "duplicate": stored is None})


def store_malformed(body: bytes, error: gateway.MalformedEvent) -> StripeEvent | None:
    """Keep a signed delivery that is not an event, as failed; None if kept before."""
    digest = hashlib.sha256(body).hexdigest()[:40]
    row = StripeEvent(
        stripe_event_id=error.event_id or f"evt_malformed_{digest}",
        type="malformed",
        created=timezone.now(),
        raw_body=body.decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00"),
        payload={},
        error=error.message[:2000],
    )
    with (
        transaction.atomic(durable=True),
        audited(actor=None, reason="Stripe webhook that is not an event"),
    ):
        # Not inserted: the same delivery again, or the id of an event we hold.
        return row if StripeEvent.objects.insert_once(row) else None


def store_event(event: gateway.EventData, *, raw_body: str) -> StripeEvent | None:
    """Store a verified event and enqueue its processing; None if it was already stored.

    The least a delivery can cost (Stripe may send hundreds a second): one transaction of
    three inserts, the event, its receipt (creation history row) and its task. The receipt is
    sealed into the hash chain by the processing (`_record`), not here: a seal is a second
    transaction holding the table's chain lock, which every delivery would queue on."""
    row = StripeEvent(
        stripe_event_id=event.id,
        type=event.type,
        api_version=event.api_version,
        livemode=event.livemode,
        created=event.created,
        object_id=event.object_id,
        raw_body=raw_body,
        payload=json.loads(raw_body),
    )
    with (
        transaction.atomic(durable=True),
        audited(actor=None, reason=f"Stripe webhook {event.type} ({event.id})"),
    ):
        if not StripeEvent.objects.insert_once(row, sealed_by_processing=True):
            return None  # delivered before: Stripe retries until it hears 2xx
        if isinstance(process_stripe_event.get_backend(), DatabaseBackend):
            # The task row is written in this transaction: stored event and its processing
            # exist together or not at all, even if this process dies right after.
            process_stripe_event.enqueue(row.pk)
        else:
            transaction.on_commit(partial(process_stripe_event.enqueue, row.pk))
    return row


def process_event(event_pk: int, *, now: dt.datetime | None = None) -> bool:
    """Apply one stored event to the mirror. Returns False if it failed (and records why)."""
    row = StripeEvent.objects.get(pk=event_pk)
    if row.processed_at is not None:
        return True
    event = gateway.EventData.parse(row.payload)
    try:
        confirmed = mirror.apply_event(event)
    except mirror.SYNC_ERRORS as error:
        # Recorded on the event and retried later; the next event goes on.
        logger.exception("Stripe event %s (%s) failed", row.stripe_event_id, row.type)
        _record(row.pk, error=f"{type(error).__name__}: {error}"[:2000])
        return False
    _record(row.pk, error="", processed_at=now or timezone.now())
    pipeline.confirm_reported(confirmed)
    pipeline.ensure_reconciler()
    return True


def _record(event_pk: int, *, error: str, processed_at: dt.datetime | None = None) -> None:
    with (
        transaction.atomic(durable=True),
        audited(
            actor=None, reason="Stripe event processed" if not error else "Stripe event failed"
        ),
    ):
        row = StripeEvent.objects.select_for_update(no_key=True).get(pk=event_pk)
        if row.processed_at is not None:
            return
        # The receipt the accept path left unsealed (store_event) is sealed with this change.
        receipts = history_model()._base_manager.filter(id=event_pk, history_type="+")
        for receipt_pk in receipts.values_list("pk", flat=True):
            chain.register(history_model(), receipt_pk)
        row.attempts += 1
        row.error = error
        row.processed_at = processed_at
        customer_id = _customer_of(row.payload)
        if customer_id and row.customer_id is None:
            row.customer = Customer.objects.filter(stripe_customer_id=customer_id).first()
        row.save()


def _customer_of(payload: dict[str, Any]) -> str:
    obj = (payload.get("data") or {}).get("object") or {}
    if obj.get("object") == "customer":
        return str(obj.get("id") or "")
    return gateway.id_of(obj.get("customer"))


def retry_delay(attempts: int) -> dt.timedelta:
    return RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1] if attempts else RETRY_DELAYS[0]


@task()
def process_stripe_event(event_pk: int) -> None:
    """Apply a stored Stripe event to the mirror; on failure, try again later, less often."""
    if process_event(event_pk):
        return
    attempts = StripeEvent.objects.values_list("attempts", flat=True).get(pk=event_pk)
    if attempts < len(RETRY_DELAYS) + 1:
        run_after = timezone.now() + retry_delay(attempts)
        process_stripe_event.using(run_after=run_after).enqueue(event_pk)

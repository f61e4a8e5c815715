"""The Stripe webhook inbox (every event exactly as received, processed in the background),
the backfill's place in Stripe's lists, and what the mirror could not take."""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models.constants import OnConflict
from django.utils import timezone

from accounts.audit import (
    AppendOnlyModel,
    AppendOnlyQuerySet,
    AuditedHistory,
    MissingAuditReason,
    current_audit_context,
)
from billing.models.customers import Customer
from billing.models.fields import stripe_id_constraints


class StripeEventQuerySet(models.QuerySet):
    def unprocessed(self):
        return self.filter(processed_at__isnull=True)

    def failed(self):
        return self.filter(processed_at__isnull=True).exclude(error="")

    def insert_once(self, event: StripeEvent, *, sealed_by_processing: bool = False) -> bool:
        """Insert `event` and its creation history row (its receipt), unless an event with
        its Stripe id is stored already: True (and `event.pk` set) if it was inserted.

        One INSERT … ON CONFLICT DO NOTHING on the unique event id: a repeated delivery, even
        one racing the first, is no error and needs no savepoint. No save() runs, so the
        history row is written here, with the audit context's actor, reason and ticket, as a
        save() would. `sealed_by_processing`: the receipt is left out of the hash chain until
        the event's processing seals it (`receipts_waiting`), instead of a seal after commit."""
        context = current_audit_context()
        if context is None:
            raise MissingAuditReason("Wrap insert_once in accounts.audit.audited(...).")
        meta = self.model._meta
        # QuerySet._insert is what save() and bulk_create() use; only it returns the new pk
        # from an INSERT that may do nothing.
        returned = self._insert(  # type: ignore[attr-defined]
            [event],
            fields=[field for field in meta.concrete_fields if not field.primary_key],
            returning_fields=[meta.pk],
            using=self.db,
            on_conflict=OnConflict.IGNORE,
        )
        if not returned:
            return False
        [(event.pk,)] = returned
        event._state.adding = False
        event._state.db = self.db
        history = history_model()
        receipt = history(
            history_date=timezone.now(),
            history_type="+",
            history_user=context.actor,
            history_change_reason=context.reason,
            history_ticket=context.ticket,
            **{field.attname: getattr(event, field.attname) for field in history.tracked_fields},
        )
        rows = history.objects.using(self.db)
        if sealed_by_processing:
            rows.bulk_create_sealed_later([receipt])
        else:
            rows.bulk_create([receipt])
        return True


class StripeEvent(models.Model):
    stripe_event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    api_version = models.CharField(max_length=40, blank=True)
    livemode = models.BooleanField(default=False)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    object_id = models.CharField(max_length=255, blank=True, help_text="data.object.id")
    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="stripe_events",
        db_index=False,  # stripeevent_customer_created leads with it: one index, not two
    )
    raw_body = models.TextField(help_text="The request body exactly as Stripe signed it.")
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    # The body never changes; history tracks processing, not copies of the payload.
    history = AuditedHistory(excluded_fields=["raw_body", "payload"])
    objects = StripeEventQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-created", "-id"]
        constraints = [*stripe_id_constraints("stripeevent", "stripe_event_id", "evt_")]
        indexes = [
            models.Index(fields=["object_id"], name="stripeevent_object"),
            # The timeline reads a customer's newest events in (created, id) order: the index
            # gives that order whole, so no sort and no other index is ever chosen.
            models.Index(
                fields=["customer", "-created", "-id"], name="stripeevent_customer_created"
            ),
            models.Index(
                fields=["received_at"],
                condition=models.Q(processed_at__isnull=True),
                name="stripeevent_unprocessed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_event_id}"


@functools.cache
def history_model() -> Any:
    """StripeEvent's history model, read once (each read of `StripeEvent.history` builds a
    manager class, a cost the accept path need not pay)."""
    return StripeEvent.history.model  # type: ignore[attr-defined]


def receipts_waiting(using: str) -> models.QuerySet:
    """The receipts (creation history rows) of the events not processed yet: written unsealed
    by the webhook (insert_once), sealed by the event's processing (billing.webhooks)."""
    unprocessed = StripeEvent.objects.using(using).unprocessed().values("pk")
    return (
        history_model()
        ._base_manager.using(using)
        .filter(history_type="+", id__in=unprocessed)
        .values("pk")
    )


class SyncCursor(models.Model):
    """How far `manage.py stripe_sync` got through one of Stripe's lists, so that a run that
    was interrupted resumes where it stopped instead of starting over."""

    resource = models.CharField(max_length=60, unique=True)
    starting_after = models.CharField(max_length=255, blank=True)
    synced = models.PositiveIntegerField(default=0)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = AuditedHistory()

    class Meta:
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.resource} after {self.starting_after or 'the start'}"


class SyncProblemQuerySet(models.QuerySet["SyncProblem"]):
    def open(self) -> SyncProblemQuerySet:
        return self.filter(resolved_at__isnull=True)


class SyncProblem(models.Model):
    """A Stripe object the mirror could not take as it is (a value that does not fit, a
    reference to something we do not hold, two customers claiming one handle): shown on its
    customer's page and in the drift report until a later read of it applies cleanly."""

    stripe_object_id = models.CharField(max_length=255)
    object_type = models.CharField(max_length=40)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="sync_problems"
    )
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    error = models.TextField()
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    occurrences = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)

    history = AuditedHistory()
    objects = SyncProblemQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["object_type", "stripe_object_id"], name="syncproblem_one_per_object"
            )
        ]
        indexes = [
            models.Index(
                fields=["customer", "-last_seen_at"],
                condition=models.Q(resolved_at__isnull=True),
                name="syncproblem_open_by_customer",
            )
        ]

    def __str__(self) -> str:
        return f"{self.object_type} {self.stripe_object_id}: {self.error[:60]}"


class StripeReadKind(models.TextChoices):
    RESYNC = "resync", "Resync from Stripe"
    COMPARE = "compare", "Compare with Stripe"


class StripeRead(AppendOnlyModel):
    """A staff member's request that reads a customer's billing from Stripe (insert-only):
    they spend the Stripe rate limit that money actions need, so each staff member has a
    budget of them (billing/stripe/budget.py)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=StripeReadKind.choices)
    at = models.DateTimeField()

    objects: ClassVar[models.Manager] = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "kind", "-at"], name="stripe_read_user_kind_at")]

    def __str__(self) -> str:
        return f"{self.kind} of customer #{self.customer_id} by #{self.user_id}"


class ReconcileRun(AppendOnlyModel):
    """One pass of the reconciler (billing/actions/reconcile.py) and what it mended."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    customers_checked = models.PositiveIntegerField(default=0)
    differences_found = models.PositiveIntegerField(default=0)
    actions_confirmed = models.PositiveIntegerField(default=0)
    actions_retried = models.PositiveIntegerField(default=0)
    mended = models.TextField(blank=True, help_text="What was found and mended, one per line.")
    error = models.TextField(blank=True)

    objects: ClassVar[models.Manager] = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["-started_at"], name="reconcile_run_started")]

    def __str__(self) -> str:
        return f"Reconciliation of {self.started_at:%Y-%m-%d %H:%M}"

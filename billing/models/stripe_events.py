"""The Stripe webhook inbox: every event exactly as received, processed in the background."""

from django.db import models

from accounts.audit import AuditedHistory
from billing.models.customers import Customer
from billing.models.fields import stripe_id_constraints


class StripeEventQuerySet(models.QuerySet):
    def unprocessed(self):
        return self.filter(processed_at__isnull=True)

    def failed(self):
        return self.filter(processed_at__isnull=True).exclude(error="")


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
            models.Index(fields=["customer", "-created"], name="stripeevent_customer_created"),
            models.Index(
                fields=["received_at"],
                condition=models.Q(processed_at__isnull=True),
                name="stripeevent_unprocessed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_event_id}"


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

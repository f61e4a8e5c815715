"""Subscriptions, mirrored from Stripe."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from accounts.audit import AuditedHistory
from billing.models.catalog import Price
from billing.models.customers import Customer
from billing.models.fields import StripeMirrored, stripe_id_constraints


class SubscriptionStatus(models.TextChoices):
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    PAUSED = "paused", "Paused"
    CANCELED = "canceled", "Canceled"
    INCOMPLETE = "incomplete", "Incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired"
    UNPAID = "unpaid", "Unpaid"


# A subscription in one of these states still gives the customer their plan.
LIVE_STATUSES = (
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.PAUSED,
    SubscriptionStatus.UNPAID,
)


class PauseBehavior(models.TextChoices):
    """Stripe's `pause_collection.behavior`: what happens to invoices while collection is paused."""

    KEEP_AS_DRAFT = "keep_as_draft", "Keep invoices as drafts"
    MARK_UNCOLLECTIBLE = "mark_uncollectible", "Mark invoices uncollectible"
    VOID = "void", "Void invoices"


class SubscriptionQuerySet(models.QuerySet):
    def live(self):
        return self.filter(status__in=LIVE_STATUSES)


class Subscription(StripeMirrored):
    stripe_subscription_id = models.CharField(max_length=255)
    stripe_item_id = models.CharField(
        max_length=255, blank=True, help_text="The subscription item holding price and quantity."
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="subscriptions")
    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=20, choices=SubscriptionStatus.choices)
    quantity = models.PositiveIntegerField(default=1, help_text="Seats, for seat plans.")
    trial_start = models.DateTimeField(null=True, blank=True)
    trial_end = models.DateTimeField(null=True, blank=True)
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    pause_behavior = models.CharField(
        max_length=20,
        choices=PauseBehavior.choices,
        blank=True,
        help_text="Set while collection is paused.",
    )
    pause_resumes_at = models.DateTimeField(null=True, blank=True)
    discount_coupon_id = models.CharField(max_length=255, blank=True)
    discount_percent_off = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True
    )
    discount_amount_off = models.BigIntegerField(null=True, blank=True)
    discount_end = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    history = AuditedHistory(indexed_by="customer")
    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-created"]
        constraints = [
            *stripe_id_constraints("subscription", "stripe_subscription_id", "sub_"),
            models.CheckConstraint(
                condition=Q(current_period_end__gt=F("current_period_start")),
                name="subscription_period_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(trial_end__isnull=True)
                | Q(trial_start__isnull=True)
                | Q(trial_end__gte=F("trial_start")),
                name="subscription_trial_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(discount_percent_off__isnull=True)
                | Q(discount_amount_off__isnull=True),
                name="subscription_one_kind_of_discount",
            ),
            models.CheckConstraint(
                condition=Q(discount_percent_off__isnull=True)
                | Q(discount_percent_off__gt=0, discount_percent_off__lte=100),
                name="subscription_percent_off_range",
            ),
            models.CheckConstraint(
                condition=Q(discount_amount_off__isnull=True) | Q(discount_amount_off__gt=0),
                name="subscription_amount_off_positive",
            ),
        ]
        indexes = [models.Index(fields=["customer", "status"], name="subscription_customer_status")]

    def __str__(self) -> str:
        return f"{self.stripe_subscription_id} ({self.status})"

    @property
    def collection_paused(self) -> bool:
        return bool(self.pause_behavior)

    @property
    def is_live(self) -> bool:
        """Still gives the customer their plan (and can be changed)."""
        return self.status in LIVE_STATUSES

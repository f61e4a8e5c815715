"""Invoices, payments (a Stripe payment intent and its charge) and the refund ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from django.db import models
from django.db.models import F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest

from accounts.audit import AppendOnlyModel, AppendOnlyQuerySet, AuditedHistory
from billing.models.choices import ActionKind
from billing.models.customers import Customer
from billing.models.fields import (
    CurrencyField,
    StripeMirrored,
    currency_constraint,
    stripe_id_constraints,
)
from billing.models.prebuilt import built_once
from billing.models.subscriptions import Subscription
from billing.money import Money

if TYPE_CHECKING:
    from billing.models.actions import Action


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    VOID = "void", "Void"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"


class InvoiceQuerySet(models.QuerySet):
    def unpaid(self):
        return self.filter(status=InvoiceStatus.OPEN, amount_remaining__gt=0)


class Invoice(StripeMirrored):
    """A Stripe invoice. What it bills for is its service period, which spans its lines' periods
    (none for an invoice without lines). Stripe's own `period_start`/`period_end` are kept as
    Stripe defines them: the window in which pending invoice items were gathered, which for a
    renewal is the period that just ended, not the one it bills; screens show the service
    period."""

    stripe_invoice_id = models.CharField(max_length=255)
    # No index of its own: (customer, created, id) serves every lookup by customer.
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="invoices", db_index=False
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    number = models.CharField(max_length=64, null=True, blank=True, help_text="Set when finalized.")
    status = models.CharField(max_length=15, choices=InvoiceStatus.choices)
    currency = CurrencyField()
    subtotal = models.BigIntegerField()
    total = models.BigIntegerField()
    amount_due = models.BigIntegerField()
    amount_paid = models.BigIntegerField(default=0)
    amount_remaining = models.BigIntegerField()
    period_start = models.DateTimeField(help_text="Stripe's window of pending items: start.")
    period_end = models.DateTimeField(help_text="Stripe's window of pending items: end.")
    service_period_start = models.DateTimeField(
        null=True, blank=True, help_text="The earliest start of its lines' periods."
    )
    service_period_end = models.DateTimeField(
        null=True, blank=True, help_text="The latest end of its lines' periods."
    )
    due_date = models.DateTimeField(null=True, blank=True)
    hosted_invoice_url = models.URLField(max_length=2000, blank=True)
    created = models.DateTimeField()
    finalized_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = AuditedHistory(indexed_by="customer")
    objects = InvoiceQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-created"]
        constraints = [
            *stripe_id_constraints("invoice", "stripe_invoice_id", "in_"),
            currency_constraint("invoice"),
            models.UniqueConstraint(fields=["number"], name="invoice_number_unique"),
            models.CheckConstraint(
                condition=Q(amount_due__gte=0, amount_paid__gte=0, amount_remaining__gte=0),
                name="invoice_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(amount_paid__lte=F("amount_due")),
                name="invoice_paid_at_most_due",
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")),
                name="invoice_period_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(service_period_start__isnull=True, service_period_end__isnull=True)
                | Q(service_period_end__gte=F("service_period_start")),
                name="invoice_service_period_ends_after_start",
            ),
        ]
        # (customer, created, id), the customer page's full order: see Payment's.
        indexes = [
            models.Index(fields=["customer", "-created", "-id"], name="invoice_customer_created_id")
        ]

    def __str__(self) -> str:
        return self.number or self.stripe_invoice_id


def balance_transaction_constraint(model: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(stripe_balance_transaction_id="")
        | Q(stripe_balance_transaction_id__startswith="txn_"),
        name=f"{model}_stripe_balance_transaction_id_prefix",
    )


class PaymentStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    PENDING = "pending", "Pending"
    FAILED = "failed", "Failed"


class PaymentQuerySet(models.QuerySet):
    def succeeded(self):
        return self.filter(status=PaymentStatus.SUCCEEDED)

    def with_refundable(self):
        """Annotate `refunded`, `in_flight` and `refundable` (SPEC §3), the one definition.

        refundable = amount − refunded − refunds outstanding, where `refunded` is what Stripe
        last told us (the charge's amount_refunded, or the ledger if it knows more) and
        outstanding refunds are those in flight or succeeded but not yet mirrored (see
        ActionQuerySet.outstanding): each refund counts once, whether or not its answer
        reached the mirror.
        """
        # Action refers to this model, so it is reached through the relation, not imported.
        action_model = cast("type[Action]", self.model._meta.get_field("actions").related_model)
        ledger = (
            Refund.objects.filter(payment=OuterRef("pk"))
            .order_by()
            .values("payment")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        outstanding = (
            action_model.objects.filter(payment=OuterRef("pk"), kind=ActionKind.REFUND)
            .outstanding()
            .order_by()
            .values("payment")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        zero = Value(0, output_field=models.BigIntegerField())
        return self.annotate(
            refunded=Greatest(F("amount_refunded"), Coalesce(Subquery(ledger), zero)),
            in_flight=Coalesce(Subquery(outstanding), zero),
        ).annotate(refundable=F("amount") - F("refunded") - F("in_flight"))

    def latest_with_refundable(self, count: int, *, offset: int = 0):
        """`count` of these payments, newest first from `offset`, with_refundable: the page is
        chosen first (from the (customer, created) index) and only its rows are summed, so a
        customer with 5,000 payments costs what one with 5 does."""
        page = self.order_by("-created", "-id").values("pk")[offset : offset + count]
        return payments_with_refundable().filter(pk__in=page).order_by("-created", "-id")

    def refundable_of(self, payment: Payment) -> int:
        return self.with_refundable().values_list("refundable", flat=True).get(pk=payment.pk)


class Payment(StripeMirrored):
    """One card charge (a payment attempt) and the payment intent it belongs to.

    A payment intent that failed and was retried has several charges, so several rows. Only
    the brand and last four digits of the card are kept, never the number.
    """

    stripe_charge_id = models.CharField(max_length=255)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    # No index of its own: (customer, created, id) serves every lookup by customer.
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="payments", db_index=False
    )
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    amount = models.BigIntegerField()
    amount_refunded = models.BigIntegerField(default=0)
    currency = CurrencyField()
    status = models.CharField(max_length=10, choices=PaymentStatus.choices)
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    failure_code = models.CharField(max_length=60, blank=True)
    failure_message = models.TextField(blank=True)
    stripe_balance_transaction_id = models.CharField(
        max_length=255,
        blank=True,
        help_text="What the charge added to the Stripe balance (none if it failed); payouts "
        "are reconciled by it.",
    )
    created = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    history = AuditedHistory(indexed_by="customer")
    objects = PaymentQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-created"]
        constraints = [
            *stripe_id_constraints("payment", "stripe_charge_id", "ch_"),
            models.CheckConstraint(
                condition=Q(stripe_payment_intent_id="")
                | Q(stripe_payment_intent_id__startswith="pi_"),
                name="payment_stripe_payment_intent_id_prefix",
            ),
            balance_transaction_constraint("payment"),
            currency_constraint("payment"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0, amount_refunded__lte=F("amount")),
                name="payment_refunded_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded=0) | Q(status=PaymentStatus.SUCCEEDED),
                name="payment_only_succeeded_refunded",
            ),
        ]
        indexes = [
            # The customer page's full order, id too: a prepared statement's generic plan (the
            # same for every customer, which PostgreSQL switches to after five runs) then
            # reads a whale's newest rows from the top of the index. Without the id it chose
            # the foreign key's index and sorted all 5,000 of them.
            models.Index(
                fields=["customer", "-created", "-id"], name="payment_customer_created_id"
            ),
            # The customer in the index: a last4 search reads its customers from the index
            # alone, not from a heap page per payment (~160 payments share each last4).
            models.Index(fields=["card_last4", "customer"], name="payment_card_last4_customer"),
            models.Index(fields=["stripe_payment_intent_id"], name="payment_intent"),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_charge_id} {self.money}"

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


# Every payment with its refundable (the one definition, PaymentQuerySet.with_refundable), to
# filter: a clone of one built once (see built_once).
payments_with_refundable = built_once(lambda: Payment.objects.with_refundable())


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


class RefundReason(models.TextChoices):
    """Stripe's own refund reasons (ours, richer, are the action's reason code)."""

    DUPLICATE = "duplicate", "Duplicate"
    FRAUDULENT = "fraudulent", "Fraudulent"
    REQUESTED_BY_CUSTOMER = "requested_by_customer", "Requested by customer"


class RefundQuerySet(AppendOnlyQuerySet):
    def net_amount(self) -> int:
        return self.aggregate(total=Sum("amount"))["total"] or 0


class Refund(AppendOnlyModel):
    """A refund of (part of) a payment: append-only.

    A refund that later fails or is canceled at Stripe is not edited: a reversal row with the
    opposite amount points at it, so the sum of a payment's rows is what was really refunded.
    """

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    stripe_refund_id = models.CharField(max_length=255)
    amount = models.BigIntegerField()
    currency = CurrencyField()
    status = models.CharField(max_length=10, choices=RefundStatus.choices)
    reason = models.CharField(max_length=30, choices=RefundReason.choices, blank=True)
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversal"
    )
    stripe_balance_transaction_id = models.CharField(
        max_length=255,
        blank=True,
        help_text="What the refund took out of the Stripe balance (on a reversal row: what its "
        "failure gave back).",
    )
    action = models.ForeignKey(
        "billing.Action", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects: ClassVar[models.Manager] = RefundQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-created", "-id"]
        constraints = [
            # The reversal row carries the id of the refund it reverses.
            *stripe_id_constraints(
                "refund", "stripe_refund_id", "re_", unique_condition=Q(reverses__isnull=True)
            ),
            balance_transaction_constraint("refund"),
            currency_constraint("refund"),
            models.CheckConstraint(
                condition=Q(reverses__isnull=True, amount__gt=0)
                | Q(reverses__isnull=False, amount__lt=0),
                name="refund_sign_matches_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["payment", "-created"], name="refund_payment_created"),
            # The unique index covers only refunds, not their reversal rows (which carry the
            # same id), so a lookup by id alone cannot use it: the search needs this one.
            models.Index(fields=["stripe_refund_id"], name="refund_stripe_id"),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_refund_id} {Money(self.amount, self.currency)}"

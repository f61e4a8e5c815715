"""Staff actions on a customer's billing, their approvals, and the policy that governs them."""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Cast, Concat, Length
from django.db.models.lookups import Exact, GreaterThan
from django.utils import timezone

from accounts.audit import AuditedHistory
from billing.models.customers import BalanceTransaction, Customer
from billing.models.fields import CurrencyField, currency_constraint
from billing.models.invoices import Invoice, Payment
from billing.models.subscriptions import Subscription

# A helpdesk key such as ZD-48213 or HELP-7: every action names the ticket it was asked under.
TICKET_REF = re.compile(r"[A-Z][A-Z0-9]{0,9}-[0-9]{1,10}")


def clean_ticket_ref(value: str) -> str | None:
    """The ticket reference in canonical form (upper case), or None if it is not one."""
    cleaned = value.strip().upper()
    return cleaned if TICKET_REF.fullmatch(cleaned) else None


class ActionKind(models.TextChoices):
    REFUND = "refund", "Refund"
    CREDIT = "credit", "Credit"
    CREDIT_REVERSAL = "credit_reversal", "Credit reversal"
    PRICE_CHANGE = "price_change", "Plan or price change"
    SEAT_CHANGE = "seat_change", "Seat change"
    TRIAL_EXTENSION = "trial_extension", "Trial extension"
    DISCOUNT = "discount", "Discount"
    PAUSE_COLLECTION = "pause_collection", "Pause collection"
    RESUME_COLLECTION = "resume_collection", "Resume collection"
    CANCEL = "cancel", "Cancel subscription"
    REACTIVATE = "reactivate", "Reactivate subscription"
    ENTITLEMENT_OVERRIDE = "entitlement_override", "Entitlement override"
    INVOICE_VOID = "invoice_void", "Void invoice"
    INVOICE_MARK_UNCOLLECTIBLE = "invoice_mark_uncollectible", "Mark invoice uncollectible"
    INVOICE_RETRY_PAYMENT = "invoice_retry_payment", "Retry invoice payment"


# Kinds whose policy limit is an amount of money (the others: a count of days, or none).
MONEY_KINDS = frozenset({ActionKind.REFUND, ActionKind.CREDIT, ActionKind.CREDIT_REVERSAL})


class ActionState(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Waiting for approval"
    APPROVED = "approved", "Approved"
    EXECUTING = "executing", "Executing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


# Counted against the rolling 24-hour limit: everything asked for that may still move money.
COMMITTED_STATES = (
    ActionState.PENDING_APPROVAL,
    ActionState.APPROVED,
    ActionState.EXECUTING,
    ActionState.SUCCEEDED,
)
FINAL_STATES = (
    ActionState.SUCCEEDED,
    ActionState.FAILED,
    ActionState.REJECTED,
    ActionState.EXPIRED,
    ActionState.WITHDRAWN,
)


class ActionQuerySet(models.QuerySet):
    def in_flight(self):
        """Approved or executing: Stripe has not (yet) answered."""
        return self.filter(state__in=[ActionState.APPROVED, ActionState.EXECUTING])

    def in_flight_amount(self, *, excluding: Action | None = None) -> int:
        """The sum asked by actions Stripe has not answered yet (e.g. refunds in flight)."""
        actions = self.in_flight()
        if excluding is not None and excluding.pk:
            actions = actions.exclude(pk=excluding.pk)
        return actions.aggregate(total=models.Sum("amount"))["total"] or 0

    def for_ticket(self, ticket_ref: str):
        return self.filter(ticket_ref=ticket_ref)

    def by_actor_since(self, actor, since: dt.datetime):
        return self.filter(actor=actor, created_at__gte=since, state__in=COMMITTED_STATES)


class Action(models.Model):
    """One requested change to a customer's billing, from request to Stripe's answer.

    The row is committed before Stripe is called; `idempotency_key` (`<kind>:<id>`) is sent
    with every attempt, so a retry can never create a second refund or credit.
    """

    kind = models.CharField(max_length=30, choices=ActionKind.choices)
    state = models.CharField(max_length=20, choices=ActionState.choices)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="actions")
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="actions"
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="actions"
    )
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="actions"
    )
    balance_transaction = models.ForeignKey(
        BalanceTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="actions",
        help_text="The credit a credit reversal reverses.",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="actions"
    )
    reason_code = models.CharField(max_length=40)
    ticket_ref = models.CharField(max_length=64)
    note = models.TextField(blank=True)
    payload = models.JSONField(help_text="The exact change requested.")
    payload_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical payload.")
    amount = models.BigIntegerField(null=True, blank=True)
    currency = CurrencyField(blank=True)
    idempotency_key = models.GeneratedField(
        expression=Concat("kind", Value(":"), Cast("id", models.CharField(max_length=20))),
        output_field=models.CharField(max_length=60),
        db_persist=True,
    )
    stripe_metadata = models.JSONField(
        default=dict,
        blank=True,
        help_text="Sent with every attempt, fixed at the first so that retries match it.",
    )
    stripe_object_id = models.CharField(max_length=255, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    history = AuditedHistory()
    objects = ActionQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-created_at", "-id"]
        permissions = [
            ("request_action", "Request changes to a customer's billing (within policy)"),
            ("approve_action", "Approve or reject other staff members' requests"),
            ("export_data", "Export data as CSV"),
            ("view_audit_log", "View the global audit log"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="action_idempotency_key_unique"
            ),
            models.CheckConstraint(
                condition=Q(GreaterThan(Length("ticket_ref"), 0)), name="action_ticket_ref_present"
            ),
            models.CheckConstraint(
                condition=Q(GreaterThan(Length("reason_code"), 0)),
                name="action_reason_code_present",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True, currency="") | Q(amount__gt=0) & ~Q(currency=""),
                name="action_amount_positive_with_currency",
            ),
            currency_constraint("action", blank_ok=True),
            models.CheckConstraint(
                condition=Q(Exact(Length("payload_hash"), 64)), name="action_payload_hash_sha256"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="action_customer_created"),
            models.Index(fields=["actor", "-created_at"], name="action_actor_created"),
            models.Index(fields=["kind", "state"], name="action_kind_state"),
            models.Index(fields=["ticket_ref"], name="action_ticket_ref"),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state=ActionState.EXECUTING),
                name="action_executing_next_attempt",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"


class ApprovalDecision(models.TextChoices):
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ApprovalRequestQuerySet(models.QuerySet):
    def pending(self, at: dt.datetime):
        return self.filter(decision="", expires_at__gt=at)

    def waiting_for(self, user, at: dt.datetime):
        """Requests `user` could decide: pending, not expired and not their own."""
        return self.pending(at).exclude(requested_by=user)

    def decided(self):
        return self.exclude(decision="")


class ApprovalRequest(models.Model):
    """The request for an action over its requester's limit.

    The approval binds to `payload_hash`: an action whose payload changed is not approved.
    """

    action = models.OneToOneField(Action, on_delete=models.PROTECT, related_name="approval")
    # The action's actor, kept here so the database itself refuses self-approval.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approval_requests"
    )
    payload_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    decision = models.CharField(max_length=10, choices=ApprovalDecision.choices, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="approval_decisions",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, help_text="Approval note or rejection reason.")
    created_at = models.DateTimeField(default=timezone.now)

    history = AuditedHistory()
    objects = ApprovalRequestQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(
                    decision__in=[ApprovalDecision.APPROVED, ApprovalDecision.REJECTED],
                    decided_by=F("requested_by"),
                ),
                name="approval_not_decided_by_requester",
            ),
            models.CheckConstraint(
                condition=~Q(decision=ApprovalDecision.REJECTED, decision_note=""),
                name="approval_rejection_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(decision="", decided_at__isnull=True)
                | (~Q(decision="") & Q(decided_at__isnull=False)),
                name="approval_decided_at_iff_decided",
            ),
        ]
        indexes = [
            models.Index(fields=["decision", "expires_at"], name="approval_pending"),
            models.Index(fields=["requested_by", "-created_at"], name="approval_requester"),
        ]

    def __str__(self) -> str:
        return f"Approval for {self.action}"


class PolicyLimit(models.Model):
    """How much one role may do directly, per action and per rolling 24 hours.

    Units: minor units of `currency` for money kinds; days for trial extensions (currency
    blank); other kinds have no amount: a row with no caps lets the role act directly, and a
    cap of 0 means "request only". No row at all also means "request only". NULL is no cap.
    """

    role = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="policy_limits")
    kind = models.CharField(max_length=30, choices=ActionKind.choices)
    currency = CurrencyField(blank=True)
    per_action = models.BigIntegerField(null=True, blank=True)
    per_day = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = AuditedHistory()

    class Meta:
        default_permissions = ("view",)
        ordering = ["role__name", "kind", "currency"]
        permissions = [("manage_policy", "Edit policy limits and reason codes")]
        constraints = [
            models.UniqueConstraint(
                fields=["role", "kind", "currency"], name="policylimit_unique_role_kind_currency"
            ),
            models.CheckConstraint(
                condition=(Q(per_action__isnull=True) | Q(per_action__gte=0))
                & (Q(per_day__isnull=True) | Q(per_day__gte=0)),
                name="policylimit_not_negative",
            ),
            currency_constraint("policylimit", blank_ok=True),
        ]

    def __str__(self) -> str:
        return f"{self.role.name} {self.kind} {self.currency}".strip()


class ReasonCode(models.Model):
    """A reason staff may give for an action of one kind; `other` requires a note."""

    kind = models.CharField(max_length=30, choices=ActionKind.choices)
    code = models.SlugField(max_length=40)
    label = models.CharField(max_length=100)
    requires_note = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    history = AuditedHistory()

    class Meta:
        default_permissions = ("view",)
        ordering = ["kind", "position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "code"], name="reasoncode_unique_kind_code")
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.label}"

"""Staff actions on a customer's billing, their approvals, and the policy that governs them."""

from __future__ import annotations

import datetime as dt
import re
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Exists, F, OuterRef, Q, Sum, Value
from django.db.models.functions import Cast, Concat, Length
from django.db.models.lookups import Exact, GreaterThan
from django.utils import timezone

from accounts.audit import AppendOnlyModel, AppendOnlyQuerySet, AuditedHistory
from billing.models.choices import (
    COMMITTED_STATES,
    IN_FLIGHT_STATES,
    ActionKind,
    ActionState,
    ApprovalDecision,
    AttemptOutcome,
)
from billing.models.customers import BalanceTransaction, Customer
from billing.models.fields import CurrencyField, currency_constraint
from billing.models.invoices import Invoice, Payment, Refund
from billing.models.subscriptions import Subscription

# A helpdesk key such as ZD-48213 or HELP-7: every action names the ticket it was asked under.
TICKET_REF = re.compile(r"[A-Z][A-Z0-9]{0,9}-[0-9]{1,10}")


def clean_ticket_ref(value: str) -> str | None:
    """The ticket reference in canonical form (upper case), or None if it is not one."""
    cleaned = value.strip().upper()
    return cleaned if TICKET_REF.fullmatch(cleaned) else None


def _unmirrored() -> Q:
    """Succeeded at Stripe, and neither the ledger row it made nor a read of its target that
    began after Stripe answered has reached the mirror."""
    answered = F("stripe_answered_at")
    mirrored = (
        Q(Exists(Refund.objects.filter(action=OuterRef("pk"))))
        | Q(Exists(BalanceTransaction.objects.filter(action=OuterRef("pk"))))
        | Q(payment__stripe_fetched_at__gte=answered)
        | Q(invoice__stripe_fetched_at__gte=answered)
        | Q(subscription__stripe_fetched_at__gte=answered)
    )
    return Q(state=ActionState.SUCCEEDED, stripe_answered_at__isnull=False) & ~mirrored


class ActionQuerySet(models.QuerySet["Action"]):
    def in_flight(self) -> ActionQuerySet:
        """Approved or executing: Stripe has been, or is about to be, asked."""
        return self.filter(state__in=IN_FLIGHT_STATES)

    def unmirrored(self) -> ActionQuerySet:
        """Succeeded at Stripe, but the mirror has not seen the change yet (its read-back
        failed, or has not arrived)."""
        return self.filter(_unmirrored())

    def outstanding(self) -> ActionQuerySet:
        """Done, or about to be, but not in the ledger or the mirror yet: what every capped
        amount (refundable, reversible) counts besides its ledger rows, and what blocks another
        change of the same invoice or subscription. Each action counts once."""
        return self.filter(Q(state__in=IN_FLIGHT_STATES) | _unmirrored())

    def for_ticket(self, ticket_ref: str) -> ActionQuerySet:
        return self.filter(ticket_ref=ticket_ref)

    def window_total(self, *, actor, kind: str, currency: str, since: dt.datetime) -> int:
        """What the rolling 24-hour limit counts: the measure (amount, or days) of every action
        of `actor`'s of this kind and currency asked for after `since` that may still move
        money or did. No upper bound: an action committed by a concurrent request with a later
        clock counts too."""
        total = self.filter(
            actor=actor,
            kind=kind,
            currency=currency,
            state__in=COMMITTED_STATES,
            created_at__gt=since,
        ).aggregate(total=Sum("measure"))["total"]
        return total or 0


class Action(models.Model):
    """One requested change to a customer's billing, from request to Stripe's answer.

    The row is committed before Stripe is called; `idempotency_key` (`<kind>:<id>`) is sent
    with every attempt, so a retry can never create a second refund or credit.
    """

    kind = models.CharField(max_length=30, choices=ActionKind.choices)
    state = models.CharField(max_length=20, choices=ActionState.choices)
    # No index of its own: (customer, created_at, id) serves every lookup by customer.
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="actions", db_index=False
    )
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
    measure = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="What the policy limits count: the amount (money kinds) or days (trials).",
    )
    idempotency_key = models.GeneratedField(
        expression=Concat("kind", Value(":"), Cast("id", models.CharField(max_length=20))),
        output_field=models.CharField(max_length=60),
        db_persist=True,
    )
    stripe_metadata = models.JSONField(
        default=dict,
        blank=True,
        help_text="Sent with every attempt; fixed when the action starts executing, so that "
        "retries match the first.",
    )
    stripe_object_id = models.CharField(max_length=255, blank=True)
    stripe_answered_at = models.DateTimeField(
        null=True, blank=True, help_text="When Stripe's answer that the change was made came."
    )
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    request_key = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        help_text="The requester's key for this one request (a screen's confirm token, an API "
        "Idempotency-Key): a second request with it makes nothing new.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    # Attempts are bookkeeping, logged in ActionAttempt: an action's history holds one row
    # per real change (created, each state it moves to).
    history = AuditedHistory(
        indexed_by="customer", excluded_fields=["attempts", "next_attempt_at", "updated_at"]
    )
    objects = ActionQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-created_at", "-id"]
        permissions = [
            ("request_action", "Request changes to a customer's billing (within policy)"),
            ("act_directly", "Act directly within one's limits, without an approval"),
            ("approve_action", "Approve or reject other staff members' requests"),
            ("export_data", "Export data as CSV"),
            ("view_audit_log", "View the global audit log"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="action_idempotency_key_unique"
            ),
            models.UniqueConstraint(
                fields=["actor", "request_key"], name="action_one_per_request_key"
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
            models.CheckConstraint(
                condition=Q(measure__isnull=True) | Q(measure__gt=0), name="action_measure_positive"
            ),
        ]
        indexes = [
            # In the page's full order, id too: a prepared statement's generic plan (the same
            # for every customer) then reads a whale's newest rows from the top instead of
            # sorting all of them.
            models.Index(
                fields=["customer", "-created_at", "-id"], name="action_customer_created_id"
            ),
            # The start page's latest actions: read from the top, not sorted from all of them.
            models.Index(fields=["-created_at", "-id"], name="action_created"),
            models.Index(
                fields=["actor", "kind", "currency", "-created_at"], name="action_actor_window"
            ),
            models.Index(fields=["kind", "state"], name="action_kind_state"),
            models.Index(fields=["ticket_ref"], name="action_ticket_ref"),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state=ActionState.EXECUTING),
                name="action_executing_next_attempt",
            ),
        ]

    # Set by the pipeline on the action it returns: why an approval is needed (not stored).
    policy_note: str = ""

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"

    def last_attempt(self) -> ActionAttempt | None:
        """The latest try at Stripe (its error says why an executing action still waits)."""
        return self.attempt_log.order_by("-number", "-id").first()


class ActionAttempt(AppendOnlyModel):
    """One try at making an action's change at Stripe, and how it ended (insert-only)."""

    action = models.ForeignKey(Action, on_delete=models.PROTECT, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=AttemptOutcome.choices)
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    stripe_request_id = models.CharField(max_length=255, blank=True)

    objects: ClassVar[models.Manager] = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["action", "number", "id"]
        indexes = [models.Index(fields=["action", "-number"], name="attempt_action_number")]

    def __str__(self) -> str:
        return f"Attempt {self.number} of action #{self.action_id}: {self.outcome}"


class ApprovalRequestQuerySet(models.QuerySet):
    def pending(self, at: dt.datetime):
        """Undecided, unexpired, and its action still waiting for the decision. The action's
        state also tells PostgreSQL how few rows these are: without it, "waiting for me"
        (policy.decidable_by, counted on every page) checked the policy for every action
        ever taken before joining the few pending requests."""
        return self.filter(
            decision="", expires_at__gt=at, action__state=ActionState.PENDING_APPROVAL
        )

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

    history = AuditedHistory(indexed_by="action")
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
            models.Index(fields=["-decided_at"], name="approval_decided"),
        ]

    def __str__(self) -> str:
        return f"Approval for {self.action}"

    def is_pending(self, at: dt.datetime) -> bool:
        return not self.decision and self.expires_at > at


class DecisionRecord(AppendOnlyModel):
    """The decision on an approval request, as it was made: insert-only, one per request.

    An approved action is executed only if its payload still hashes to `payload_hash`, read
    from this row (which nothing can edit), not from the action or the request themselves."""

    approval = models.OneToOneField(
        ApprovalRequest, on_delete=models.PROTECT, related_name="record"
    )
    decision = models.CharField(max_length=10, choices=ApprovalDecision.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    payload_hash = models.CharField(max_length=64)
    note = models.TextField(blank=True)
    decided_at = models.DateTimeField()

    objects: ClassVar[models.Manager] = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-decided_at", "-id"]

    def __str__(self) -> str:
        return f"{self.decision} approval #{self.approval_id}"


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

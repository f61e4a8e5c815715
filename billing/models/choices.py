"""The kinds of staff action, their states and the transitions between them (SPEC §3).

Defined apart from the models so that every module that needs a state group (the ledgers' read
rules, the policy, the pipeline) reads it from one place.
"""

from __future__ import annotations

from django.db import models


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


# Kinds whose policy limit is an amount of money; trial extensions are limited in days; the
# other kinds have no measure (a limit row lets a role act directly, or not).
MONEY_KINDS = frozenset({ActionKind.REFUND, ActionKind.CREDIT, ActionKind.CREDIT_REVERSAL})
MEASURED_KINDS = MONEY_KINDS | {ActionKind.TRIAL_EXTENSION}
SUBSCRIPTION_KINDS = frozenset(
    {
        ActionKind.PRICE_CHANGE,
        ActionKind.SEAT_CHANGE,
        ActionKind.TRIAL_EXTENSION,
        ActionKind.DISCOUNT,
        ActionKind.PAUSE_COLLECTION,
        ActionKind.RESUME_COLLECTION,
        ActionKind.CANCEL,
        ActionKind.REACTIVATE,
    }
)
INVOICE_KINDS = frozenset(
    {
        ActionKind.INVOICE_VOID,
        ActionKind.INVOICE_MARK_UNCOLLECTIBLE,
        ActionKind.INVOICE_RETRY_PAYMENT,
    }
)


class ActionState(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Waiting for approval"
    APPROVED = "approved", "Approved"
    EXECUTING = "executing", "Executing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


# Stripe has been, or is about to be, asked: what such an action moves may already have moved.
IN_FLIGHT_STATES = (ActionState.APPROVED, ActionState.EXECUTING)
# Counted against the requester's rolling 24-hour limit: everything asked for that may still
# move money, or did.
COMMITTED_STATES = (ActionState.PENDING_APPROVAL, *IN_FLIGHT_STATES, ActionState.SUCCEEDED)
FINAL_STATES = (
    ActionState.SUCCEEDED,
    ActionState.FAILED,
    ActionState.REJECTED,
    ActionState.EXPIRED,
    ActionState.WITHDRAWN,
)
# The only moves an action makes (None: the action is being created). Direct actions start
# executing; the others wait for a decision.
TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({ActionState.EXECUTING, ActionState.PENDING_APPROVAL}),
    ActionState.PENDING_APPROVAL: frozenset(
        {
            ActionState.APPROVED,
            ActionState.REJECTED,
            ActionState.EXPIRED,
            ActionState.WITHDRAWN,
        }
    ),
    ActionState.APPROVED: frozenset({ActionState.EXECUTING}),
    ActionState.EXECUTING: frozenset({ActionState.SUCCEEDED, ActionState.FAILED}),
}


class ApprovalDecision(models.TextChoices):
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


class AttemptOutcome(models.TextChoices):
    """How one attempt to make an action's change at Stripe ended."""

    DONE = "done", "Stripe made the change"
    FOUND = "found", "Found already made at Stripe"
    REFUSED = "refused", "Stripe refused"
    UNANSWERED = "unanswered", "No answer from Stripe"
    STOPPED = "stopped", "Stopped before asking Stripe"

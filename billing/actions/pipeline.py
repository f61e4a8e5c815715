"""The one path every change to a customer's billing takes (SPEC §3):

validate → preview → policy → execute → record.

1. `submit` validates what was asked (reason from the list, ticket, note, no card numbers, the
   target in a state that allows it), locks the actor, the customer and the target (always in
   that order; FOR NO KEY UPDATE, so the foreign-key checks of history rows and ledger
   inserts, which take KEY SHARE locks, never wait on them), checks again under the lock,
   decides by policy, and commits the Action (with
   its idempotency key `<kind>:<id>`) as `executing`, or as `pending_approval` with an
   ApprovalRequest. A retry task is enqueued in the same transaction, as a safety net.
2. `execute` calls Stripe outside any lock or transaction, with that key and the action's
   metadata (action id, actor, reason, ticket). Stripe's answer is recorded in a new
   transaction, together with the mirror rows it changes. No answer we can trust (timeout,
   dropped connection, 5xx, 429) leaves the action `executing`, and the retry task asks again
   with the same key (Stripe replays the first answer: nothing happens twice). A 4xx fails the
   action with Stripe's message; nothing moved.
3. Approvals: another staff member, whose own limit covers the action, approves (or rejects,
   with a reason); the approval binds to the payload's hash; it expires after 72 hours; the
   requester may withdraw it. Nobody decides their own request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.tasks import task
from django.utils import timezone

from accounts.audit import audited
from accounts.models import User
from billing.actions import policy
from billing.actions.errors import ActionConflict, InvalidAction, NotAllowed
from billing.models import (
    Action,
    ActionKind,
    ActionState,
    ApprovalDecision,
    ApprovalRequest,
    Customer,
    ReasonCode,
    clean_ticket_ref,
)
from billing.money import MAX_AMOUNT
from billing.stripe import gateway, mirror
from billing.stripe.mirror import Snapshot

logger = logging.getLogger(__name__)

NOTE_MAX = 2000
# Thirteen to nineteen digits, grouped by up to three spaces, dots, dashes or the like, and
# passing the Luhn check: what a card number looks like. Card numbers must never be stored, so
# free text with one is refused outright.
_CARD_DIGITS = re.compile(r"(?<![0-9])[0-9](?:[^0-9A-Za-z\n]{0,3}[0-9]){12,18}(?![0-9])")
# After a try without a trustworthy answer: ask again after these delays, then every hour.
RETRY_DELAYS = [dt.timedelta(seconds=s) for s in (30, 60, 120, 300, 600, 1800, 3600)]


# What was asked, and why ---------------------------------------------------------------------


@dataclass(frozen=True)
class Justification:
    """The reason code, ticket and note every action carries, already validated."""

    reason: ReasonCode
    ticket: str
    note: str

    def audit_reason(self, kind: str) -> str:
        text = f"{ActionKind(kind).label}: {self.reason.label}"
        return f"{text}. {self.note}" if self.note else text


def _luhn(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def has_card_number(text: str) -> bool:
    """Whether free text holds something that looks like a card number."""
    for match in _CARD_DIGITS.finditer(text or ""):
        digits = re.sub(r"[^0-9]", "", match.group())
        if _luhn(digits):
            return True
    return False


def justify(*, kind: str, reason: str, ticket: str, note: str) -> Justification:
    """Validate reason, ticket and note together, reporting every problem at once."""
    errors: dict[str, str] = {}
    label = ActionKind(kind).label.lower()
    reason_code = ReasonCode.objects.filter(
        kind=kind, code=(reason or "").strip(), active=True
    ).first()
    if reason_code is None:
        errors["reason"] = f"Choose a reason from the list for a {label}."
    ticket_ref = clean_ticket_ref(ticket or "")
    if not (ticket or "").strip():
        errors["ticket"] = "Give the ticket this is done under (e.g. ZD-48213)."
    elif ticket_ref is None:
        errors["ticket"] = f"“{ticket.strip()}” is not a ticket reference; it looks like ZD-48213."
    note = (note or "").strip()
    if reason_code is not None and reason_code.requires_note and not note:
        errors["note"] = "Explain the reason in the note."
    elif len(note) > NOTE_MAX:
        errors["note"] = f"Keep the note under {NOTE_MAX} characters."
    elif has_card_number(note):
        errors["note"] = "Remove what looks like a card number from the note: we never store them."
    if errors:
        raise InvalidAction(errors)
    return Justification(reason=reason_code, ticket=ticket_ref, note=note)  # type: ignore[arg-type]


def check_positive_amount(amount: Any, errors: dict[str, str]) -> None:
    """Whole minor units above zero and below MAX_AMOUNT; else a message in `errors`."""
    if type(amount) is not int or amount <= 0:
        errors["amount"] = "Enter an amount above zero."
    elif amount > MAX_AMOUNT:
        errors["amount"] = "That amount is too large."


def require_permission(user: User, permission: str = "billing.request_action") -> None:
    if not user.is_active or not user.has_perm(permission):
        raise NotAllowed("Your roles do not allow this.")


def payload_hash(action: Action) -> str:
    """SHA-256 of everything the action would do: kind, payload, amount, currency, targets.

    An approval binds to it; execution checks it again, so a request edited after it was
    made (or approved) is never carried out."""
    exact = {
        "kind": action.kind,
        "payload": action.payload,
        "amount": action.amount,
        "currency": action.currency,
        "customer": action.customer_id,
        "payment": action.payment_id,
        "subscription": action.subscription_id,
        "invoice": action.invoice_id,
        "balance_transaction": action.balance_transaction_id,
    }
    canonical = json.dumps(exact, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


# Previews ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewLine:
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class Preview:
    """The effect of an action, shown before anyone commits to it. Computing it changes nothing."""

    kind: str
    summary: str
    lines: list[PreviewLine] = field(default_factory=list)


# Kinds ---------------------------------------------------------------------------------------


@dataclass
class Proposal:
    """A validated request, before policy: what will be written as the Action row."""

    kind: str
    customer: Customer
    payload: dict[str, Any]
    amount: int | None = None
    currency: str = ""
    measure: int | None = None  # what the policy counts: the amount, or days for trials
    targets: dict[str, Any] = field(default_factory=dict)  # payment=, subscription=, ...


def required[T](value: T | None, what: str) -> T:
    """A value every action of a kind has (a refund's payment and amount, ...)."""
    if value is None:
        raise ValueError(f"An action without its {what}.")
    return value


class Handler:
    """How one kind of action is checked under lock, performed at Stripe and recorded."""

    kind: str

    def check_locked(self, action: Action) -> None:
        """Lock the target row and check the action still applies (raise otherwise)."""

    def find_existing(self, action: Action) -> Any:
        """Before asking again: Stripe's answer if the change is already made, else None.

        Stripe replays an idempotency key's first answer only for 24 hours, and ignores keys
        on DELETE; so a retry first looks for what an earlier attempt may have done (by the
        action id in the object's metadata, or by the target's state)."""
        return None

    def perform(self, action: Action, metadata: dict[str, str]) -> Any:
        """Make the change at Stripe with the action's idempotency key; return its answer."""
        raise NotImplementedError

    def read_back(self, action: Action, result: Any) -> Snapshot | None:
        """Read what changed from Stripe (outside any transaction) for the mirror."""
        return None

    def record(self, action: Action, result: Any) -> str:
        """Local effects, inside the outcome transaction; returns the Stripe object id."""
        return getattr(result, "id", "") or ""


HANDLERS: dict[str, Handler] = {}


def register(handler_class: type[Handler]) -> type[Handler]:
    HANDLERS[handler_class.kind] = handler_class()
    return handler_class


# Submit --------------------------------------------------------------------------------------


def submit(
    proposal: Proposal, *, actor: User, justification: Justification, now: dt.datetime
) -> Action:
    """Record the action (executing, or waiting for approval) and, if direct, execute it."""
    require_permission(actor)
    handler = HANDLERS[proposal.kind]
    with (
        transaction.atomic(durable=True),
        audited(
            actor=actor,
            reason=justification.audit_reason(proposal.kind),
            ticket=justification.ticket,
        ),
    ):
        # Lock order, always: the actor (their 24-hour sum), the customer, then the target.
        User.objects.select_for_update(no_key=True).get(pk=actor.pk)
        Customer.objects.select_for_update(no_key=True).get(pk=proposal.customer.pk)
        action = Action(
            kind=proposal.kind,
            customer=proposal.customer,
            actor=actor,
            reason_code=justification.reason.code,
            ticket_ref=justification.ticket,
            note=justification.note,
            payload=proposal.payload,
            amount=proposal.amount,
            currency=proposal.currency,
            created_at=now,
            **proposal.targets,
        )
        action.payload_hash = payload_hash(action)
        handler.check_locked(action)
        decision = policy.decide(
            user=actor,
            kind=proposal.kind,
            currency=proposal.currency,
            measure=proposal.measure,
            now=now,
        )
        action.state = ActionState.EXECUTING if decision.direct else ActionState.PENDING_APPROVAL
        if decision.direct:
            action.next_attempt_at = _next_attempt(action, now)
        action.save()
        if decision.direct:
            _enqueue_retry(action)
        else:
            approval = ApprovalRequest.objects.create(
                action=action,
                requested_by=actor,
                payload_hash=action.payload_hash,
                expires_at=now + policy.APPROVAL_LIFETIME,
                created_at=now,
            )
            _schedule_expiry(approval)
    if decision.direct:
        action = execute(action.pk, now=now)
    action.policy_note = decision.why  # type: ignore[attr-defined]
    return action


def _next_attempt(action: Action, now: dt.datetime) -> dt.datetime:
    return now + RETRY_DELAYS[min(action.attempts, len(RETRY_DELAYS) - 1)]


def _enqueue_retry(action: Action) -> None:
    """Enqueue the retry in the caller's transaction: it exists if and only if the state does."""
    retry_action.using(run_after=action.next_attempt_at).enqueue(action.pk)


def _schedule_expiry(approval: ApprovalRequest) -> None:
    expire_approval.using(run_after=approval.expires_at).enqueue(approval.pk)


# Execute -------------------------------------------------------------------------------------


def _metadata(action: Action) -> dict[str, str]:
    metadata = {
        "action_id": str(action.pk),
        "actor": action.actor.username,
        "reason": action.reason_code,
        "ticket": action.ticket_ref,
    }
    approval = getattr(action, "approval", None)
    if approval is not None and approval.decided_by_id:
        metadata["approved_by"] = approval.decided_by.username
    return metadata


def _audit(action: Action, what: str) -> Callable:
    reason = f"{ActionKind(action.kind).label} #{action.pk}: {what}"
    return lambda: audited(actor=action.actor, reason=reason, ticket=action.ticket_ref)


def execute(action_pk: int, *, now: dt.datetime | None = None) -> Action:
    """Ask Stripe to make the change (again, with the same key, if asked before)."""
    now = now or timezone.now()
    action = Action.objects.select_related("actor", "customer").get(pk=action_pk)
    if action.state != ActionState.EXECUTING:
        return action
    handler = HANDLERS[action.kind]
    if payload_hash(action) != action.payload_hash:
        return _finish(
            action,
            ActionState.FAILED,
            now=now,
            code="payload_changed",
            message="The request changed after it was made; nothing was done. Ask again.",
        )
    with transaction.atomic(durable=True), _audit(action, "asking Stripe")():
        locked = Action.objects.select_for_update(no_key=True).get(pk=action_pk)
        if locked.state != ActionState.EXECUTING:
            return locked
        asked_before = locked.attempts > 0
        locked.attempts += 1
        locked.next_attempt_at = _next_attempt(locked, now)
        if not locked.stripe_metadata:
            # Fixed at the first attempt: a retry must send exactly the same parameters.
            locked.stripe_metadata = _metadata(locked)
        locked.save(update_fields=["attempts", "next_attempt_at", "stripe_metadata", "updated_at"])
        _enqueue_retry(locked)  # in case this process dies before Stripe answers
    try:
        result = handler.find_existing(locked) if asked_before else None
        if result is None:
            result = handler.perform(locked, locked.stripe_metadata)
    except gateway.StripeUnavailable as error:
        logger.warning("Action %s: no answer from Stripe (%s); will retry", action_pk, error)
        return _note_unanswered(action_pk, error)
    except gateway.StripeGatewayError as error:
        return _finish(
            locked,
            ActionState.FAILED,
            now=now,
            code=error.code or "stripe_error",
            message=error.message,
        )
    # Stripe made the change: from here on the action succeeded, whatever else fails.
    try:
        snapshot = handler.read_back(locked, result)
    except gateway.StripeGatewayError as error:
        logger.warning("Action %s: reading back from Stripe failed (%s)", action_pk, error)
        snapshot = None
    return _finish(locked, ActionState.SUCCEEDED, now=now, result=result, snapshot=snapshot)


def _note_unanswered(action_pk: int, error: gateway.StripeGatewayError) -> Action:
    action = Action.objects.select_related("actor").get(pk=action_pk)
    if isinstance(error, gateway.StripeMisconfigured):
        message = (
            "Stripe refused our API key, so nothing has happened yet. The app will try again "
            "once the configuration is fixed; tell the billing admin team."
        )
    else:
        message = (
            "Stripe did not answer in time. The app keeps asking with the same request key, so "
            "this cannot happen twice; nothing to do but wait."
        )
    with transaction.atomic(durable=True), _audit(action, "Stripe did not answer")():
        locked = Action.objects.select_for_update(no_key=True).get(pk=action_pk)
        if locked.state == ActionState.EXECUTING:
            locked.error_code = (
                "stripe_misconfigured"
                if isinstance(error, gateway.StripeMisconfigured)
                else "stripe_unavailable"
            )
            locked.error_message = message
            locked.save(update_fields=["error_code", "error_message", "updated_at"])
    return locked


def _finish(
    action: Action,
    state: str,
    *,
    now: dt.datetime,
    result: Any = None,
    snapshot: Snapshot | None = None,
    code: str = "",
    message: str = "",
) -> Action:
    """Record Stripe's answer. The mirror rows it changed are written in a savepoint: should
    they fail, the outcome stands and the customer is resynchronized from Stripe instead."""
    outcome = "succeeded" if state == ActionState.SUCCEEDED else f"failed: {message}"
    resync = snapshot is None and state == ActionState.SUCCEEDED and result is not None
    with transaction.atomic(durable=True), _audit(action, outcome)():
        locked = Action.objects.select_for_update(no_key=True).get(pk=action.pk)
        if locked.state != ActionState.EXECUTING:
            return locked  # another attempt, or a webhook, recorded the outcome first
        if snapshot is not None:
            try:
                with transaction.atomic():
                    snapshot.apply_rows()
            except Exception:
                logger.exception("Action %s: could not mirror Stripe's answer", action.pk)
                resync = True
        if state == ActionState.SUCCEEDED:
            locked.stripe_object_id = HANDLERS[locked.kind].record(locked, result)
            locked.error_code = locked.error_message = ""
        else:
            locked.error_code, locked.error_message = code[:60], message
        locked.state = state
        locked.completed_at = now
        locked.next_attempt_at = None
        locked.save()
        if resync and locked.customer.stripe_customer_id:
            mirror.resync_customer_task.enqueue(locked.customer.stripe_customer_id)
    return locked


# Approvals -----------------------------------------------------------------------------------


def _pending(approval_pk: int, now: dt.datetime) -> ApprovalRequest:
    approval = (
        ApprovalRequest.objects.select_for_update(no_key=True)
        .select_related("action")
        .get(pk=approval_pk)
    )
    if approval.decision:
        raise ActionConflict(f"This request was already {approval.get_decision_display().lower()}.")
    if approval.expires_at <= now:
        raise ActionConflict("This request expired before it was decided.")
    return approval


def approve(*, approval_pk: int, approver: User, note: str = "", now: dt.datetime | None = None):
    """Approve another staff member's request and execute it."""
    now = now or timezone.now()
    require_permission(approver, "billing.approve_action")
    if has_card_number(note):
        raise InvalidAction({"note": "Remove what looks like a card number from the note."})
    approval = ApprovalRequest.objects.select_related("action").get(pk=approval_pk)
    action = approval.action
    _check_decider(approval, approver, "approves")
    with (
        transaction.atomic(durable=True),
        audited(
            actor=approver,
            reason=f"Approved {ActionKind(action.kind).label.lower()} #{action.pk}"
            + (f": {note.strip()}" if note.strip() else ""),
            ticket=action.ticket_ref,
        ),
    ):
        User.objects.select_for_update(no_key=True).get(pk=action.actor_id)
        Customer.objects.select_for_update(no_key=True).get(pk=action.customer_id)
        approval = _pending(approval_pk, now)
        action = Action.objects.select_for_update(no_key=True).get(pk=approval.action_id)
        if payload_hash(action) != approval.payload_hash:
            raise ActionConflict(
                "The request changed after it was made, so this approval does not apply to it."
            )
        HANDLERS[action.kind].check_locked(action)
        approval.decision = ApprovalDecision.APPROVED
        approval.decided_by = approver
        approval.decided_at = now
        approval.decision_note = note.strip()
        approval.save()
        action.state = ActionState.APPROVED
        action.save()
        action.state = ActionState.EXECUTING
        action.next_attempt_at = _next_attempt(action, now)
        action.save()
        _enqueue_retry(action)
    return execute(action.pk, now=now)


def _check_decider(approval: ApprovalRequest, approver: User, verb: str) -> None:
    """Another staff member, whose own limit covers the request (SPEC §3)."""
    action = approval.action
    if approval.requested_by_id == approver.pk:
        raise NotAllowed(f"Nobody {verb} their own request; the requester may withdraw it.")
    if not policy.covers(
        user=approver, kind=action.kind, currency=action.currency, measure=_measure(action)
    ):
        raise NotAllowed(
            "Your own limit does not cover this request; someone with a larger limit must "
            "decide it."
        )


def reject(*, approval_pk: int, approver: User, reason: str, now: dt.datetime | None = None):
    now = now or timezone.now()
    require_permission(approver, "billing.approve_action")
    if not (reason or "").strip():
        raise InvalidAction({"reason": "Say why the request is rejected."})
    if has_card_number(reason):
        raise InvalidAction({"reason": "Remove what looks like a card number from the reason."})
    approval = ApprovalRequest.objects.select_related("action").get(pk=approval_pk)
    _check_decider(approval, approver, "rejects")
    return _close(
        approval_pk,
        ApprovalDecision.REJECTED,
        ActionState.REJECTED,
        actor=approver,
        note=reason.strip(),
        now=now,
    )


def withdraw(*, approval_pk: int, requester: User, now: dt.datetime | None = None):
    now = now or timezone.now()
    approval = ApprovalRequest.objects.get(pk=approval_pk)
    if approval.requested_by_id != requester.pk:
        raise NotAllowed("Only the requester may withdraw a request.")
    return _close(
        approval_pk, ApprovalDecision.WITHDRAWN, ActionState.WITHDRAWN, actor=requester, now=now
    )


def expire(*, approval_pk: int, now: dt.datetime | None = None) -> Action | None:
    """Close a request nobody decided within 72 hours (run by a task at its expiry time)."""
    now = now or timezone.now()
    approval = ApprovalRequest.objects.get(pk=approval_pk)
    if approval.decision or approval.expires_at > now:
        return None
    with (
        transaction.atomic(durable=True),
        audited(
            actor=None,
            reason="Approval request expired after 72 hours",
            ticket=approval.action.ticket_ref,
        ),
    ):
        approval = ApprovalRequest.objects.select_for_update(no_key=True).get(pk=approval_pk)
        if approval.decision:
            return None
        return _close_locked(approval, ApprovalDecision.EXPIRED, ActionState.EXPIRED, None, "", now)


def _close(approval_pk, decision, state, *, actor: User, note: str = "", now: dt.datetime):
    approval = ApprovalRequest.objects.select_related("action").get(pk=approval_pk)
    verb = ApprovalDecision(decision).label
    with (
        transaction.atomic(durable=True),
        audited(
            actor=actor,
            reason=f"{verb} {ActionKind(approval.action.kind).label.lower()} #{approval.action_id}"
            + (f": {note}" if note else ""),
            ticket=approval.action.ticket_ref,
        ),
    ):
        approval = _pending(approval_pk, now)
        return _close_locked(approval, decision, state, actor, note, now)


def _close_locked(approval, decision, state, actor, note, now) -> Action:
    approval.decision = decision
    approval.decided_by = actor
    approval.decided_at = now
    approval.decision_note = note
    approval.save()
    action = Action.objects.select_for_update(no_key=True).get(pk=approval.action_id)
    action.state = state
    action.completed_at = now
    action.save()
    return action


def _measure(action: Action) -> int | None:
    if action.amount is not None:
        return action.amount
    return action.payload.get("days")


@task()
def retry_action(action_pk: int) -> None:
    """Ask Stripe again, with the same idempotency key, for an action still executing."""
    execute(action_pk)


@task()
def expire_approval(approval_pk: int) -> None:
    expire(approval_pk=approval_pk)

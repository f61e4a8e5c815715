"""The one path every change to a customer's billing takes (SPEC §3), and the only writer of an
action's state: validate → preview → policy → execute → record.

1. `submit` takes a validated proposal, locks the actor, the customer and the target (always in
   that order; FOR NO KEY UPDATE, so the foreign-key checks of history rows and ledger
   inserts, which take KEY SHARE locks, never wait on them), checks again under the lock,
   decides by policy (whose 24-hour sum is read under the actor's lock) and commits the Action
   (its idempotency key is `<kind>:<id>`) as `executing`, or as `pending_approval` with an
   ApprovalRequest. A retry task is enqueued in the same transaction, as a safety net.
2. `execute` calls Stripe outside any lock or transaction, with that key and the action's
   metadata. Before the first attempt it checks that the requester (and the approver) may
   still do this; before every attempt, that the payload still hashes to what was approved
   (read from the insert-only DecisionRecord). Stripe's answer is recorded in a new
   transaction, together with the mirror rows it changes. No answer we can trust (timeout,
   dropped connection, 5xx, 429) leaves the action `executing`; the retry task asks again with
   the same key. A 4xx fails the action with Stripe's message; nothing moved. Every attempt is
   logged in ActionAttempt; the action's own history holds one row per state it moves to.
3. After Stripe answered, the read-back of what it did is retried until it succeeds (a task
   with growing pauses), and the mirror's reports of what Stripe confirmed (ledger rows naming
   our action) move an action whose answer was lost to `succeeded` through `confirm`.
4. Approvals: another staff member whose own limit covers the action approves it (or rejects
   it, with a reason); the decision is bound to the payload's hash; a request expires after
   72 hours; the requester may withdraw it. Nobody decides their own request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import chain
from accounts.audit import AuditContext, audited
from accounts.models import User
from billing.actions import policy
from billing.actions import reconcile as reconciler
from billing.actions.base import HANDLERS, Handler, Proposal, required
from billing.actions.errors import ActionConflict, InvalidAction, NotAllowed
from billing.actions.justification import Justification, check_free_text
from billing.models import (
    FINAL_STATES,
    TRANSITIONS,
    Action,
    ActionAttempt,
    ActionKind,
    ActionState,
    ApprovalDecision,
    ApprovalRequest,
    AttemptOutcome,
    Customer,
    DecisionRecord,
    ReconcileRun,
)
from billing.observability import log_money_event, task
from billing.stripe import gateway, mirror, sync
from billing.stripe.mirror import Confirmation, Snapshot

logger = logging.getLogger(__name__)

# After a try without a trustworthy answer: ask again after these delays, then every hour.
RETRY_DELAYS = [dt.timedelta(seconds=s) for s in (30, 60, 120, 300, 600, 1800, 3600)]


class TransitionError(RuntimeError):
    """Code tried to move an action along a path SPEC §3 does not have (a bug, not input)."""


def retry_delay(attempts: int) -> dt.timedelta:
    return RETRY_DELAYS[min(attempts, len(RETRY_DELAYS) - 1)]


def payload_hash(action: Action) -> str:
    """SHA-256 of everything the action would do: kind, payload, amount, measure, currency,
    targets. An approval binds to it; execution checks it again, so a request edited after
    it was made (or approved) is never carried out."""
    exact = {
        "kind": action.kind,
        "payload": action.payload,
        "amount": action.amount,
        "measure": action.measure,
        "currency": action.currency,
        "customer": action.customer_id,
        "payment": action.payment_id,
        "subscription": action.subscription_id,
        "invoice": action.invoice_id,
        "balance_transaction": action.balance_transaction_id,
    }
    canonical = json.dumps(exact, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def require_permission(user: User, permission: str = policy.REQUEST) -> None:
    if not user.is_active or not user.has_perm(permission):
        raise NotAllowed("Your roles do not allow this.")


# State: the one writer ------------------------------------------------------------------------


def _move(action: Action, state: str, *, now: dt.datetime, stripe_request_id: str = "") -> None:
    """Move an action to `state` and save it: the only place an action's state is written.
    Inside the caller's transaction and audit context, with the action locked (or new); it
    writes the money event's log line (ids only)."""
    current = None if action._state.adding else action.state
    if state not in TRANSITIONS.get(current, frozenset()):
        raise TransitionError(f"An action cannot go from {current or 'nothing'} to {state}.")
    action.state = state
    if state in FINAL_STATES:
        action.completed_at = now
        action.next_attempt_at = None
    action.save()
    log_money_event(
        action_id=action.pk,
        kind=action.kind,
        state=state,
        actor_id=action.actor_id,
        customer_id=action.customer_id,
        amount=action.amount,
        currency=action.currency,
        stripe_request_id=stripe_request_id,
    )


def _audit(action: Action, what: str) -> AbstractContextManager[AuditContext]:
    reason = f"{ActionKind(action.kind).label} #{action.pk}: {what}"
    return audited(actor=action.actor, reason=reason, ticket=action.ticket_ref)


def _metadata(action: Action, approver: User | None = None) -> dict[str, str]:
    """What every attempt tells Stripe besides the action id; fixed when the action starts
    executing, so that a retry sends exactly what the first attempt sent."""
    metadata = {
        "actor": action.actor.username,
        "reason": action.reason_code,
        "ticket": action.ticket_ref,
    }
    if approver is not None:
        metadata["approved_by"] = approver.username
    return metadata


# Submit ---------------------------------------------------------------------------------------


def submit(
    proposal: Proposal,
    *,
    actor: User,
    justification: Justification,
    now: dt.datetime,
    request_key: str = "",
) -> Action:
    """Record the action (executing, or waiting for approval) and, if direct, execute it.

    `request_key`: the caller's key for this one request (a screen's confirm token, say). A
    second submit with the same key makes nothing and returns the first action: a double
    click or a resubmitted form cannot make a second action (a unique constraint holds it
    even when both arrive at once)."""
    require_permission(actor)
    handler = HANDLERS[proposal.kind]
    if request_key and (earlier := _requested_before(actor, request_key)) is not None:
        return earlier
    try:
        return _submit(proposal, handler, actor, justification, now, request_key)
    except IntegrityError:
        # The same key committed first in a request running alongside this one.
        if request_key and (earlier := _requested_before(actor, request_key)) is not None:
            return earlier
        raise


def _requested_before(actor: User, request_key: str) -> Action | None:
    earlier = Action.objects.filter(actor=actor, request_key=request_key).first()
    if earlier is not None:
        earlier.policy_note = "Already asked: this is the action that request made."
    return earlier


def _submit(
    proposal: Proposal,
    handler: Handler[Any, Any],
    actor: User,
    justification: Justification,
    now: dt.datetime,
    request_key: str,
) -> Action:
    with (
        transaction.atomic(durable=True),
        audited(
            actor=actor,
            reason=justification.audit_reason(proposal.kind),
            ticket=justification.ticket,
        ),
    ):
        # Lock order, always: the actor (their 24-hour sum), the customer, then the target.
        locked_actor = User.objects.select_for_update(no_key=True).get(pk=actor.pk)
        if not policy.may_request(locked_actor):
            raise NotAllowed("Your roles do not allow this.")
        Customer.objects.select_for_update(no_key=True).get(pk=proposal.customer.pk)
        action = Action(
            kind=proposal.kind,
            customer=proposal.customer,
            actor=actor,
            reason_code=justification.reason.code,
            ticket_ref=justification.ticket,
            note=justification.note,
            payload=dict(proposal.payload),
            amount=proposal.amount,
            currency=proposal.currency,
            measure=proposal.measure,
            payment_id=proposal.payment_id,
            subscription_id=proposal.subscription_id,
            invoice_id=proposal.invoice_id,
            balance_transaction_id=proposal.balance_transaction_id,
            request_key=request_key or None,
            created_at=now,
        )
        action.payload_hash = payload_hash(action)
        handler.check_locked(action)
        decision = policy.decide(
            user=locked_actor,
            kind=proposal.kind,
            currency=proposal.currency,
            measure=proposal.measure,
            now=now,
        )
        if decision.direct:
            action.stripe_metadata = _metadata(action)
            action.next_attempt_at = now + retry_delay(0)
            _move(action, ActionState.EXECUTING, now=now)
            _enqueue_retry(action)
        else:
            _move(action, ActionState.PENDING_APPROVAL, now=now)
            approval = ApprovalRequest.objects.create(
                action=action,
                requested_by=actor,
                payload_hash=action.payload_hash,
                expires_at=now + policy.APPROVAL_LIFETIME,
                created_at=now,
            )
            expire_approval.using(run_after=approval.expires_at).enqueue(approval.pk)
    if decision.direct:
        action = execute(action.pk, now=now)
    action.policy_note = decision.why
    return action


def _enqueue_retry(action: Action) -> None:
    """Enqueue the retry in the caller's transaction: it exists if and only if the state does."""
    retry_action.using(run_after=action.next_attempt_at).enqueue(action.pk)


# Execute --------------------------------------------------------------------------------------


def _why_not_run(action: Action) -> tuple[str, str] | None:
    """Why this action must not be sent to Stripe (now or ever), or None.

    Every attempt: the payload still hashes to what was requested and, for a request, to what
    the approver approved (read from the insert-only decision record). Before the first: the
    requester, and the approver, may still do this (a deactivated staff member's or a removed
    role's decisions do not outlive them)."""
    current = payload_hash(action)
    if current != action.payload_hash:
        return "payload_changed", "The request changed after it was made; nothing was done."
    approval = ApprovalRequest.objects.filter(action=action).first()
    record = DecisionRecord.objects.filter(approval=approval).first() if approval else None
    if approval is not None:
        if record is None or record.decision != ApprovalDecision.APPROVED:
            return "not_approved", "This request has no approval on record; nothing was done."
        if record.payload_hash != current:
            return (
                "payload_changed",
                "The request changed after it was approved; nothing was done. Ask again.",
            )
    if action.attempts > 0:
        return None
    if not policy.may_request(action.actor):
        return "requester_removed", "The requester may no longer ask for this; nothing was done."
    approver = record.decided_by if record is not None else None
    if approval is not None and (approver is None or not policy.may_decide(approver, approval)):
        return "approver_removed", "The approver may no longer approve this; nothing was done."
    return None


def execute(action_pk: int, *, now: dt.datetime | None = None, due_only: bool = False) -> Action:
    """Ask Stripe to make the change (again, with the same key, if asked before).

    `due_only`: for the retry task, leave an action whose next attempt is not due yet (another
    attempt was made since the task was enqueued)."""
    now = now or timezone.now()
    action = Action.objects.select_related("actor", "customer").get(pk=action_pk)
    if action.state != ActionState.EXECUTING:
        return action
    handler = HANDLERS[action.kind]
    with transaction.atomic(durable=True), _audit(action, "asking Stripe"):
        locked = (
            Action.objects.select_for_update(no_key=True, of=("self",))
            .select_related("actor", "customer")
            .get(pk=action_pk)
        )
        if locked.state != ActionState.EXECUTING:
            return locked
        if due_only and locked.next_attempt_at and locked.next_attempt_at > timezone.now():
            return locked
        stop = _why_not_run(locked)
        if stop is not None:
            code, message = stop
            _log_attempt(locked, AttemptOutcome.STOPPED, started=now, code=code, message=message)
            locked.error_code, locked.error_message = code, message
            _move(locked, ActionState.FAILED, now=now)
            return locked
        asked_before = locked.attempts > 0
        locked.attempts += 1
        locked.next_attempt_at = timezone.now() + retry_delay(locked.attempts)
        # Bookkeeping only (not in the action's history): the attempt is logged when it ends.
        locked.save(update_fields=["attempts", "next_attempt_at", "updated_at"])
        _enqueue_retry(locked)  # in case this process dies before Stripe answers
    started = timezone.now()
    metadata = {"action_id": str(locked.pk), **locked.stripe_metadata}
    gateway.forget_request_id()
    try:
        result = handler.find_existing(locked) if asked_before else None
        outcome = AttemptOutcome.FOUND if result is not None else AttemptOutcome.DONE
        if result is None:
            result = handler.perform(locked, metadata)
        answered_by = gateway.last_request_id()  # before the read-back's own requests
    except gateway.StripeUnavailable as error:
        logger.warning("Action %s: no answer from Stripe (%s); will retry", action_pk, error)
        return _note_unanswered(locked, error, started=started)
    except gateway.StripeGatewayError as error:
        return _finish(
            locked,
            ActionState.FAILED,
            now=now,
            attempt=(AttemptOutcome.REFUSED, started, error.request_id),
            code=error.code or "stripe_error",
            message=error.message,
        )
    # Stripe made the change: from here on the action succeeded, whatever else fails.
    answered_at = timezone.now() if handler.uses_stripe else None
    snapshot: Snapshot | None = None
    try:
        snapshot = handler.read_back(locked, result)
    except gateway.StripeGatewayError as error:
        logger.warning("Action %s: reading back from Stripe failed (%s)", action_pk, error)
    finished = _finish(
        locked,
        ActionState.SUCCEEDED,
        now=now,
        attempt=(outcome, started, answered_by),
        result=result,
        snapshot=snapshot,
        answered_at=answered_at,
    )
    if handler.uses_stripe:
        ensure_reconciler()
    return finished


def _log_attempt(
    action: Action,
    outcome: str,
    *,
    started: dt.datetime,
    code: str = "",
    message: str = "",
    request_id: str = "",
) -> None:
    ActionAttempt.objects.create(
        action=action,
        number=action.attempts,
        started_at=started,
        finished_at=timezone.now(),
        outcome=outcome,
        error_code=code[:60],
        error_message=message,
        stripe_request_id=request_id,
    )


def _note_unanswered(
    action: Action, error: gateway.StripeGatewayError, *, started: dt.datetime
) -> Action:
    if isinstance(error, gateway.StripeMisconfigured):
        code = "stripe_misconfigured"
        message = (
            "Stripe refused our API key, so nothing has happened yet. The app will try again "
            "once the configuration is fixed; tell the billing admin team."
        )
    else:
        code = "stripe_unavailable"
        message = (
            "Stripe did not answer in time. The app keeps asking with the same request key, so "
            "this cannot happen twice; nothing to do but wait."
        )
    with transaction.atomic(durable=True), _audit(action, "Stripe did not answer"):
        locked = (
            Action.objects.select_for_update(no_key=True, of=("self",))
            .select_related("actor", "customer")
            .get(pk=action.pk)
        )
        _log_attempt(
            locked,
            AttemptOutcome.UNANSWERED,
            started=started,
            code=code,
            message=message,
            request_id=error.request_id,
        )
    return locked


def _finish(
    action: Action,
    state: str,
    *,
    now: dt.datetime,
    attempt: tuple[str, dt.datetime, str],
    result: object = None,
    snapshot: Snapshot | None = None,
    answered_at: dt.datetime | None = None,
    code: str = "",
    message: str = "",
) -> Action:
    """Record Stripe's answer. The mirror rows it changed are written in a savepoint: should
    they fail, the outcome stands and the read-back is retried by a task instead."""
    handler = HANDLERS[action.kind]
    outcome, started, request_id = attempt
    what = "succeeded" if state == ActionState.SUCCEEDED else f"failed: {message}"
    reported: list[Confirmation] = []
    with transaction.atomic(durable=True), _audit(action, what):
        locked = (
            Action.objects.select_for_update(no_key=True, of=("self",))
            .select_related("actor", "customer")
            .get(pk=action.pk)
        )
        _log_attempt(
            locked, outcome, started=started, code=code, message=message, request_id=request_id
        )
        mirrored = False
        if snapshot is not None:
            try:
                with transaction.atomic():
                    reported = snapshot.apply_rows()
                mirrored = not snapshot.problems
            except mirror.MIRROR_ERRORS:
                logger.exception("Action %s: could not mirror Stripe's answer", action.pk)
        if locked.state != ActionState.EXECUTING:
            return locked  # another attempt, or Stripe's confirmation, recorded it first
        if state == ActionState.SUCCEEDED:
            locked.stripe_object_id = handler.record(locked, result)
            locked.stripe_answered_at = answered_at
            locked.error_code = locked.error_message = ""
        else:
            locked.error_code, locked.error_message = code[:60], message
        _move(locked, state, now=now, stripe_request_id=request_id)
        if state == ActionState.SUCCEEDED and handler.uses_stripe and not mirrored:
            read_back.enqueue(locked.pk, 0)
    confirm_reported(confirmation for confirmation in reported if confirmation[0] != locked.pk)
    return locked


def confirm(action_pk: int, *, stripe_object_id: str, now: dt.datetime | None = None) -> bool:
    """Stripe shows the change an executing action asked for (its answer was lost): this is
    the answer. SPEC §3: webhooks and the reconciler confirm actions. False if the action had
    already moved on."""
    action = Action.objects.select_related("actor").filter(pk=action_pk).first()
    if action is None or action.state != ActionState.EXECUTING:
        return False
    with transaction.atomic(durable=True), _audit(action, "confirmed by Stripe"):
        locked = Action.objects.select_for_update(no_key=True).get(pk=action_pk)
        if locked.state != ActionState.EXECUTING:
            return False
        locked.stripe_object_id = stripe_object_id
        locked.stripe_answered_at = timezone.now()
        locked.error_code = locked.error_message = ""
        _move(locked, ActionState.SUCCEEDED, now=now or timezone.now())
    return True


def confirm_reported(confirmations: Iterable[Confirmation]) -> int:
    """Confirm every action the mirror reported Stripe has done; returns how many moved."""
    return sum(confirm(pk, stripe_object_id=object_id) for pk, object_id in confirmations)


# Approvals ------------------------------------------------------------------------------------


def _pending(approval_pk: int, now: dt.datetime) -> ApprovalRequest:
    approval = (
        ApprovalRequest.objects.select_for_update(no_key=True, of=("self",))
        .select_related("action")
        .get(pk=approval_pk)
    )
    if approval.decision:
        raise ActionConflict(f"This request was already {approval.get_decision_display().lower()}.")
    if approval.expires_at <= now:
        raise ActionConflict("This request expired before it was decided.")
    return approval


def _check_decider(approval: ApprovalRequest, decider: User, verb: str) -> None:
    """SPEC §3: someone else, whose own limit covers the request (policy.deciders)."""
    if approval.requested_by_id == decider.pk:
        raise NotAllowed(f"Nobody {verb} their own request; the requester may withdraw it.")
    if not policy.may_decide(decider, approval):
        raise NotAllowed(
            "Your own limit does not cover this request; someone with a larger limit must "
            "decide it."
        )


def _record_decision(
    approval: ApprovalRequest,
    action: Action,
    decision: str,
    *,
    by: User | None,
    note: str,
    now: dt.datetime,
) -> None:
    approval.decision = decision
    approval.decided_by = by
    approval.decided_at = now
    approval.decision_note = note
    approval.save()
    DecisionRecord.objects.create(
        approval=approval,
        decision=decision,
        decided_by=by,
        payload_hash=payload_hash(action),
        note=note,
        decided_at=now,
    )


def approve(
    *, approval_pk: int, approver: User, note: str = "", now: dt.datetime | None = None
) -> Action:
    """Approve another staff member's request and execute it."""
    now = now or timezone.now()
    require_permission(approver, policy.APPROVE)
    note = (note or "").strip()
    errors: dict[str, str] = {}
    check_free_text(note, "note", errors)
    if errors:
        raise InvalidAction(errors)
    approval = ApprovalRequest.objects.select_related("action").get(pk=approval_pk)
    action = approval.action
    _check_decider(approval, approver, "approves")
    label = ActionKind(action.kind).label.lower()
    with (
        transaction.atomic(durable=True),
        audited(
            actor=approver,
            reason=f"Approved {label} #{action.pk}" + (f": {note}" if note else ""),
            ticket=action.ticket_ref,
        ),
    ):
        User.objects.select_for_update(no_key=True).get(pk=action.actor_id)
        Customer.objects.select_for_update(no_key=True).get(pk=action.customer_id)
        approval = _pending(approval_pk, now)
        _check_decider(approval, approver, "approves")
        action = (
            Action.objects.select_for_update(no_key=True, of=("self",))
            .select_related("actor")
            .get(pk=approval.action_id)
        )
        if payload_hash(action) != approval.payload_hash:
            raise ActionConflict(
                "The request changed after it was made, so this approval does not apply to it."
            )
        HANDLERS[action.kind].check_locked(action)
        _record_decision(
            approval, action, ApprovalDecision.APPROVED, by=approver, note=note, now=now
        )
        _move(action, ActionState.APPROVED, now=now)
        action.stripe_metadata = _metadata(action, approver)
        action.next_attempt_at = now + retry_delay(0)
        _move(action, ActionState.EXECUTING, now=now)
        _enqueue_retry(action)
    return execute(action.pk, now=now)


def reject(
    *, approval_pk: int, approver: User, reason: str, now: dt.datetime | None = None
) -> Action:
    now = now or timezone.now()
    require_permission(approver, policy.APPROVE)
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = "Say why the request is rejected."
    check_free_text(reason, "reason", errors)
    if errors:
        raise InvalidAction(errors)
    approval = ApprovalRequest.objects.get(pk=approval_pk)
    _check_decider(approval, approver, "rejects")
    return _close(approval_pk, ApprovalDecision.REJECTED, by=approver, note=reason, now=now)


def withdraw(*, approval_pk: int, requester: User, now: dt.datetime | None = None) -> Action:
    now = now or timezone.now()
    approval = ApprovalRequest.objects.get(pk=approval_pk)
    if approval.requested_by_id != requester.pk:
        raise NotAllowed("Only the requester may withdraw a request.")
    return _close(approval_pk, ApprovalDecision.WITHDRAWN, by=requester, note="", now=now)


def expire(*, approval_pk: int, now: dt.datetime | None = None) -> Action | None:
    """Close a request nobody decided within 72 hours (run by a task at its expiry time)."""
    now = now or timezone.now()
    approval = ApprovalRequest.objects.get(pk=approval_pk)
    if approval.decision or approval.expires_at > now:
        return None
    return _close(
        approval_pk,
        ApprovalDecision.EXPIRED,
        by=None,
        note="",
        now=now,
        reason="Approval request expired after 72 hours",
        check_expiry=False,
    )


_CLOSING_STATES = {
    ApprovalDecision.REJECTED: ActionState.REJECTED,
    ApprovalDecision.WITHDRAWN: ActionState.WITHDRAWN,
    ApprovalDecision.EXPIRED: ActionState.EXPIRED,
}


def _close(
    approval_pk: int,
    decision: ApprovalDecision,
    *,
    by: User | None,
    note: str,
    now: dt.datetime,
    reason: str = "",
    check_expiry: bool = True,
) -> Action:
    approval = ApprovalRequest.objects.select_related("action").get(pk=approval_pk)
    label = ActionKind(approval.action.kind).label.lower()
    reason = reason or f"{decision.label} {label} #{approval.action_id}" + (
        f": {note}" if note else ""
    )
    with (
        transaction.atomic(durable=True),
        audited(actor=by, reason=reason, ticket=approval.action.ticket_ref),
    ):
        approval = ApprovalRequest.objects.select_for_update(no_key=True).get(pk=approval_pk)
        if approval.decision:
            raise ActionConflict(
                f"This request was already {approval.get_decision_display().lower()}."
            )
        if check_expiry and approval.expires_at <= now:
            raise ActionConflict("This request expired before it was decided.")
        action = Action.objects.select_for_update(no_key=True).get(pk=approval.action_id)
        _record_decision(approval, action, decision, by=by, note=note, now=now)
        _move(action, _CLOSING_STATES[decision], now=now)
    return action


def withdraw_requests_of(user: User, *, actor: User | None, why: str, now: dt.datetime) -> int:
    """Withdraw every pending request of `user` (deactivated, or no longer allowed to ask),
    each with its own history row saying why. Runs inside the caller's transaction (a staff
    change)."""
    withdrawn = 0
    for approval in ApprovalRequest.objects.select_for_update(no_key=True).filter(
        requested_by=user, decision=""
    ):
        action = Action.objects.select_for_update(no_key=True).get(pk=approval.action_id)
        if action.state != ActionState.PENDING_APPROVAL:
            continue
        label = ActionKind(action.kind).label.lower()
        with audited(
            actor=actor, reason=f"Withdrew {label} #{action.pk}: {why}", ticket=action.ticket_ref
        ):
            _record_decision(
                approval, action, ApprovalDecision.WITHDRAWN, by=actor, note=why, now=now
            )
            _move(action, ActionState.WITHDRAWN, now=now)
        withdrawn += 1
    return withdrawn


# Reading back what Stripe did -----------------------------------------------------------------


def resync(stripe_customer_id: str, *, reason: str, actor: User | None = None) -> int:
    """Re-read one customer from Stripe, apply it, and confirm the actions it shows done;
    returns how many actions that confirmed."""
    return confirm_reported(mirror.resync_customer(stripe_customer_id, reason=reason, actor=actor))


def reconcile(*, now: dt.datetime | None = None) -> ReconcileRun:
    """Compare recent customers with Stripe and mend what differs (SPEC §3: the reconciler
    confirms actions): customers with actions done at Stripe but not mirrored are read back
    outright; the others (recent actions or ledger rows) are compared first (the drift report)
    and read back if anything differs; attempts whose retry task was lost are made. Records
    the run, with what it mended."""
    now = now or timezone.now()
    started = timezone.now()
    mended: list[str] = []
    errors: list[str] = []
    checked = differences = confirmed = retried = 0
    unmirrored = set(Action.objects.unmirrored().values_list("customer_id", flat=True))
    for customer in reconciler.customers_to_check(now=now):
        stripe_id = required(customer.stripe_customer_id, "Stripe customer")
        try:
            checked += 1
            found = [] if customer.pk in unmirrored else sync.drift(customer=customer)
            if customer.pk not in unmirrored and not found:
                continue
            differences += len(found)
            moved = resync(stripe_id, reason=f"Reconciliation: {customer.name} read back")
            confirmed += moved
            what = f"{len(found)} difference(s) mended" if found else "read back"
            mended.append(f"{stripe_id}: {what}, {moved} action(s) confirmed")
        except mirror.SYNC_ERRORS as error:
            errors.append(f"{stripe_id}: {type(error).__name__}: {error}")
    for action_pk in reconciler.overdue_actions(now=now):
        execute(action_pk)
        retried += 1
    return reconciler.record_run(
        started_at=started,
        checked=checked,
        differences=differences,
        confirmed=confirmed,
        retried=retried,
        mended=mended,
        errors=errors,
        now=timezone.now(),
    )


_reconciler_asked_at: dt.datetime | None = None


def ensure_reconciler(now: dt.datetime | None = None) -> None:
    """Start the periodic reconciliation if it is not running (its chain ended, or never
    began). Cheap: this process asks the database at most once per period."""
    global _reconciler_asked_at
    now = now or timezone.now()
    if _reconciler_asked_at is not None and _reconciler_asked_at > now - reconciler.EVERY:
        return
    _reconciler_asked_at = now
    if reconciler.due(now=now):
        reconcile_periodically.using(run_after=now + reconciler.EVERY).enqueue()


# Tasks (ids in, never model instances) --------------------------------------------------------


@task()
def retry_action(action_pk: int) -> None:
    """Ask Stripe again, with the same idempotency key, for an action still executing."""
    execute(action_pk, due_only=True)


@task()
def expire_approval(approval_pk: int) -> None:
    expire(approval_pk=approval_pk)


@task()
def reconcile_periodically() -> None:
    """Every few minutes, for as long as the app runs: `reconcile` and seal any history or
    ledger row whose on-commit sealing did not run (accounts.chain), then schedule the next."""
    now = timezone.now()
    if reconciler.ran_recently(now=now):
        return  # a second chain of this task: the first one goes on
    try:
        reconcile(now=now)
        chain.seal_unsealed()
    finally:
        reconcile_periodically.using(run_after=timezone.now() + reconciler.EVERY).enqueue()


@task()
def read_back(action_pk: int, attempt: int) -> None:
    """Stripe made the change but we could not mirror its answer: re-read the customer until
    Stripe answers (growing pauses, then hourly), so the ledger never misses it."""
    action = Action.objects.select_related("customer").get(pk=action_pk)
    stripe_customer_id = required(action.customer.stripe_customer_id, "Stripe customer")
    try:
        resync(stripe_customer_id, reason=f"Read back {action.get_kind_display()} #{action.pk}")
    except mirror.SYNC_ERRORS as error:
        logger.warning("Action %s: read-back failed again (%s); will retry", action_pk, error)
        run_after = timezone.now() + retry_delay(attempt)
        read_back.using(run_after=run_after).enqueue(action_pk, attempt + 1)


__all__ = [
    "TransitionError",
    "approve",
    "confirm",
    "confirm_reported",
    "execute",
    "expire",
    "payload_hash",
    "reconcile",
    "reject",
    "require_permission",
    "resync",
    "submit",
    "withdraw",
    "withdraw_requests_of",
]

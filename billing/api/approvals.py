"""Approval requests: the inbox, and deciding (approve, reject) or withdrawing one, through
the pipeline's own verbs. Who may decide is the policy's one rule (policy.decidable_by,
policy.may_decide); the pipeline checks it again when a decision is made."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Body, Field, Query, Router, Schema
from pydantic import ConfigDict

from accounts.models import User
from billing import actions
from billing.actions import policy
from billing.actions.justification import NOTE_MAX
from billing.api.actions import IdempotencyKey, action_answer, with_details
from billing.api.auth import actor_of, staff
from billing.api.base import OBJECT_ERRORS, READ_ERRORS, WRITE_ERRORS, Cursor, Limit, ObjectId
from billing.api.base import documented as _documented
from billing.api.idempotency import idempotent
from billing.api.pagination import Keyset
from billing.api.problems import not_found
from billing.api.schemas import ActionOut, ApprovalOut, ApprovalPage, approval_out
from billing.models import Action, ApprovalRequest

router = Router(tags=["approvals"])


class Inbox(StrEnum):
    WAITING = "waiting"  # waiting for me: what I may decide now
    MINE = "mine"  # requested by me, in any state
    PENDING = "pending"  # every request still waiting, whoever may decide it
    DECIDED = "decided"  # approved, rejected, expired or withdrawn


SOONEST = Keyset("expires_at", descending=False)
NEWEST = Keyset("created_at")


def _requests(rows: QuerySet[ApprovalRequest]) -> QuerySet[ApprovalRequest]:
    return rows.select_related(
        "requested_by",
        "decided_by",
        "action__actor",
        "action__approval__requested_by",
        "action__approval__decided_by",
    )


def _answers(approvals: list[ApprovalRequest], user: User, now: dt.datetime) -> list[ApprovalOut]:
    ids = [approval.pk for approval in approvals]
    decidable = set(policy.decidable_by(user, now).filter(pk__in=ids).values_list("pk", flat=True))
    # One query for the actions' details (the last attempt of each, for executing ones).
    details = {
        action.pk: action for action in with_details(Action.objects.filter(approval__in=ids))
    }
    answers = []
    for approval in approvals:
        answer = approval_out(approval, now=now, may_decide=approval.pk in decidable)
        answer.action = action_answer(details[approval.action_id], now)
        answers.append(answer)
    return answers


@router.get(
    "/approvals",
    response=ApprovalPage,
    auth=staff("billing.view_approvalrequest"),
    operation_id="list_approvals",
    summary="Approval requests",
    openapi_extra=_documented(*READ_ERRORS),
)
def list_approvals(
    request: HttpRequest,
    cursor: Cursor,
    limit: Limit,
    state: Annotated[
        Inbox,
        Query(
            Inbox.WAITING,
            description="waiting: waiting for you, who may decide them (soonest to expire "
            "first); mine: asked for by you; pending: all still waiting; decided: the others.",
        ),
    ],
) -> ApprovalPage:
    user = actor_of(request)
    now = timezone.now()
    rows: QuerySet[ApprovalRequest] = ApprovalRequest.objects.all()
    keyset = NEWEST
    if state == Inbox.WAITING:
        rows = policy.decidable_by(user, now)
        keyset = SOONEST
    elif state == Inbox.MINE:
        rows = rows.filter(requested_by=user)
    elif state == Inbox.PENDING:
        rows = ApprovalRequest.objects.pending(now)
        keyset = SOONEST
    else:
        rows = ApprovalRequest.objects.decided()
    found, after = keyset.page(_requests(rows), cursor=cursor, limit=limit)
    return ApprovalPage(items=_answers(found, user, now), next=after)


def _approval(approval_id: int) -> ApprovalRequest:
    found = _requests(ApprovalRequest.objects.filter(pk=approval_id)).first()
    if found is None:
        raise not_found(f"approval request {approval_id}")
    return found


@router.get(
    "/approvals/{approval_id}",
    response=ApprovalOut,
    auth=staff("billing.view_approvalrequest"),
    operation_id="get_approval",
    summary="An approval request",
    openapi_extra=_documented(*OBJECT_ERRORS),
)
def get_approval(request: HttpRequest, approval_id: ObjectId) -> ApprovalOut:
    now = timezone.now()
    return _answers([_approval(approval_id)], actor_of(request), now)[0]


class ApproveIn(Schema):
    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=NOTE_MAX, description="Optional, kept with the decision.")


class RejectIn(Schema):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=NOTE_MAX, description="Why it is rejected.")


def _decided(action: Action) -> tuple[int, ActionOut]:
    return 200, action_answer(
        with_details(Action.objects.filter(pk=action.pk)).get(), timezone.now()
    )


@router.post(
    "/approvals/{approval_id}/approve",
    response={200: ActionOut},
    auth=staff("billing.approve_action"),
    operation_id="approve",
    summary="Approve a request (it then runs at once)",
    openapi_extra=_documented(*WRITE_ERRORS, replayed=True),
)
def approve(
    request: HttpRequest,
    approval_id: ObjectId,
    idempotency_key: IdempotencyKey,
    payload: Annotated[ApproveIn | None, Body(None)] = None,
) -> HttpResponse:
    """Approve someone else's request that your own limit covers; the action then runs, and
    the answer is the action as it stands (succeeded, or executing while Stripe is asked)."""
    user = actor_of(request)
    approval = _approval(approval_id)
    note = payload.note if payload else ""
    return idempotent(
        request,
        idempotency_key,
        lambda: _decided(actions.approve(approval_pk=approval.pk, approver=user, note=note)),
    )


@router.post(
    "/approvals/{approval_id}/reject",
    response={200: ActionOut},
    auth=staff("billing.approve_action"),
    operation_id="reject",
    summary="Reject a request, saying why",
    openapi_extra=_documented(*WRITE_ERRORS, replayed=True),
)
def reject(
    request: HttpRequest,
    approval_id: ObjectId,
    payload: RejectIn,
    idempotency_key: IdempotencyKey,
) -> HttpResponse:
    user = actor_of(request)
    approval = _approval(approval_id)
    return idempotent(
        request,
        idempotency_key,
        lambda: _decided(
            actions.reject(approval_pk=approval.pk, approver=user, reason=payload.reason)
        ),
    )


@router.post(
    "/approvals/{approval_id}/withdraw",
    response={200: ActionOut},
    auth=staff(policy.REQUEST),
    operation_id="withdraw",
    summary="Withdraw your own request",
    openapi_extra=_documented(*WRITE_ERRORS, replayed=True),
)
def withdraw(
    request: HttpRequest, approval_id: ObjectId, idempotency_key: IdempotencyKey
) -> HttpResponse:
    """Withdraw a request of yours that is still waiting for a decision."""
    user = actor_of(request)
    approval = _approval(approval_id)
    return idempotent(
        request,
        idempotency_key,
        lambda: _decided(actions.withdraw(approval_pk=approval.pk, requester=user)),
    )

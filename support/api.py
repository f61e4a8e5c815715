"""Tickets in the JSON API: the queue, one ticket with its notes, opening a ticket and adding
a note. Mounted on billing's API by support/apps.py (support sits above billing)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from pydantic import ConfigDict, StrictInt

from accounts.models import User
from billing.api.actions import TICKET_PATTERN, IdempotencyKey
from billing.api.auth import actor_of, staff
from billing.api.base import (
    OBJECT_ERRORS,
    READ_ERRORS,
    WRITE_ERRORS,
    Cursor,
    Limit,
    ObjectId,
    documented,
)
from billing.api.idempotency import idempotent
from billing.api.pagination import MAX_ID, Keyset
from billing.api.problems import Problem, not_found
from billing.api.schemas import StaffOut, staff_out
from billing.models import Customer, clean_ticket_ref
from support import services, timeline
from support.models import Note, Ticket, TicketStatus

router = Router(tags=["tickets"])
NEWEST = Keyset("created_at")


class TicketOut(Schema):
    id: int
    external_ref: str = Field(description="The helpdesk's key, e.g. ZD-48213.")
    subject: str
    customer_id: int | None
    requester_email: str
    status: str = Field(description="new, open, pending or solved")
    assignee: StaffOut | None
    created_at: dt.datetime
    solved_at: dt.datetime | None


class NoteOut(Schema):
    id: int
    ticket_id: int | None
    customer_id: int
    author: StaffOut
    body: str
    created_at: dt.datetime


class TicketDetailOut(TicketOut):
    notes: list[NoteOut]


class TicketPage(Schema):
    items: list[TicketOut]
    next: str | None


def ticket_out(ticket: Ticket) -> TicketOut:
    return TicketOut(
        id=ticket.pk,
        external_ref=ticket.external_ref,
        subject=ticket.subject,
        customer_id=ticket.customer_id,
        requester_email=ticket.requester_email,
        status=ticket.status,
        assignee=staff_out(ticket.assignee) if ticket.assignee else None,
        created_at=ticket.created_at,
        solved_at=ticket.solved_at,
    )


def note_out(note: Note) -> NoteOut:
    return NoteOut(
        id=note.pk,
        ticket_id=note.ticket_id,
        customer_id=note.customer_id,
        author=staff_out(note.author),
        body=note.body,
        created_at=note.created_at,
    )


def ticket_detail_out(ticket: Ticket) -> TicketDetailOut:
    notes = ticket.notes.select_related("author").order_by("-created_at", "-id")
    return TicketDetailOut(
        **ticket_out(ticket).model_dump(), notes=[note_out(note) for note in notes]
    )


class Assigned(StrEnum):
    ME = "me"
    UNASSIGNED = "unassigned"
    ANYONE = "anyone"


@router.get(
    "/tickets",
    response=TicketPage,
    auth=staff("support.view_ticket"),
    operation_id="list_tickets",
    summary="Tickets, newest first",
    openapi_extra=documented(*READ_ERRORS),
)
def list_tickets(
    request: HttpRequest,
    cursor: Cursor,
    limit: Limit,
    status: Annotated[TicketStatus | None, Query(None)],
    assigned: Annotated[Assigned, Query(Assigned.ANYONE, description="me, unassigned, anyone")],
    customer: Annotated[int | None, Query(None, ge=1, le=MAX_ID, description="A customer id.")],
    ref: Annotated[str | None, Query(None, max_length=64, description="e.g. ZD-48213")],
) -> TicketPage:
    rows = Ticket.objects.select_related("assignee")
    if status is not None:
        rows = rows.filter(status=status)
    if assigned == Assigned.ME:
        rows = rows.assigned_to(actor_of(request))
    elif assigned == Assigned.UNASSIGNED:
        rows = rows.unassigned()
    if customer is not None:
        rows = rows.filter(customer_id=customer)
    if ref:
        rows = rows.filter(external_ref=clean_ticket_ref(ref) or ref.strip())
    found, after = NEWEST.page(rows, cursor=cursor, limit=limit)
    return TicketPage(items=[ticket_out(ticket) for ticket in found], next=after)


def _ticket(ticket_id: int) -> Ticket:
    found = Ticket.objects.select_related("assignee").filter(pk=ticket_id).first()
    if found is None:
        raise not_found(f"ticket {ticket_id}")
    return found


@router.get(
    "/tickets/{ticket_id}",
    response=TicketDetailOut,
    auth=staff("support.view_ticket", "support.view_note"),
    operation_id="get_ticket",
    summary="A ticket and its notes",
    openapi_extra=documented(*OBJECT_ERRORS),
)
def get_ticket(request: HttpRequest, ticket_id: ObjectId) -> TicketDetailOut:
    return ticket_detail_out(_ticket(ticket_id))


class TicketIn(Schema):
    model_config = ConfigDict(extra="forbid")

    external_ref: str = Field(
        pattern=TICKET_PATTERN, description="The helpdesk's key, e.g. ZD-48213."
    )
    subject: str = Field(max_length=services.SUBJECT_MAX)
    requester_email: str = Field(max_length=254)
    customer_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)] | None = None
    assignee_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)] | None = Field(
        None, description="A staff member's id; the ticket is then open."
    )


@router.post(
    "/tickets",
    response={201: TicketOut},
    auth=staff("support.view_ticket", "support.work_ticket"),
    operation_id="create_ticket",
    summary="Open a ticket",
    openapi_extra=documented(*WRITE_ERRORS, replayed=True),
)
def create_ticket(
    request: HttpRequest, payload: TicketIn, idempotency_key: IdempotencyKey
) -> HttpResponse:
    user = actor_of(request)

    def write() -> tuple[int, TicketOut]:
        customer = None
        if payload.customer_id is not None:
            customer = Customer.objects.filter(pk=payload.customer_id).first()
            if customer is None:
                raise Problem(
                    "validation-error",
                    "Some fields are not valid; see errors.",
                    errors={"customer_id": f"No customer {payload.customer_id}."},
                )
        assignee = None
        if payload.assignee_id is not None:
            assignee = User.objects.filter(pk=payload.assignee_id).first()
            if assignee is None:
                raise Problem(
                    "validation-error",
                    "Some fields are not valid; see errors.",
                    errors={"assignee_id": f"No staff member {payload.assignee_id}."},
                )
        ticket = services.create_ticket(
            actor=user,
            external_ref=payload.external_ref,
            subject=payload.subject,
            requester_email=payload.requester_email,
            customer=customer,
            assignee=assignee,
            now=timezone.now(),
        )
        return 201, ticket_out(ticket)

    return idempotent(request, idempotency_key, write)


class NoteIn(Schema):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(max_length=services.NOTE_MAX)


@router.post(
    "/tickets/{ticket_id}/notes",
    response={201: NoteOut},
    auth=staff("support.view_ticket", "support.add_note"),
    operation_id="add_note",
    summary="Add a note to a ticket (on its customer)",
    openapi_extra=documented(*WRITE_ERRORS, replayed=True),
)
def add_note(
    request: HttpRequest,
    ticket_id: ObjectId,
    payload: NoteIn,
    idempotency_key: IdempotencyKey,
) -> HttpResponse:
    user = actor_of(request)
    ticket = _ticket(ticket_id)

    def write() -> tuple[int, NoteOut]:
        try:
            note = services.add_note(
                actor=user, ticket=ticket, body=payload.body, now=timezone.now()
            )
        except services.TicketWithoutCustomer as error:
            raise Problem("conflict", str(error)) from None
        return 201, note_out(Note.objects.select_related("author").get(pk=note.pk))

    return idempotent(request, idempotency_key, write)


# The customer timeline ------------------------------------------------------------------------


class TimelineKind(StrEnum):
    CHANGE = "change"
    ACTION = "action"
    APPROVAL = "approval"
    STRIPE = "stripe"
    TICKET = "ticket"
    NOTE = "note"


class FieldChangeOut(Schema):
    field: str
    old: str = Field(description="In people's words, as the screens show it.")
    new: str


class TimelineEntryOut(Schema):
    cursor: str = Field(description="Pass as `cursor` to continue after this entry.")
    at: dt.datetime
    kind: TimelineKind
    actor: str = Field(description='A username, or "Stripe" or "system".')
    actor_id: int | None
    title: str
    reason: str
    ticket: str
    object_type: str = Field(description="The record's kind, e.g. billing.payment.")
    object_id: int
    changes: list[FieldChangeOut]


class TimelinePage(Schema):
    items: list[TimelineEntryOut]
    next: str | None


@router.get(
    "/customers/{customer_id}/timeline",
    response=TimelinePage,
    auth=staff("billing.view_customer"),
    operation_id="customer_timeline",
    summary="A customer's timeline, newest first",
    tags=["customers"],
    openapi_extra=documented(*OBJECT_ERRORS),
)
def customer_timeline(
    request: HttpRequest,
    customer_id: ObjectId,
    cursor: Cursor,
    limit: Limit,
    kind: Annotated[list[TimelineKind] | None, Query(None, description="Only these kinds.")],
) -> TimelinePage:
    """What happened to the customer, as on their page: staff and system changes to their
    records (with what changed), actions and their state changes, approvals and decisions,
    Stripe events, tickets and notes; each with its actor, reason and ticket."""
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise not_found(f"customer {customer_id}")
    try:
        page = timeline.timeline(
            customer,
            before=cursor or None,
            kinds=[k.value for k in kind] if kind else None,
            size=limit,
        )
    except timeline.InvalidCursor as invalid:
        raise Problem(
            "validation-error",
            "Some parameters are not valid; see errors.",
            errors={"cursor": str(invalid)},
        ) from None
    return TimelinePage(
        items=[TimelineEntryOut(**entry.as_dict()) for entry in page.entries],
        next=page.next_cursor,
    )

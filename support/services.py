"""Writes to tickets and notes. Each takes the acting staff member, validates what it is given
(reporting every problem at once, by field) and owns its transaction and audit context."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts.audit import audited
from accounts.models import User
from billing.actions.justification import check_free_text
from billing.models import Customer, clean_ticket_ref
from support.models import Note, Ticket, TicketStatus

SUBJECT_MAX = 300
NOTE_MAX = 10_000
WORK_TICKETS = "support.work_ticket"


def create_ticket(
    *,
    actor: User,
    external_ref: str,
    subject: str,
    requester_email: str,
    customer: Customer | None,
    assignee: User | None = None,
    now: dt.datetime,
) -> Ticket:
    """A new ticket (status new), as the helpdesk names it (`external_ref`, e.g. ZD-48213)."""
    errors: dict[str, str] = {}
    ref = clean_ticket_ref(external_ref or "")
    if ref is None:
        errors["external_ref"] = "A helpdesk reference looks like ZD-48213."
    elif Ticket.objects.filter(external_ref=ref).exists():
        errors["external_ref"] = f"There is a ticket {ref} already."
    subject = (subject or "").strip()
    if not subject:
        errors["subject"] = "Give the ticket a subject."
    elif len(subject) > SUBJECT_MAX:
        errors["subject"] = f"Keep the subject under {SUBJECT_MAX} characters."
    else:
        check_free_text(subject, "subject", errors)
    requester_email = (requester_email or "").strip()
    try:
        validate_email(requester_email)
    except ValidationError:
        errors["requester_email"] = "Give the requester's email address."
    if assignee is not None and not assignee.is_active:
        errors["assignee_id"] = f"{assignee.username} is deactivated."
    if errors or ref is None:
        raise ValidationError(errors)
    with (
        transaction.atomic(durable=True),
        audited(actor=actor, reason=f"Ticket {ref} opened", ticket=ref),
    ):
        return Ticket.objects.create(
            external_ref=ref,
            subject=subject,
            customer=customer,
            requester_email=requester_email,
            status=TicketStatus.NEW if assignee is None else TicketStatus.OPEN,
            assignee=assignee,
            created_at=now,
        )


def add_note(*, actor: User, ticket: Ticket, body: str, now: dt.datetime) -> Note:
    """A note on the ticket's customer, under the ticket. No card numbers: we never store them."""
    errors: dict[str, str] = {}
    body = (body or "").strip()
    if not body:
        errors["body"] = "Write the note."
    elif len(body) > NOTE_MAX:
        errors["body"] = f"Keep the note under {NOTE_MAX:,} characters."
    else:
        check_free_text(body, "body", errors)
    if errors:
        raise ValidationError(errors)
    if ticket.customer_id is None:
        raise TicketWithoutCustomer(
            f"Ticket {ticket.external_ref} has no customer; notes are kept on a customer."
        )
    with (
        transaction.atomic(durable=True),
        audited(
            actor=actor, reason=f"Note on ticket {ticket.external_ref}", ticket=ticket.external_ref
        ),
    ):
        return Note.objects.create(
            customer_id=ticket.customer_id,
            ticket=ticket,
            author=actor,
            body=body,
            created_at=now,
        )


def may_work_tickets(user: User) -> bool:
    return user.is_active and user.has_perm(WORK_TICKETS)


def _check_worker(actor: User) -> None:
    if not may_work_tickets(actor):
        raise PermissionDenied("Your roles do not allow working tickets.")


def assign_ticket(
    *, actor: User, ticket: Ticket, assignee: User | None, now: dt.datetime
) -> Ticket:
    """Give the ticket to a staff member who works tickets, or to nobody. A new ticket given
    to someone is open from then on."""
    _check_worker(actor)
    if assignee is not None and not may_work_tickets(assignee):
        raise ValidationError({"assignee": f"{assignee.username} does not work tickets."})
    ref = ticket.external_ref
    to = assignee.username if assignee is not None else "nobody"
    with (
        transaction.atomic(durable=True),
        audited(actor=actor, reason=f"Ticket {ref} assigned to {to}", ticket=ref),
    ):
        # Locked: two people assigning at once end with one assignee and both in the history.
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        locked.assignee = assignee
        if assignee is not None and locked.status == TicketStatus.NEW:
            locked.status = TicketStatus.OPEN
        locked.save()
        return locked


def set_ticket_status(*, actor: User, ticket: Ticket, status: str, now: dt.datetime) -> Ticket:
    """Move the ticket to `status`; solved records when, reopening clears it."""
    _check_worker(actor)
    if status not in TicketStatus.values:
        raise ValidationError({"status": "Choose new, open, pending or solved."})
    ref = ticket.external_ref
    with (
        transaction.atomic(durable=True),
        audited(
            actor=actor,
            reason=f"Ticket {ref}: {TicketStatus(status).label.lower()}",
            ticket=ref,
        ),
    ):
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status == status:
            return locked
        locked.status = status
        locked.solved_at = now if status == TicketStatus.SOLVED else None
        locked.save()
        return locked


class TicketWithoutCustomer(Exception):
    """A note was asked for on a ticket that names no customer."""

"""Demo tickets and notes on the demo customers (their billing is seeded in Stripe, see
billing/demo.py, and mirrored)."""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction

from accounts.audit import audited
from accounts.models import User
from billing.demo import DEMO_REASON
from billing.models import Customer
from support.models import Note, Ticket, TicketStatus

TICKET_SUBJECTS = [
    "Charged twice this month",
    "Refund request for our annual plan",
    "Please add {n} seats before Monday",
    "Downgrade from Business to Team",
    "Card declined but we have funds",
    "Need an invoice with our VAT number",
    "Can we get a longer trial?",
    "Build minutes ran out during the CI outage",
    "Cancel at the end of the billing period",
    "Why did my bill go up?",
    "Pause our subscription over the summer",
    "SSO not enabled after upgrading",
]
NOTES = [
    "Customer confirmed by email that the duplicate charge was on the same card.",
    "Spoke to their finance lead; they prefer credits over refunds.",
    "Asked for a call next week about moving to annual billing.",
    "VIP account: escalate billing questions to finance.",
    "Card expired last month; customer says a new card is on the way.",
]


def seed_tickets(
    *, customers: list[Customer], staff: list[User], seed: int, now: dt.datetime
) -> tuple[int, int]:
    """Tickets (some new and unassigned, some worked, some solved) and notes. Returns counts."""
    rng = random.Random(seed)
    tickets = notes = 0
    reference = 48000
    with transaction.atomic(durable=True), audited(actor=None, reason=DEMO_REASON):
        for customer in customers:
            for _ in range(rng.choices([0, 1, 2, 3], weights=[60, 28, 9, 3])[0]):
                reference += rng.randint(1, 40)
                status = rng.choices(TicketStatus.values, weights=[15, 30, 15, 40])[0]
                opened = now - dt.timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23))
                assignee = None if status == TicketStatus.NEW else rng.choice(staff)
                ticket = Ticket.objects.create(
                    external_ref=f"ZD-{reference}",
                    subject=rng.choice(TICKET_SUBJECTS).format(n=rng.choice([3, 5, 10])),
                    customer=customer,
                    requester_email=customer.billing_email,
                    status=status,
                    assignee=assignee,
                    created_at=opened,
                    solved_at=opened + dt.timedelta(hours=rng.randint(1, 72))
                    if status == TicketStatus.SOLVED
                    else None,
                )
                tickets += 1
                if assignee is not None and rng.random() < 0.5:
                    Note.objects.create(
                        customer=customer,
                        ticket=ticket,
                        author=assignee,
                        body=rng.choice(NOTES),
                        created_at=opened + dt.timedelta(minutes=rng.randint(5, 600)),
                    )
                    notes += 1
    return tickets, notes

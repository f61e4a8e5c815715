"""The support side of the demo: one staff login per role, an `agent` (an automation, with an
API token instead of a password), tickets and notes on the demo customers (whose billing is
seeded in Stripe, see stripe_history.py, and mirrored), and a few staff actions taken through
the real money path."""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction

from accounts.audit import audited
from accounts.models import ApiToken, User
from accounts.roles import Role
from accounts.services import create_staff_user
from accounts.tokens import issue_token, revoke_token
from billing import actions
from billing.models import (
    Customer,
    Payment,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
)
from devtools.demo.catalog import DEMO_REASON
from support.models import Note, Ticket, TicketStatus

DEMO_PASSWORD = "billing-demo-2026"
DEMO_STAFF = {
    Role.SUPPORT: ("Sam", "Support"),
    Role.FINANCE: ("Fran", "Finance"),
    Role.ADMIN: ("Ada", "Admin"),
    Role.AUDITOR: ("Otto", "Auditor"),
}
AGENT = ("Ava", "Agent")
AGENT_TOKEN_NAME = "demo agent (printed at start)"
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


def ensure_staff() -> list[User]:
    """One staff member per role, named after it, with the demo password."""
    staff = []
    for role, (first, last) in DEMO_STAFF.items():
        user = User.objects.filter(username=role.value).first()
        if user is None:
            user = create_staff_user(
                actor=None,
                username=role.value,
                email=f"{role.value}@billing-admin.example",
                first_name=first,
                last_name=last,
                roles=[role],
                password=DEMO_PASSWORD,
                reason="Demo staff login",
            )
        elif not user.check_password(DEMO_PASSWORD):
            with (
                transaction.atomic(durable=True),
                audited(actor=None, reason="Demo staff login: password reset to the demo password"),
            ):
                user.set_password(DEMO_PASSWORD)
                user.save()
        staff.append(user)
    return staff


def ensure_agent() -> User:
    """The `agent` user: an automation that works through the API only, so no password."""
    agent = User.objects.filter(username=Role.AGENT.value).first()
    if agent is None:
        first, last = AGENT
        agent = create_staff_user(
            actor=None,
            username=Role.AGENT.value,
            email="agent@billing-admin.example",
            first_name=first,
            last_name=last,
            roles=[Role.AGENT],
            password=None,
            reason="Demo automation (API only)",
        )
    return agent


def agent_token(agent: User, *, now: dt.datetime) -> str:
    """A fresh API token for the agent, printed at each start (tokens are stored hashed, so
    the previous one cannot be shown again: it is revoked)."""
    for earlier in ApiToken.objects.usable(now).filter(user=agent, name=AGENT_TOKEN_NAME):
        revoke_token(actor=None, token=earlier, reason="demo restarted: a new token", now=now)
    _, value = issue_token(
        actor=None,
        user=agent,
        name=AGENT_TOKEN_NAME,
        read_only=False,
        expires_in_days=None,
        now=now,
        reason="Demo agent's API token, printed at start",
    )
    return value


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


def seed_actions(*, staff: dict[str, User], now: dt.datetime) -> list[str]:
    """A few staff actions taken through the real money path (so through Stripe): refunds and
    a credit done directly, and requests waiting in the approvals inbox. Returns what was done,
    in words."""
    done: list[str] = []
    support, finance = staff["support"], staff["finance"]
    tickets = (
        Ticket.objects.unsolved()
        .filter(customer__currency="usd", customer__payments__status=PaymentStatus.SUCCEEDED)
        .select_related("customer")
        .distinct()
        .order_by("pk")
    )

    def paid(ticket: Ticket, at_least: int) -> Payment | None:
        return (
            Payment.objects.filter(
                customer=ticket.customer, status=PaymentStatus.SUCCEEDED, amount_refunded=0
            )
            .filter(amount__gte=at_least)
            .order_by("-created")
            .first()
        )

    plan = [
        ("duplicate", support, 2_000, "Refunded a duplicate charge"),
        ("requested_by_customer", support, 15_000, "Asked for approval of a larger refund"),
        ("service_issue", finance, 40_000, "Refunded a service issue"),
    ]
    for ticket in tickets:
        if not plan:
            break
        reason, actor, amount, what = plan[0]
        payment = paid(ticket, amount)
        if payment is None:
            continue
        action = actions.request_refund(
            actor=actor,
            payment=payment,
            amount=amount,
            reason=reason,
            ticket=ticket.external_ref,
            note="",
            now=now,
        )
        plan.pop(0)
        done.append(f"{what} ({action.get_state_display().lower()}) under {ticket.external_ref}")
    credited = tickets.exclude(customer__actions__isnull=False).first()
    if credited is not None and credited.customer is not None:
        action = actions.request_credit(
            actor=finance,
            customer=credited.customer,
            amount=2_500,
            currency="usd",
            reason="service_outage",
            ticket=credited.external_ref,
            note="CI outage of the 3rd",
            now=now,
        )
        done.append(
            f"Credited $25.00 ({action.get_state_display().lower()}) under {credited.external_ref}"
        )
    team = (
        Subscription.objects.filter(
            status=SubscriptionStatus.ACTIVE, price__plan__per_seat=True, price__currency="usd"
        )
        .exclude(customer__tickets=None)
        .select_related("customer")
        .order_by("pk")
        .first()
    )
    if team is not None:
        latest = team.customer.tickets.order_by("-created_at").first()
        assert latest is not None  # the query above only picks customers with tickets
        action = actions.request_subscription_change(
            actor=support,
            subscription=team,
            change=actions.Change(change="seats", quantity=team.quantity + 5),
            reason="customer_request",
            ticket=latest.external_ref,
            note="",
            now=now,
        )
        done.append(
            f"Asked for 5 more seats for {team.customer.name} "
            f"({action.get_state_display().lower()})"
        )
    return done

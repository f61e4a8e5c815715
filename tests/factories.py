"""Test data: small functions that create rows the way the app does (with an audit reason),
and fixtures for one staff member per role."""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import string

import pytest
from django.db import connection
from django.utils import timezone

from accounts.audit import audited
from accounts.models import User
from accounts.roles import Role
from accounts.services import create_staff_user
from billing.models import (
    BalanceTransaction,
    Customer,
    CustomerKind,
    Feature,
    Interval,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Plan,
    PlanEntitlement,
    Price,
    Subscription,
    SubscriptionStatus,
)
from support.models import Ticket

PASSWORD = "correct horse battery staple"
TEST_REASON = "test set-up"
_numbers = itertools.count(1)

__all__ = [
    "PASSWORD",
    "admin_user",
    "agent_user",
    "auditor_user",
    "finance_user",
    "make_customer",
    "make_invoice",
    "make_payment",
    "make_price",
    "make_staff",
    "make_subscription",
    "make_ticket",
    "support_user",
]


def fake_stripe_id(prefix: str) -> str:
    """A Stripe-shaped id for rows made locally in tests (they exist in no Stripe account)."""
    alphabet = string.ascii_letters + string.digits
    return f"{prefix}_{''.join(secrets.choice(alphabet) for _ in range(24))}"


def make_staff(*roles: Role, username: str | None = None) -> User:
    name = username or f"{'-'.join(roles) or 'norole'}-{next(_numbers)}"
    return create_staff_user(
        actor=None,
        username=name,
        email=f"{name}@example.com",
        first_name=name.split("-")[0].title(),
        roles=list(roles),
        password=PASSWORD,
        reason=TEST_REASON,
    )


@pytest.fixture
def support_user(db) -> User:
    return make_staff(Role.SUPPORT, username="sam")


@pytest.fixture
def finance_user(db) -> User:
    return make_staff(Role.FINANCE, username="fran")


@pytest.fixture
def admin_user(db) -> User:
    return make_staff(Role.ADMIN, username="ada")


@pytest.fixture
def auditor_user(db) -> User:
    return make_staff(Role.AUDITOR, username="otto")


@pytest.fixture
def agent_user(db) -> User:
    """An automation: requests everything, through the API, and decides nothing."""
    return make_staff(Role.AGENT, username="ava")


def make_customer(**fields) -> Customer:
    number = next(_numbers)
    values = {
        "kind": CustomerKind.ORGANIZATION,
        "name": f"Acme Robotics {number}",
        "handle": f"acme-robotics-{number}",
        "billing_email": f"billing@acme{number}.io",
        "email_domain": f"acme{number}.io",
        "country": "US",
        "currency": "usd",
        "stripe_customer_id": fake_stripe_id("cus"),
        "created": timezone.now() - dt.timedelta(days=400),
    }
    values.update(fields)
    with audited(actor=None, reason=TEST_REASON):
        return Customer.objects.create(**values)


def make_price(
    *,
    code: str = "team",
    per_seat: bool = True,
    amount: int = 1200,
    currency: str = "usd",
    interval: str = Interval.MONTH,
) -> Price:
    with audited(actor=None, reason=TEST_REASON):
        plan, created = Plan.objects.get_or_create(
            code=code, defaults={"name": code.title(), "per_seat": per_seat}
        )
        if created:
            PlanEntitlement.objects.create(plan=plan, feature=Feature.BUILD_MINUTES, value="10000")
            PlanEntitlement.objects.create(plan=plan, feature=Feature.SSO, value="false")
        return Price.objects.create(
            plan=plan,
            interval=interval,
            unit_amount=amount,
            currency=currency,
            stripe_price_id=fake_stripe_id("price"),
        )


def make_subscription(
    customer: Customer,
    *,
    price: Price | None = None,
    quantity: int = 5,
    status: str = SubscriptionStatus.ACTIVE,
) -> Subscription:
    price = price or make_price(currency=customer.currency)
    now = timezone.now()
    with audited(actor=None, reason=TEST_REASON):
        return Subscription.objects.create(
            stripe_subscription_id=fake_stripe_id("sub"),
            customer=customer,
            price=price,
            status=status,
            quantity=quantity,
            current_period_start=now - dt.timedelta(days=10),
            current_period_end=now + dt.timedelta(days=20),
            created=now - dt.timedelta(days=100),
        )


def make_invoice(
    customer: Customer,
    *,
    amount: int = 6000,
    status: str = InvoiceStatus.PAID,
    number: str | None = None,
) -> Invoice:
    now = timezone.now()
    paid = status == InvoiceStatus.PAID
    with audited(actor=None, reason=TEST_REASON):
        return Invoice.objects.create(
            stripe_invoice_id=fake_stripe_id("in"),
            customer=customer,
            number=number or f"TEST-{next(_numbers):05d}",
            status=status,
            currency=customer.currency,
            subtotal=amount,
            total=amount,
            amount_due=amount,
            amount_paid=amount if paid else 0,
            amount_remaining=0 if paid else amount,
            period_start=now - dt.timedelta(days=30),
            period_end=now,
            service_period_start=now - dt.timedelta(days=30),
            service_period_end=now,
            created=now - dt.timedelta(days=30),
        )


def make_payment(
    customer: Customer,
    *,
    amount: int = 6000,
    amount_refunded: int = 0,
    status: str = PaymentStatus.SUCCEEDED,
    invoice: Invoice | None = None,
    card_last4: str = "4242",
) -> Payment:
    with audited(actor=None, reason=TEST_REASON):
        return Payment.objects.create(
            stripe_payment_intent_id=fake_stripe_id("pi"),
            stripe_charge_id=fake_stripe_id("ch"),
            customer=customer,
            invoice=invoice,
            amount=amount,
            amount_refunded=amount_refunded,
            currency=customer.currency,
            status=status,
            card_brand="visa",
            card_last4=card_last4,
            created=timezone.now() - dt.timedelta(days=3),
        )


def make_credit(
    customer: Customer, *, amount: int = 2000, created: dt.datetime | None = None
) -> BalanceTransaction:
    """A balance credit of `amount` (minor units) in the customer's currency: negative in the
    ledger, as Stripe writes credit, and the balance after it the same."""
    with audited(actor=None, reason=TEST_REASON):
        return BalanceTransaction.objects.create(
            customer=customer,
            stripe_balance_transaction_id=fake_stripe_id("cbtxn"),
            amount=-amount,
            currency=customer.currency,
            ending_balance=-amount,
            created=created or timezone.now(),
        )


def make_ticket(
    customer: Customer | None,
    *,
    ref: str | None = None,
    assignee: User | None = None,
    status: str = "open",
) -> Ticket:
    with audited(actor=None, reason=TEST_REASON):
        return Ticket.objects.create(
            external_ref=ref or f"ZD-{40000 + next(_numbers)}",
            subject="Charged twice this month",
            customer=customer,
            requester_email=customer.billing_email if customer else "someone@example.com",
            status=status,
            assignee=assignee,
            created_at=timezone.now() - dt.timedelta(hours=5),
            solved_at=timezone.now() if status == "solved" else None,
        )


def page_revisions_committed() -> None:
    """Apply the customer page revisions this test's transaction has noted, as its commit
    would (billing.page_revisions applies them in a deferred trigger): a test's transaction
    never commits, and a page viewed inside a transaction with writes of its own is not kept."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")

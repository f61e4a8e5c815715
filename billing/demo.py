"""Demo data: a developer-tools company's plans, customers, invoices, payments and credits.

`PLANS` and `customer_profiles()` describe the data (deterministic for a seed);
`seed_local()` writes it straight into the local database. Every write carries the audit
reason "Demo data", so the history shows where the rows came from. Tickets and notes are the
support app's part of the demo (support/demo.py).
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import string
from dataclasses import dataclass, field

from django.db import transaction

from accounts.audit import audited
from billing.models import (
    BalanceTransaction,
    Customer,
    CustomerKind,
    CustomerStatus,
    Feature,
    Interval,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Plan,
    PlanEntitlement,
    Price,
    Refund,
    RefundReason,
    RefundStatus,
    Subscription,
    SubscriptionStatus,
)

DEMO_REASON = "Demo data"


@dataclass(frozen=True)
class PlanSpec:
    code: str
    name: str
    description: str
    per_seat: bool
    monthly: dict[str, int]  # currency → unit amount in minor units, per month
    entitlements: dict[str, str]


# Annual prices are ten months' worth: two months free, as most SaaS companies do.
PLANS = [
    PlanSpec(
        "free",
        "Free",
        "Public repositories and a taste of CI",
        False,
        {"usd": 0, "eur": 0, "gbp": 0, "jpy": 0},
        {
            Feature.PRIVATE_REPOS: "3",
            Feature.BUILD_MINUTES: "500",
            Feature.CONCURRENT_BUILDS: "1",
            Feature.SSO: "false",
        },
    ),
    PlanSpec(
        "personal",
        "Personal Pro",
        "For one developer",
        False,
        {"usd": 700, "eur": 700, "gbp": 600, "jpy": 1000},
        {
            Feature.PRIVATE_REPOS: "unlimited",
            Feature.BUILD_MINUTES: "3000",
            Feature.CONCURRENT_BUILDS: "2",
            Feature.SSO: "false",
        },
    ),
    PlanSpec(
        "team",
        "Team",
        "Per seat, for small teams",
        True,
        {"usd": 1200, "eur": 1100, "gbp": 1000, "jpy": 1700},
        {
            Feature.PRIVATE_REPOS: "unlimited",
            Feature.BUILD_MINUTES: "10000",
            Feature.CONCURRENT_BUILDS: "5",
            Feature.SSO: "false",
        },
    ),
    PlanSpec(
        "business",
        "Business",
        "Per seat, with SAML SSO",
        True,
        {"usd": 3900, "eur": 3600, "gbp": 3200, "jpy": 5500},
        {
            Feature.PRIVATE_REPOS: "unlimited",
            Feature.BUILD_MINUTES: "50000",
            Feature.CONCURRENT_BUILDS: "20",
            Feature.SSO: "true",
        },
    ),
]
PLANS_BY_CODE = {plan.code: plan for plan in PLANS}

COUNTRIES = [
    # country, currency, weight
    ("US", "usd", 40),
    ("CA", "usd", 5),
    ("GB", "gbp", 10),
    ("DE", "eur", 9),
    ("FR", "eur", 6),
    ("NL", "eur", 4),
    ("ES", "eur", 3),
    ("SE", "eur", 2),
    ("JP", "jpy", 6),
    ("IN", "usd", 6),
    ("BR", "usd", 4),
    ("AU", "usd", 5),
]
FIRST_NAMES = (
    "Ada Alan Grace Linus Margaret Ken Barbara Dennis Frances Edsger Radia Guido Yukihiro "
    "Anders Sophie Hedy Katherine Tim Jean Donald Niklaus Bjarne Rasmus Sara Priya Mateo Aiko "
    "Lars Chloe Omar Ingrid Tomás Mei Kwame Elena Rohan Hana Felix Amara Jonas Lucía Yuki"
).split()
LAST_NAMES = (
    "Lovelace Turing Hopper Torvalds Hamilton Thompson Liskov Ritchie Allen Dijkstra Perlman "
    "Rossum Matsumoto Hejlsberg Wilson Lamarr Johnson Berners-Lee Bartik Knuth Wirth Stroustrup "
    "Lerdorf Okafor Nakamura García Müller Schmidt Dubois Rossi Novak Svensson Tanaka Patel Silva"
).split()
COMPANY_WORDS = (
    "Acme Northwind Globex Initech Umbrella Hooli Vandelay Stark Wayne Tyrell Cyberdyne Soylent "
    "Aperture Massive Dynamic Wonka Gringotts Oscorp Pied Piper Bluth Prestige Monarch Sirius "
    "Blue Harbor Red Maple Quantum Kestrel Lumen Orbit Cobalt Juniper Basalt Tidal Nimbus Vertex"
).split()
COMPANY_SUFFIXES = (
    "Labs Robotics Systems Software Analytics Cloud Studio Health Logistics Games".split()
)
PERSONAL_MAIL = ["gmail.com", "fastmail.com", "proton.me", "outlook.com", "icloud.com"]


@dataclass
class PaymentSpec:
    amount: int
    succeeded: bool
    card_brand: str
    card_last4: str
    failure_code: str = ""
    refunds: list[int] = field(default_factory=list)


@dataclass
class InvoiceSpec:
    period_start: dt.datetime
    period_end: dt.datetime
    amount: int
    status: str
    payments: list[PaymentSpec]


@dataclass
class CustomerSpec:
    kind: str
    name: str
    handle: str
    email: str
    country: str
    currency: str
    created: dt.datetime
    plan_code: str
    interval: str
    seats: int
    status: str
    subscription_status: str
    trial_end: dt.datetime | None
    cancel_at_period_end: bool
    paused: bool
    invoices: list[InvoiceSpec]
    credits: list[tuple[int, str, dt.datetime]]  # amount (negative: credit), description, when


def _weighted(rng: random.Random, options: list[tuple]) -> tuple:
    return rng.choices(options, weights=[option[-1] for option in options])[0]


def _slug(text: str) -> str:
    allowed = string.ascii_lowercase + string.digits + "-"
    slug = "".join(c if c in allowed else "-" for c in text.lower().replace(" ", "-"))
    return "-".join(part for part in slug.split("-") if part)


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, 28)
    return moment.replace(year=year, month=month, day=day)


CARDS = [
    ("visa", "4242", 55),
    ("mastercard", "4444", 25),
    ("amex", "8431", 12),
    ("discover", "1117", 8),
]
DECLINES = ["card_declined", "insufficient_funds", "expired_card", "incorrect_cvc"]


def customer_profiles(count: int, *, seed: int, now: dt.datetime) -> list[CustomerSpec]:
    """`count` varied customers: free, personal, team and business; monthly and annual;
    trials, past-due accounts, cancellations, pauses, refunds and credits."""
    rng = random.Random(seed)
    handles: set[str] = set()
    profiles = []
    for _ in range(count):
        plan_code = rng.choices(["free", "personal", "team", "business"], weights=[30, 30, 28, 12])[
            0
        ]
        country, currency, _ = _weighted(rng, COUNTRIES)
        if plan_code in ("free", "personal"):
            kind = CustomerKind.PERSONAL
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            name = f"{first} {last}"
            base_handle = (
                _slug(f"{first}{last[0]}") if rng.random() < 0.5 else _slug(f"{first}-{last}")
            )
            domain = rng.choice(PERSONAL_MAIL)
            email_local = _slug(f"{first}.{last}").replace("-", ".")
        else:
            kind = CustomerKind.ORGANIZATION
            name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}"
            base_handle = _slug(name)
            domain = f"{base_handle.replace('-', '')}.{rng.choice(['com', 'io', 'dev', 'co'])}"
            email_local = rng.choice(["billing", "finance", "accounts", "ap"])
        handle = base_handle
        suffix = 2
        while handle in handles:
            handle = f"{base_handle}-{suffix}"
            suffix += 1
        handles.add(handle)
        if handle != base_handle and kind == CustomerKind.ORGANIZATION:
            domain = f"{handle.replace('-', '')}.com"
        interval = Interval.YEAR if rng.random() < 0.35 else Interval.MONTH
        months_old = rng.randint(1, 30)
        created = now - dt.timedelta(
            days=30 * months_old + rng.randint(0, 29), minutes=rng.randint(0, 1439)
        )
        seats = (
            rng.choice([3, 5, 8, 12, 20, 35, 60, 120]) if plan_code in ("team", "business") else 1
        )
        price_amount = PLANS_BY_CODE[plan_code].monthly[currency]
        period_amount = price_amount * seats * (10 if interval == Interval.YEAR else 1)

        status = CustomerStatus.ACTIVE
        subscription_status = SubscriptionStatus.ACTIVE
        trial_end = None
        cancel_at_period_end = False
        paused = False
        roll = rng.random()
        if plan_code in ("team", "business") and roll < 0.12:
            subscription_status = SubscriptionStatus.TRIALING
            created = now - dt.timedelta(days=rng.randint(1, 13))
            trial_end = created + dt.timedelta(days=14)
        elif plan_code != "free" and roll < 0.22:
            subscription_status = SubscriptionStatus.PAST_DUE
            status = CustomerStatus.DELINQUENT
        elif plan_code != "free" and roll < 0.28:
            subscription_status = SubscriptionStatus.CANCELED
        elif plan_code != "free" and roll < 0.31:
            paused = True
        elif plan_code != "free" and roll < 0.38:
            cancel_at_period_end = True

        invoices: list[InvoiceSpec] = []
        if plan_code != "free" and subscription_status != SubscriptionStatus.TRIALING:
            step = 12 if interval == Interval.YEAR else 1
            start = created
            while start < now:
                end = _add_months(start, step)
                is_last = end >= now
                brand, last4, _ = _weighted(rng, CARDS)
                payments = []
                invoice_status = InvoiceStatus.PAID
                if is_last and subscription_status == SubscriptionStatus.PAST_DUE:
                    for _attempt in range(rng.randint(1, 3)):
                        payments.append(
                            PaymentSpec(period_amount, False, brand, last4, rng.choice(DECLINES))
                        )
                    invoice_status = InvoiceStatus.OPEN
                else:
                    if rng.random() < 0.08:
                        payments.append(
                            PaymentSpec(period_amount, False, brand, last4, rng.choice(DECLINES))
                        )
                    paid = PaymentSpec(period_amount, True, brand, last4)
                    refund_roll = rng.random()
                    if refund_roll < 0.04:
                        paid.refunds.append(period_amount)
                    elif refund_roll < 0.10:
                        paid.refunds.append(max(1, period_amount // rng.choice([2, 4, 10])))
                    payments.append(paid)
                invoices.append(InvoiceSpec(start, end, period_amount, invoice_status, payments))
                if subscription_status == SubscriptionStatus.CANCELED and rng.random() < 0.3:
                    break
                start = end

        credits = []
        if plan_code != "free" and rng.random() < 0.12:
            # $5 to $50, €5 to €50, ¥500 to ¥5,000: whole units of the currency's display.
            amount = -rng.choice([5, 10, 25, 50]) * 100
            when = now - dt.timedelta(days=rng.randint(1, 90))
            credits.append(
                (amount, rng.choice(["Goodwill credit", "Outage credit (CI incident)"]), when)
            )

        profiles.append(
            CustomerSpec(
                kind=kind,
                name=name,
                handle=handle,
                email=f"{email_local}@{domain}",
                country=country,
                currency=currency,
                created=created,
                plan_code=plan_code,
                interval=interval,
                seats=seats,
                status=status,
                subscription_status=subscription_status,
                trial_end=trial_end,
                cancel_at_period_end=cancel_at_period_end,
                paused=paused,
                invoices=invoices,
                credits=credits,
            )
        )
    return profiles


def fake_stripe_id(prefix: str) -> str:
    """A Stripe-shaped id for locally seeded rows (they exist in no Stripe account)."""
    alphabet = string.ascii_letters + string.digits
    return f"{prefix}_{''.join(secrets.choice(alphabet) for _ in range(24))}"


@dataclass
class SeedSummary:
    customers: int = 0
    subscriptions: int = 0
    invoices: int = 0
    payments: int = 0
    failed_payments: int = 0
    refunds: int = 0
    credits: int = 0


def seed_catalog() -> dict[tuple[str, str, str], Price]:
    """Create the plans, prices and entitlements; return prices by (plan, interval, currency)."""
    prices = {}
    for spec in PLANS:
        plan = Plan.objects.create(
            code=spec.code,
            name=spec.name,
            description=spec.description,
            per_seat=spec.per_seat,
            stripe_product_id=fake_stripe_id("prod"),
        )
        for feature, value in spec.entitlements.items():
            PlanEntitlement.objects.create(plan=plan, feature=feature, value=value)
        for currency, monthly in spec.monthly.items():
            for interval, multiplier in ((Interval.MONTH, 1), (Interval.YEAR, 10)):
                prices[spec.code, interval, currency] = Price.objects.create(
                    plan=plan,
                    interval=interval,
                    currency=currency,
                    unit_amount=monthly * multiplier,
                    stripe_price_id=fake_stripe_id("price"),
                )
    return prices


def seed_local(
    *, profiles: list[CustomerSpec], now: dt.datetime
) -> tuple[SeedSummary, list[Customer]]:
    """Write the catalog and `profiles` to the local database in one transaction."""
    summary = SeedSummary()
    seeded: list[Customer] = []
    rng = random.Random(len(profiles))
    invoice_prefix = "".join(rng.choice(string.ascii_uppercase) for _ in range(4))
    invoice_number = 0
    with transaction.atomic(durable=True), audited(actor=None, reason=DEMO_REASON):
        prices = seed_catalog()
        for spec in profiles:
            has_stripe = spec.plan_code != "free"
            customer = Customer.objects.create(
                kind=spec.kind,
                name=spec.name,
                handle=spec.handle,
                billing_email=spec.email,
                email_domain=spec.email.split("@")[1],
                country=spec.country,
                currency=spec.currency,
                stripe_customer_id=fake_stripe_id("cus") if has_stripe else None,
                status=spec.status,
                created=spec.created,
            )
            summary.customers += 1
            price = prices[spec.plan_code, spec.interval, spec.currency]
            if spec.invoices:
                period_start, period_end = (
                    spec.invoices[-1].period_start,
                    spec.invoices[-1].period_end,
                )
            else:
                period_start = spec.created
                period_end = _add_months(spec.created, 12 if spec.interval == Interval.YEAR else 1)
                while period_end < now:
                    period_start, period_end = period_end, _add_months(period_end, 1)
            canceled = spec.subscription_status == SubscriptionStatus.CANCELED
            subscription = Subscription.objects.create(
                stripe_subscription_id=fake_stripe_id("sub"),
                customer=customer,
                price=price,
                status=spec.subscription_status,
                quantity=spec.seats,
                trial_start=spec.created if spec.trial_end else None,
                trial_end=spec.trial_end,
                current_period_start=spec.created if spec.trial_end else period_start,
                current_period_end=spec.trial_end or period_end,
                cancel_at_period_end=spec.cancel_at_period_end,
                canceled_at=period_end if canceled else None,
                ended_at=period_end if canceled else None,
                pause_behavior="void" if spec.paused else "",
                created=spec.created,
            )
            summary.subscriptions += 1
            for invoice_spec in spec.invoices:
                invoice_number += 1
                paid = invoice_spec.status == InvoiceStatus.PAID
                invoice = Invoice.objects.create(
                    stripe_invoice_id=fake_stripe_id("in"),
                    customer=customer,
                    subscription=subscription,
                    number=f"{invoice_prefix}-{invoice_number:05d}",
                    status=invoice_spec.status,
                    currency=spec.currency,
                    subtotal=invoice_spec.amount,
                    total=invoice_spec.amount,
                    amount_due=invoice_spec.amount,
                    amount_paid=invoice_spec.amount if paid else 0,
                    amount_remaining=0 if paid else invoice_spec.amount,
                    period_start=invoice_spec.period_start,
                    period_end=invoice_spec.period_end,
                    created=invoice_spec.period_start,
                    finalized_at=invoice_spec.period_start,
                    paid_at=invoice_spec.period_start + dt.timedelta(hours=1) if paid else None,
                    hosted_invoice_url=f"https://invoice.stripe.com/i/{fake_stripe_id('acct')}",
                )
                summary.invoices += 1
                for attempt, payment_spec in enumerate(invoice_spec.payments):
                    created = invoice_spec.period_start + dt.timedelta(hours=1, days=attempt * 3)
                    refunded = sum(payment_spec.refunds)
                    payment = Payment.objects.create(
                        stripe_payment_intent_id=fake_stripe_id("pi"),
                        stripe_charge_id=fake_stripe_id("ch"),
                        customer=customer,
                        invoice=invoice,
                        amount=payment_spec.amount,
                        amount_refunded=refunded,
                        currency=spec.currency,
                        status=PaymentStatus.SUCCEEDED
                        if payment_spec.succeeded
                        else PaymentStatus.FAILED,
                        card_brand=payment_spec.card_brand,
                        card_last4=payment_spec.card_last4,
                        failure_code=payment_spec.failure_code,
                        failure_message=_failure_message(payment_spec.failure_code),
                        created=created,
                    )
                    summary.payments += 1
                    summary.failed_payments += not payment_spec.succeeded
                    for amount in payment_spec.refunds:
                        Refund.objects.create(
                            payment=payment,
                            stripe_refund_id=fake_stripe_id("re"),
                            amount=amount,
                            currency=spec.currency,
                            status=RefundStatus.SUCCEEDED,
                            reason=RefundReason.REQUESTED_BY_CUSTOMER,
                            created=min(now, created + dt.timedelta(days=5)),
                        )
                        summary.refunds += 1
            balance = 0
            for amount, description, when in spec.credits:
                balance += amount
                BalanceTransaction.objects.create(
                    customer=customer,
                    stripe_balance_transaction_id=fake_stripe_id("cbtxn"),
                    amount=amount,
                    currency=spec.currency,
                    description=description,
                    ending_balance=balance,
                    created=when,
                )
                summary.credits += 1
            seeded.append(customer)
    return summary, seeded


def _failure_message(code: str) -> str:
    return {
        "": "",
        "card_declined": "Your card was declined.",
        "insufficient_funds": "Your card has insufficient funds.",
        "expired_card": "Your card has expired.",
        "incorrect_cvc": "Your card's security code is incorrect.",
    }[code]

"""The demo account's catalog and customers: a developer-tools company's plans, coupons and a
few hundred customers described as data (deterministic for a seed).

`PLANS` and `COUPONS` are what the account sells; `customer_profiles()` says who signed up when,
on which plan, and what happened to them since (renewals, failed payments, refunds, credits,
cancellations, pauses). devtools/demo/stripe_history.py makes it happen in the Stripe emulator.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from dataclasses import dataclass, field

from billing.models import CustomerKind, CustomerStatus, Feature, Interval, SubscriptionStatus

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
ANNUAL_MONTHS = 10

# Coupons of the demo account: code → (name, Stripe coupon parameters).
COUPONS = {
    "launch": (
        "Launch offer: 20% off for 3 months",
        {"percent_off": 20, "duration": "repeating", "duration_in_months": 3},
    ),
    "nonprofit": ("Non-profit: 50% off", {"percent_off": 50, "duration": "forever"}),
}

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

# Stripe's test cards: the ones that pay (token, weight), and the ones that decline.
CARDS = [("pm_card_visa", 55), ("pm_card_mastercard", 30), ("pm_card_amex", 15)]
DECLINING_CARDS = ["pm_card_chargeDeclined", "pm_card_chargeDeclinedInsufficientFunds"]
# A card that can be attached but fails every charge: what a past-due customer ends up with.
FAILING_CARD = "pm_card_chargeCustomerFail"


@dataclass
class PaymentSpec:
    amount: int
    succeeded: bool
    decline_card: str = ""  # the test card that declined, for a failed attempt
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
    card: str = "pm_card_visa"
    started_with_trial: bool = False  # a 14-day trial before the first paid period
    coupon: str = ""  # a key of COUPONS
    seats_at_signup: int = 1  # fewer than `seats` when the team grew later
    seats_grew_in_period: int = 0  # the billing period (1, 2, ...) in which it grew

    @property
    def email_domain(self) -> str:
        return self.email.split("@")[1]


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


def customer_profiles(count: int, *, seed: int, now: dt.datetime) -> list[CustomerSpec]:
    """`count` varied customers: free, personal, team and business; monthly and annual;
    trials, past-due accounts, cancellations, pauses, refunds, credits and discounts.

    Each customer draws from its own generator (seeded by `seed` and its position), so who is
    on which plan in which state does not depend on the calendar, only the dates do.
    """
    handles: set[str] = set()
    return [_profile(random.Random(f"{seed}:{index}"), handles, now=now) for index in range(count)]


def _profile(rng: random.Random, handles: set[str], *, now: dt.datetime) -> CustomerSpec:
    plan_code = rng.choices(["free", "personal", "team", "business"], weights=[30, 30, 28, 12])[0]
    country, currency, _ = _weighted(rng, COUNTRIES)
    if plan_code in ("free", "personal"):
        kind = CustomerKind.PERSONAL
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        name = f"{first} {last}"
        base_handle = _slug(f"{first}{last[0]}") if rng.random() < 0.5 else _slug(f"{first}-{last}")
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
    seats = rng.choice([3, 5, 8, 12, 20, 35, 60, 120]) if plan_code in ("team", "business") else 1
    price_amount = PLANS_BY_CODE[plan_code].monthly[currency]
    period_amount = price_amount * seats * (ANNUAL_MONTHS if interval == Interval.YEAR else 1)
    card = _weighted(rng, CARDS)[0]

    status = CustomerStatus.ACTIVE
    subscription_status = SubscriptionStatus.ACTIVE
    trial_end = None
    cancel_at_period_end = False
    paused = False
    roll = rng.random()
    if plan_code in ("team", "business") and roll < 0.12:
        subscription_status = SubscriptionStatus.TRIALING
        created = now - dt.timedelta(days=rng.randint(1, 13), minutes=rng.randint(0, 1439))
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
            payments = []
            invoice_status = "paid"
            if is_last and subscription_status == SubscriptionStatus.PAST_DUE:
                for _attempt in range(rng.randint(1, 3)):
                    payments.append(PaymentSpec(period_amount, False, FAILING_CARD))
                invoice_status = "open"
            else:
                if rng.random() < 0.08:
                    payments.append(PaymentSpec(period_amount, False, rng.choice(DECLINING_CARDS)))
                paid = PaymentSpec(period_amount, True)
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

    # Drawn last, so that adding them did not change the customers drawn above.
    started_with_trial = (
        plan_code in ("team", "business")
        and subscription_status != SubscriptionStatus.TRIALING
        and rng.random() < 0.3
    )
    coupon = ""
    coupon_roll = rng.random()
    if plan_code in ("team", "business") and coupon_roll < 0.06:
        coupon = "nonprofit"
    elif plan_code != "free" and coupon_roll < 0.12:
        coupon = "launch"
    seats_at_signup, seats_grew_in_period = seats, 0
    if plan_code in ("team", "business") and len(invoices) >= 4 and rng.random() < 0.25:
        seats_at_signup = max(1, seats * 2 // 3)
        seats_grew_in_period = rng.randint(1, len(invoices) - 2)

    return CustomerSpec(
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
        card=card,
        started_with_trial=started_with_trial,
        coupon=coupon,
        seats_at_signup=seats_at_signup,
        seats_grew_in_period=seats_grew_in_period,
    )

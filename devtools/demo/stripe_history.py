"""The demo account's history, built in the Stripe emulator as it would have happened.

With the emulator's clock frozen about 30 months back, `seed_stripe()` creates the catalog, then
walks forward in time signing customers up, switching cards, refunding, crediting and
cancelling, while the clock's renewals create the invoices and payments between those moments.
The local mirror is then filled from Stripe like any other account (billing's backfill);
nothing here writes to the database.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import heapq
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from billing.models import Interval, SubscriptionStatus
from billing.stripe import gateway
from devtools import stripe_client
from devtools.demo.catalog import (
    ANNUAL_MONTHS,
    COUPONS,
    FAILING_CARD,
    PLANS,
    PLANS_BY_CODE,
    CustomerSpec,
)

DAY = 86_400

# Seeding the Stripe emulator ----------------------------------------------------------------


class EmulatorClock(Protocol):
    """What the seeding needs of a running emulator besides its API (an EmulatorHandle)."""

    def now(self) -> int: ...

    def set_clock(self, timestamp: int, *, frozen: bool | None = None) -> None: ...

    def advance_clock_to(self, timestamp: int) -> int: ...

    def drain_webhooks(self) -> list[dict[str, Any]]: ...


@dataclass
class StripeSeed:
    """What seed_stripe made, for the demo's summary and its live changes."""

    customers: int = 0
    subscriptions: int = 0
    refunds: int = 0
    credits: int = 0
    card_switches: int = 0
    prices: dict[tuple[str, str, str], str] = field(default_factory=dict)  # → price id
    # A customer whose renewal falls due just after seeding, on a card that fails: the demo
    # lets it happen live, so the failure reaches the app through webhooks.
    live_renewal_customer: str = ""


def _months_after(anchor: int, months: int) -> int:
    """Stripe's monthly period boundary: the anchor's day of month, clamped to the month's
    last day, at the anchor's time of day (UTC)."""
    start = dt.datetime.fromtimestamp(anchor, dt.UTC)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def _boundaries(anchor: int, interval: str, before: int) -> list[int]:
    """Every period start from `anchor` up to (not including) `before`."""
    step = 12 if interval == Interval.YEAR else 1
    found: list[int] = []
    while (boundary := _months_after(anchor, len(found) * step)) < before:
        found.append(boundary)
    return found


def _between(rng: random.Random, start: int, end: int) -> int:
    """A moment well inside [start, end)."""
    return start + int((end - start) * rng.uniform(0.2, 0.8))


@dataclass
class _Account:
    """One demo customer as the walk learns it from Stripe."""

    spec: CustomerSpec
    number: int
    customer_id: str = ""
    subscription_id: str = ""
    item_id: str = ""


class _Walk:
    """Things to do at moments in the past, done in time order while the clock advances."""

    def __init__(self, clock: EmulatorClock) -> None:
        self.clock = clock
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self.done = 0

    def at(self, when: int, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._order), action))

    def run(self, until: int, *, progress: Callable[[int], None] | None = None) -> None:
        while self._heap and self._heap[0][0] <= until:
            when, _, action = heapq.heappop(self._heap)
            if when > self.clock.now():
                self.clock.advance_clock_to(when)
            action()
            self.done += 1
            if self.done % 50 == 0:
                # Nobody listens to webhooks while history is made (the backfill reads the
                # result); dropping them as they pile up keeps the memory flat.
                self.clock.drain_webhooks()
            if self.done % 200 == 0 and progress is not None:
                progress(self.clock.now())
        self._heap.clear()


class _Seeder:
    def __init__(self, clock: EmulatorClock, *, now: int, seed: int) -> None:
        self.clock = clock
        self.now = now
        self.rng = random.Random(f"{seed}:walk")
        self.walk = _Walk(clock)
        self.result = StripeSeed()
        self.coupons: dict[str, str] = {}
        self._keys = itertools.count(1)

    def key(self, what: str) -> str:
        return f"demo-seed:{what}:{next(self._keys)}"

    # The catalog ------------------------------------------------------------------------------

    def catalog(self) -> None:
        for plan in PLANS:
            metadata = {"plan_code": plan.code, "per_seat": "true" if plan.per_seat else "false"}
            metadata |= {f"feature.{key}": value for key, value in plan.entitlements.items()}
            product = stripe_client.create_product(
                params={"name": plan.name, "description": plan.description, "metadata": metadata},
                idempotency_key=self.key(f"product-{plan.code}"),
            )
            for currency, monthly in plan.monthly.items():
                for interval, months in ((Interval.MONTH, 1), (Interval.YEAR, ANNUAL_MONTHS)):
                    price = stripe_client.create_price(
                        params={
                            "product": product.id,
                            "unit_amount": monthly * months,
                            "currency": currency,
                            "recurring": {"interval": str(interval)},
                            "lookup_key": f"{plan.code}_{interval}_{currency}",
                        },
                        idempotency_key=self.key(f"price-{plan.code}-{interval}-{currency}"),
                    )
                    self.result.prices[plan.code, str(interval), currency] = price.id
        for code, (name, params) in COUPONS.items():
            self.coupons[code] = gateway.create_coupon(
                params={"id": code.upper(), "name": name, **params},
                idempotency_key=self.key(f"coupon-{code}"),
            )

    # One customer's history -------------------------------------------------------------------

    def plan(self, account: _Account) -> None:
        """Schedule everything that happens to one customer, from signup to now."""
        spec, rng = account.spec, self.rng
        signup = int(spec.created.timestamp())
        trial_end: int | None = None
        signup_card = spec.card if spec.plan_code != "free" else ""
        if spec.subscription_status == SubscriptionStatus.TRIALING and spec.trial_end:
            trial_end = int(spec.trial_end.timestamp())
        elif spec.started_with_trial and signup + 15 * DAY < self.now:
            trial_end = signup + 14 * DAY
        periods = _boundaries(trial_end or signup, spec.interval, self.now)
        status = spec.subscription_status
        fails_from: int | None = None  # when the card that fails every charge comes in
        if status == SubscriptionStatus.PAST_DUE:
            if len(periods) >= 2:
                fails_from = periods[-1] - DAY  # before the last renewal
            elif trial_end is not None and periods:
                signup_card = FAILING_CARD  # the charge at the end of the trial fails
            elif signup + 15 * DAY < self.now:
                # Only one period so far: a failure on the very first invoice would leave the
                # subscription incomplete, not past due. A trial on a card that fails does it.
                trial_end = signup + 14 * DAY
                periods = _boundaries(trial_end, spec.interval, self.now)
                signup_card = FAILING_CARD
        self.walk.at(signup, partial(self.sign_up, account, signup_card, trial_end))
        if fails_from is not None:
            self.walk.at(fails_from, partial(self.switch_card, account, FAILING_CARD))

        paid_periods = len(periods)
        if status == SubscriptionStatus.CANCELED and 0 < len(spec.invoices) < len(periods):
            paid_periods = len(spec.invoices)  # cancelled at the end of that period
        last = paid_periods - 1
        # A charge can only fail on an invoice that is not the subscription's first.
        first_chargeable = 0 if trial_end is not None else 1
        for index in range(paid_periods):
            start = periods[index]
            end = periods[index + 1] if index + 1 < len(periods) else self.now
            invoice = spec.invoices[index] if index < len(spec.invoices) else None
            if invoice is None or (spec.paused and index == last):
                continue
            failed_first = not invoice.payments[0].succeeded
            recovered = invoice.payments[-1].succeeded
            retried_by = start + 4 * DAY
            if failed_first and recovered and index >= first_chargeable and retried_by < end:
                decline = invoice.payments[0].decline_card
                self.walk.at(start - DAY, partial(self.switch_card, account, decline))
                self.walk.at(start + DAY, partial(self.switch_card, account, spec.card))
                start = retried_by
            for amount in invoice.payments[-1].refunds if recovered else []:
                when = start + rng.randint(1, 6) * DAY
                if when < min(end, self.now):
                    share = (amount, invoice.amount)
                    self.walk.at(when, partial(self.refund, account, share))
        if status == SubscriptionStatus.CANCELED and periods:
            if paid_periods < len(periods):
                when = _between(rng, periods[last], periods[last + 1])
                self.walk.at(when, partial(self.cancel_at_period_end, account))
            else:
                when = _between(rng, periods[last], self.now)
                self.walk.at(when, partial(self.cancel_now, account))
        if spec.cancel_at_period_end and periods:
            when = _between(rng, periods[last], self.now)
            self.walk.at(when, partial(self.cancel_at_period_end, account))
        if spec.paused and periods:
            when = periods[last] - 2 * DAY if last >= 1 else _between(rng, signup, self.now)
            behavior = rng.choice(["void", "mark_uncollectible", "keep_as_draft"])
            self.walk.at(when, partial(self.pause_collection, account, behavior))
        grow = spec.seats_grew_in_period
        if spec.seats_at_signup != spec.seats and 0 < grow < paid_periods - 1:
            when = _between(rng, periods[grow], periods[grow + 1])
            self.walk.at(when, partial(self.grow_seats, account))
        for amount, description, when_at in spec.credits:
            when = min(max(int(when_at.timestamp()), signup + 3600), self.now - 60)
            if when > signup:
                self.walk.at(when, partial(self.credit, account, amount, description))

    def plan_live_renewal(self, account: _Account) -> None:
        """Move this customer's signup so a renewal falls due one second after `now`, and give
        them a failing card shortly before: the demo lets that renewal happen live."""
        spec = account.spec
        due = self.now + 1
        periods = max(2, len(spec.invoices))
        for count in range(periods, periods + 12):
            signup = _months_after(due, -count)
            if _months_after(signup, count) == due:
                break
        account.spec = dataclasses.replace(
            spec,
            created=dt.datetime.fromtimestamp(signup, dt.UTC),
            invoices=spec.invoices[:count],
            started_with_trial=False,
        )
        self.plan(account)
        self.walk.at(self.now - 3600, partial(self.switch_card, account, FAILING_CARD))

    # What happens at those moments ------------------------------------------------------------

    def sign_up(self, account: _Account, card: str, trial_end: int | None) -> None:
        spec = account.spec
        params: dict[str, Any] = {
            "name": spec.name,
            "email": spec.email,
            "address": {"country": spec.country},
            "metadata": {
                "handle": spec.handle,
                "kind": str(spec.kind),
                "country": spec.country,
                "currency": spec.currency,
                "email_domain": spec.email_domain,
            },
        }
        if card:
            params["payment_method"] = card
            params["invoice_settings"] = {"default_payment_method": card}
        customer = stripe_client.create_customer(
            params=params, idempotency_key=self.key(f"customer-{account.number}")
        )
        account.customer_id = customer.id
        self.result.customers += 1
        price = self.result.prices[spec.plan_code, str(spec.interval), spec.currency]
        quantity = spec.seats_at_signup if PLANS_BY_CODE[spec.plan_code].per_seat else 1
        subscription_params: dict[str, Any] = {
            "customer": customer.id,
            "items": [{"price": price, "quantity": quantity}],
        }
        if trial_end is not None:
            subscription_params["trial_end"] = trial_end
        if spec.coupon:
            subscription_params["discounts"] = [{"coupon": self.coupons[spec.coupon]}]
        subscription = stripe_client.create_subscription(
            params=subscription_params, idempotency_key=self.key(f"subscription-{account.number}")
        )
        account.subscription_id, account.item_id = subscription.id, subscription.item_id
        self.result.subscriptions += 1

    def switch_card(self, account: _Account, card: str) -> None:
        stripe_client.update_customer(
            customer_id=account.customer_id,
            params={"invoice_settings": {"default_payment_method": card}},
            idempotency_key=self.key(f"card-{account.number}"),
        )
        self.result.card_switches += 1

    def refund(self, account: _Account, share: tuple[int, int]) -> None:
        """Refund `share` (part, whole) of the customer's latest paid charge."""
        part, whole = share
        for charge in gateway.list_charges(account.customer_id):
            refundable = charge.amount - charge.amount_refunded
            if charge.status == "succeeded" and refundable > 0:
                amount = refundable if part >= whole else max(1, charge.amount * part // whole)
                gateway.create_refund(
                    charge_id=charge.id,
                    amount=min(amount, refundable),
                    reason="requested_by_customer",
                    metadata={},
                    idempotency_key=self.key(f"refund-{account.number}"),
                )
                self.result.refunds += 1
                return

    def credit(self, account: _Account, amount: int, description: str) -> None:
        gateway.create_balance_transaction(
            customer_id=account.customer_id,
            amount=amount,
            currency=account.spec.currency,
            description=description,
            metadata={},
            idempotency_key=self.key(f"credit-{account.number}"),
        )
        self.result.credits += 1

    def cancel_at_period_end(self, account: _Account) -> None:
        gateway.update_subscription(
            subscription_id=account.subscription_id,
            params={"cancel_at_period_end": True},
            idempotency_key=self.key(f"cancel-{account.number}"),
        )

    def cancel_now(self, account: _Account) -> None:
        gateway.cancel_subscription(
            subscription_id=account.subscription_id,
            prorate=False,
            idempotency_key=self.key(f"cancel-{account.number}"),
        )

    def pause_collection(self, account: _Account, behavior: str) -> None:
        gateway.update_subscription(
            subscription_id=account.subscription_id,
            params={"pause_collection": {"behavior": behavior}},
            idempotency_key=self.key(f"pause-{account.number}"),
        )

    def grow_seats(self, account: _Account) -> None:
        gateway.update_subscription(
            subscription_id=account.subscription_id,
            params={
                "items": [{"id": account.item_id, "quantity": account.spec.seats}],
                "proration_behavior": "create_prorations",
            },
            idempotency_key=self.key(f"seats-{account.number}"),
        )


def seed_stripe(
    *,
    clock: EmulatorClock,
    profiles: list[CustomerSpec],
    now: dt.datetime,
    seed: int,
    progress: Callable[[dt.datetime], None] | None = None,
) -> StripeSeed:
    """Build the demo account's history in an empty Stripe emulator, ending at `now`.

    The clock is frozen about 30 months before `now` (or before the first signup), the catalog
    created, then every customer's history played forward in time order; the clock's renewals
    make the invoices and payments in between. At the end the clock runs again from real time.
    """
    end = int(now.timestamp())
    seeder = _Seeder(clock, now=end, seed=seed)
    first_signup = min((int(p.created.timestamp()) for p in profiles), default=end)
    start = min(first_signup, _months_after(end, -30)) - DAY
    clock.set_clock(start, frozen=True)
    seeder.catalog()

    accounts = [_Account(spec, number) for number, spec in enumerate(profiles, start=1)]
    live = next(
        (
            account
            for account in accounts
            if account.spec.plan_code in ("personal", "team")
            and account.spec.interval == Interval.MONTH
            and account.spec.subscription_status == SubscriptionStatus.ACTIVE
            and not (account.spec.paused or account.spec.cancel_at_period_end)
            and account.spec.seats_at_signup == account.spec.seats
        ),
        None,
    )
    for account in accounts:
        if account is live:
            seeder.plan_live_renewal(account)
        else:
            seeder.plan(account)

    def report(moment: int) -> None:
        if progress is not None:
            progress(dt.datetime.fromtimestamp(moment, dt.UTC))

    seeder.walk.run(end, progress=report)
    clock.advance_clock_to(end)
    clock.drain_webhooks()
    # Run from real time again. Renewals due since `now` (the live one) wait for the next
    # advance of the clock, which the demo makes once the app listens to webhooks.
    clock.set_clock(max(end, int(time.time())), frozen=False)
    if live is not None:
        seeder.result.live_renewal_customer = live.customer_id
    return seeder.result

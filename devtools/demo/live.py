"""What happens while the demo runs: webhooks start flowing once the app answers, a renewal
falls due on a card that fails, a new customer signs up, and Stripe's clock keeps running (with
the emulator's state saved every minute)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.db import connections
from django.utils import timezone

from billing.models import Customer, Price
from billing.stripe import gateway
from devtools import stripe_client
from devtools.demo.catalog import PLANS_BY_CODE, customer_profiles
from devtools.demo.runner import wait_for_app
from devtools.stripe_emulator import EmulatorHandle

CLOCK_TICK_SECONDS = 30
SAVE_EVERY_SECONDS = 60


def live_signup() -> str:
    """A new customer signs up now (through Stripe's API, as a checkout would)."""
    existing = Customer.objects.count()
    spec = customer_profiles(existing + 1, seed=int(time.time()), now=timezone.now())[-1]
    plan = spec.plan_code if spec.plan_code != "free" else "personal"
    price = Price.objects.get(plan__code=plan, interval=spec.interval, currency=spec.currency)
    key = f"demo-live:{spec.handle}:{int(time.time())}"
    customer = stripe_client.create_customer(
        params={
            "name": spec.name,
            "email": spec.email,
            "address": {"country": spec.country},
            "payment_method": spec.card,
            "invoice_settings": {"default_payment_method": spec.card},
            "metadata": {
                "handle": f"{spec.handle}-{existing + 1}",
                "kind": str(spec.kind),
                "country": spec.country,
                "currency": spec.currency,
                "email_domain": spec.email_domain,
            },
        },
        idempotency_key=f"{key}:customer",
    )
    stripe_client.create_subscription(
        params={
            "customer": customer.id,
            "items": [
                {"price": price.stripe_price_id, "quantity": spec.seats}
                if PLANS_BY_CODE[plan].per_seat
                else {"price": price.stripe_price_id}
            ],
        },
        idempotency_key=f"{key}:subscription",
    )
    return f"{spec.name} ({customer.id}, {PLANS_BY_CODE[plan].name})"


def run_live(
    *,
    emulator: EmulatorHandle,
    port: int,
    state_path: Path,
    stop: threading.Event,
    first_run: bool,
    live_customer: str,
    say: Callable[[str], None],
) -> None:
    """Once the app answers: let webhooks flow, make a few live changes, then keep Stripe's
    clock running (renewals as they fall due) and save its state every minute."""
    try:
        if not wait_for_app(port, stop):
            return
        emulator.resume_webhooks()
        steps = emulator.advance_clock_to(int(time.time()))
        if live_customer:
            customer = Customer.objects.filter(stripe_customer_id=live_customer).first()
            say(
                f"Live: the renewal of {customer.name if customer else live_customer} fell "
                "due on a card that fails; the failed payment arrives through webhooks."
            )
        elif steps:
            say(
                f"Live: Stripe's clock caught up with real time ({steps} renewals, retries "
                "or trial ends fell due); their webhooks follow."
            )
        if first_run:
            say(f"Live: {live_signup()} signed up; watch it arrive via webhooks.")
        saved_at = time.monotonic()
        while not stop.wait(CLOCK_TICK_SECONDS):
            emulator.advance_clock_to(int(time.time()))
            if time.monotonic() - saved_at >= SAVE_EVERY_SECONDS:
                emulator.save(state_path)
                saved_at = time.monotonic()
    except gateway.StripeGatewayError as error:
        say(f"Live changes stopped: Stripe said {error.message}")
    finally:
        connections.close_all()

"""Billing situations built in the Stripe emulator through the gateway, as Stripe would hold
them after a customer signs up, pays, is refunded or credited."""

from __future__ import annotations

import itertools

from billing.stripe import gateway
from devtools import stripe_client

_keys = itertools.count(1)


def key(what: str) -> str:
    return f"test-{what}-{next(_keys)}"


def plan(
    *,
    code: str = "team",
    unit_amount: int = 1200,
    currency: str = "usd",
    interval: str = "month",
    per_seat: bool = True,
) -> gateway.PriceData:
    product = stripe_client.create_product(
        params={
            "name": code.title(),
            "metadata": {
                "plan_code": code,
                "per_seat": "true" if per_seat else "false",
                "feature.build_minutes": "10000",
                "feature.sso": "false",
            },
        },
        idempotency_key=key("product"),
    )
    return stripe_client.create_price(
        params={
            "product": product.id,
            "unit_amount": unit_amount,
            "currency": currency,
            "recurring": {"interval": interval},
        },
        idempotency_key=key("price"),
    )


def customer(
    *,
    name: str = "Acme Robotics",
    handle: str | None = None,
    email: str = "billing@acme.io",
    card: str = "pm_card_visa",
    currency: str = "usd",
) -> gateway.CustomerData:
    number = next(_keys)
    return stripe_client.create_customer(
        params={
            "name": name,
            "email": email,
            "payment_method": card,
            "invoice_settings": {"default_payment_method": card},
            "metadata": {
                "handle": handle or f"acme-{number}",
                "kind": "organization",
                "country": "US",
                "currency": currency,
            },
        },
        idempotency_key=key("customer"),
    )


def subscription(
    customer_id: str, price_id: str, *, quantity: int = 3, trial_days: int | None = None
) -> gateway.SubscriptionData:
    params = {"customer": customer_id, "items": [{"price": price_id, "quantity": quantity}]}
    if trial_days:
        params["trial_period_days"] = trial_days
    return stripe_client.create_subscription(params=params, idempotency_key=key("subscription"))


def charges_of(customer_id: str) -> list[gateway.ChargeData]:
    return gateway.list_charges(customer_id)


def paying_customer(
    *, quantity: int = 3, **fields
) -> tuple[gateway.CustomerData, gateway.SubscriptionData]:
    price = plan()
    buyer = customer(**fields)
    return buyer, subscription(buyer.id, price.id, quantity=quantity)

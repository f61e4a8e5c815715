"""Stripe calls that only tooling makes: building accounts (catalog, customers, subscriptions,
cards) in the Stripe emulator for the demo and the tests.

The product never creates customers, products or prices, so these are not in the gateway
(billing/stripe/gateway.py); they reuse its typed results so that callers see the same shapes.
Settings pick the Stripe to talk to, exactly as for the product (`STRIPE_API_BASE`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import stripe
from django.conf import settings

from billing.stripe import gateway


@cache
def _client_for(api_key: str, api_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        stripe_version=gateway.API_VERSION,
        base_addresses={"api": api_base} if api_base else None,  # type: ignore[arg-type]
        max_network_retries=0,
    )


def _client() -> stripe.StripeClient:
    return _client_for(settings.STRIPE_API_KEY, settings.STRIPE_API_BASE)


def _post(method: Any, *args: Any, params: dict[str, Any], idempotency_key: str) -> dict:
    if not idempotency_key:
        raise ValueError("Every POST to Stripe needs an idempotency key.")
    try:
        result = method(*args, params=params, options={"idempotency_key": idempotency_key})
    except stripe.StripeError as error:
        raise gateway.translate_error(error) from error
    return result.to_dict()


def create_customer(*, params: dict[str, Any], idempotency_key: str) -> gateway.CustomerData:
    return gateway.CustomerData.parse(
        _post(_client().v1.customers.create, params=params, idempotency_key=idempotency_key)
    )


def update_customer(
    *, customer_id: str, params: dict[str, Any], idempotency_key: str
) -> gateway.CustomerData:
    """Change a customer, e.g. `invoice_settings.default_payment_method` (a new card)."""
    return gateway.CustomerData.parse(
        _post(
            _client().v1.customers.update,
            customer_id,
            params=params,
            idempotency_key=idempotency_key,
        )
    )


def create_product(*, params: dict[str, Any], idempotency_key: str) -> gateway.ProductData:
    return gateway.ProductData.parse(
        _post(_client().v1.products.create, params=params, idempotency_key=idempotency_key)
    )


def create_price(*, params: dict[str, Any], idempotency_key: str) -> gateway.PriceData:
    return gateway.PriceData.parse(
        _post(_client().v1.prices.create, params=params, idempotency_key=idempotency_key)
    )


def create_subscription(
    *, params: dict[str, Any], idempotency_key: str
) -> gateway.SubscriptionData:
    return gateway.SubscriptionData.parse(
        _post(
            _client().v1.subscriptions.create,
            params={**params, "expand": ["discounts.source.coupon"]},
            idempotency_key=idempotency_key,
        )
    )


def close_connections() -> None:
    """Close the calling thread's keep-alive connections to Stripe, the product's and ours.

    The demo does this before it stops its emulator, so no server thread is left waiting on an
    idle connection. stripe-python has no public way to close a client; its requestor's HTTP
    client does (a `requests` session per thread).
    """
    for client in (_client(), gateway.client()):
        http_client = getattr(getattr(client, "_requestor", None), "_client", None)
        if http_client is not None:
            http_client.close()

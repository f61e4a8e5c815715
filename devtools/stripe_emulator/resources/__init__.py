"""Stripe API resources, one module per area; :func:`api_routes` gathers their routes."""

from __future__ import annotations

from ..routing import Router
from . import (
    balance_transactions,
    catalog,
    credit_notes,
    customers,
    events,
    invoice_items,
    invoice_preview,
    invoices,
    payment_methods,
    payments,
    refunds,
    subscriptions,
)

_MODULES = (
    customers,
    payment_methods,
    catalog,
    payments,
    refunds,
    balance_transactions,
    invoices,
    invoice_items,
    invoice_preview,
    subscriptions,
    credit_notes,
    events,
)


def api_routes() -> Router:
    router = Router()
    for module in _MODULES:
        router.include(module.routes)
    return router

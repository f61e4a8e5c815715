"""Stripe at the edge of billing: the gateway (the only module importing stripe), the mirror,
the backfill and drift report, and the webhook endpoint."""

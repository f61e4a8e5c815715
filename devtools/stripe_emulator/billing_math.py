"""Money arithmetic for invoices: integer minor units, rounding half up like Stripe.

No floats touch an amount. Percentages arrive as decimal strings (``percent_off=12.5``) and are
applied with :class:`~decimal.Decimal`; every result is rounded half away from zero to the minor
unit, which is how Stripe rounds discounts and prorations.

Proration follows Stripe: when a price or quantity changes at time ``t`` inside the current
period ``[start, end)``, the customer is credited the unused fraction ``(end - t) / (end - start)``
of what was charged for the old price, and charged the same fraction of the new price; both are
computed to the second over the current period and rounded separately.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest integer, halves away from zero."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    if numerator < 0:
        return -round_half_up(-numerator, denominator)
    return (2 * numerator + denominator) // (2 * denominator)


def prorate(amount: int, remaining_seconds: int, period_seconds: int) -> int:
    """The share of ``amount`` for ``remaining_seconds`` of a ``period_seconds`` period."""
    if period_seconds <= 0:
        return 0
    remaining = max(0, min(remaining_seconds, period_seconds))
    return round_half_up(amount * remaining, period_seconds)


def percent_of(amount: int, percent: str | int | float) -> int:
    """``percent`` % of ``amount``, rounded half up; ``percent`` is read as a decimal string."""
    value = Decimal(str(percent)) * Decimal(amount) / Decimal(100)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def coupon_discount(coupon: dict[str, Any], discountable_amount: int) -> int:
    """What a coupon takes off ``discountable_amount``: never more than the amount itself."""
    if discountable_amount <= 0:
        return 0
    if coupon.get("percent_off") is not None:
        return min(
            discountable_amount, percent_of(discountable_amount, coupon["_percent_off_text"])
        )
    return min(discountable_amount, int(coupon.get("amount_off") or 0))

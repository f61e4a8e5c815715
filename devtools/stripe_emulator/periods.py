"""Billing-period calendar arithmetic, as Stripe anchors it.

Periods are counted from the subscription's ``billing_cycle_anchor``: monthly periods fall on the
anchor's day of the month, clamped to the month's last day (an anchor on 31 January gives
28/29 February, then 31 March), at the anchor's time of day, in UTC. Yearly periods are twelve
months; daily and weekly periods are exact multiples of 86,400 seconds.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

DAY = 86_400


def _add_months(anchor: int, months: int) -> int:
    start = datetime.fromtimestamp(anchor, UTC)
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def boundary(anchor: int, n: int, interval: str, interval_count: int = 1) -> int:
    """The ``n``-th period boundary after ``anchor`` (``n`` may be negative)."""
    steps = n * interval_count
    if interval == "day":
        return anchor + steps * DAY
    if interval == "week":
        return anchor + steps * 7 * DAY
    if interval == "month":
        return _add_months(anchor, steps)
    if interval == "year":
        return _add_months(anchor, steps * 12)
    raise ValueError(f"unknown interval {interval!r}")


def _index_at(anchor: int, moment: int, interval: str, interval_count: int) -> int:
    """The ``n`` with ``boundary(n) <= moment < boundary(n + 1)``."""
    if interval in ("day", "week"):
        length = (7 if interval == "week" else 1) * DAY * interval_count
        return (moment - anchor) // length
    months = 12 * interval_count if interval == "year" else interval_count
    start = datetime.fromtimestamp(anchor, UTC)
    current = datetime.fromtimestamp(moment, UTC)
    n = ((current.year - start.year) * 12 + current.month - start.month) // months
    while boundary(anchor, n, interval, interval_count) > moment:
        n -= 1
    while boundary(anchor, n + 1, interval, interval_count) <= moment:
        n += 1
    return n


def next_boundary(anchor: int, after: int, interval: str, interval_count: int = 1) -> int:
    """The first period boundary strictly after ``after``."""
    return boundary(
        anchor, _index_at(anchor, after, interval, interval_count) + 1, interval, interval_count
    )


def previous_boundary(anchor: int, moment: int, interval: str, interval_count: int = 1) -> int:
    """The last period boundary at or before ``moment``."""
    return boundary(
        anchor, _index_at(anchor, moment, interval, interval_count), interval, interval_count
    )


def add_days(timestamp: int, days: int) -> int:
    return timestamp + days * DAY

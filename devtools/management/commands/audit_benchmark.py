"""`manage.py audit_benchmark [--timeline-rows N] [--export-rows N]`: the audit budgets.

Prints the time (and query count) of a customer timeline's first page when the customer has
N history rows (default 100,000), and the time and peak Python memory of exporting N rows
(default 1,000,000) of the audit log as CSV. The rows are made inside one transaction that
is rolled back at the end: the database is left as it was (nothing is sealed either).
"""

from __future__ import annotations

import datetime as dt
import resource
import statistics
import time

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, models, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.audit import audited
from billing import audit_log
from billing.models import Customer, CustomerKind, Interval, Plan, Price, Subscription
from support.timeline import timeline

BATCH = 5000


class Rollback(Exception):
    """Raised at the end to undo everything the benchmark made."""


class Command(BaseCommand):
    help = "Time the customer timeline's first page and a CSV export of the audit log."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeline-rows", type=int, default=100_000)
        parser.add_argument("--export-rows", type=int, default=1_000_000)

    def handle(self, *args, timeline_rows: int, export_rows: int, **options) -> None:
        try:
            with transaction.atomic():
                self._run(timeline_rows, max(export_rows, timeline_rows))
                raise Rollback
        except Rollback:
            self.stdout.write("Rolled back: the database is as it was.")

    def _run(self, timeline_rows: int, export_rows: int) -> None:
        now = timezone.now()
        with audited(actor=None, reason="audit benchmark"):
            customer, subscription = _customer_with_subscription(now)
        started = time.monotonic()
        _add_history(subscription, export_rows, now)
        self.stdout.write(
            f"Made {export_rows:,} history rows for one customer "
            f"in {time.monotonic() - started:.1f} s."
        )

        # The timeline reads the newest rows first; the customer's row count beyond the page
        # does not change its work. Timed on the customer with all the rows.
        timeline(customer)  # warm the caches once
        times = []
        for _ in range(5):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                page = timeline(customer)
                times.append(time.perf_counter() - started)
        self.stdout.write(
            f"Timeline first page ({len(page.entries)} entries) with {export_rows:,} history "
            f"rows (≥ {timeline_rows:,}): median {statistics.median(times) * 1000:.1f} ms, "
            f"{len(queries)} queries."
        )

        filters = audit_log.AuditFilters(customer=customer.pk, everyone=True)
        # Peak memory as the process's high-water mark (RSS): if the export held its rows,
        # the mark would climb with them. (tracemalloc would slow the export severalfold.)
        peak_before = _peak_rss_mb()
        started = time.monotonic()
        lines = 0
        size = 0
        for chunk in audit_log.export_csv(filters):  # a batch of lines each
            lines += chunk.count("\n")
            size += len(chunk)
        elapsed = time.monotonic() - started
        peak_after = _peak_rss_mb()
        self.stdout.write(
            f"CSV export of {lines - 1:,} rows ({size / 1e6:.1f} MB): {elapsed:.1f} s, "
            f"{(lines - 1) / max(elapsed, 1e-9):,.0f} rows/s; peak memory of the process "
            f"{peak_after:.0f} MB (before the export {peak_before:.0f} MB, so the export added "
            f"{peak_after - peak_before:.0f} MB)."
        )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def _customer_with_subscription(now: dt.datetime) -> tuple[Customer, Subscription]:
    stamp = int(now.timestamp())
    customer = Customer.objects.create(
        kind=CustomerKind.ORGANIZATION,
        name="Audit Benchmark Inc",
        handle=f"audit-benchmark-{stamp}",
        billing_email=f"billing@bench{stamp}.example",
        email_domain=f"bench{stamp}.example",
        country="US",
        currency="usd",
        created=now - dt.timedelta(days=400),
    )
    plan = Plan.objects.create(code=f"bench-{stamp}", name="Benchmark", per_seat=True)
    price = Price.objects.create(
        plan=plan, interval=Interval.MONTH, unit_amount=1200, currency="usd"
    )
    subscription = Subscription.objects.create(
        stripe_subscription_id=f"sub_benchmark{stamp}",
        customer=customer,
        price=price,
        status="active",
        quantity=1,
        current_period_start=now - dt.timedelta(days=10),
        current_period_end=now + dt.timedelta(days=20),
        created=now - dt.timedelta(days=400),
    )
    return customer, subscription


def _add_history(subscription: Subscription, count: int, now: dt.datetime) -> None:
    """`count` seat changes in the subscription's history, one a minute up to now, inserted
    in batches (a plain QuerySet: nothing to seal, it is all rolled back)."""
    history = subscription.history.model  # type: ignore[attr-defined]
    base = subscription.history.latest()  # type: ignore[attr-defined]
    values = {
        f.attname: getattr(base, f.attname)
        for f in history._meta.concrete_fields
        if f.attname != "history_id"
    }
    values.update(history_type="~", history_change_reason="Benchmark seat change")
    start = now - dt.timedelta(minutes=count)
    plain: models.QuerySet = models.QuerySet(history)
    for offset in range(0, count, BATCH):
        plain.bulk_create(
            [
                history(
                    **{
                        **values,
                        "quantity": 2 + (n % 500),
                        "history_date": start + dt.timedelta(minutes=n),
                        "history_ticket": f"ZD-{n % 1000}",
                    }
                )
                for n in range(offset, min(offset + BATCH, count))
            ]
        )

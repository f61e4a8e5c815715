"""`manage.py benchmark`: build (or reuse) a big dataset on PostgreSQL and print how fast the
search, the staff pages and the webhook endpoint are on it.

    createdb bench
    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench manage.py migrate
    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench manage.py benchmark

The dataset (devtools/benchmark/dataset.py) is loaded once per size and reused by later runs;
the figures (devtools/benchmark/measure.py) are printed as one table. No figure is asserted
anywhere: the targets are in the README, next to the last table printed at 1,000,000
customers.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test import Client
from django.test.utils import override_settings

from accounts.models import User
from accounts.roles import Role
from accounts.services import create_staff_user
from billing.models import ApprovalRequest, Customer, Invoice
from devtools.benchmark import dataset, http, measure, plans

STAFF = [
    ("bench-admin", Role.ADMIN),
    ("bench-finance", Role.FINANCE),
    ("bench-support", Role.SUPPORT),
    ("bench-support-2", Role.SUPPORT),
]


class Command(BaseCommand):
    help = "Build or reuse a benchmark dataset on PostgreSQL and print the figures measured on it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=1_000_000)
        parser.add_argument(
            "--repeat", type=int, default=5, help="Runs of each sample query and page."
        )
        parser.add_argument("--sample", type=int, default=8, help="Sample values per class.")
        parser.add_argument(
            "--admin-samples", type=int, default=3, help="Admin-style runs per class (0: none)."
        )
        parser.add_argument(
            "--admin-timeout", type=float, default=5.0, help="Statement timeout, seconds."
        )
        parser.add_argument("--webhooks", type=int, default=300, help="Signed events to post.")
        parser.add_argument(
            "--http-seconds",
            type=float,
            default=10.0,
            help="Seconds of load per measurement over gunicorn (0: no HTTP measurements).",
        )
        parser.add_argument(
            "--http-connections", type=int, default=8, help="Concurrent connections."
        )
        parser.add_argument(
            "--http-workers",
            type=int,
            default=None,
            help="gunicorn workers (default: gunicorn.conf.py's, WEB_CONCURRENCY or 2 × CPUs + 1).",
        )
        parser.add_argument("--seed", type=int, default=14)

    def handle(self, *args, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                "The benchmark needs PostgreSQL: set DATABASE_URL=postgres://…/bench "
                "(a database of its own) and run manage.py migrate on it first."
            )
        customers = options["customers"]
        if customers < 100:
            raise CommandError("--customers must be at least 100.")
        log = self.stdout.write
        staff = {username: ensure_staff(username, role) for username, role in STAFF}
        try:
            sizes = dataset.ensure(customers, log=log)
        except RuntimeError as error:
            raise CommandError(str(error)) from None
        speed_before = python_speed()
        rng = random.Random(options["seed"])
        repeat = options["repeat"]
        rows: list[measure.Row] = []

        # Taken as production runs: under DEBUG (which devtools need) Django would log every
        # SQL statement of the measured code, a cost of its own that production does not pay.
        with override_settings(DEBUG=False):
            classes = measure.search_classes(options["sample"], rng)
            typical = typical_customers(sizes, rng)
            # The pages first: right after the admin-style lookups (full scans stopped by
            # their timeout) every page ran about 10 ms slower for a while (a whale's p50 50.6
            # ms right after, 38.1 a batch later, 35.9 before them).
            log("Measuring pages…")
            # The search box's results for the first sample of each class, as it asks while
            # one types (htmx: an exact id answers with its row, not a redirect), then every
            # page.
            searcher = measure.client_for(staff["bench-support"], htmx=True)
            visited: list[tuple[Client, str]] = [
                (searcher, "/customers/?" + urlencode({"q": samples[0]}))
                for samples in classes.values()
                if samples
            ]
            page_rows = [
                run()
                for _name, run in page_measurements(
                    sizes, staff, typical, repeat=repeat, visited=visited
                )
            ]
            log("Measuring searches…")
            rows += measure.measure_search(
                classes,
                repeat=repeat,
                admin_samples=options["admin_samples"],
                admin_timeout_s=options["admin_timeout"],
            )
            rows += page_rows
            log("Planning the pages' statements as prepared…")
            plan_check = plans.compare(visited)
            log("Measuring the webhook endpoint…")
            some = [
                stripe_id
                for stripe_id in Customer.objects.values_list("stripe_customer_id", flat=True)[:50]
                if stripe_id
            ]
            rows.append(measure.measure_webhooks(some, count=options["webhooks"]))
        if options["http_seconds"] > 0:
            workers = options["http_workers"] or http.default_workers()
            log(f"Measuring over HTTP (gunicorn, {workers} workers)…")
            rows += http.measure_http(
                user=staff["bench-finance"],
                typical=[customer_url(pk) for pk in typical],
                whale=customer_url(sizes.whales[0]),
                first_views=[customer_url(pk) for pk in first_views(sizes, rng)],
                customer_ids=some,
                workers=workers,
                connections=options["http_connections"],
                seconds=options["http_seconds"],
                log=log,
            )

        log("")
        log(header(sizes, speeds=(speed_before, python_speed())))
        log("")
        log(measure.table(rows))
        log("")
        log(plan_check.report())


def ensure_staff(username: str, role: Role) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = create_staff_user(
            actor=None,
            username=username,
            email=f"{username}@example.com",
            first_name=username.split("-")[1].title(),
            roles=[role],
            password=None,
            reason="Benchmark staff",
        )
    return user


def header(sizes: dataset.Sizes, *, speeds: tuple[float, float]) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    rows = sizes.rows
    invoices = rows.get("billing_invoice", 0)
    payments = rows.get("billing_payment", 0)
    return "\n".join(
        [
            f"Machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
            f"Python {sys.version.split()[0]}, PostgreSQL {server}; "
            f"a {SPEED_STEPS:,}-step Python loop in {speeds[0]:.2f} s before the measurements and "
            f"{speeds[1]:.2f} s after (best of 3)",
            f"Dataset: {sizes.customers:,} customers, {invoices:,} invoices, "
            f"{payments:,} payments, {rows.get('billing_refund', 0):,} refunds, "
            f"{rows.get('billing_balancetransaction', 0):,} balance transactions, "
            f"{rows.get('support_ticket', 0):,} tickets, {rows.get('billing_action', 0):,} "
            f"actions, {rows.get('billing_approvalrequest', 0):,} approval requests, "
            f"{sizes.history_rows:,} history rows; whales {sizes.whales} "
            f"({dataset.WHALE_INVOICES:,} invoices and payments, "
            f"{dataset.WHALE_HISTORY:,} history rows each)",
        ]
    )


SPEED_STEPS = 10_000_000


def python_speed() -> float:
    """Seconds a fixed pure-Python loop takes on this machine, the best of three: machines of
    one kind differ (a shared host, a slower CPU), and every figure of the table moves with
    this one, so runs on two machines compare through it. Taken before and after the
    measurements: a shared host's speed can change in the middle of a run."""
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        total = 0
        for step in range(SPEED_STEPS):
            total += step
        best = min(best, time.perf_counter() - began)
    return best


def typical_customers(sizes: dataset.Sizes, rng: random.Random) -> list[int]:
    """Four customers with invoices, none a whale, spread over the dataset."""
    candidates = list(
        Invoice.objects.filter(customer_id__lte=sizes.customers)
        .exclude(customer_id__in=sizes.whales)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
        .distinct()[:: max(1, sizes.customers // 40)][:8]
    ) or [1]
    return [rng.choice(candidates) for _ in range(4)]


def first_views(sizes: dataset.Sizes, rng: random.Random, count: int = 5000) -> list[int]:
    """Customers viewed once each over HTTP (more than a run's views reach), no whale."""
    picked = rng.sample(range(1, sizes.customers + 1), min(count, sizes.customers))
    present = set(Customer.objects.filter(pk__in=picked).values_list("pk", flat=True))
    return [pk for pk in picked if pk in present and pk not in sizes.whales]


def customer_url(pk: int) -> str:
    return f"/customers/{pk}/"


def page_measurements(
    sizes: dataset.Sizes,
    staff: dict[str, User],
    typical: list[int],
    *,
    repeat: int,
    visited: list[tuple[Client, str]],
) -> list[tuple[str, Callable[[], measure.Row]]]:
    """The named page measurements, in the table's order. A page that does not exist on this
    branch (e.g. the timeline before the audit work lands) is a row saying n/a."""
    finance = measure.client_for(staff["bench-finance"])
    support = measure.client_for(staff["bench-support"])
    whale = sizes.whales[0]
    some_ticket = (
        ApprovalRequest.objects.values_list("action__ticket_ref", flat=True).first() or "ZD-1"
    )

    def page(
        client, name: str, urls: list[str | None], *, rendered: bool = False
    ) -> Callable[[], measure.Row]:
        present = [url for url in urls if url]
        visited.extend((client, url) for url in present)
        if not present:
            return lambda: measure.Row(name, note="n/a (not on this branch)")
        return lambda: measure.measure_page(client, name, present, repeat=repeat, rendered=rendered)

    timeline = f"/customers/{whale}/?partial=timeline"  # the customer page loads it so
    # Dated back from the load, as the rows are: two years, eighteen months, six months.
    two_years, eighteen_months, six_months = (
        sizes.loaded_on - dt.timedelta(days=days) for days in (731, 549, 185)
    )
    deep = f"?before={two_years}T00:00:00%2B00:00|billing.customer|0"
    return [
        ("start page", page(finance, "start page", ["/"])),
        # Rendered (a customer's first view, or the first after a write) and as the page
        # cache keeps it (every later view until a write).
        (
            "customer page, typical",
            page(
                finance,
                "customer page: typical",
                [customer_url(pk) for pk in typical],
                rendered=True,
            ),
        ),
        (
            "customer page, whale",
            page(finance, "customer page: whale", [customer_url(whale)], rendered=True),
        ),
        (
            "customer page, typical, kept",
            page(finance, "customer page: typical, kept", [customer_url(pk) for pk in typical]),
        ),
        (
            "customer page, whale, kept",
            page(finance, "customer page: whale, kept", [customer_url(whale)]),
        ),
        ("timeline, first page", page(finance, "timeline: whale, first page", [timeline])),
        (
            "timeline, deep page",
            page(
                finance,
                "timeline: whale, deep page",
                [timeline + f"&before={eighteen_months}T00:00:00%2B00:00|billing.customer|0"],
            ),
        ),
        (
            "approvals",
            page(
                finance,
                "approvals: waiting for me",
                ["/approvals/?tab=waiting"],
            ),
        ),
        ("approvals decided", page(finance, "approvals: decided", ["/approvals/?tab=decided"])),
        ("approvals mine", page(support, "approvals: requested by me", ["/approvals/?tab=mine"])),
        ("tickets", page(support, "ticket queue: all open", ["/tickets/?view=all"])),
        ("tickets mine", page(support, "ticket queue: mine", ["/tickets/?view=mine"])),
        ("audit", page(finance, "audit log: first page", ["/audit/"])),
        ("audit actor", page(finance, "audit log: by actor", ["/audit/?actor=bench-support"])),
        ("audit ticket", page(finance, "audit log: by ticket", [f"/audit/?ticket={some_ticket}"])),
        (
            "audit day",
            page(
                finance,
                "audit log: one day",
                [f"/audit/?date_from={six_months}&date_to={six_months}"],
            ),
        ),
        ("audit deep", page(finance, "audit log: two years deep", [f"/audit/{deep}"])),
        (
            "export",
            lambda: measure.measure_export(
                finance,
                "audit CSV export",
                measure.url_or_none("audit_export"),
                # Every kind of row (staff, system, Stripe) of the last 30 days up to the load:
                # about a million rows at a million customers.
                query=f"everyone=1&date_from={sizes.loaded_on - dt.timedelta(days=29)}",
            ),
        ),
    ]

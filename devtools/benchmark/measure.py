"""What the benchmark measures, each a named row of the table it prints.

Searches run the way the search box runs them (`Customer.objects.search(q)` ordered by name,
one page of 51), interleaved with the same lookup done the way Django admin's changelist does it
(`ModelAdmin.get_search_results` over the same fields, then the changelist's de-duplication and
its paginator: a COUNT and a page of 100), under a statement timeout. Pages go through Django's
test Client with a staff login, so middleware, templates and every query count.
"""

from __future__ import annotations

import json
import random
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from django.contrib.admin import ModelAdmin
from django.contrib.admin.sites import AdminSite
from django.core.cache import caches
from django.core.paginator import Paginator
from django.db import OperationalError, connection, transaction
from django.db.models import Exists, OuterRef
from django.test import Client, RequestFactory
from django.urls import NoReverseMatch, reverse

from billing.models import Customer
from devtools.stripe_emulator import signature_header
from support.page_cache import CACHE as PAGE_CACHE

TIMEOUT = "timeout"


@dataclass
class Row:
    name: str
    times: list[float] = field(default_factory=list)  # milliseconds
    queries: int | None = None
    admin_times: list[float] = field(default_factory=list)
    admin_timeouts: int = 0
    admin_timeout_ms: float = 0
    note: str = ""

    @property
    def p50(self) -> float | None:
        return percentile(self.times, 50)

    @property
    def p95(self) -> float | None:
        return percentile(self.times, 95)


def percentile(values: list[float], rank: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * rank / 100))]


def timed(run: Callable[[], object]) -> tuple[float, int]:
    """Milliseconds and SQL statements of `run`. The statements are counted by a wrapper
    that only counts: Django's query log (CaptureQueriesContext) would format and keep each
    statement, a cost of its own that production does not pay."""
    count = 0

    def counted(execute, sql, params, many, context):
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counted):
        began = time.perf_counter()
        run()
        elapsed = (time.perf_counter() - began) * 1000
    return elapsed, count


# Search --------------------------------------------------------------------------------------


class CustomerAdmin(ModelAdmin):
    """What a Django admin for customers would search: the same fields as our search box."""

    search_fields = [
        "name",
        "handle",
        "billing_email",
        "email_domain",
        "stripe_customer_id",
        "subscriptions__stripe_subscription_id",
        "invoices__stripe_invoice_id",
        "invoices__number",
        "payments__stripe_charge_id",
        "payments__stripe_payment_intent_id",
        "payments__refunds__stripe_refund_id",
        "payments__card_last4",
    ]


def admin_search(query: str) -> None:
    """Django admin's changelist search: `get_search_results`, then (as `ChangeList.
    get_queryset` does when a lookup spans a to-many relation) an EXISTS to de-duplicate, then
    the paginator's COUNT and the first page of 100."""
    admin = CustomerAdmin(Customer, AdminSite())
    request = RequestFactory().get("/admin/billing/customer/", {"q": query})
    found, duplicates = admin.get_search_results(request, Customer.objects.all(), query)
    if duplicates:
        found = Customer.objects.filter(Exists(found.filter(pk=OuterRef("pk"))))
    paginator = Paginator(found.order_by("name", "-pk"), 100)
    paginator.count  # noqa: B018  (the COUNT the changelist shows)
    list(paginator.page(1))


def our_search(query: str) -> None:
    list(Customer.objects.search(query).order_by("name", "id")[:51])


def search_classes(sample: int, rng: random.Random) -> dict[str, list[str]]:
    """A few real values of each kind of query, drawn from the dataset."""

    def values(sql: str) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return [row[0] for row in cursor.fetchall() if row[0]]

    def picks(table: str, column: str, where: str = "") -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT min(id), max(id) FROM {table}")
            low, high = cursor.fetchone()
        if low is None:
            return []
        # More draws where a condition keeps a fraction of the rows (organizations are ~1 in 6).
        ids = [rng.randint(low, high) for _ in range(sample * (30 if where else 3))]
        found = values(
            f"SELECT {column} FROM {table} WHERE id IN ({','.join(map(str, ids))}) "
            f"{'AND ' + where if where else ''} LIMIT {sample}"
        )
        return found

    names = picks("billing_customer", "name")

    def fragments(length: int) -> list[str]:
        out = []
        for name in names:
            if len(name) >= length:
                start = rng.randint(0, len(name) - length)
                out.append(name[start : start + length])
        return out

    return {
        "cus_ id": picks("billing_customer", "stripe_customer_id"),
        "sub_ id": picks("billing_subscription", "stripe_subscription_id"),
        "in_ id": picks("billing_invoice", "stripe_invoice_id"),
        "ch_ id": picks("billing_payment", "stripe_charge_id"),
        "pi_ id": picks("billing_payment", "stripe_payment_intent_id"),
        "re_ id": picks("billing_refund", "stripe_refund_id"),
        "email": picks("billing_customer", "billing_email"),
        "domain": picks("billing_customer", "email_domain", "kind = 'organization'"),
        "webmail domain": ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com"][:sample],
        "last4": picks("billing_payment", "card_last4"),
        "invoice number": picks("billing_invoice", "number"),
        "handle": picks("billing_customer", "handle"),
        "text, 1-2 chars": [rng.choice("abcdefghijklmnoprstw") for _ in range(sample // 2 or 1)]
        + [rng.choice(["jo", "ma", "sm", "bl", "qu", "li", "an", "wi"]) for _ in range(sample)],
        "text, 3 chars": fragments(3),
        "text, 5 chars": fragments(5),
        "text, 10 chars": fragments(10),
        "no match": [f"zq{uuid.uuid4().hex[:8]}xv" for _ in range(sample)],
    }


def measure_search(
    classes: dict[str, list[str]], *, repeat: int, admin_samples: int, admin_timeout_s: float
) -> list[Row]:
    rows = []
    for name, queries in classes.items():
        row = Row(f"search: {name}", admin_timeout_ms=admin_timeout_s * 1000)
        if not queries:
            row.note = "no such rows"
            rows.append(row)
            continue
        for query in queries:
            our_search(query)  # warm: the first run of a plan pays for planning and cache
            break
        for index, query in enumerate(queries * repeat):
            elapsed, count = timed(partial(our_search, query))
            row.times.append(elapsed)
            row.queries = count
            if index < admin_samples and admin_timeout_s > 0:
                # Interleaved: the admin-style lookup right after ours, on the same value.
                admin_elapsed = admin_run(query, admin_timeout_s)
                if admin_elapsed is None:
                    row.admin_timeouts += 1
                else:
                    row.admin_times.append(admin_elapsed)
        rows.append(row)
    return rows


def admin_run(query: str, timeout_s: float) -> float | None:
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}")
            began = time.perf_counter()
            admin_search(query)
            elapsed = (time.perf_counter() - began) * 1000
            with connection.cursor() as cursor:
                # Released savepoints keep SET LOCAL to the end of an enclosing transaction.
                cursor.execute("SET LOCAL statement_timeout = DEFAULT")
            return elapsed
    except OperationalError as error:
        if "statement timeout" not in str(error):
            raise
        return None


# Pages ---------------------------------------------------------------------------------------


def client_for(user, *, htmx: bool = False) -> Client:
    client = Client(SERVER_NAME="localhost", headers={"HX-Request": "true"} if htmx else None)
    client.force_login(user)
    return client


def measure_page(
    client: Client, name: str, urls: list[str], *, repeat: int, rendered: bool = False
) -> Row:
    """p50/p95 over every url `repeat` times (more for a page of few urls: MIN_PAGE_SAMPLES);
    a page that does not answer 200 (say, a filter another branch renamed) is a row saying so,
    not the end of the run. `rendered`: nothing kept by the customer page's cache (emptied
    before each view, untimed), as a customer's first view is."""
    try:
        return _measure_page(client, name, urls, repeat=repeat, rendered=rendered)
    except Exception as error:  # a view's own exception, raised through the test client
        return Row(name, note=f"error: {type(error).__name__}: {error}"[:120])


# A page's row is made of at least this many samples: of five, a p95 is the slowest one, and
# a one-url page (the whale's) would have no more.
MIN_PAGE_SAMPLES = 20


def _measure_page(
    client: Client, name: str, urls: list[str], *, repeat: int, rendered: bool
) -> Row:
    row = Row(name)
    client.get(urls[0])  # warm
    rounds = max(repeat, -(-MIN_PAGE_SAMPLES // len(urls)))
    for url in urls * rounds:
        if rendered:
            caches[PAGE_CACHE].clear()

        def get(url=url):
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
            for _ in getattr(response, "streaming_content", ()):
                pass

        elapsed, count = timed(get)
        row.times.append(elapsed)
        row.queries = count if row.queries is None else max(row.queries, count)
    return row


def url_or_none(name: str, **kwargs) -> str | None:
    try:
        return reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return None


def measure_export(client: Client, name: str, url: str | None, *, query: str = "") -> Row:
    """The CSV export of the filtered view `query`, streamed to the end: its lines, seconds
    and peak memory. Peak memory is the process's resident high-water mark (Linux resets it
    on request) above what the process held before: tracemalloc would slow the export
    severalfold, so its seconds would say nothing."""
    row = Row(name)
    if url is None:
        row.note = "n/a (no export on this branch)"
        return row
    resident = _memory_mb("VmRSS")
    _restart_peak()
    began = time.perf_counter()
    response = client.get(f"{url}?{query}" if query else url)
    lines = 0
    chunks = getattr(response, "streaming_content", None) or [response.content]
    for chunk in chunks:
        lines += chunk.count(b"\n")
    seconds = time.perf_counter() - began
    row.times.append(seconds * 1000)
    peak = _memory_mb("VmHWM")
    memory = f"peak {peak - resident:.0f} MB above the {resident:.0f} MB held" if peak else ""
    row.note = f"{lines:,} lines in {seconds:.1f} s, {memory or 'peak memory n/a'}"
    return row


def _memory_mb(key: str) -> float:
    """The process's resident memory (VmRSS) or its high-water mark (VmHWM), in MB; 0 where
    /proc doesn't say (not Linux)."""
    try:
        with open("/proc/self/status") as status:
            found = next(line for line in status if line.startswith(f"{key}:"))
    except (OSError, StopIteration):
        return 0.0
    return int(found.split()[1]) / 1024


def _restart_peak() -> None:
    """The resident high-water mark starts again from what the process holds now (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass


# Webhooks ------------------------------------------------------------------------------------


def signed_event(customer_id: str) -> tuple[str, str]:
    """A new `customer.updated` event's body and its Stripe-Signature header, signed now with
    the webhook secret."""
    body = json.dumps(
        {
            "id": f"evt_bench_{uuid.uuid4().hex}",
            "object": "event",
            "type": "customer.updated",
            "api_version": "2025-01-27.acacia",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": {"id": customer_id, "object": "customer"}},
        }
    )
    return body, signature_header(body, settings.STRIPE_WEBHOOK_SECRET, timestamp=int(time.time()))


def measure_webhooks(customer_ids: list[str], *, count: int) -> Row:
    """Signed `customer.updated` events posted one after another: accepts per second."""
    client = Client(SERVER_NAME="localhost")
    row = Row("webhook: signed event accepted")
    began = time.perf_counter()
    for index in range(count):
        body, header = signed_event(customer_ids[index % len(customer_ids)])

        def post(body=body, header=header):
            response = client.post(
                "/stripe/webhook/",
                data=body,
                content_type="application/json",
                headers={"Stripe-Signature": header},
            )
            if response.status_code != 200:
                raise RuntimeError(f"the webhook answered {response.status_code}")

        elapsed, queries = timed(post)
        row.times.append(elapsed)
        row.queries = queries
    row.note = f"{count / (time.perf_counter() - began):.0f} accepts/s (one client, in process)"
    return row


# The table -----------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def table(rows: list[Row]) -> str:
    header = (
        f"{'measurement':<38} {'p50 ms':>8} {'p95 ms':>8} {'queries':>7} "
        f"{'admin p50':>10} {'admin p95':>10} {'ratio':>8}  note"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        admin_p50 = admin_p95 = ratio = ""
        if row.admin_times or row.admin_timeouts:
            samples = row.admin_times + [float("inf")] * row.admin_timeouts
            p50, p95 = percentile(samples, 50), percentile(samples, 95)
            admin_p50 = TIMEOUT if p50 == float("inf") else fmt(p50)
            admin_p95 = TIMEOUT if p95 == float("inf") else fmt(p95)
            ours = row.p50
            if ours and p50 is not None:
                if p50 == float("inf"):
                    ratio = f">{row.admin_timeout_ms / ours:.0f}x"
                else:
                    ratio = f"{p50 / ours:.0f}x"
        if not row.times and not row.note:
            row.note = "n/a"
        lines.append(
            f"{row.name:<38} {fmt(row.p50):>8} {fmt(row.p95):>8} "
            f"{'' if row.queries is None else row.queries:>7} {admin_p50:>10} {admin_p95:>10} "
            f"{ratio:>8}  {row.note}"
        )
    return "\n".join(lines)


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0

"""`manage.py benchmark` builds its dataset and prints its table (no figure is asserted: the
suite times nothing)."""

import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from billing import audit_log
from billing.models import Customer, Invoice, Payment
from devtools.benchmark import dataset
from tests.factories import make_customer


@pytest.fixture
def benchmark_db(committed_db):
    """Committed, for the gunicorn the benchmark starts to see its dataset and session; the
    dataset's marker table (no model, so not flushed) goes with the data."""
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {dataset.MARKER}")


def test_a_small_benchmark_builds_the_dataset_and_prints_every_row(benchmark_db):
    out = io.StringIO()

    call_command(
        "benchmark",
        "--customers=2000",
        "--repeat=1",
        "--sample=2",
        "--admin-samples=1",
        "--admin-timeout=0.5",
        "--webhooks=5",
        "--http-seconds=0.5",
        "--http-connections=2",
        "--http-workers=2",
        stdout=out,
    )

    printed = out.getvalue()
    assert Customer.objects.count() == 2000
    whale = Customer.objects.get(pk=8)
    assert Invoice.objects.filter(customer=whale).count() == 5000
    assert Payment.objects.filter(customer=whale).count() == 5000
    assert "Machine: " in printed
    assert " cores" in printed
    assert re.search(
        r"a 10,000,000-step Python loop in \d+\.\d\d s before the measurements and "
        r"\d+\.\d\d s after",
        printed,
    ), printed
    assert "Dataset: 2,000 customers" in printed
    for row in [
        "search: cus_ id",
        "search: re_ id",
        "search: webmail domain",
        "search: text, 1-2 chars",
        "search: text, 10 chars",
        "search: no match",
        "customer page: typical",
        "customer page: whale",
        "customer page: typical, kept",
        "customer page: whale, kept",
        "approvals: waiting for me",
        "ticket queue: all open",
        "audit log: first page",
        "webhook: signed event accepted",
        "http: customer page, typical, kept",
        "http: customer page, whale, kept",
        "http: customer page, first views",
        "http: webhook accepted",
    ]:
        line = next(line for line in printed.splitlines() if line.startswith(row))
        assert line.split()[len(row.split())] != "-", line  # a p50 was measured
    assert "timeline: whale, first page" in printed  # measured, or n/a before it exists
    # Every page's statements (and the search box's, a page per class) planned both ways.
    planned = re.search(r"Prepared plans: (\d+) statements of the pages above", printed)
    assert planned, printed[-2000:]
    assert int(planned[1]) > 150, planned[0]
    assert "not planned" not in printed, printed[-2000:]  # every page answered, each planned
    for row, unit in [
        ("http: customer page, typical, kept", "req/s"),
        ("http: customer page, whale, kept", "req/s"),
        ("http: customer page, first views", "req/s"),
        ("http: webhook accepted", "accepts/s"),
    ]:
        line = next(line for line in printed.splitlines() if line.startswith(row))
        assert f" {unit}, 2 connections, 2 workers" in line, line
        assert "not 200" not in line, line  # every answer was a 200
    # The export the database writes is the one Python writes, on the whole dataset.
    filters = audit_log.AuditFilters(everyone=True)
    copied = "".join(audit_log._copied_csv(filters))
    assert copied.count("\n") > 20_000
    assert copied == "".join(audit_log._written_csv(filters))


@pytest.mark.django_db
def test_a_database_with_other_customers_is_refused():
    make_customer()

    with pytest.raises(CommandError, match="no benchmark dataset"):
        call_command("benchmark", "--customers=2000", stdout=io.StringIO())

    assert Customer.objects.count() == 1

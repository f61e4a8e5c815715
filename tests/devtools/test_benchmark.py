"""`manage.py benchmark` builds its dataset and prints its table (no figure is asserted: the
suite times nothing)."""

import io

import pytest
from django.core.management import CommandError, call_command

from billing.models import Customer, Invoice, Payment
from tests.factories import make_customer

pytestmark = pytest.mark.django_db


def test_a_small_benchmark_builds_the_dataset_and_prints_every_row():
    out = io.StringIO()

    call_command(
        "benchmark",
        "--customers=2000",
        "--repeat=1",
        "--sample=2",
        "--admin-samples=1",
        "--admin-timeout=0.5",
        "--webhooks=5",
        stdout=out,
    )

    printed = out.getvalue()
    assert Customer.objects.count() == 2000
    whale = Customer.objects.get(pk=8)
    assert Invoice.objects.filter(customer=whale).count() == 5000
    assert Payment.objects.filter(customer=whale).count() == 5000
    assert "Machine: " in printed
    assert " cores" in printed
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
        "approvals: waiting for me",
        "ticket queue: all open",
        "audit log: first page",
        "webhook: signed event accepted",
    ]:
        line = next(line for line in printed.splitlines() if line.startswith(row))
        assert line.split()[len(row.split())] != "-", line  # a p50 was measured
    assert "timeline: whale, first page" in printed  # measured, or n/a before it exists


def test_a_database_with_other_customers_is_refused():
    make_customer()

    with pytest.raises(CommandError, match="no benchmark dataset"):
        call_command("benchmark", "--customers=2000", stdout=io.StringIO())

    assert Customer.objects.count() == 1

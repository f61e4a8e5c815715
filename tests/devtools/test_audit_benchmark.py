"""The audit benchmark runs (at a tiny scale here) and leaves the database as it was."""

from io import StringIO

import pytest
from django.core.management import call_command

from billing.models import Customer

pytestmark = pytest.mark.django_db


def test_a_tiny_audit_benchmark_prints_its_figures_and_rolls_back():
    out = StringIO()

    call_command("audit_benchmark", timeline_rows=40, export_rows=120, stdout=out)

    printed = out.getvalue()
    assert "Timeline first page (41 entries) with 120 history rows" not in printed
    assert "Timeline first page (50 entries) with 120 history rows" in printed
    assert "CSV export of 122 rows" in printed
    assert "peak memory of the process" in printed
    assert not Customer.objects.filter(name="Audit Benchmark Inc").exists()

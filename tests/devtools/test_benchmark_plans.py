"""The benchmark's prepared-plan check (devtools/benchmark/plans.py) plans every statement of
a page both ways, and a page that does not answer, or a statement that cannot be prepared,
is listed as not planned rather than ending the run."""

import pytest
from django.db import connection
from django.test import Client

from accounts.roles import Role
from devtools.benchmark import plans
from tests.factories import make_customer, make_invoice, make_payment, make_staff

pytestmark = pytest.mark.django_db


def test_each_select_of_a_page_is_planned_and_a_failing_page_is_listed():
    customer = make_customer()
    make_payment(customer, invoice=make_invoice(customer))
    client = Client(SERVER_NAME="localhost")
    client.force_login(make_staff(Role.FINANCE))

    check = plans.compare([(client, f"/customers/{customer.pk}/"), (client, "/customers/0/")])

    assert check.statements >= 15, check
    assert check.skipped == ["/customers/0/: answered 404"], check.skipped
    assert "not planned: /customers/0/: answered 404" in check.report()
    # Nothing left behind: no prepared statement of its own, the plan mode as it was.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = 'benchmark_plan'")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "auto"


def test_a_statement_that_cannot_be_prepared_is_listed_and_the_rest_go_on(monkeypatch):
    customer = make_customer()
    client = Client(SERVER_NAME="localhost")
    client.force_login(make_staff(Role.FINANCE))
    real = plans._best_ms
    failed = []

    def failing_once(sql, params, mode):
        if not failed:
            failed.append(sql)
            return real("SELECT * FROM no_such_table", [], mode)
        return real(sql, params, mode)

    monkeypatch.setattr(plans, "_best_ms", failing_once)

    check = plans.compare([(client, f"/customers/{customer.pk}/")])

    assert len(check.skipped) == 1, check.skipped
    assert "no_such_table" in check.skipped[0]
    assert check.statements >= 10, check

"""The global audit log an auditor uses: staff changes by default, filters, keyset pages at a
fixed number of queries, and a streamed CSV export that is itself on record."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import dateformat, timezone

from accounts.audit import audited
from billing import audit_log
from billing.models import Action, ActionKind, ActionState, AuditExport
from tests.factories import make_customer, make_price, make_subscription

pytestmark = pytest.mark.django_db


def make_action(
    customer, actor, *, kind=ActionKind.REFUND, ticket="ZD-100", amount=2000, reason="Duplicate"
):
    with audited(actor=actor, reason=reason, ticket=ticket):
        return Action.objects.create(
            kind=kind,
            state=ActionState.SUCCEEDED,
            customer=customer,
            actor=actor,
            reason_code="duplicate",
            ticket_ref=ticket,
            payload={"amount": amount},
            payload_hash="0" * 64,
            amount=amount,
            currency="usd",
        )


def rename(customer, name, *, actor, ticket=""):
    with audited(actor=actor, reason="Renamed on request", ticket=ticket):
        customer.name = name
        customer.save()


def test_the_default_view_is_staff_changes_and_system_rows_are_one_click_away(
    client, finance_user, auditor_user
):
    customer = make_customer()  # written by the system
    rename(customer, "Renamed Ltd", actor=finance_user)
    client.force_login(auditor_user)

    staff = client.get("/audit/").context["page"].entries
    everyone = client.get("/audit/", {"everyone": "1"}).context["page"].entries

    assert {entry.actor for entry in staff} == {finance_user.username}
    assert "system" in {entry.actor for entry in everyone}
    assert staff[0].changes_text == f"Name: {customer.history.earliest().name} → Renamed Ltd"


def test_filters_by_ticket_customer_and_action_kind(client, support_user, auditor_user):
    first, second = make_customer(), make_customer()
    refund = make_action(first, support_user, ticket="ZD-1")
    make_action(second, support_user, kind=ActionKind.CREDIT, ticket="ZD-2")
    rename(second, "Other", actor=support_user, ticket="ZD-2")
    client.force_login(auditor_user)

    def shown(**query):
        return [
            (e.label, e.object_id) for e in client.get("/audit/", query).context["page"].entries
        ]

    assert shown(ticket="zd-1") == [("billing.action", refund.pk)]
    assert shown(customer=str(first.pk)) == [("billing.action", refund.pk)]
    assert shown(kind=ActionKind.REFUND) == [("billing.action", refund.pk)]
    assert len(shown(customer=str(second.pk))) == 2
    assert client.get("/audit/", {"customer": "abc"}).context["errors"]


def test_the_export_streams_csv_that_parses_and_matches_the_screen(
    client, support_user, auditor_user
):
    customer = make_customer()
    make_action(customer, support_user, ticket="ZD-7", reason="-2000")
    make_action(customer, support_user, ticket="ZD-7", amount=1500, reason='=HYPERLINK("x")')
    client.force_login(auditor_user)

    screen = client.get("/audit/", {"ticket": "ZD-7"}).context["page"].entries
    response = client.get("/audit/export.csv", {"ticket": "ZD-7"})

    assert response.streaming
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["record_type"], int(r["record_id"])) for r in rows] == [
        (e.label, e.object_id) for e in screen
    ]
    assert [r["actor"] for r in rows] == [support_user.username] * 2
    assert dt.datetime.fromisoformat(rows[0]["time"]).tzinfo is not None
    assert rows[0]["amount"] == "1500"
    assert rows[0]["currency"] == "usd"
    assert rows[0]["reason"] == '\'=HYPERLINK("x")'  # a formula does not run
    assert rows[1]["reason"] == "-2000"  # a plain number stays a number
    export = AuditExport.objects.get()
    assert export.exported_by == auditor_user
    assert export.filters == {"ticket": "ZD-7"}


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+33 1", "'+33 1"),
        ("-2000", "-2000"),
        ("-12.5", "-12.5"),
        ("-$5.00", "'-$5.00"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        (None, ""),
    ],
)
def test_cells_are_safe_from_formula_injection(value, cell):
    assert audit_log.safe_cell(value) == cell


@pytest.mark.parametrize("role_user", ["auditor_user", "finance_user", "admin_user"])
def test_auditor_finance_and_admin_read_the_log_and_export(client, request, role_user):
    client.force_login(request.getfixturevalue(role_user))

    assert client.get("/audit/").status_code == 200
    assert client.get("/audit/export.csv").status_code == 200


def test_support_reads_timelines_and_diffs_but_not_the_log_or_exports(client, support_user):
    customer = make_customer()
    client.force_login(support_user)

    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403
    assert client.get(f"/customers/{customer.pk}/?partial=timeline").status_code == 200
    assert client.get(f"/audit/object/billing.customer/{customer.pk}/").status_code == 200
    assert not AuditExport.objects.exists()


def _load(subscription, count, actor):
    start = timezone.now() - dt.timedelta(days=1)
    for n in range(count):
        with audited(actor=actor, reason="load", ticket="ZD-3"):
            subscription.quantity = 10 + n
            subscription._history_date = start + dt.timedelta(seconds=n)
            subscription.save()


def _log_queries(filters) -> int:
    with CaptureQueriesContext(connection) as queries:
        audit_log.page(filters)
    return len(queries)


def test_the_first_page_costs_the_same_queries_with_5_or_500_history_rows(support_user):
    price = make_price()
    small, large = make_customer(), make_customer()
    _load(make_subscription(small, price=price), 5, support_user)
    few = _log_queries(audit_log.AuditFilters(customer=small.pk))
    _load(make_subscription(large, price=price), 500, support_user)

    assert _log_queries(audit_log.AuditFilters(customer=large.pk)) == few


def test_a_row_s_time_and_changes_read_as_the_page_showed_them_before(support_user):
    make_action(make_customer(), support_user, ticket="ZD-7", reason="Duplicate charge")

    entries = audit_log.page(audit_log.AuditFilters(ticket="ZD-7")).entries

    assert entries
    for entry in entries:
        shown = dateformat.format(timezone.localtime(entry.when), "Y-m-d H:i:s")
        assert entry.when_shown == shown
        assert entry.first_changes == [change.text for change in entry.changes[:6]]
        assert entry.more_changes == (len(entry.changes) > 6)

import datetime as dt
import hashlib
import re
from urllib.parse import unquote

import pytest
from django.db import connection
from django.utils import timezone

from accounts.audit import audited
from billing.models import Action, ActionKind, ActionState, ApprovalRequest
from tests.factories import make_customer, make_payment
from tests.screens.test_query_budgets import pending_request as make_pending

pytestmark = pytest.mark.django_db


def test_healthz_answers_200_when_the_database_does(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_503_when_the_database_does_not(client):
    settings_dict = connection.settings_dict
    original = settings_dict["PORT"]
    connection.close()
    settings_dict["PORT"] = "1"  # nothing listens there
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        settings_dict["PORT"] = original

    assert response.status_code == 503


@pytest.fixture
def pending_request(support_user):
    customer = make_customer(name="Hooli")
    with audited(actor=support_user, reason="over limit", ticket="ZD-9"):
        action = Action.objects.create(
            kind=ActionKind.REFUND,
            state=ActionState.PENDING_APPROVAL,
            customer=customer,
            actor=support_user,
            reason_code="duplicate",
            ticket_ref="ZD-9",
            payload={"amount": 25000},
            payload_hash=hashlib.sha256(b"x").hexdigest(),
            amount=25000,
            currency="usd",
        )
        return ApprovalRequest.objects.create(
            action=action,
            requested_by=support_user,
            payload_hash=action.payload_hash,
            expires_at=timezone.now() + dt.timedelta(hours=72),
        )


def test_approvals_inbox_tabs(client, support_user, finance_user, pending_request):
    client.force_login(finance_user)
    waiting = client.get("/approvals/", {"tab": "waiting"})
    client.force_login(support_user)
    mine = client.get("/approvals/", {"tab": "mine"})
    not_for_support = client.get("/approvals/", {"tab": "waiting"})

    def shown(response):
        return [card["approval"] for card in response.context["cards"]]

    assert shown(waiting) == [pending_request]
    assert "$250.00" in waiting.content.decode()
    assert shown(mine) == [pending_request]
    assert shown(not_for_support) == []


def test_audit_log_lists_changes_newest_first_with_filters(client, finance_user, auditor_user):
    customer = make_customer(name="Vandelay Industries")
    with audited(actor=finance_user, reason="Renamed on request", ticket="ZD-55"):
        customer.name = "Vandelay Imports"
        customer.save()
    client.force_login(auditor_user)

    everything = client.get("/audit/").context["page"].entries
    by_ticket = client.get("/audit/", {"ticket": "zd-55"}).context["page"].entries
    by_actor = client.get("/audit/", {"actor": "fran"}).context["page"].entries
    by_model = client.get("/audit/", {"model": "billing.customer"}).context["page"].entries

    assert everything[0].reason == "Renamed on request"
    assert [e.when for e in everything] == sorted((e.when for e in everything), reverse=True)
    assert [(e.model_name, e.change, e.actor, e.ticket) for e in by_ticket] == [
        ("Customer", "changed", "fran", "ZD-55")
    ]
    assert all(e.actor == "fran" for e in by_actor)
    assert {e.model_name for e in by_model} == {"Customer"}


def test_audit_log_pages_without_gaps_or_repeats(client, auditor_user):
    customers = [make_customer() for _ in range(7)]
    client.force_login(auditor_user)

    seen = []
    query = {"model": "billing.customer", "everyone": "1"}
    while True:
        page = client.get("/audit/", query).context["page"]
        seen.extend((e.label, e.history_id) for e in page.entries)
        if not page.next_cursor:
            break
        query = {"model": "billing.customer", "everyone": "1", "before": page.next_cursor}
        if len(seen) > 100:
            break

    assert len(seen) == len(set(seen)) == len(customers)


def test_audit_log_page_size_split(client, auditor_user):
    from billing import audit_log

    for _ in range(5):
        make_customer()
    first = audit_log.page(audit_log.AuditFilters(model="billing.customer", everyone=True), size=2)
    second = audit_log.page(
        audit_log.AuditFilters(
            model="billing.customer",
            everyone=True,
            cursor=audit_log.parse_cursor(first.next_cursor),
        ),
        size=2,
    )

    assert len(first.entries) == 2
    assert len(second.entries) == 2
    assert {e.history_id for e in first.entries}.isdisjoint({e.history_id for e in second.entries})


def test_audit_log_rejects_a_malformed_date(client, auditor_user):
    client.force_login(auditor_user)

    response = client.get("/audit/", {"date_from": "yesterday"})

    assert response.status_code == 200
    assert "is not a date" in response.content.decode()


def test_policy_page_shows_the_limits(client, support_user):
    client.force_login(support_user)

    html = client.get("/policy/").content.decode()

    assert "$100.00" in html  # support refund per action
    assert "$20,000.00" in html  # finance refund per 24 h
    assert "up to 30 days" in html


def test_staff_page_lists_roles(client, admin_user, support_user):
    client.force_login(admin_user)

    html = client.get("/staff/").content.decode()

    assert "sam" in html
    assert '<span class="role">support</span>' in html


def test_the_inbox_pages_every_request_without_gaps(client, support_user, finance_user):
    """Pages follow the last card shown, so cards decided in place on one page (they leave the
    tab) shift nothing: the next page starts where this one ended."""
    customer = make_customer()
    with audited(actor=support_user, reason="test: thirty requests waiting"):
        made = [make_pending(customer, support_user, make_payment(customer)) for _ in range(30)]
    client.force_login(finance_user)

    def shown(response):
        return [card["approval"].pk for card in response.context["cards"]]

    first = client.get("/approvals/", {"tab": "waiting"})
    html = first.content.decode()
    next_link = re.search(r'href="\?tab=waiting&amp;after=([^"]+)"', html).group(1)
    with audited(actor=finance_user, reason="test: three decided on the first page"):
        for approval in ApprovalRequest.objects.filter(pk__in=shown(first)[:3]):
            approval.decision, approval.decided_by = "rejected", finance_user
            approval.decided_at, approval.decision_note = timezone.now(), "not needed"
            approval.save()
    second = client.get("/approvals/", {"tab": "waiting", "after": unquote(next_link)})
    malformed = [
        client.get("/approvals/", {"tab": "waiting", "after": raw})
        for raw in ("x", "2026-13-01|1", "2026-12-01T00:00:00|²", "2026-12-01T00:00:00|4")
    ]

    assert len(shown(first)) == 25
    assert shown(first) + shown(second) == [request.pk for request in made]
    assert "Next" not in second.content.decode()
    assert 'href="?tab=waiting">← First page' in second.content.decode()
    for response in malformed:  # not a cursor (or one without its zone): the first page
        assert response.status_code == 200
        assert shown(response) == [r.pk for r in made[3:28]]

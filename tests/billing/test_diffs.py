"""An object's history as changes people read: field: old → new, amounts formatted, related
records named, who, when, reason and ticket; the creation row shows the initial values."""

import datetime as dt
import zoneinfo

import pytest
from django.urls import reverse

from accounts.audit import audited
from billing import diffs
from billing.models import Payment, PolicyLimit
from tests.factories import make_customer, make_invoice, make_payment, make_ticket

pytestmark = pytest.mark.django_db


def test_a_change_shows_old_and_new_in_people_s_words(finance_user):
    customer = make_customer()
    invoice = make_invoice(customer, number="INV-0042")
    payment = make_payment(customer, amount=5000)

    with audited(actor=finance_user, reason="Refund of a duplicate", ticket="ZD-48213"):
        payment.amount_refunded = 1200
        payment.invoice = invoice
        payment.save()

    latest, created = diffs.object_history(Payment, payment.pk)
    assert latest.kind == "changed"
    assert latest.actor == finance_user.username
    assert latest.reason == "Refund of a duplicate"
    assert latest.ticket == "ZD-48213"
    assert {(c.field, c.old, c.new) for c in latest.changes} == {
        ("Amount refunded", "$0.00", "$12.00"),
        ("Invoice", "—", str(invoice)),
    }
    assert created.kind == "created"
    assert created.actor == "system"
    assert ("Amount", "", "$50.00") in [(c.field, c.old, c.new) for c in created.changes]


def test_choices_show_their_labels():
    ticket = make_ticket(make_customer(), status="open")

    with audited(actor=None, reason="Stripe webhook: nothing to do with tickets"):
        ticket.status = "pending"
        ticket.save()

    latest = diffs.object_history(type(ticket), ticket.pk)[0]
    assert latest.actor == "Stripe"
    assert [(c.field, c.old, c.new) for c in latest.changes] == [("Status", "Open", "Pending")]


def test_the_object_history_page_lists_the_changes(client, support_user, finance_user):
    payment = make_payment(make_customer(), amount=5000)
    with audited(actor=finance_user, reason="Partial refund", ticket="ZD-1"):
        payment.amount_refunded = 700
        payment.save()
    client.force_login(support_user)

    response = client.get(reverse("object_history", args=["billing.payment", payment.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Amount refunded" in body
    assert "$7.00" in body
    assert "Partial refund" in body


def test_policy_limits_have_a_history_page(client, auditor_user):
    limit = PolicyLimit.objects.first()
    client.force_login(auditor_user)

    response = client.get(reverse("object_history", args=["billing.policylimit", limit.pk]))

    assert response.status_code == 200


def test_an_unknown_kind_of_record_is_404(client, auditor_user):
    client.force_login(auditor_user)

    assert client.get("/audit/object/billing.nothing/1/").status_code == 404
    assert client.get("/audit/object/billing.payment/999999/").status_code == 404


def history_diffs(model, pks) -> list[diffs.Diff]:
    """Every history row of the objects `pks`, each with its previous version."""
    history = diffs.history_model(model)
    rows = list(history.objects.filter(id__in=pks).order_by("history_id"))
    previous = diffs.previous_versions(history, rows)
    return [(history, row, previous.get((history, row.history_id))) for row in rows]


def test_the_export_s_change_texts_read_as_the_screen_s_changes_joined(finance_user):
    customer = make_customer(name="Globex")
    invoice = make_invoice(customer, number="INV-7")
    payment = make_payment(customer, amount=5000)
    with audited(actor=finance_user, reason="Refund", ticket="ZD-1"):
        payment.amount_refunded = 1200
        payment.invoice = invoice
        payment.save()
    items = history_diffs(Payment, [payment.pk])

    texts = diffs.changes_texts(items)

    assert texts == ["; ".join(c.text for c in shown) for shown in diffs.field_changes(items)]
    assert "Amount: $50.00" in texts[0]  # the creation: initial values
    assert texts[1] == f"Invoice: — → {invoice}; Amount refunded: $0.00 → $12.00"


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2026, 11, 30, 14, 5, 9, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 30, 14, 5, 9, tzinfo=zoneinfo.ZoneInfo("UTC")),
        dt.datetime(2026, 11, 30, 15, 5, 9, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        dt.datetime(2026, 11, 30, 9, 5, 9, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    ],
)
def test_a_time_shows_in_utc_whatever_zone_it_comes_in(moment):
    assert diffs._when(moment) == "2026-11-30 14:05 UTC"

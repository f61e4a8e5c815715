"""An object's history as changes people read: field: old → new, amounts formatted, related
records named, who, when, reason and ticket; the creation row shows the initial values."""

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

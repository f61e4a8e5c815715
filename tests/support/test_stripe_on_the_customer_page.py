import pytest

from accounts.audit import audited
from billing import actions
from billing.models import BalanceTransaction, Invoice, Refund
from billing.stripe import gateway
from devtools import stripe_client
from tests import stripe_scenarios as scenario
from tests.billing.conftest import mirrored_account


@pytest.fixture
def mirrored(db, stripe_emulator):
    return mirrored_account()


def test_compare_with_stripe_lists_the_differences(client, support_user, mirrored):
    customer = mirrored.customer
    with audited(actor=None, reason="test: drift planted"):
        customer.name = "Renamed here only"
        customer.save()
    client.force_login(support_user)

    response = client.get(f"/customers/{customer.pk}/drift/", headers={"HX-Request": "true"})

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="drift">')
    assert "1 difference with Stripe" in html
    assert "name: ours Renamed here only" in html


def test_compare_says_so_when_there_is_no_drift(client, auditor_user, mirrored):
    client.force_login(auditor_user)

    html = client.get(f"/customers/{mirrored.customer.pk}/drift/").content.decode()

    assert "the mirror matches Stripe" in html


def test_resync_from_stripe_brings_the_customer_level_and_records_who_asked(
    client, support_user, mirrored
):
    customer = mirrored.customer
    gateway.create_balance_transaction(
        customer_id=customer.stripe_customer_id,
        amount=-1200,
        currency="usd",
        description="Made in Stripe's dashboard",
        metadata={},
        idempotency_key=scenario.key("credit"),
    )
    stripe_client.update_customer(
        customer_id=customer.stripe_customer_id,
        params={"name": "Renamed at Stripe"},
        idempotency_key=scenario.key("rename"),
    )
    client.force_login(support_user)

    response = client.post(f"/customers/{customer.pk}/resync/", follow=True)

    assert "Resynced from Stripe" in response.content.decode()
    assert BalanceTransaction.objects.filter(customer=customer, amount=-1200).exists()
    latest = customer.history.latest()
    assert latest.name == "Renamed at Stripe"
    assert (latest.history_change_reason, latest.history_user) == (
        "Resync from Stripe",
        support_user,
    )


def test_an_auditor_cannot_resync(client, auditor_user, mirrored):
    client.force_login(auditor_user)

    assert client.post(f"/customers/{mirrored.customer.pk}/resync/").status_code == 403


def test_resync_when_stripe_does_not_answer_says_so(
    client, support_user, mirrored, stripe_emulator
):
    stripe_emulator.add_fault("/v1/customers/", "503", method="GET", count=3)
    client.force_login(support_user)

    response = client.post(f"/customers/{mirrored.customer.pk}/resync/", follow=True)

    assert response.status_code == 200
    assert "Stripe did not answer" in response.content.decode()


def test_the_customer_page_shows_what_invoices_bill_for_and_the_balance_transactions(
    client, finance_user, mirrored
):
    refund = actions.request_refund(
        actor=finance_user,
        payment=mirrored.payment,
        amount=1000,
        reason="duplicate",
        ticket="ZD-48213",
        note="",
    )
    invoice = Invoice.objects.get(customer=mirrored.customer)
    mirrored.payment.refresh_from_db()
    ledger = Refund.objects.get(stripe_refund_id=refund.stripe_object_id)
    client.force_login(finance_user)

    html = client.get(f"/customers/{mirrored.customer.pk}/").content.decode()

    service = f"{invoice.service_period_start:%Y-%m-%d} → {invoice.service_period_end:%Y-%m-%d}"
    assert "<th>Service period</th>" in html
    assert service in html
    assert mirrored.payment.stripe_balance_transaction_id in html
    assert ledger.stripe_balance_transaction_id.startswith("txn_")
    assert ledger.stripe_balance_transaction_id in html

"""What the mirror keeps of an invoice's period and of the money's balance transactions.

An invoice bills for its lines' periods (its service period); Stripe's invoice
`period_start`/`period_end` are only the window of pending items, which for a renewal is the
period that just ended. Payments and refunds keep the `txn_` balance transaction that moved
their money: finance reconciles payouts by it.
"""

import datetime as dt

import pytest
import stripe
from django.conf import settings

from accounts.audit import audited
from billing import actions
from billing.models import Invoice, Payment, Refund
from billing.stripe import gateway
from billing.stripe.mirror import resync_customer
from billing.stripe.sync import drift
from tests import stripe_scenarios as scenario
from tests.billing.conftest import mirrored_account

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stripe_emulator")]

DAY = 86_400
JAN_1 = 1_767_225_600  # 2026-01-01T00:00:00Z
FEB_1 = 1_769_904_000
MAR_1 = 1_772_323_200


def at(timestamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def stripe_api() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_API_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=0,
    )


@pytest.fixture
def january(stripe_emulator):
    stripe_emulator.set_clock(JAN_1, frozen=True)
    return stripe_emulator


# Invoice periods ----------------------------------------------------------------------------


def test_a_renewal_is_mirrored_with_the_period_it_bills_not_the_one_that_ended(january):
    account = mirrored_account(quantity=2, unit_amount=1000)
    january.advance_clock_to(FEB_1 + 3600)

    resync_customer(account.customer.stripe_customer_id, reason="test: renewed")

    renewal = Invoice.objects.get(customer=account.customer, created=at(FEB_1))
    assert (renewal.service_period_start, renewal.service_period_end) == (at(FEB_1), at(MAR_1))
    assert (renewal.period_start, renewal.period_end) == (at(JAN_1), at(FEB_1))
    first = Invoice.objects.get(customer=account.customer, created=at(JAN_1))
    assert (first.service_period_start, first.service_period_end) == (at(JAN_1), at(FEB_1))
    assert first.period_start == first.period_end == at(JAN_1)
    assert drift(customer=account.customer) == []


def test_an_invoice_with_more_lines_than_stripe_embeds_spans_them_all(january):
    buyer = scenario.customer()
    api = stripe_api()
    for day in range(12):
        api.v1.invoice_items.create(
            {
                "customer": buyer.id,
                "amount": 100,
                "currency": "usd",
                "period": {"start": JAN_1 - (40 - day) * DAY, "end": JAN_1 - (39 - day) * DAY},
            }
        )
    invoice = api.v1.invoices.create(
        {"customer": buyer.id, "pending_invoice_items_behavior": "include"}
    )
    api.v1.invoices.finalize_invoice(invoice.id)
    assert api.v1.invoices.retrieve(invoice.id).lines.has_more is True

    resync_customer(buyer.id, reason="test: many lines")

    mirrored = Invoice.objects.get(stripe_invoice_id=invoice.id)
    assert mirrored.service_period_start == at(JAN_1 - 40 * DAY)
    assert mirrored.service_period_end == at(JAN_1 - 28 * DAY)


def test_an_invoice_without_lines_has_no_service_period(january):
    buyer = scenario.customer()
    invoice = stripe_api().v1.invoices.create({"customer": buyer.id})

    resync_customer(buyer.id, reason="test: empty invoice")

    mirrored = Invoice.objects.get(stripe_invoice_id=invoice.id)
    assert (mirrored.service_period_start, mirrored.service_period_end) == (None, None)
    assert mirrored.period_start == mirrored.period_end == at(JAN_1)


def test_drift_lists_a_service_period_the_mirror_does_not_hold_and_resync_fills_it(january):
    account = mirrored_account()
    invoice = Invoice.objects.get(customer=account.customer)
    with audited(actor=None, reason="test: mirrored before service periods were kept"):
        invoice.service_period_start = invoice.service_period_end = None
        invoice.save()

    found = drift(customer=account.customer)
    resync_customer(account.customer.stripe_customer_id, reason="test: resync")

    assert {(d.stripe_id, d.field, d.stripe) for d in found} == {
        (invoice.stripe_invoice_id, "service_period_start", "2026-01-01 00:00:00"),
        (invoice.stripe_invoice_id, "service_period_end", "2026-02-01 00:00:00"),
    }
    invoice.refresh_from_db()
    assert invoice.service_period_start == at(JAN_1)
    assert drift(customer=account.customer) == []


# Balance transactions -----------------------------------------------------------------------


def test_a_payment_records_the_balance_transaction_of_its_charge(stripe_emulator):
    account = mirrored_account()

    charge = stripe_emulator.get(account.payment.stripe_charge_id)

    assert account.payment.stripe_balance_transaction_id == charge["balance_transaction"]
    assert account.payment.stripe_balance_transaction_id.startswith("txn_")


def test_a_failed_payment_moved_no_money_and_records_none(stripe_emulator):
    mirrored_account(card="pm_card_chargeCustomerFail")

    failed = Payment.objects.get()

    assert failed.status == "failed"
    assert failed.stripe_balance_transaction_id == ""


def test_a_refund_records_the_balance_transaction_it_took_from(stripe_emulator, finance_user):
    account = mirrored_account()

    action = actions.request_refund(
        actor=finance_user,
        payment=account.payment,
        amount=1500,
        reason="duplicate",
        ticket="ZD-48213",
        note="",
    )

    ledger = Refund.objects.get(payment=account.payment)
    at_stripe = stripe_emulator.get(action.stripe_object_id)
    transaction = stripe_emulator.get(ledger.stripe_balance_transaction_id)
    assert ledger.stripe_balance_transaction_id == at_stripe["balance_transaction"]
    assert (transaction["type"], transaction["amount"]) == ("refund", -1500)


def test_drift_lists_a_payments_balance_transaction_that_differs():
    account = mirrored_account()
    payment = account.payment
    theirs = payment.stripe_balance_transaction_id
    with audited(actor=None, reason="test: drift planted"):
        payment.stripe_balance_transaction_id = "txn_elsewhere"
        payment.save()

    found = drift(customer=account.customer)

    assert [(d.field, d.local, d.stripe) for d in found] == [
        ("stripe_balance_transaction_id", "txn_elsewhere", theirs)
    ]


def test_drift_lists_a_refunds_balance_transaction_that_differs():
    account = mirrored_account()
    refunded = gateway.create_refund(
        charge_id=account.payment.stripe_charge_id,
        amount=700,
        reason="",
        metadata={},
        idempotency_key=scenario.key("refund"),
    )
    # The ledger is insert-only: the difference is planted as the row itself, recorded wrong.
    with audited(actor=None, reason="test: drift planted"):
        Refund.objects.create(
            payment=account.payment,
            stripe_refund_id=refunded.id,
            amount=700,
            currency="usd",
            status="succeeded",
            stripe_balance_transaction_id="txn_elsewhere",
            created=refunded.created,
        )

    found = [d for d in drift(customer=account.customer) if d.kind == "refund"]

    assert [(d.field, d.local, d.stripe) for d in found] == [
        ("balance_transaction", "txn_elsewhere", refunded.balance_transaction)
    ]

"""The querysets built once per process (billing/models/prebuilt.py) read the database anew at
every use: what a page shows after a refund or a credit is what the ledger holds then."""

import pytest
from django.db.models import Sum

from accounts.audit import audited
from billing.models import (
    BalanceTransaction,
    Refund,
    customers_with_balance,
    ledger_with_reversible,
    payments_with_refundable,
)
from tests.factories import fake_stripe_id, make_customer, make_invoice, make_payment

pytestmark = pytest.mark.django_db


def test_each_use_reads_the_rows_as_they_are_now():
    customer = make_customer()
    payment = make_payment(customer, invoice=make_invoice(customer), amount=5000)
    assert payments_with_refundable().get(pk=payment.pk).refundable == 5000
    assert customers_with_balance().get(pk=customer.pk).balance_amount == 0

    with audited(actor=None, reason="test: a refund and a credit after the first read"):
        Refund.objects.create(
            payment=payment,
            stripe_refund_id=fake_stripe_id("re"),
            amount=1200,
            currency=payment.currency,
            status="succeeded",
            created=payment.created,
        )
        credit = BalanceTransaction.objects.create(
            customer=customer,
            stripe_balance_transaction_id=fake_stripe_id("cbtxn"),
            amount=-700,
            currency=customer.currency,
            ending_balance=-700,
            created=payment.created,
        )

    assert payments_with_refundable().get(pk=payment.pk).refundable == 3800
    assert customers_with_balance().get(pk=customer.pk).balance_amount == -700
    assert ledger_with_reversible().get(pk=credit.pk).reversible == 700
    # Another customer's rows are theirs: each use filters its own clone.
    other = make_customer()
    assert not ledger_with_reversible().filter(customer=other).exists()
    assert ledger_with_reversible().filter(customer=customer).aggregate(t=Sum("amount")) == {
        "t": -700
    }

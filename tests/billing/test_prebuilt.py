"""The querysets built once per process (billing/models/prebuilt.py) read the database anew at
every use: what a page shows after a refund or a credit is what the ledger holds then."""

import pytest
from django.db.models import Sum

from accounts.audit import audited
from billing.models import (
    BalanceTransaction,
    Customer,
    Payment,
    Refund,
    customers_with_balance,
    ledger_with_reversible,
    payments_with_refundable,
)
from tests.factories import (
    fake_stripe_id,
    make_credit,
    make_customer,
    make_invoice,
    make_payment,
)

pytestmark = pytest.mark.django_db


def test_each_is_the_one_definition_as_a_fresh_queryset():
    for prebuilt, definition in [
        (customers_with_balance, Customer.objects.with_balance),
        (ledger_with_reversible, BalanceTransaction.objects.with_reversible),
        (payments_with_refundable, Payment.objects.with_refundable),
    ]:
        assert prebuilt() is not prebuilt()
        assert str(prebuilt().query) == str(definition().query)


def test_each_use_reads_the_rows_as_they_are_now():
    customer = make_customer()
    payment = make_payment(customer, invoice=make_invoice(customer), amount=5000)
    # Read whole, unfiltered, before the writes: a queryset kept with its rows would show them.
    assert [p.refundable for p in payments_with_refundable()] == [5000]
    assert [c.balance_amount for c in customers_with_balance()] == [0]
    assert list(ledger_with_reversible()) == []

    with audited(actor=None, reason="test: a refund and a credit after the first read"):
        Refund.objects.create(
            payment=payment,
            stripe_refund_id=fake_stripe_id("re"),
            amount=1200,
            currency=payment.currency,
            status="succeeded",
            created=payment.created,
        )
        credit = make_credit(customer, amount=700, created=payment.created)

    assert [p.refundable for p in payments_with_refundable()] == [3800]
    assert [c.balance_amount for c in customers_with_balance()] == [-700]
    assert ledger_with_reversible().get(pk=credit.pk).reversible == 700
    # Another customer's rows are theirs: each use filters its own clone.
    other = make_customer()
    assert not ledger_with_reversible().filter(customer=other).exists()
    assert ledger_with_reversible().filter(customer=customer).aggregate(t=Sum("amount")) == {
        "t": -700
    }

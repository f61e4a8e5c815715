"""The querysets built once per process (billing/models/prebuilt.py) read the database anew at
every use: what a page shows after a refund or a credit is what the ledger holds then. Those
compiled once run each call's own values."""

import datetime as dt

import pytest
from django.db.models import Prefetch, Sum
from django.utils import timezone

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
from billing.models.prebuilt import CompiledOnce
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


def test_compiled_once_runs_each_calls_values_through_sql_compiled_once(
    django_assert_num_queries, monkeypatch
):
    monkeypatch.setattr(CompiledOnce, "VERIFY", False)  # which builds again at every call
    builds = []

    def build(page, *, customer, at):
        builds.append(page)
        return (
            Payment.objects.filter(customer=customer, created__lte=at)
            .select_related("invoice")
            .prefetch_related("refunds")
            .order_by("-created", "-id")[(page - 1) * 2 : page * 2]
        )

    payments = CompiledOnce(build, customer=int, at=dt.datetime)
    first, second = make_customer(), make_customer()
    made = {
        customer.pk: [
            make_payment(customer, invoice=make_invoice(customer), amount=amount)
            for amount in (100, 200, 300)
        ]
        for customer in (first, second)
    }
    now = timezone.now()
    for customer in (first, second):
        with django_assert_num_queries(2):  # the rows with their invoices, then the refunds
            rows = list(payments(1, customer=customer.pk, at=now))
            assert [row.invoice.customer_id for row in rows] == [customer.pk] * 2
            assert [list(row.refunds.all()) for row in rows] == [[], []]
        newest_first = sorted(made[customer.pk], key=lambda p: (p.created, p.pk), reverse=True)
        assert rows == newest_first[:2]
        assert list(payments(2, customer=customer.pk, at=now)) == newest_first[2:]
    # Before any payment was made: none.
    assert list(payments(1, customer=first.pk, at=now - dt.timedelta(days=3650))) == []
    # Built (and compiled) once per page number, whatever the values.
    assert builds == [1, 1, 2, 2]  # two sets of stand-ins each


def test_compiled_once_keeps_a_bounded_number_of_shapes(monkeypatch):
    """Page numbers come from requests: asking for every page keeps only the last few."""
    monkeypatch.setattr(CompiledOnce, "SHAPES_KEPT", 3)
    customer = make_customer()
    made = [make_payment(customer, invoice=make_invoice(customer)) for _ in range(6)]
    newest_first = sorted(made, key=lambda p: (p.created, p.pk), reverse=True)
    by_page = CompiledOnce(
        lambda page, *, customer: Payment.objects.filter(customer=customer).order_by(
            "-created", "-id"
        )[page - 1 : page],
        customer=int,
    )
    for _ in range(2):
        for page in range(1, 7):
            assert list(by_page(page, customer=customer.pk)) == [newest_first[page - 1]]
            assert len(by_page._compiled) <= 3


def test_compiled_once_refuses_what_it_cannot_serve():
    ignored = CompiledOnce(lambda *, customer: Customer.objects.filter(pk=1), customer=int)
    with pytest.raises(TypeError, match="not the query's parameters"):
        ignored(customer=5)
    with pytest.raises(TypeError, match="No stand-in"):
        CompiledOnce(lambda *, amount: Payment.objects.filter(amount=amount), amount=float)
    # A value computed from one, in the query or in a prefetch, would stay the stand-in's.
    a_month_before = CompiledOnce(
        lambda *, customer, at: Payment.objects.filter(
            customer=customer, created__gte=at - dt.timedelta(days=30)
        ),
        customer=int,
        at=dt.datetime,
    )
    with pytest.raises(TypeError, match="computed from a value"):
        a_month_before(customer=5, at=timezone.now())
    refunds_until = CompiledOnce(
        lambda *, customer, at: Payment.objects.filter(
            customer=customer, created__lte=at
        ).prefetch_related(Prefetch("refunds", queryset=Refund.objects.filter(created__lte=at))),
        customer=int,
        at=dt.datetime,
    )
    with pytest.raises(TypeError, match="prefetch"):
        refunds_until(customer=5, at=timezone.now())


def test_compiled_once_takes_only_values_of_their_type():
    by_customer = CompiledOnce(
        lambda *, customer: Customer.objects.filter(pk=customer), customer=int
    )
    customer = make_customer()
    for wrong in (
        {"pk": customer.pk},
        {"customer": True},
        {"customer": None},
        {"customer": str(customer.pk)},
        {"customer": customer},
    ):
        with pytest.raises(TypeError):
            by_customer(**wrong)
    since = CompiledOnce(lambda *, at: Customer.objects.filter(created__lte=at), at=dt.datetime)
    with pytest.raises(TypeError, match="aware"):
        since(at=dt.datetime(2026, 1, 1))
    # An id no column holds matches no row, as Django's own compiling has it.
    assert list(by_customer(customer=2**70)) == []
    assert list(by_customer(customer=customer.pk)) == [customer]


def test_what_derives_from_a_compiled_query_is_built_anew_from_its_values(
    django_assert_num_queries,
):
    customer, other = make_customer(name="Ada"), make_customer(name="Bob")
    payments = [make_payment(customer, invoice=make_invoice(customer)) for _ in range(3)]
    make_payment(other, invoice=make_invoice(other))
    of_customer = CompiledOnce(
        lambda *, customer: Payment.objects.filter(customer=customer).order_by("pk"),
        customer=int,
    )
    rows = of_customer(customer=customer.pk)
    assert rows.count() == 3
    assert rows.exists()
    assert rows.first() == payments[0]
    assert list(rows[1:]) == payments[1:]
    assert list(rows.filter(pk=payments[2].pk)) == [payments[2]]
    assert "Payment" in repr(rows)
    assert not of_customer(customer=other.pk).filter(pk=payments[0].pk).exists()
    with django_assert_num_queries(1):
        assert len(rows) == 3  # read as built: the compiled SQL, once
        assert bool(rows)


def test_a_prefetch_of_a_compiled_query_keeps_nothing_of_a_call(monkeypatch):
    """Django writes the first row into a prefetch queryset's hints: each call has its own."""
    monkeypatch.setattr(CompiledOnce, "VERIFY", False)
    with_refunds = CompiledOnce(
        lambda *, customer: Payment.objects.filter(customer=customer).prefetch_related(
            Prefetch("refunds", queryset=Refund.objects.order_by("-created"))
        ),
        customer=int,
    )
    customer = make_customer()
    make_payment(customer, invoice=make_invoice(customer))
    [payment] = with_refunds(customer=customer.pk)
    assert list(payment.refunds.all()) == []
    [kept] = with_refunds._compiled.values()
    [prefetch] = kept.queryset._prefetch_related_lookups
    assert "instance" not in prefetch.queryset._hints


def test_the_pages_used_most_stay_compiled(monkeypatch):
    monkeypatch.setattr(CompiledOnce, "SHAPES_KEPT", 2)
    builds = []

    def build(page, *, customer):
        builds.append(page)
        return Payment.objects.filter(customer=customer).order_by("pk")[page - 1 : page]

    by_page = CompiledOnce(build, customer=int)
    monkeypatch.setattr(CompiledOnce, "VERIFY", False)
    customer = make_customer()
    for page in (1, 2, 1, 3, 1, 4, 1):
        list(by_page(page, customer=customer.pk))
    assert builds.count(1) == 2  # compiled once (two builds: two sets of stand-ins)
    assert list(by_page._compiled) == [((int, 4),), ((int, 1),)]


def test_verify_catches_sql_that_depends_on_the_values():
    """On in the whole suite: a query whose SQL changes with a value fails at its use."""
    assert CompiledOnce.VERIFY
    shaped = CompiledOnce(
        lambda *, customer: (
            Customer.objects.filter(pk=customer)
            if customer != 5
            else Customer.objects.filter(pk=customer, name="x")
        ),
        customer=int,
    )
    shaped(customer=4)
    with pytest.raises(AssertionError, match="SQL differs"):
        shaped(customer=5)


def test_a_compiled_query_counts_its_own_sql(django_assert_num_queries):
    customer, other = make_customer(), make_customer()
    for owner, count in ((customer, 3), (other, 1)):
        for _ in range(count):
            make_payment(owner, invoice=make_invoice(owner))
    of_customer = CompiledOnce(
        lambda *, customer: Payment.objects.filter(customer=customer), customer=int
    )
    of_customer(customer=customer.pk).count()  # compiled
    with django_assert_num_queries(1) as captured:
        assert of_customer(customer=customer.pk).count() == 3
    assert captured.captured_queries[0]["sql"].startswith("SELECT count(*) FROM (")
    assert of_customer(customer=other.pk).count() == 1

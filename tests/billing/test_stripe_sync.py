"""Backfill from Stripe's lists (resumable), the drift report, and per-customer resync."""

import pytest
from django.core.management import CommandError, call_command

from accounts.audit import audited
from billing.models import (
    BalanceTransaction,
    Customer,
    Invoice,
    Payment,
    Plan,
    Price,
    Refund,
    Subscription,
    SyncCursor,
)
from billing.stripe import gateway
from billing.stripe.mirror import resync_customer
from billing.stripe.sync import backfill, drift
from tests import stripe_scenarios as scenario

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stripe_emulator")]


def build_account(customers: int = 5) -> list[gateway.CustomerData]:
    price = scenario.plan()
    made = []
    for number in range(customers):
        buyer = scenario.customer(name=f"Sync {number}", handle=f"sync-{number}")
        scenario.subscription(buyer.id, price.id, quantity=number + 1)
        charge = scenario.charges_of(buyer.id)[0]
        if number % 2 == 0:
            gateway.create_refund(
                charge_id=charge.id,
                amount=100,
                reason="",
                metadata={},
                idempotency_key=scenario.key("refund"),
            )
            gateway.create_balance_transaction(
                customer_id=buyer.id,
                amount=-250,
                currency="usd",
                description="Credit",
                metadata={},
                idempotency_key=scenario.key("credit"),
            )
        made.append(buyer)
    return made


def no_progress(resource, count, done):
    pass


def test_backfill_mirrors_everything_stripe_lists(stripe_emulator):
    build_account(5)

    read = backfill(progress=no_progress)

    at_stripe = stripe_emulator.state()
    assert read > 0
    assert Customer.objects.count() == len(at_stripe["customer"]) == 5
    assert Subscription.objects.count() == 5
    assert Invoice.objects.count() == len(at_stripe["invoice"])
    assert Payment.objects.count() == len(at_stripe["charge"])
    assert Refund.objects.count() == 3
    assert BalanceTransaction.objects.count() == 3
    assert Plan.objects.get().entitlements.count() == 2
    assert Price.objects.get().stripe_price_id.startswith("price_")
    assert not Customer.objects.filter(stripe_customer_id=None).exists()
    assert drift() == []


def test_an_interrupted_backfill_resumes_where_it_stopped(stripe_emulator):
    build_account(6)
    stripe_emulator.add_fault("/v1/invoices", "500", method="GET", count=1)

    with pytest.raises(gateway.StripeUnavailable):
        backfill(page_size=2, progress=no_progress)
    customers_done = SyncCursor.objects.get(resource="customers")
    invoices_cursor = SyncCursor.objects.get(resource="invoices")
    seen = []
    backfill(page_size=2, progress=lambda resource, count, done: seen.append(resource))

    assert customers_done.completed_at is not None
    assert invoices_cursor.completed_at is None
    assert "customers" in seen
    assert seen.index("customers") < seen.index("invoices")
    assert drift() == []
    assert not SyncCursor.objects.exclude(completed_at=None).exists()  # reset for the next run


def test_resuming_skips_lists_already_done_and_the_next_run_starts_over(stripe_emulator):
    build_account(3)
    stripe_emulator.add_fault("/v1/charges", "500", method="GET", count=1)
    with pytest.raises(gateway.StripeUnavailable):
        backfill(progress=no_progress)
    newcomer = scenario.customer(name="Signed up meanwhile", handle="newcomer")

    backfill(progress=no_progress)
    after_resume = Customer.objects.filter(stripe_customer_id=newcomer.id).exists()
    backfill(progress=no_progress)

    assert after_resume is False  # the customers list was done before the interruption
    assert Customer.objects.filter(stripe_customer_id=newcomer.id).exists()
    assert drift() == []


def test_the_sync_command_shows_progress_and_fails_clearly(stripe_emulator, capsys):
    build_account(2)
    stripe_emulator.add_fault("/v1/subscriptions", "503", method="GET", count=1)

    with pytest.raises(CommandError, match="run again to resume"):
        call_command("stripe_sync")
    call_command("stripe_sync")

    output = capsys.readouterr().out
    assert "customers" in output
    assert "done" in output
    assert "Mirrored" in output


def test_drift_lists_every_planted_difference(stripe_emulator):
    buyers = build_account(3)
    backfill(progress=no_progress)
    customer = Customer.objects.get(stripe_customer_id=buyers[0].id)
    invoice = Invoice.objects.filter(customer=customer).first()
    with audited(actor=None, reason="planting drift for a test"):
        customer.name = "Renamed Locally"
        customer.save()
        invoice.amount_paid = invoice.amount_paid - 1
        invoice.save()
    gateway.create_balance_transaction(  # at Stripe only: the mirror never heard of it
        customer_id=buyers[1].id,
        amount=-999,
        currency="usd",
        description="Unseen",
        metadata={},
        idempotency_key=scenario.key("credit"),
    )

    found = {(d.kind, d.stripe_id, d.field) for d in drift()}

    assert ("customer", buyers[0].id, "name") in found
    assert ("invoice", invoice.stripe_invoice_id, "amount_paid") in found
    assert ("customer", buyers[1].id, "balance") in found
    assert any(kind == "balance transaction" and field == "exists" for kind, _, field in found)
    assert len(found) == 4


def test_the_drift_command_exits_non_zero_on_drift(stripe_emulator, capsys):
    buyers = build_account(1)
    backfill(progress=no_progress)
    call_command("stripe_drift")
    assert "No drift" in capsys.readouterr().out
    customer = Customer.objects.get(stripe_customer_id=buyers[0].id)
    with audited(actor=None, reason="planting drift for a test"):
        customer.billing_email = "someone@else.example"
        customer.save()

    with pytest.raises(SystemExit) as exit_code:
        call_command("stripe_drift", "--customer", buyers[0].id)

    assert exit_code.value.code == 1
    assert "billing_email" in capsys.readouterr().out


def test_resync_brings_one_customer_level_with_stripe(stripe_emulator):
    buyers = build_account(2)
    backfill(progress=no_progress)
    customer = Customer.objects.get(stripe_customer_id=buyers[0].id)
    gateway.create_balance_transaction(
        customer_id=buyers[0].id,
        amount=-1500,
        currency="usd",
        description="Missed credit",
        metadata={},
        idempotency_key=scenario.key("credit"),
    )
    assert drift(customer=customer) != []

    resync_customer(buyers[0].id, reason="Resync requested by a test")

    assert drift(customer=customer) == []
    assert customer.balance().amount == -1750

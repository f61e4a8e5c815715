"""The mirror takes whatever Stripe holds: names of 256 characters, long emails and handles,
two customers with one handle; what still cannot be mirrored is a visible sync problem."""

import pytest
from django.core.management import call_command

from billing import actions, webhooks
from billing.models import BalanceTransaction, Customer, StripeEvent, Subscription, SyncProblem
from billing.stripe import gateway, mirror
from billing.stripe.sync import drift
from devtools import stripe_client
from tests import stripe_scenarios as scenario

LONG_NAME = "Ω" + "Name with room for a very long company legal name " * 5
LONG_NAME = LONG_NAME[:256]
LONG_EMAIL = ("billing." + "x" * 230 + "@" + "sub." * 50 + "example.com")[:512]
LONG_HANDLE = "h" * 500


def deliver(client, stripe_emulator):
    """Deliver every queued webhook and process it, as the worker would."""
    for delivery in stripe_emulator.drain_webhooks():
        client.post(
            "/stripe/webhook/",
            data=delivery["payload"],
            content_type="application/json",
            headers={"Stripe-Signature": delivery["headers"]["Stripe-Signature"]},
        )
    for event in StripeEvent.objects.filter(processed_at=None).exclude(type="malformed"):
        webhooks.process_event(event.pk)


def test_long_names_emails_and_handles_are_mirrored_whole(db, stripe_emulator, finance_user):
    buyer = scenario.customer(name=LONG_NAME, email=LONG_EMAIL, handle=LONG_HANDLE)

    mirror.resync_customer(buyer.id, reason="test: mirror a customer with long fields")

    customer = Customer.objects.get(stripe_customer_id=buyer.id)
    assert (customer.name, customer.billing_email, customer.handle) == (
        LONG_NAME,
        LONG_EMAIL,
        LONG_HANDLE,
    )
    credit = actions.request_credit(
        actor=finance_user,
        customer=customer,
        amount=1_000,
        currency="usd",
        reason="goodwill",
        ticket="ZD-20",
    )
    assert credit.state == "succeeded"
    assert BalanceTransaction.objects.filter(customer=customer, action=credit).exists()


def test_a_renamed_customer_reaches_the_mirror_through_webhooks(client, db, stripe_emulator):
    buyer = scenario.customer()
    deliver(client, stripe_emulator)

    stripe_client.update_customer(
        customer_id=buyer.id, params={"name": LONG_NAME}, idempotency_key="rename-1"
    )
    deliver(client, stripe_emulator)

    assert Customer.objects.get(stripe_customer_id=buyer.id).name == LONG_NAME
    assert not StripeEvent.objects.exclude(error="").exists()


def test_two_customers_with_one_handle_are_both_mirrored_and_the_clash_is_shown(
    db, stripe_emulator
):
    first = scenario.customer(handle="acme")
    second = scenario.customer(handle="ACME")

    for buyer in (first, second):
        mirror.resync_customer(buyer.id, reason="test: mirror two customers, one handle")

    assert Customer.objects.filter(handle__iexact="acme").count() == 2
    clash = SyncProblem.objects.open().get(stripe_object_id=second.id)
    assert first.id in clash.error
    assert clash.customer.stripe_customer_id == second.id


def test_an_object_that_cannot_be_mirrored_is_a_sync_problem_on_its_customer_and_in_drift(
    db, stripe_emulator, settings
):
    buyer, subscription = scenario.paying_customer()
    mirror.resync_customer(buyer.id, reason="test: mirror the customer")
    other_price = scenario.plan(code="business")  # a price the mirror has never seen
    stripe_client.create_subscription(
        params={"customer": buyer.id, "items": [{"price": other_price.id}]},
        idempotency_key="second-subscription",
    )
    snapshot = mirror.Snapshot(fetched_at=subscription.created)
    snapshot.subscriptions.extend(gateway.list_subscriptions(buyer.id))  # prices not read

    snapshot.apply(reason="test: a subscription whose price is unknown")

    customer = Customer.objects.get(stripe_customer_id=buyer.id)
    [problem] = SyncProblem.objects.open().filter(customer=customer)
    assert problem.object_type == "subscription"
    assert "Price" in problem.error
    assert Subscription.objects.filter(customer=customer).count() == 1  # the other applied
    assert any(d.field == "mirror" for d in drift(customer=customer))

    mirror.resync_customer(buyer.id, reason="test: a full read reads the price too")

    assert not SyncProblem.objects.open().filter(customer=customer).exists()


def test_the_drift_command_fails_while_a_sync_problem_is_open(db, stripe_emulator, capsys):
    first = scenario.customer(handle="same")
    second = scenario.customer(handle="same")
    for buyer in (first, second):
        mirror.resync_customer(buyer.id, reason="test: mirror")

    with pytest.raises(SystemExit) as stopped:
        call_command("stripe_drift")

    assert stopped.value.code == 1
    assert "not mirrored" in capsys.readouterr().out

"""Stripe's webhook, end to end: signed deliveries from the emulator, stored once, processed in
a task, the mirror converging on Stripe's state whatever the order of the events."""

import random
import threading
import time

import pytest
import requests
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from accounts import chain
from billing import webhooks
from billing.models import Customer, Invoice, Payment, Refund, StripeEvent, Subscription
from billing.stripe import gateway, mirror
from billing.stripe.sync import drift
from devtools import stripe_client
from devtools.stripe_emulator import signature_header
from tests import stripe_scenarios as scenario

IMMEDIATE = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def immediate_tasks(settings):
    settings.TASKS = IMMEDIATE


def deliver(client: Client, delivery: dict, *, signature: str | None = None):
    return client.post(
        "/stripe/webhook/",
        data=delivery["payload"],
        content_type="application/json",
        headers={
            "Stripe-Signature": delivery["headers"]["Stripe-Signature"]
            if signature is None
            else signature
        },
    )


def deliver_all(client, deliveries, capture):
    with capture(execute=True):
        for delivery in deliveries:
            assert deliver(client, delivery).status_code == 200


@pytest.mark.django_db
def test_a_signed_event_is_stored_processed_and_mirrored(
    client, stripe_emulator, immediate_tasks, django_capture_on_commit_callbacks
):
    buyer = scenario.customer(name="Initech", handle="initech")
    [created] = [d for d in stripe_emulator.drain_webhooks() if d["type"] == "customer.created"]

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(client, created)

    assert response.status_code == 200
    event = StripeEvent.objects.get()
    assert event.stripe_event_id == created["event_id"]
    assert event.processed_at is not None
    assert event.error == ""
    mirrored = Customer.objects.get(stripe_customer_id=buyer.id)
    assert (mirrored.name, mirrored.handle) == ("Initech", "initech")
    assert event.customer == mirrored
    assert mirrored.history.latest().history_change_reason.startswith("Stripe event customer.")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda d, secret: "t=1,v1=" + "0" * 64, id="forged"),
        pytest.param(
            lambda d, secret: signature_header(d["payload"], "whsec_someone_else"),
            id="wrong-secret",
        ),
        pytest.param(
            lambda d, secret: signature_header(
                d["payload"], secret, timestamp=int(time.time()) - 301
            ),
            id="stale",
        ),
        pytest.param(lambda d, secret: "", id="unsigned"),
    ],
)
def test_a_delivery_that_is_not_signed_by_stripe_is_refused_and_nothing_is_stored(
    client, stripe_emulator, settings, tamper
):
    scenario.customer()
    delivery = stripe_emulator.drain_webhooks()[0]

    response = deliver(client, delivery, signature=tamper(delivery, settings.STRIPE_WEBHOOK_SECRET))

    assert response.status_code == 400
    assert not StripeEvent.objects.exists()
    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db
def test_a_tampered_body_is_refused(client, stripe_emulator):
    scenario.customer(name="Acme Robotics")
    delivery = next(d for d in stripe_emulator.drain_webhooks() if d["type"] == "customer.created")
    tampered = {**delivery, "payload": delivery["payload"].replace("Acme", "Evil")}

    assert tampered["payload"] != delivery["payload"]
    assert deliver(client, tampered).status_code == 400
    assert not StripeEvent.objects.exists()


@pytest.mark.django_db
def test_a_repeated_delivery_answers_200_and_does_nothing(
    client, stripe_emulator, django_capture_on_commit_callbacks
):
    scenario.customer()
    delivery = stripe_emulator.drain_webhooks()[0]

    with django_capture_on_commit_callbacks(execute=True):
        first = deliver(client, delivery)
        second = deliver(client, delivery)

    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True
    assert StripeEvent.objects.count() == 1
    assert DBTaskResult.objects.count() == 1


def test_the_webhook_answers_without_calling_stripe(db, client, stripe_emulator):
    scenario.customer()
    delivery = stripe_emulator.drain_webhooks()[0]
    stripe_emulator.add_fault("/v1/", "timeout", seconds=5, count=100)

    started = time.monotonic()
    response = deliver(client, delivery)

    assert response.status_code == 200
    assert time.monotonic() - started < 0.5


def test_the_same_event_delivered_twice_at_once_is_stored_and_processed_once(
    committed_db, stripe_emulator, live_server
):
    scenario.customer(handle="twice")
    delivery = next(d for d in stripe_emulator.drain_webhooks() if d["type"] == "customer.created")
    url = f"{live_server.url}/stripe/webhook/"
    barrier = threading.Barrier(4)
    answers = []

    def post():
        barrier.wait()
        answers.append(
            requests.post(url, data=delivery["payload"], headers=delivery["headers"], timeout=10)
        )

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    assert [a.status_code for a in answers] == [200] * 4
    assert sorted(a.json()["duplicate"] for a in answers) == [False, True, True, True]
    event = StripeEvent.objects.get()
    assert event.attempts == 1
    assert event.processed_at is not None
    assert DBTaskResult.objects.count() == 1
    assert Customer.objects.filter(handle="twice").count() == 1


@pytest.mark.django_db
def test_an_update_arriving_before_its_create_ends_in_the_right_state(
    client, stripe_emulator, immediate_tasks, django_capture_on_commit_callbacks
):
    buyer = scenario.customer(name="Old Name")
    gateway_update(buyer.id, name="New Name")
    deliveries = stripe_emulator.drain_webhooks()
    created = next(d for d in deliveries if d["type"] == "customer.created")
    updated = next(d for d in deliveries if d["type"] == "customer.updated")

    deliver_all(client, [updated, created], django_capture_on_commit_callbacks)

    assert Customer.objects.get(stripe_customer_id=buyer.id).name == "New Name"
    assert StripeEvent.objects.filter(processed_at__isnull=False).count() == 2


def gateway_update(customer_id: str, **params):
    stripe_client.update_customer(
        customer_id=customer_id, params=params, idempotency_key=scenario.key("update")
    )


@pytest.mark.django_db
def test_an_older_read_never_overwrites_a_newer_one(stripe_emulator):
    buyer = scenario.customer(name="Before")
    old = mirror.read(lambda s: s.read_customer(buyer.id))  # read first...
    gateway_update(buyer.id, name="After")
    new = mirror.read(lambda s: s.read_customer(buyer.id))

    new.apply(reason="newer read")
    old.apply(reason="older read, applied late")  # ...applied last

    assert Customer.objects.get(stripe_customer_id=buyer.id).name == "After"


@pytest.mark.django_db
def test_hundreds_of_shuffled_and_repeated_events_leave_the_mirror_equal_to_stripe(
    client, stripe_emulator, immediate_tasks, django_capture_on_commit_callbacks
):
    rng = random.Random(42)
    price = scenario.plan()
    for number in range(12):
        buyer = scenario.customer(name=f"Customer {number}", handle=f"shuffle-{number}")
        subscription = scenario.subscription(buyer.id, price.id, quantity=number + 1)
        charge = scenario.charges_of(buyer.id)[0]
        if number % 3 == 0:
            gateway.create_refund(
                charge_id=charge.id,
                amount=charge.amount // 2,
                reason="",
                metadata={},
                idempotency_key=scenario.key("refund"),
            )
        if number % 4 == 0:
            gateway.create_balance_transaction(
                customer_id=buyer.id,
                amount=-500,
                currency="usd",
                description="Goodwill",
                metadata={},
                idempotency_key=scenario.key("credit"),
            )
        if number % 5 == 0:
            gateway.update_subscription(
                subscription_id=subscription.id,
                params={"cancel_at_period_end": True},
                idempotency_key=scenario.key("cancel"),
            )
    stripe_emulator.advance_clock(35 * 24 * 3600)  # renewals: more invoices and charges
    deliveries = stripe_emulator.drain_webhooks()
    shuffled = deliveries + rng.sample(deliveries, len(deliveries) // 4)
    rng.shuffle(shuffled)

    deliver_all(client, shuffled, django_capture_on_commit_callbacks)

    assert len(deliveries) >= 200
    assert StripeEvent.objects.count() == len(deliveries)
    assert not StripeEvent.objects.filter(processed_at__isnull=True).exists()
    assert drift() == []
    at_stripe = stripe_emulator.state()
    assert Customer.objects.count() == len(at_stripe["customer"]) == 12
    assert Subscription.objects.count() == len(at_stripe["subscription"]) == 12
    assert Invoice.objects.count() == len(at_stripe["invoice"]) == 21  # 3 cancel at period end
    assert Payment.objects.count() == len(at_stripe["charge"]) == 21
    assert Refund.objects.count() == len(at_stripe["refund"]) == 4


@pytest.mark.django_db
def test_a_failing_handler_records_its_error_and_a_retry_succeeds(
    client, stripe_emulator, immediate_tasks, django_capture_on_commit_callbacks
):
    buyer = scenario.customer(name="Flaky")
    delivery = next(d for d in stripe_emulator.drain_webhooks() if d["type"] == "customer.created")
    stripe_emulator.add_fault("/v1/customers", "500", method="GET", count=1)

    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, delivery)
    failed = StripeEvent.objects.get()
    retried = webhooks.process_event(failed.pk)

    assert failed.processed_at is None
    assert "StripeUnavailable" in failed.error
    assert retried is True
    failed.refresh_from_db()
    assert failed.processed_at is not None
    assert failed.error == ""
    assert failed.attempts == 2
    assert Customer.objects.filter(stripe_customer_id=buyer.id, name="Flaky").exists()


@pytest.mark.django_db
def test_accepting_an_event_writes_its_three_rows_and_reads_nothing(client, stripe_emulator):
    scenario.customer()
    delivery = stripe_emulator.drain_webhooks()[0]

    with CaptureQueriesContext(connection) as captured:
        assert deliver(client, delivery).status_code == 200

    statements = [
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    assert [sql.split('"')[1] for sql in statements] == [
        "billing_stripeevent",
        "billing_historicalstripeevent",
        "django_tasks_database_dbtaskresult",
    ]
    assert all(sql.startswith("INSERT INTO") for sql in statements)
    assert "ON CONFLICT DO NOTHING" in statements[0]  # a repeated delivery is no error


@pytest.mark.django_db
def test_an_events_receipt_is_sealed_by_its_processing_and_no_stray_until_then(
    client, stripe_emulator, django_capture_on_commit_callbacks
):
    scenario.customer()
    delivery = stripe_emulator.drain_webhooks()[0]
    receipts = StripeEvent.history.filter(history_type="+")

    deliver(client, delivery)
    event = StripeEvent.objects.get()
    waiting = chain.unsealed(StripeEvent.history.model).filter(pk__in=receipts.values("pk"))

    assert waiting.count() == 1
    assert chain.verify().broken is None
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.process_event(event.pk) is True
    assert waiting.count() == 0
    assert chain.verify().broken is None

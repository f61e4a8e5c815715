"""A bad day at Stripe: 200 refunds and credits, each meeting a random fault (a 5xx, a 429, a
timeout, a connection dropped after Stripe applied it, a failing read-back), and faults again
during the retries. When the worker has caught up, with or without webhooks, every action has
ended, Stripe holds each change exactly once, the ledger holds exactly what Stripe holds, and
the drift report is empty."""

import random
from collections import Counter

import pytest
from django_tasks_db.models import DBTaskResult

from accounts.roles import Role
from billing import actions
from billing.actions import pipeline
from billing.models import (
    Action,
    ActionAttempt,
    ActionState,
    BalanceTransaction,
    Customer,
    Refund,
)
from billing.stripe import gateway
from billing.stripe.sync import drift
from tests.billing.conftest import mirrored_account
from tests.factories import make_staff
from tests.tasks import RECONCILE, failed_tasks, run_due_tasks

ACTIONS = 200
FAULTS = ["500", "503", "429", "timeout", "drop_after_apply", "read_back", None]


def add_fault(stripe_emulator, rng: random.Random, kind_of_action: str, customer: Customer):
    fault = rng.choice(FAULTS)
    if fault is None:
        return
    if fault == "read_back":
        if kind_of_action == "refund":
            stripe_emulator.add_fault("/v1/charges/", "500", method="GET")
        else:
            stripe_emulator.add_fault(
                f"/v1/customers/{customer.stripe_customer_id}", "503", method="GET"
            )
        return
    path = "/v1/refunds" if kind_of_action == "refund" else "/v1/customers/"
    stripe_emulator.add_fault(path, fault, method="POST", seconds=0.3)


def deliver_webhooks(client, stripe_emulator, rng: random.Random) -> None:
    """Every queued delivery, shuffled, a quarter of them twice."""
    deliveries = stripe_emulator.drain_webhooks()
    deliveries += [d for d in deliveries if rng.random() < 0.25]
    rng.shuffle(deliveries)
    for delivery in deliveries:
        response = client.post(
            "/stripe/webhook/",
            data=delivery["payload"],
            content_type="application/json",
            headers={"Stripe-Signature": delivery["headers"]["Stripe-Signature"]},
        )
        assert response.status_code == 200


@pytest.mark.parametrize("webhooks", [True, False], ids=["with webhooks", "without webhooks"])
def test_a_fault_storm_ends_with_every_change_made_once_and_mirrored(
    client, db, stripe_emulator, settings, clock, webhooks
):
    settings.STRIPE_TIMEOUT_SECONDS = 0.2  # the emulator's timeouts hold 0.3 s
    rng = random.Random(f"storm-{webhooks}")
    accounts = [mirrored_account(quantity=4) for _ in range(8)]  # $200.00 paid each
    finance = make_staff(Role.FINANCE)
    stripe_emulator.drain_webhooks()

    for number in range(ACTIONS):
        account = rng.choice(accounts)
        kind = "refund" if number % 2 else "credit"
        add_fault(stripe_emulator, rng, kind, account.customer)
        amount = rng.randint(1, 4) * 100
        if kind == "refund":
            actions.request_refund(
                actor=finance,
                payment=account.payment,
                amount=amount,
                reason="duplicate",
                ticket=f"ZD-{number}",
            )
        else:
            actions.request_credit(
                actor=finance,
                customer=account.customer,
                amount=amount,
                currency="usd",
                reason="goodwill",
                ticket=f"ZD-{number}",
            )
        if webhooks and number % 10 == 9:
            deliver_webhooks(client, stripe_emulator, rng)

    # The worker catches up while faults keep coming.
    for _ in range(20):
        for _ in range(rng.randint(0, 6)):
            add_fault(
                stripe_emulator,
                rng,
                rng.choice(["refund", "credit"]),
                rng.choice(accounts).customer,
            )
        if webhooks:
            deliver_webhooks(client, stripe_emulator, rng)
        if not run_due_tasks(clock, rounds=3):
            break
    stripe_emulator.emulator.faults.clear()
    if not webhooks:
        stripe_emulator.drain_webhooks()  # nobody listens
    for _ in range(5):  # the periodic reconciliation, whose runs mend what is left
        if webhooks:
            deliver_webhooks(client, stripe_emulator, rng)
        run_due_tasks(clock)
        clock.shift(pipeline.reconciler.EVERY)
        pipeline.reconcile()

    states = Counter(Action.objects.values_list("state", flat=True))
    assert states == {ActionState.SUCCEEDED: ACTIONS}, states
    outcomes = Counter(ActionAttempt.objects.values_list("outcome", flat=True))
    assert outcomes["unanswered"] > ACTIONS // 4  # the storm really blew
    confirmed = Action.history.filter(history_change_reason__endswith="confirmed by Stripe")
    # Answers lost after Stripe applied them: found by a retry, or confirmed by a webhook.
    assert outcomes["found"] + confirmed.count() > 0
    assert DBTaskResult.objects.filter(task_path__endswith=".read_back").exists()
    assert failed_tasks() == []
    assert not Action.objects.outstanding().exists()
    for account in accounts:
        charge = account.payment.stripe_charge_id
        at_stripe = gateway.list_refunds(charge)
        ours = Refund.objects.filter(payment=account.payment)
        assert sorted(r.id for r in at_stripe) == sorted(
            ours.values_list("stripe_refund_id", flat=True)
        )
        made = Counter(r.metadata.get("action_id") for r in at_stripe)
        assert set(made.values()) <= {1}, "a refund was made twice"
        entries = gateway.list_balance_transactions(account.customer.stripe_customer_id or "")
        made = Counter(e.metadata.get("action_id") for e in entries if e.metadata.get("action_id"))
        assert set(made.values()) <= {1}, "a credit was made twice"
        assert sorted(e.id for e in entries) == sorted(
            BalanceTransaction.objects.filter(customer=account.customer).values_list(
                "stripe_balance_transaction_id", flat=True
            )
        )
    for action in Action.objects.all():
        ledger = Refund if action.kind == "refund" else BalanceTransaction
        assert ledger.objects.filter(action=action).count() == 1, action
    assert drift() == []
    assert (
        DBTaskResult.objects.filter(status="READY").exclude(task_path__endswith=RECONCILE).count()
        == 0
    )

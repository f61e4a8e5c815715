"""What keeps a money action exactly-once when Stripe, the network or our own mirror misbehave."""

import datetime as dt

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.audit import audited
from accounts.roles import Role
from billing import actions, webhooks
from billing.actions import Change
from billing.actions.justification import has_card_number
from billing.models import Action, ActionState, Customer, Payment, Refund, StripeEvent
from billing.stripe import gateway
from billing.stripe.mirror import Snapshot
from tests import stripe_scenarios as scenario
from tests.billing.conftest import mirrored_account, stripe_refunds
from tests.factories import make_staff

REFUND = {"reason": "duplicate", "ticket": "ZD-48213", "note": ""}


def refund(actor, payment, amount):
    return actions.request_refund(actor=actor, payment=payment, amount=amount, **REFUND)


def test_a_retry_after_stripe_forgot_the_key_finds_the_refund_instead_of_refunding_again(
    account, finance_user, stripe_emulator
):
    stripe_emulator.add_fault("/v1/refunds", "drop_after_apply", method="POST")
    action = refund(finance_user, account.payment, 7000)
    stripe_emulator.emulator.idempotency.reset()  # Stripe prunes keys after 24 hours

    retried = actions.execute(action.pk)

    assert retried.state == ActionState.SUCCEEDED
    assert [r.amount for r in stripe_refunds(account.payment.stripe_charge_id)] == [7000]
    assert retried.stripe_object_id == stripe_refunds(account.payment.stripe_charge_id)[0].id


def test_a_credit_retried_after_the_key_was_forgotten_is_not_credited_twice(
    account, finance_user, stripe_emulator
):
    stripe_emulator.add_fault("/v1/customers/", "drop_after_apply", method="POST")
    action = actions.request_credit(
        actor=finance_user,
        customer=account.customer,
        amount=500,
        currency="usd",
        reason="goodwill",
        ticket="ZD-2",
    )
    stripe_emulator.emulator.idempotency.reset()

    retried = actions.execute(action.pk)

    assert retried.state == ActionState.SUCCEEDED
    assert gateway.retrieve_customer(account.customer.stripe_customer_id).balance == -500


def test_cancelling_now_whose_answer_was_lost_ends_succeeded_not_failed(
    account, finance_user, stripe_emulator
):
    stripe_emulator.add_fault("/v1/subscriptions/", "drop_after_apply", method="DELETE")
    action = actions.request_subscription_change(
        actor=finance_user,
        subscription=account.subscription,
        change=Change(change="cancel", at_period_end=False),
        reason="customer_request",
        ticket="ZD-3",
    )

    retried = actions.execute(action.pk)

    assert action.state == ActionState.EXECUTING
    assert retried.state == ActionState.SUCCEEDED
    account.subscription.refresh_from_db()
    assert account.subscription.status == "canceled"


def test_once_stripe_refunded_a_failing_read_back_cannot_fail_the_action(
    account, finance_user, stripe_emulator
):
    stripe_emulator.add_fault("/v1/charges/", "500", method="GET", count=5)

    action = refund(finance_user, account.payment, 2500)

    assert action.state == ActionState.SUCCEEDED
    assert action.stripe_object_id.startswith("re_")
    assert DBTaskResult.objects.filter(task_path="billing.actions.pipeline.read_back").exists()


def test_a_request_approved_later_does_not_undo_a_change_made_meanwhile(
    account, support_user, finance_user
):
    waiting = actions.request_subscription_change(
        actor=support_user,
        subscription=account.subscription,
        change=Change(change="seats", quantity=12),
        reason="customer_request",
        ticket="ZD-4",
    )
    actions.request_subscription_change(
        actor=finance_user,
        subscription=account.subscription,
        change=Change(change="seats", quantity=25),
        reason="customer_request",
        ticket="ZD-5",
    )

    with pytest.raises(actions.ActionConflict, match="seats changed since"):
        actions.approve(approval_pk=waiting.approval.pk, approver=make_staff(Role.ADMIN))

    assert gateway.retrieve_subscription(account.subscription.stripe_subscription_id).quantity == 25


def test_support_cannot_chain_trial_extensions_past_30_days_a_day(stripe_emulator, support_user):
    trial = mirrored_account(trial_days=7)

    def extend(days):
        trial.subscription.refresh_from_db()
        return actions.request_subscription_change(
            actor=support_user,
            subscription=trial.subscription,
            change=Change(
                change="trial_end", trial_end=trial.subscription.trial_end + dt.timedelta(days=days)
            ),
            reason="evaluation_in_progress",
            ticket="ZD-6",
        )

    first = extend(30)
    second = extend(30)

    assert first.state == ActionState.SUCCEEDED
    assert second.state == ActionState.PENDING_APPROVAL
    assert "per 24 hours (30 days already used)" in second.policy_note


def test_a_later_read_wins_even_when_its_snapshot_began_earlier(account, finance_user):
    charge_id = account.payment.stripe_charge_id
    began_first = Snapshot(fetched_at=timezone.now())
    began_later = Snapshot(fetched_at=timezone.now())
    began_later.read_charge(charge_id)  # before the refund
    gateway.create_refund(
        charge_id=charge_id,
        amount=30000,
        reason="",
        metadata={},
        idempotency_key=scenario.key("refund"),
    )
    began_first.read_charge(charge_id)  # after it

    began_first.apply(reason="test: the newer read")
    began_later.apply(reason="test: the older read, applied last")

    assert Payment.objects.get(pk=account.payment.pk).amount_refunded == 30000


def test_a_webhook_confirms_an_action_whose_answer_was_lost(
    client, account, finance_user, stripe_emulator
):
    stripe_emulator.drain_webhooks()
    stripe_emulator.add_fault("/v1/refunds", "drop_after_apply", method="POST")
    action = refund(finance_user, account.payment, 20000)
    created = next(d for d in stripe_emulator.drain_webhooks() if d["type"] == "refund.created")

    client.post(
        "/stripe/webhook/",
        data=created["payload"],
        content_type="application/json",
        headers={"Stripe-Signature": created["headers"]["Stripe-Signature"]},
    )
    webhooks.process_event(StripeEvent.objects.get(type="refund.created").pk)  # the task

    action.refresh_from_db()
    assert action.state == ActionState.SUCCEEDED
    assert Refund.objects.get(payment=account.payment).action == action
    account.payment.refresh_from_db()
    assert actions.refundable(account.payment) == 30000  # counted once, not twice
    assert action.history.latest().history_ticket == "ZD-48213"


def test_a_stored_event_and_its_processing_task_commit_together(db, client, stripe_emulator):
    scenario.customer()
    delivery = stripe_emulator.drain_webhooks()[0]

    client.post(
        "/stripe/webhook/",
        data=delivery["payload"],
        content_type="application/json",
        headers={"Stripe-Signature": delivery["headers"]["Stripe-Signature"]},
    )

    event = StripeEvent.objects.get()
    task = DBTaskResult.objects.get(task_path="billing.webhooks.process_stripe_event")
    assert task.args_kwargs["args"] == [event.pk]


def test_a_deleted_customer_keeps_the_date_the_account_was_opened(stripe_emulator, db):
    account = mirrored_account()
    opened = account.customer.created
    from billing.stripe.mirror import read

    read(
        lambda s: s.customers.append(
            gateway.CustomerData.parse({"id": account.customer.stripe_customer_id, "deleted": True})
        )
    ).apply(reason="test: customer deleted at Stripe")

    customer = Customer.objects.get(pk=account.customer.pk)
    assert customer.status == "closed"
    assert customer.created == opened


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("4242 4242 4242 4242", True),
        ("4242-4242-4242-4242", True),
        ("4242.4242.4242.4242", True),
        ("4242  4242  4242  4242", True),
        ("4242 - 4242 - 4242 - 4242", True),
        ("card 4000056655665556 declined", True),
        ("378282246310005", True),  # American Express, 15 digits
        ("ticket 4242424242424241 is not a card", False),  # fails the Luhn check
        ("invoice ABCD-0001, order 1234567", False),
        ("call +1 415 555 0100 ext 42", False),
    ],
)
def test_card_numbers_are_recognised_in_free_text(text, found):
    assert has_card_number(text) is found


def test_a_rejected_api_key_keeps_the_action_waiting_with_a_clear_message(
    account, finance_user, settings
):
    settings.STRIPE_API_KEY = "rk_live_revoked"

    action = refund(finance_user, account.payment, 1000)

    assert action.state == ActionState.EXECUTING
    assert action.last_attempt().error_code == "stripe_misconfigured"
    assert "API key" in action.last_attempt().error_message


def test_metadata_is_fixed_at_the_first_attempt(account, finance_user, stripe_emulator):
    stripe_emulator.add_fault("/v1/refunds", "drop_after_apply", method="POST")
    action = refund(finance_user, account.payment, 1500)
    with audited(actor=None, reason="test: staff member renamed"):
        finance_user.username = "fran.renamed"
        finance_user.save()

    retried = actions.execute(action.pk)

    assert retried.state == ActionState.SUCCEEDED
    assert stripe_refunds(account.payment.stripe_charge_id)[0].metadata["actor"] == "fran"


def test_rejecting_also_needs_a_limit_that_covers_it(stripe_emulator, support_user, finance_user):
    big = mirrored_account(quantity=200)
    request = refund(support_user, big.payment, 600000)

    with pytest.raises(actions.NotAllowed, match="limit does not cover"):
        actions.reject(approval_pk=request.approval.pk, approver=finance_user, reason="no")

    assert Action.objects.get(pk=request.pk).state == ActionState.PENDING_APPROVAL

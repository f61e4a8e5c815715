"""Refunds through the one path: validate, preview, policy, execute exactly once, record."""

import datetime as dt
import threading

import pytest
import time_machine
from django.core.management import call_command
from django.db import connections
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.audit import audited
from accounts.roles import Role
from billing import actions
from billing.models import Action, ActionState, ApprovalRequest, Payment, Refund
from billing.stripe import gateway
from tests import stripe_scenarios as scenario
from tests.billing.conftest import mirrored_account, stripe_refunds
from tests.factories import make_staff

# Database access comes with the fixtures (`db`, or committed_db for the concurrent tests).

REFUND = {"reason": "duplicate", "ticket": "ZD-48213", "note": ""}


def refund(actor, payment, amount, **overrides):
    return actions.request_refund(
        actor=actor, payment=payment, amount=amount, **{**REFUND, **overrides}
    )


def test_a_refund_within_the_limit_goes_straight_to_stripe_and_is_recorded(account, support_user):
    payment = account.payment

    action = refund(support_user, payment, 2500)

    assert action.state == ActionState.SUCCEEDED
    assert action.idempotency_key == f"refund:{action.pk}"
    [at_stripe] = stripe_refunds(payment.stripe_charge_id)
    assert at_stripe.amount == 2500
    assert at_stripe.reason == "duplicate"
    assert at_stripe.metadata == {
        "action_id": str(action.pk),
        "actor": "sam",
        "reason": "duplicate",
        "ticket": "ZD-48213",
    }
    assert action.stripe_object_id == at_stripe.id
    payment.refresh_from_db()
    assert payment.amount_refunded == 2500
    [ledger] = Refund.objects.filter(payment=payment)
    assert (ledger.amount, ledger.stripe_refund_id, ledger.action) == (2500, at_stripe.id, action)
    history = action.history.order_by("history_date")
    assert {row.history_user.username for row in history} == {"sam"}
    assert {row.history_ticket for row in history} == {"ZD-48213"}
    assert history.first().history_change_reason == "Refund: Duplicate charge"
    assert payment.history.latest().history_ticket == "ZD-48213"


def test_the_preview_shows_refundable_before_and_after_and_changes_nothing(account):
    preview = actions.preview_refund(payment=account.payment, amount=12000)

    assert [(line.label, line.before, line.after) for line in preview.lines] == [
        ("Refunded", "$0.00", "$120.00"),
        ("Refundable remaining", "$500.00", "$380.00"),
    ]
    assert not Action.objects.exists()
    assert stripe_refunds(account.payment.stripe_charge_id) == []


def test_no_amount_refunds_all_that_remains(account, finance_user):
    refund(finance_user, account.payment, 10000)

    action = refund(finance_user, account.payment, None)

    assert action.amount == 40000
    account.payment.refresh_from_db()
    assert account.payment.amount_refunded == 50000


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"reason": "goodwill"}, "reason"),  # a credit reason, not a refund one
        ({"ticket": ""}, "ticket"),
        ({"ticket": "see slack"}, "ticket"),
        ({"reason": "other", "note": ""}, "note"),
        ({"note": "customer card 4242 4242 4242 4242 was charged"}, "note"),
        ({"note": "card 4000056655665556"}, "note"),
        ({"note": "x" * 2001}, "note"),
    ],
)
def test_a_refund_without_a_proper_reason_ticket_or_note_is_refused(
    account, support_user, overrides, field
):
    with pytest.raises(actions.InvalidAction) as refused:
        refund(support_user, account.payment, 1000, **overrides)

    assert field in refused.value.errors
    assert refused.value.errors[field]
    assert not Action.objects.exists()


@pytest.mark.parametrize("amount", [0, -100, 50001, 10**13])
def test_an_amount_that_cannot_be_refunded_is_refused(account, finance_user, amount):
    with pytest.raises(actions.InvalidAction) as refused:
        refund(finance_user, account.payment, amount)

    assert "amount" in refused.value.errors
    assert stripe_refunds(account.payment.stripe_charge_id) == []


def test_refunds_in_flight_count_against_what_remains(account, finance_user):
    with audited(actor=finance_user, reason="test: a refund stuck in flight"):
        Action.objects.create(
            kind="refund",
            state=ActionState.EXECUTING,
            customer=account.customer,
            payment=account.payment,
            actor=finance_user,
            reason_code="duplicate",
            ticket_ref="ZD-1",
            payload={},
            payload_hash="0" * 64,
            amount=45000,
            currency="usd",
        )

    with pytest.raises(actions.InvalidAction, match=r"At most \$50.00"):
        refund(finance_user, account.payment, 6000)
    assert actions.refundable(account.payment) == 5000


def test_only_a_succeeded_payment_with_something_left_can_be_refunded(
    stripe_emulator, finance_user
):
    failing = mirrored_account(card="pm_card_chargeDeclined")
    failed = Payment.objects.get(customer=failing.customer)
    paid = mirrored_account()
    refund(finance_user, paid.payment, None)

    with pytest.raises(actions.ActionConflict, match="succeeded payment"):
        refund(finance_user, failed, 100)
    with pytest.raises(actions.ActionConflict, match="nothing left"):
        refund(finance_user, paid.payment, 100)


def test_an_auditor_may_not_refund(account, auditor_user):
    with pytest.raises(actions.NotAllowed):
        refund(auditor_user, account.payment, 100)

    assert not Action.objects.exists()


def test_a_refund_over_the_limit_becomes_an_approval_request(account, support_user):
    action = refund(support_user, account.payment, 15000)  # support: $100.00 per refund

    assert action.state == ActionState.PENDING_APPROVAL
    assert "Above your limit of $100.00" in action.policy_note
    approval = ApprovalRequest.objects.get(action=action)
    assert approval.requested_by == support_user
    assert approval.payload_hash == action.payload_hash
    assert approval.expires_at == action.created_at + dt.timedelta(hours=72)
    assert stripe_refunds(account.payment.stripe_charge_id) == []


def test_approving_executes_the_request(account, support_user, finance_user):
    action = refund(support_user, account.payment, 15000, note="Charged twice in May")

    done = actions.approve(approval_pk=action.approval.pk, approver=finance_user, note="ok")

    assert done.state == ActionState.SUCCEEDED
    [at_stripe] = stripe_refunds(account.payment.stripe_charge_id)
    assert at_stripe.amount == 15000
    assert at_stripe.metadata["approved_by"] == "fran"
    assert at_stripe.metadata["actor"] == "sam"
    states = list(done.history.order_by("history_date").values_list("state", flat=True))
    assert states[0] == ActionState.PENDING_APPROVAL
    assert ActionState.APPROVED in states
    assert states[-1] == ActionState.SUCCEEDED
    approval = ApprovalRequest.objects.get(action=done)
    assert (approval.decision, approval.decided_by) == ("approved", finance_user)


def test_nobody_approves_their_own_request(stripe_emulator, finance_user):
    big = mirrored_account(quantity=200)  # $10,000.00 paid
    request = refund(finance_user, big.payment, 600000)  # over finance's $5,000.00

    with pytest.raises(actions.NotAllowed, match="own request"):
        actions.approve(approval_pk=request.approval.pk, approver=finance_user)
    with pytest.raises(actions.NotAllowed):
        actions.reject(approval_pk=request.approval.pk, approver=finance_user, reason="no")


def test_an_approver_whose_limit_does_not_cover_it_is_refused(
    stripe_emulator, support_user, finance_user, admin_user
):
    big = mirrored_account(quantity=200)  # $10,000.00 paid
    request = refund(support_user, big.payment, 600000)  # $6,000.00

    with pytest.raises(actions.NotAllowed):
        actions.approve(approval_pk=request.approval.pk, approver=make_staff(Role.SUPPORT))
    with pytest.raises(actions.NotAllowed, match="limit does not cover"):
        actions.approve(approval_pk=request.approval.pk, approver=finance_user)  # $5,000.00
    done = actions.approve(approval_pk=request.approval.pk, approver=admin_user)  # $10,000.00

    assert done.state == ActionState.SUCCEEDED


def test_a_payload_changed_after_the_request_is_not_approved(account, support_user, finance_user):
    action = refund(support_user, account.payment, 15000)
    with audited(actor=None, reason="test: tampering with a pending request"):
        action.payload = {**action.payload, "amount": 49000}
        action.amount = 49000
        action.save()

    with pytest.raises(actions.ActionConflict, match="changed after it was made"):
        actions.approve(approval_pk=action.approval.pk, approver=finance_user)

    assert stripe_refunds(account.payment.stripe_charge_id) == []


def test_a_payload_changed_after_approval_is_not_executed(
    account, support_user, finance_user, stripe_emulator
):
    action = refund(support_user, account.payment, 15000)
    stripe_emulator.add_fault("/v1/refunds", "503", method="POST")
    actions.approve(approval_pk=action.approval.pk, approver=finance_user)
    with audited(actor=None, reason="test: tampering with an approved request"):
        action.refresh_from_db()
        action.payload = {**action.payload, "amount": 49000}
        action.save()

    after = actions.execute(action.pk)

    assert after.state == ActionState.FAILED
    assert after.error_code == "payload_changed"
    assert stripe_refunds(account.payment.stripe_charge_id) == []


def test_a_request_expires_after_72_hours(account, support_user, finance_user):
    action = refund(support_user, account.payment, 15000)
    later = action.created_at + dt.timedelta(hours=72, seconds=1)

    assert actions.expire(approval_pk=action.approval.pk, now=later - dt.timedelta(hours=1)) is None
    expired = actions.expire(approval_pk=action.approval.pk, now=later)
    with pytest.raises(actions.ActionConflict, match="already expired"):
        actions.approve(approval_pk=action.approval.pk, approver=finance_user, now=later)

    assert expired.state == ActionState.EXPIRED
    assert DBTaskResult.objects.filter(
        task_path="billing.actions.pipeline.expire_approval"
    ).exists()


def test_an_undecided_request_cannot_be_approved_after_its_expiry(
    account, support_user, finance_user
):
    action = refund(support_user, account.payment, 15000)

    with pytest.raises(actions.ActionConflict, match="expired"):
        actions.approve(
            approval_pk=action.approval.pk,
            approver=finance_user,
            now=action.created_at + dt.timedelta(hours=73),
        )


def test_the_requester_may_withdraw_and_nobody_else(account, support_user, finance_user):
    action = refund(support_user, account.payment, 15000)

    with pytest.raises(actions.NotAllowed):
        actions.withdraw(approval_pk=action.approval.pk, requester=finance_user)
    withdrawn = actions.withdraw(approval_pk=action.approval.pk, requester=support_user)
    with pytest.raises(actions.ActionConflict):
        actions.approve(approval_pk=action.approval.pk, approver=finance_user)

    assert withdrawn.state == ActionState.WITHDRAWN


def test_a_rejection_needs_a_reason_and_moves_nothing(account, support_user, finance_user):
    action = refund(support_user, account.payment, 15000)

    with pytest.raises(actions.InvalidAction):
        actions.reject(approval_pk=action.approval.pk, approver=finance_user, reason="  ")
    rejected = actions.reject(
        approval_pk=action.approval.pk,
        approver=finance_user,
        reason="Customer was already refunded by bank",
    )

    assert rejected.state == ActionState.REJECTED
    assert ApprovalRequest.objects.get(action=action).decision_note.startswith("Customer")
    assert stripe_refunds(account.payment.stripe_charge_id) == []


def test_the_rolling_24_hour_limit_counts_every_refund_of_the_day(stripe_emulator, support_user):
    accounts = [mirrored_account() for _ in range(3)]
    start = timezone.now()

    with time_machine.travel(start, tick=False):
        first = [refund(support_user, a.payment, 10000) for a in accounts]
        second = [refund(support_user, a.payment, 10000) for a in accounts[:2]]
        over = refund(support_user, accounts[2].payment, 100)
    with time_machine.travel(start + dt.timedelta(hours=24, seconds=1), tick=False):
        next_day = refund(support_user, accounts[2].payment, 10000)

    assert [a.state for a in first + second] == [ActionState.SUCCEEDED] * 5  # $500.00 in 24 h
    assert over.state == ActionState.PENDING_APPROVAL
    assert "per 24 hours ($500.00 already used)" in over.policy_note
    assert next_day.state == ActionState.SUCCEEDED


def test_a_dropped_connection_after_stripe_refunded_is_retried_into_exactly_one_refund(
    account, finance_user, stripe_emulator
):
    stripe_emulator.add_fault("/v1/refunds", "drop_after_apply", method="POST")

    action = refund(finance_user, account.payment, 7000)
    assert action.state == ActionState.EXECUTING
    assert "cannot happen twice" in action.last_attempt().error_message
    assert "support@stripe.com" not in action.last_attempt().error_message
    assert DBTaskResult.objects.filter(task_path="billing.actions.pipeline.retry_action").exists()
    retried = actions.execute(action.pk)  # what the retry task runs

    assert retried.state == ActionState.SUCCEEDED
    [at_stripe] = stripe_refunds(account.payment.stripe_charge_id)
    assert at_stripe.amount == 7000
    assert Refund.objects.filter(payment=account.payment).count() == 1
    assert retried.attempts == 2


def test_a_timeout_leaves_the_action_executing_and_the_retry_refunds_once(
    account, finance_user, stripe_emulator
):
    stripe_emulator.add_fault("/v1/refunds", "timeout", method="POST", seconds=3)

    action = refund(finance_user, account.payment, 7000)  # the client gives up after 2 s
    retried = actions.execute(action.pk)

    assert action.state == ActionState.EXECUTING
    assert retried.state == ActionState.SUCCEEDED
    assert len(stripe_refunds(account.payment.stripe_charge_id)) == 1


def test_a_5xx_is_retried_by_the_task_until_stripe_answers(
    committed_db, account, finance_user, stripe_emulator
):
    stripe_emulator.add_fault("/v1/refunds", "500", method="POST", count=2)
    action = refund(finance_user, account.payment, 7000)
    assert action.state == ActionState.EXECUTING

    actions.execute(action.pk)  # second failure
    with time_machine.travel(timezone.now() + dt.timedelta(hours=2), tick=True):
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    action.refresh_from_db()
    assert action.state == ActionState.SUCCEEDED
    assert len(stripe_refunds(account.payment.stripe_charge_id)) == 1


def test_a_400_fails_the_action_with_stripes_message_and_moves_nothing(account, finance_user):
    # Refunded at Stripe behind the mirror's back: we think $500.00 remain, Stripe knows $100.00.
    gateway.create_refund(
        charge_id=account.payment.stripe_charge_id,
        amount=40000,
        reason="",
        metadata={},
        idempotency_key=scenario.key("outside"),
    )

    action = refund(finance_user, account.payment, 30000)

    assert action.state == ActionState.FAILED
    assert "greater than unrefunded amount" in action.error_message
    assert not Refund.objects.exists()
    assert sum(r.amount for r in stripe_refunds(account.payment.stripe_charge_id)) == 40000


def test_twenty_concurrent_refunds_never_refund_more_than_was_paid(committed_db, stripe_emulator):
    account = mirrored_account(quantity=10)  # $500.00
    actors = [make_staff(Role.FINANCE) for _ in range(20)]
    outcomes: list[object] = []
    barrier = threading.Barrier(20)

    def attempt(actor):
        payment = Payment.objects.get(pk=account.payment.pk)
        barrier.wait()
        try:
            outcomes.append(refund(actor, payment, 4000).state)
        except actions.ActionError as error:
            outcomes.append(type(error).__name__)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(actor,)) for actor in actors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    succeeded = Action.objects.filter(state=ActionState.SUCCEEDED)
    at_stripe = stripe_refunds(account.payment.stripe_charge_id)
    assert len(outcomes) == 20
    assert succeeded.count() == 12  # 12 × $40.00 = $480.00; a 13th would pass $500.00
    assert sorted(r.id for r in at_stripe) == sorted(a.stripe_object_id for a in succeeded)
    assert sum(r.amount for r in at_stripe) == 48000
    payment = Payment.objects.get(pk=account.payment.pk)
    assert payment.amount_refunded == 48000
    assert Refund.objects.net_amount() == 48000

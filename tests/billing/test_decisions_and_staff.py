"""An approved action runs only as approved (its payload checked against the insert-only
decision record), and only while the people behind it may still act."""

import pytest
from django.utils import timezone

from accounts.audit import audited
from accounts.roles import Role
from billing import actions
from billing.actions import staff
from billing.actions.pipeline import payload_hash
from billing.models import Action, ActionState, ApprovalRequest, DecisionRecord
from billing.stripe import gateway
from tests.billing.conftest import mirrored_account
from tests.factories import make_staff

REFUND = {"reason": "requested_by_customer", "ticket": "ZD-30", "note": ""}


def ask(actor, payment, amount):
    return actions.request_refund(actor=actor, payment=payment, amount=amount, **REFUND)


def test_an_approved_refund_edited_in_the_database_is_not_paid(
    account, support_user, finance_user, stripe_emulator
):
    other = mirrored_account()  # another customer, whose payment the edit points at
    request = ask(support_user, account.payment, 15_000)
    stripe_emulator.add_fault("/v1/refunds", "500", method="POST")  # the first try fails
    approved = actions.approve(approval_pk=request.approval.pk, approver=finance_user)
    assert approved.state == ActionState.EXECUTING

    # Someone with database access rewrites the action and both hashes it carries.
    edited = Action.objects.get(pk=request.pk)
    edited.amount = edited.measure = 50_000
    edited.payment = other.payment
    edited.customer = other.customer
    edited.payload = {**edited.payload, "amount": 50_000, "charge": other.payment.stripe_charge_id}
    edited.payload_hash = payload_hash(edited)
    with audited(actor=None, reason="test: a hostile edit"):
        edited.save()
        ApprovalRequest.objects.filter(pk=request.approval.pk).update(
            payload_hash=edited.payload_hash
        )

    retried = actions.execute(request.pk)

    assert retried.state == ActionState.FAILED
    assert retried.error_code == "payload_changed"
    assert "after it was approved" in retried.error_message
    assert gateway.list_refunds(other.payment.stripe_charge_id) == []
    assert gateway.list_refunds(account.payment.stripe_charge_id) == []
    record = DecisionRecord.objects.get(approval=request.approval)
    assert record.decision == "approved"
    assert record.payload_hash != edited.payload_hash


def test_a_deactivated_staff_member_s_requests_are_withdrawn_with_history(
    account, support_user, finance_user, admin_user
):
    request = ask(support_user, account.payment, 15_000)

    withdrawn = staff.set_active(
        actor=admin_user, user=support_user, active=False, reason="Left the company"
    )

    action = Action.objects.get(pk=request.pk)
    assert withdrawn == 1
    assert action.state == ActionState.WITHDRAWN
    latest = action.history.latest()
    assert latest.state == "withdrawn"
    assert "deactivated" in latest.history_change_reason
    assert latest.history_user == admin_user
    assert DecisionRecord.objects.get(approval=request.approval).decision == "withdrawn"
    with pytest.raises(actions.ActionConflict, match="already withdrawn"):
        actions.approve(approval_pk=request.approval.pk, approver=finance_user)


def test_losing_the_role_that_made_a_request_withdraws_it(account, admin_user):
    requester = make_staff(Role.SUPPORT)
    request = ask(requester, account.payment, 15_000)

    staff.set_roles(actor=admin_user, user=requester, roles=[Role.AUDITOR], reason="New job")

    assert Action.objects.get(pk=request.pk).state == ActionState.WITHDRAWN


def test_keeping_a_role_that_may_ask_keeps_the_requests(stripe_emulator, admin_user):
    big = mirrored_account(quantity=200)  # paid 10,000.00
    requester = make_staff(Role.SUPPORT, Role.FINANCE)
    request = ask(requester, big.payment, 600_000)  # above finance's 5,000.00 a refund

    staff.set_roles(
        actor=admin_user, user=requester, roles=[Role.SUPPORT], reason="Back to support"
    )

    assert Action.objects.get(pk=request.pk).state == ActionState.PENDING_APPROVAL


def test_requests_waiting_for_a_deactivated_approver_stay_decidable_by_others(
    account, support_user, admin_user
):
    finance = make_staff(Role.FINANCE)
    other_finance = make_staff(Role.FINANCE)
    request = ask(support_user, account.payment, 15_000)

    staff.set_active(actor=admin_user, user=finance, active=False, reason="On leave")

    approved = actions.approve(approval_pk=request.approval.pk, approver=other_finance)
    assert approved.state == ActionState.SUCCEEDED


def test_an_approval_whose_approver_was_deactivated_before_it_ran_does_not_run(
    account, support_user, admin_user
):
    finance = make_staff(Role.FINANCE)
    request = ask(support_user, account.payment, 15_000)
    approval = request.approval
    # What a crash between approve's commit and its first attempt leaves behind: approved,
    # executing, never sent to Stripe.
    now = timezone.now()
    with audited(actor=finance, reason="test: approved, then the process died"):
        approval.decision, approval.decided_by, approval.decided_at = "approved", finance, now
        approval.save()
        DecisionRecord.objects.create(
            approval=approval,
            decision="approved",
            decided_by=finance,
            payload_hash=payload_hash(request),
            decided_at=now,
        )
        for state in ("approved", "executing"):
            request.state = state  # as the pipeline would have moved it
            request.save()
    staff.set_active(actor=admin_user, user=finance, active=False, reason="Left")

    ran = actions.execute(request.pk)

    assert ran.state == ActionState.FAILED
    assert ran.error_code == "approver_removed"
    assert gateway.list_refunds(account.payment.stripe_charge_id) == []


def test_only_admins_change_staff_and_never_their_own_admin_role(
    support_user, finance_user, admin_user
):
    with pytest.raises(actions.NotAllowed):
        staff.set_active(actor=finance_user, user=support_user, active=False, reason="no")
    with pytest.raises(actions.NotAllowed, match="yourself"):
        staff.set_active(actor=admin_user, user=admin_user, active=False, reason="oops")
    with pytest.raises(actions.NotAllowed, match="your own admin role"):
        staff.set_roles(actor=admin_user, user=admin_user, roles=[Role.SUPPORT], reason="oops")
    with pytest.raises(actions.InvalidAction):
        staff.set_active(actor=admin_user, user=support_user, active=False, reason="  ")

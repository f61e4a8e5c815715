"""One writer per rule: the pipeline alone moves an action between states (one history row per
real state change), and one rule says who may decide a request, for the inbox and for approve
alike."""

import ast
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.audit import audited
from accounts.roles import Role
from billing import actions, webhooks
from billing.actions import policy
from billing.models import Action, ActionAttempt, ActionKind, ActionState, PolicyLimit, StripeEvent
from tests.billing.conftest import mirrored_account
from tests.factories import make_staff

ROOT = Path(__file__).resolve().parents[2]
REFUND = {"reason": "duplicate", "ticket": "ZD-48213", "note": ""}


def refund(actor, payment, amount):
    return actions.request_refund(actor=actor, payment=payment, amount=amount, **REFUND)


def states_in_history(action: Action) -> list[str]:
    return [row.state for row in action.history.order_by("history_date", "history_id")]


def test_a_direct_refund_has_one_history_row_per_state(account, finance_user):
    action = refund(finance_user, account.payment, 2500)

    assert states_in_history(action) == ["executing", "succeeded"]
    assert ActionAttempt.objects.filter(action=action).count() == 1


def test_an_approved_refund_has_one_history_row_per_state(account, support_user, finance_user):
    request = refund(support_user, account.payment, 15000)

    done = actions.approve(approval_pk=request.approval.pk, approver=finance_user)

    assert done.state == ActionState.SUCCEEDED
    assert states_in_history(done) == ["pending_approval", "approved", "executing", "succeeded"]


def test_a_retried_refund_logs_its_attempts_apart_from_its_history(
    account, finance_user, stripe_emulator
):
    stripe_emulator.add_fault("/v1/refunds", "500", method="POST", count=2)
    action = refund(finance_user, account.payment, 2500)
    actions.execute(action.pk)  # what the retry task runs: another 500

    retried = actions.execute(action.pk)

    assert retried.state == ActionState.SUCCEEDED
    assert states_in_history(retried) == ["executing", "succeeded"]
    outcomes = list(ActionAttempt.objects.filter(action=action).values_list("outcome", flat=True))
    assert outcomes == ["unanswered", "unanswered", "done"]


def test_a_refund_confirmed_by_a_webhook_has_one_succeeded_row(
    client, account, finance_user, stripe_emulator
):
    stripe_emulator.drain_webhooks()
    stripe_emulator.add_fault("/v1/refunds", "drop_after_apply", method="POST")
    action = refund(finance_user, account.payment, 2500)
    created = next(d for d in stripe_emulator.drain_webhooks() if d["type"] == "refund.created")
    client.post(
        "/stripe/webhook/",
        data=created["payload"],
        content_type="application/json",
        headers={"Stripe-Signature": created["headers"]["Stripe-Signature"]},
    )
    webhooks.process_event(StripeEvent.objects.get(type="refund.created").pk)

    retried = actions.execute(action.pk)  # the retry task comes after the confirmation

    assert retried.state == ActionState.SUCCEEDED
    assert states_in_history(retried) == ["executing", "succeeded"]


def test_only_the_pipeline_writes_an_actions_state():
    """A convention: no product module but the pipeline assigns `.state`."""
    writers = []
    for package in ("accounts", "billing", "support"):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts or path == ROOT / "billing/actions/pipeline.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                targets = []
                if isinstance(node, ast.Assign):
                    targets = node.targets
                elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                    targets = [node.target]
                if any(isinstance(t, ast.Attribute) and t.attr == "state" for t in targets):
                    writers.append(f"{path.relative_to(ROOT)}:{node.lineno}")

    assert writers == []


# Who may decide ---------------------------------------------------------------------------


@pytest.fixture
def big_request(stripe_emulator, support_user):
    """Support asks for an 8,000.00 refund: above finance's 5,000.00 per refund."""
    account = mirrored_account(quantity=200)  # paid 10,000.00
    return refund(support_user, account.payment, 800_000).approval


def test_a_request_above_finances_limit_waits_for_admin_not_finance(
    big_request, finance_user, admin_user
):
    now = big_request.created_at

    assert big_request not in policy.decidable_by(finance_user, now)
    assert big_request in policy.decidable_by(admin_user, now)
    with pytest.raises(actions.NotAllowed, match="limit does not cover"):
        actions.approve(approval_pk=big_request.pk, approver=finance_user)
    assert actions.approve(approval_pk=big_request.pk, approver=admin_user).state == "succeeded"


def test_what_the_inbox_shows_approve_accepts(stripe_emulator, support_user):
    account = mirrored_account(quantity=300)  # 15,000.00 paid
    requests = [
        refund(support_user, account.payment, amount).approval
        for amount in (15_000, 500_000, 500_001, 1_000_000, 1_000_001)
    ]
    approvers = [
        make_staff(Role.FINANCE),
        make_staff(Role.ADMIN),
        make_staff(Role.FINANCE, Role.ADMIN),
        make_staff(Role.AUDITOR),
        make_staff(Role.SUPPORT),
    ]
    now = requests[0].created_at

    for approver in approvers:
        shown = set(policy.decidable_by(approver, now).values_list("pk", flat=True))
        for request in requests:
            accepted = policy.may_decide(approver, request) and approver.has_perm(policy.APPROVE)
            assert (request.pk in shown) == accepted, (approver, request.action.amount)

    admin = approvers[1]
    assert {
        r.action.amount
        for r in requests
        if r.pk in set(policy.decidable_by(admin, now).values_list("pk", flat=True))
    } == {15_000, 500_000, 500_001, 1_000_000}


limits = st.one_of(st.none(), st.integers(min_value=0, max_value=2_000))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.tuples(limits, limits), min_size=0, max_size=3),
    measure=st.one_of(st.none(), st.integers(min_value=1, max_value=2_500)),
)
def test_the_sql_rule_agrees_with_the_largest_limit(support_user, finance_user, rows, measure):
    """policy.deciders (SQL, for the inbox) and Limit.covers (Python) say the same."""

    class Rollback(Exception):
        pass

    try:
        with transaction.atomic(), audited(actor=None, reason="test: random limits"):
            finance_user.groups.clear()
            for index, (per_action, per_day) in enumerate(rows):
                role = Group.objects.create(name=f"random-{index}")
                role.permissions.set(Group.objects.get(name="finance").permissions.all())
                PolicyLimit.objects.create(
                    role=role,
                    kind=ActionKind.TRIAL_EXTENSION,
                    currency="",
                    per_action=per_action,
                    per_day=per_day,
                )
                finance_user.groups.add(role)
            approver = type(finance_user).objects.get(pk=finance_user.pk)  # fresh permissions
            approval = _pending_trial_request(support_user, measure)
            limit = policy.Limit.largest(PolicyLimit.objects.filter(role__in=approver.groups.all()))

            expected = limit is not None and limit.covers(measure)
            assert policy.may_decide(approver, approval) == expected, (rows, measure)
            raise Rollback
    except Rollback:
        pass


def _pending_trial_request(requester, measure):
    """An approval request as the pipeline would write it (without Stripe or a subscription:
    only the decider rule is under test here)."""
    from django.utils import timezone

    from billing.actions.pipeline import payload_hash
    from billing.models import ApprovalRequest
    from tests.factories import make_customer

    now = timezone.now()
    action = Action(
        kind=ActionKind.TRIAL_EXTENSION,
        state=ActionState.PENDING_APPROVAL,
        customer=make_customer(),
        actor=requester,
        reason_code="customer_request",
        ticket_ref="ZD-1",
        payload={"days": measure},
        measure=measure,
        created_at=now,
    )
    action.payload_hash = payload_hash(action)
    action.save()
    return ApprovalRequest.objects.create(
        action=action,
        requested_by=requester,
        payload_hash=action.payload_hash,
        expires_at=now + policy.APPROVAL_LIFETIME,
        created_at=now,
    )

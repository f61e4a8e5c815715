import datetime as dt

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.audit import audited
from accounts.roles import Role
from billing.actions import policy
from billing.models import ActionKind, Payment, PolicyLimit
from tests.factories import make_customer, make_payment, make_staff
from tests.screens.test_query_budgets import pending_request

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def decide(user, kind=ActionKind.REFUND, currency="usd", measure=None):
    return policy.decide(user=user, kind=kind, currency=currency, measure=measure, now=NOW)


def test_with_several_roles_the_largest_limit_applies():
    both = make_staff(Role.SUPPORT, Role.FINANCE)

    assert policy.limit_for(both, ActionKind.REFUND, "usd") == policy.Limit(500_000, 2_000_000)
    assert decide(both, measure=400_000).direct
    assert decide(both, ActionKind.PRICE_CHANGE).direct  # support: request only; finance: direct


def test_no_cap_beats_any_number():
    both = make_staff(Role.SUPPORT, Role.ADMIN)

    assert policy.limit_for(both, ActionKind.TRIAL_EXTENSION, "") == policy.Limit(None, None)


def test_no_row_and_a_zero_cap_both_mean_request_only():
    support = make_staff(Role.SUPPORT)
    auditor = make_staff(Role.AUDITOR)

    assert not decide(support, ActionKind.CREDIT, measure=1).direct
    assert not decide(support, ActionKind.INVOICE_VOID).direct
    assert not decide(auditor, measure=1).direct
    assert not decide(make_staff(Role.FINANCE), currency="chf", measure=1).direct


def test_an_edited_limit_applies_at_once_and_is_historied(admin_user):
    support = make_staff(Role.SUPPORT)
    row = PolicyLimit.objects.get(role__name="support", kind=ActionKind.REFUND, currency="usd")
    assert not decide(support, measure=20_000).direct

    with audited(actor=admin_user, reason="Support handles bigger refunds", ticket="OPS-12"):
        row.per_action = 25_000
        row.save()

    assert decide(support, measure=20_000).direct
    latest = row.history.latest()
    assert (latest.history_user, latest.history_ticket) == (admin_user, "OPS-12")


def test_approvers_are_judged_by_their_own_per_action_limit():
    finance, admin, support = (make_staff(r) for r in (Role.FINANCE, Role.ADMIN, Role.SUPPORT))

    def covers(user, kind, currency, measure):
        limit = policy.limit_for(user, kind, currency)
        return limit is not None and limit.covers(measure)

    assert covers(finance, ActionKind.REFUND, "usd", 500_000)
    assert not covers(finance, ActionKind.REFUND, "usd", 500_001)
    assert covers(admin, ActionKind.REFUND, "usd", 1_000_000)
    assert not covers(support, ActionKind.CREDIT, "usd", 1)
    assert covers(finance, ActionKind.INVOICE_VOID, "", None)


def test_the_waiting_count_is_what_decidable_by_counts_whatever_changes(support_user):
    """The badge's count (its SQL built once per user) follows every change as the plain
    count does: new requests, someone's own request, expiry, a decision, the approver's roles."""
    approver = make_staff(Role.FINANCE)
    customer = make_customer()
    payment: Payment = make_payment(customer)
    now = timezone.now()

    def both(at=None) -> tuple[int, int]:
        at = at or timezone.now()
        return policy.waiting_count(approver, at), policy.decidable_by(approver, at).count()

    assert both() == (0, 0)
    with audited(actor=None, reason="test: requests"):
        first = pending_request(customer, support_user, payment)
        pending_request(customer, support_user, payment, ref="ZD-2")
        pending_request(customer, approver, payment, ref="ZD-3")  # the approver's own
    assert both() == (2, 2)
    with audited(actor=None, reason="test: decided"):
        first.decision = "rejected"
        first.decision_note = "test"
        first.decided_by = approver
        first.decided_at = timezone.now()
        first.save()
    assert both() == (1, 1)
    later = now + policy.APPROVAL_LIFETIME + dt.timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        assert both(later) == (0, 0)
    with audited(actor=None, reason="test: the approver's roles change"):
        approver.groups.set([Group.objects.get(name=Role.AUDITOR)])
    assert policy.waiting_count(approver, timezone.now()) == 0  # may no longer approve
    with audited(actor=None, reason="test: the approver's roles change back"):
        approver.groups.set([Group.objects.get(name=Role.FINANCE)])
    approver = type(approver).objects.get(pk=approver.pk)  # permissions read afresh
    assert both() == (1, 1)

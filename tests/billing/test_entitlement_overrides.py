import datetime as dt

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from billing import actions
from billing.entitlements import effective_entitlements
from billing.models import ActionState, EntitlementOverride, Feature

WHY = {"reason": "service_issue", "ticket": "ZD-900", "note": "CI outage compensation"}


def override(actor, customer, **fields):
    values = {
        "feature": Feature.BUILD_MINUTES,
        "value": "25000",
        "starts_at": None,
        "expires_at": timezone.now() + dt.timedelta(days=7),
        **WHY,
    }
    values.update(fields)
    return actions.request_entitlement_override(actor=actor, customer=customer, **values)


def test_an_override_shows_in_the_effective_entitlements_until_it_ends(account, finance_user):
    now = timezone.now()
    customer = account.customer

    preview = actions.preview_entitlement_override(
        customer=customer,
        feature=Feature.BUILD_MINUTES,
        value="25000",
        starts_at=None,
        expires_at=now + dt.timedelta(days=7),
    )
    action = override(finance_user, customer, expires_at=now + dt.timedelta(days=7))
    granted = EntitlementOverride.objects.get(action=action)

    assert [(line.before, line.after) for line in preview.lines] == [("10000", "25000")]
    assert action.state == ActionState.SUCCEEDED
    during = {e.feature: e for e in effective_entitlements(customer, at=now + dt.timedelta(days=1))}
    after = {e.feature: e for e in effective_entitlements(customer, at=now + dt.timedelta(days=8))}
    assert during[Feature.BUILD_MINUTES].value == "25000"
    assert during[Feature.BUILD_MINUTES].source.startswith("Override until")
    assert after[Feature.BUILD_MINUTES].value == "10000"
    assert DBTaskResult.objects.filter(
        task_path="billing.actions.entitlements.end_entitlement_override"
    ).exists()
    assert actions.end_override(override_pk=granted.pk, now=now) is False
    assert actions.end_override(override_pk=granted.pk, now=now + dt.timedelta(days=7, seconds=1))
    granted.refresh_from_db()
    assert granted.ended_at == granted.expires_at


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"feature": "teleportation"}, "feature"),
        ({"value": "lots"}, "value"),
        ({"feature": Feature.SSO, "value": "maybe"}, "value"),
        ({"expires_at": None}, "expires_at"),
        ({"expires_at": timezone.now() - dt.timedelta(days=1)}, "expires_at"),
        ({"expires_at": timezone.now() + dt.timedelta(days=400)}, "expires_at"),
    ],
)
def test_a_malformed_override_is_refused(account, finance_user, fields, field):
    with pytest.raises(actions.InvalidAction) as refused:
        override(finance_user, account.customer, **fields)

    assert field in refused.value.errors


def test_support_requests_an_override_and_finance_approves_it(account, support_user, finance_user):
    action = override(support_user, account.customer)

    assert action.state == ActionState.PENDING_APPROVAL
    done = actions.approve(approval_pk=action.approval.pk, approver=finance_user)
    assert done.state == ActionState.SUCCEEDED
    assert EntitlementOverride.objects.filter(action=done).exists()

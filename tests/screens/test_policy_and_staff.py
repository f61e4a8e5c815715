"""Admins edit limits and reason codes on /policy/ and roles and access on /staff/: each change
asks for a reason, is in the history, and takes effect; nobody else may make one."""

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.audit import audited
from accounts.models import User
from accounts.roles import Role
from billing.actions import policy
from billing.forms import RefundForm
from billing.models import ActionState, ApprovalRequest, PolicyLimit, ReasonCode
from tests.factories import make_customer, make_payment, make_staff
from tests.screens.test_query_budgets import pending_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client, admin_user):
    client.force_login(admin_user)
    return client


def support_refund_limit() -> PolicyLimit:
    return PolicyLimit.objects.get(role__name="support", kind="refund", currency="usd")


def test_an_admin_lowers_a_limit_with_a_reason_and_it_is_in_the_history(admin, admin_user):
    limit = support_refund_limit()
    prefix = f"limit-{limit.pk}"

    response = admin.post(
        f"/policy/limits/{limit.pk}/",
        {f"{prefix}-per_action": "10.00", f"{prefix}-per_day": "$200", f"{prefix}-reason": "Q3"},
    )
    page = admin.get("/policy/").content.decode()

    limit.refresh_from_db()
    assert response.status_code == 302
    assert (limit.per_action, limit.per_day) == (1000, 20000)
    last = limit.history.latest("history_date")
    assert last.history_user == admin_user
    assert last.history_change_reason == (
        "Limit of support refund in USD: per action $100.00 → $10.00, "
        "per 24 h $500.00 → $200.00. Q3"
    )
    assert "per action $100.00 → $10.00" in page  # recent changes


def test_a_lowered_limit_sends_the_next_refund_to_approval(admin, support_user):
    limit = support_refund_limit()
    prefix = f"limit-{limit.pk}"
    before = policy.decide(
        user=support_user, kind="refund", currency="usd", measure=2000, now=timezone.now()
    )

    admin.post(
        f"/policy/limits/{limit.pk}/",
        {f"{prefix}-per_action": "10", f"{prefix}-per_day": "500", f"{prefix}-reason": "Fraud"},
    )
    after = policy.decide(
        user=User.objects.get(pk=support_user.pk),
        kind="refund",
        currency="usd",
        measure=2000,
        now=timezone.now(),
    )

    assert before.direct
    assert not after.direct
    assert after.why == "Above your limit of $10.00 per refund."


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"per_action": "10", "per_day": "5", "reason": "x"}, "per_day", "cannot be below"),
        ({"per_action": "12.345", "per_day": "", "reason": "x"}, "per_action", "decimal"),
        ({"per_action": "10", "per_day": "", "reason": ""}, "reason", "required"),
        ({"per_action": "-5", "per_day": "", "reason": "x"}, "per_action", ""),
    ],
)
def test_a_bad_limit_is_refused_by_field_and_changes_nothing(admin, fields, field, message):
    limit = support_refund_limit()
    prefix = f"limit-{limit.pk}"

    response = admin.post(
        f"/policy/limits/{limit.pk}/", {f"{prefix}-{k}": v for k, v in fields.items()}
    )

    limit.refresh_from_db()
    assert response.status_code == 400
    bound = next(form for row, form in response.context["limit_rows"] if row.pk == limit.pk)
    assert message.lower() in " ".join(bound.errors[field]).lower()
    assert (limit.per_action, limit.per_day) == (10_000, 50_000)


def test_an_admin_adds_a_limit_for_another_currency_once(admin):
    data = {
        "role": "support",
        "kind": "refund",
        "currency": "sek",
        "per_action": "50.00",
        "per_day": "",
        "reason": "EU launch",
    }

    first = admin.post("/policy/limits/new/", data)
    second = admin.post("/policy/limits/new/", data)

    added = PolicyLimit.objects.get(role__name="support", kind="refund", currency="sek")
    assert first.status_code == 302
    assert (added.per_action, added.per_day) == (5000, None)
    assert second.status_code == 400
    assert "already" in second.content.decode()


def test_no_limit_for_a_role_that_neither_acts_nor_approves(admin):
    response = admin.post(
        "/policy/limits/new/",
        {"role": "auditor", "kind": "credit", "currency": "usd", "per_action": "1", "reason": "x"},
    )

    assert response.status_code == 400
    assert not PolicyLimit.objects.filter(role__name="auditor").exists()


def test_a_reason_code_is_added_deactivated_and_made_to_require_a_note(admin, account_refund):
    response = admin.post(
        "/policy/reasons/new/",
        {
            "kind": "refund",
            "code": "chargeback_risk",
            "label": "Chargeback risk",
            "reason": "Finance asked",
        },
    )
    code = ReasonCode.objects.get(kind="refund", code="chargeback_risk")
    offered = dict(
        RefundForm(customer=account_refund.customer, target=account_refund).fields["reason"].choices
    )
    prefix = f"reason-{code.pk}"
    admin.post(
        f"/policy/reasons/{code.pk}/",
        {f"{prefix}-requires_note": "on", f"{prefix}-reason": "Retired"},
    )
    code.refresh_from_db()
    after = dict(
        RefundForm(customer=account_refund.customer, target=account_refund).fields["reason"].choices
    )

    assert response.status_code == 302
    assert offered["chargeback_risk"] == "Chargeback risk"
    assert (code.active, code.requires_note) == (False, True)
    assert "chargeback_risk" not in after
    reasons = list(code.history.values_list("history_change_reason", flat=True))
    assert "Reason chargeback_risk for refund: deactivated, note required. Retired" in reasons


@pytest.fixture
def account_refund():
    return make_payment(make_customer())


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.FINANCE, Role.AUDITOR, Role.AGENT])
def test_only_admins_change_the_policy_or_staff(client, role, support_user):
    client.force_login(make_staff(role))
    limit = support_refund_limit()
    code = ReasonCode.objects.filter(kind="refund").first()
    posts = [
        (f"/policy/limits/{limit.pk}/", {f"limit-{limit.pk}-per_action": "1", "reason": "x"}),
        ("/policy/limits/new/", {"role": "support", "kind": "credit", "currency": "usd"}),
        ("/policy/reasons/new/", {"kind": "refund", "code": "x", "label": "x", "reason": "x"}),
        (f"/policy/reasons/{code.pk}/", {f"reason-{code.pk}-reason": "x"}),
        (f"/staff/{support_user.pk}/roles/", {"roles": ["admin"], "reason": "x"}),
        (f"/staff/{support_user.pk}/active/", {"active": "0", "reason": "x"}),
    ]

    statuses = [client.post(url, data).status_code for url, data in posts]
    page = client.get("/policy/").content.decode()

    assert statuses == [403] * len(posts)
    assert "<form" not in page.split("<main>")[1]
    limit.refresh_from_db()
    assert limit.per_action == 10_000
    assert support_user.groups.get().name == "support"
    assert User.objects.get(pk=support_user.pk).is_active


def test_an_admin_gives_roles_with_a_reason_in_the_history(admin, admin_user, support_user):
    response = admin.post(
        f"/staff/{support_user.pk}/roles/", {"roles": ["support", "finance"], "reason": "Promoted"}
    )

    assert response.status_code == 302
    assert sorted(support_user.groups.values_list("name", flat=True)) == ["finance", "support"]
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["sam now holds finance, support."]


def test_roles_need_a_reason(admin, support_user):
    response = admin.post(f"/staff/{support_user.pk}/roles/", {"roles": ["finance"]})

    assert response.status_code == 302
    assert [str(m) for m in response.wsgi_request._messages] == [
        "Nothing changed: This field is required."
    ]
    assert support_user.groups.get().name == "support"


def test_an_admin_cannot_take_their_own_admin_role(admin, admin_user):
    admin.post(f"/staff/{admin_user.pk}/roles/", {"roles": ["finance"], "reason": "oops"})

    assert list(admin_user.groups.values_list("name", flat=True)) == ["admin"]


def test_deactivating_withdraws_their_requests_and_leaves_theirs_to_decide_to_others(
    admin, support_user
):
    fran, frank = make_staff(Role.FINANCE, username="fran"), make_staff(Role.FINANCE)
    customer = make_customer()
    with audited(actor=None, reason="test: requests waiting"):
        asked_by_sam = pending_request(customer, support_user, make_payment(customer))
        asked_by_frank = pending_request(customer, frank, make_payment(customer))
    now = timezone.now()
    assert policy.decidable_by(fran, now).filter(pk=asked_by_frank.pk).exists()

    admin.post(f"/staff/{support_user.pk}/active/", {"active": "0", "reason": "Left"})
    response = admin.post(f"/staff/{fran.pk}/active/", {"active": "0", "reason": "On leave"})

    asked_by_sam.refresh_from_db()
    asked_by_frank.refresh_from_db()
    assert not User.objects.get(pk=support_user.pk).is_active
    assert asked_by_sam.action.state == ActionState.WITHDRAWN
    assert asked_by_frank.action.state == ActionState.PENDING_APPROVAL
    others = make_staff(Role.FINANCE)
    assert policy.decidable_by(others, now).filter(pk=asked_by_frank.pk).exists()
    assert not policy.decidable_by(User.objects.get(pk=fran.pk), now).exists()
    assert [str(m) for m in response.wsgi_request._messages][-1] == "fran deactivated."
    assert ApprovalRequest.objects.pending(now).filter(pk=asked_by_frank.pk).exists()


def test_the_deactivation_message_counts_the_withdrawn_requests(admin, support_user):
    customer = make_customer()
    with audited(actor=None, reason="test: requests waiting"):
        for _ in range(2):
            pending_request(customer, support_user, make_payment(customer))

    response = admin.post(f"/staff/{support_user.pk}/active/", {"active": "0", "reason": "Left"})

    assert [str(m) for m in response.wsgi_request._messages] == [
        "sam deactivated. 2 pending requests of theirs withdrawn."
    ]
    last = User.objects.get(pk=support_user.pk).history.latest("history_date")
    assert last.history_change_reason == "Deactivated sam: Left"


def test_the_staff_page_offers_admins_the_changes(admin, support_user):
    html = admin.get("/staff/").content.decode()

    assert f'action="/staff/{support_user.pk}/roles/"' in html
    assert f'action="/staff/{support_user.pk}/active/"' in html
    assert Group.objects.filter(name="agent").exists()


def test_the_policy_services_refuse_anyone_but_an_admin(finance_user):
    from billing.actions import NotAllowed, policy_admin

    limit = support_refund_limit()

    with pytest.raises(NotAllowed):
        policy_admin.set_limit(
            actor=finance_user, limit=limit, per_action=1, per_day=None, reason="mine"
        )
    with pytest.raises(NotAllowed):
        policy_admin.change_reason_code(
            actor=finance_user,
            reason_code=ReasonCode.objects.first(),
            active=False,
            requires_note=False,
            reason="mine",
        )

    limit.refresh_from_db()
    assert limit.per_action == 10_000

import pytest
from django.contrib.auth.models import Group

from accounts.roles import ROLE_PERMISSIONS, Role
from billing.models import ActionKind, PolicyLimit, ReasonCode
from tests.factories import make_staff

pytestmark = pytest.mark.django_db


def test_the_five_roles_exist_with_exactly_their_permissions():
    for role, expected in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        held = {
            f"{permission.content_type.app_label}.{permission.codename}"
            for permission in group.permissions.select_related("content_type")
        }
        assert held == set(expected), role


@pytest.mark.parametrize(
    ("role", "may", "may_not"),
    [
        (
            Role.SUPPORT,
            ["billing.request_action", "support.work_ticket"],
            ["billing.approve_action", "billing.view_audit_log", "billing.export_data"],
        ),
        (
            Role.FINANCE,
            ["billing.approve_action", "billing.export_data", "billing.view_audit_log"],
            ["billing.manage_policy", "accounts.manage_staff"],
        ),
        (
            Role.ADMIN,
            ["billing.manage_policy", "accounts.manage_staff", "billing.approve_action"],
            [],
        ),
        (
            Role.AUDITOR,
            ["billing.view_audit_log", "billing.export_data", "billing.view_customer"],
            [
                "billing.request_action",
                "billing.approve_action",
                "support.work_ticket",
                "support.add_note",
            ],
        ),
        (
            Role.AGENT,
            ["billing.request_action", "billing.view_customer", "billing.view_payment"],
            [
                "billing.act_directly",
                "billing.approve_action",
                "billing.view_audit_log",
                "billing.export_data",
                "support.work_ticket",
                "support.add_note",
            ],
        ),
    ],
)
def test_what_each_role_may_do(role, may, may_not):
    user = make_staff(role)

    assert all(user.has_perm(name) for name in may)
    assert not any(user.has_perm(name) for name in may_not)


def test_the_agent_reads_what_support_reads():
    support = make_staff(Role.SUPPORT)
    agent = make_staff(Role.AGENT)

    reads = {name for name in support.get_all_permissions() if ".view_" in name}
    assert reads
    assert reads == {name for name in agent.get_all_permissions() if ".view_" in name}


def test_several_roles_give_the_union_of_their_rights():
    user = make_staff(Role.SUPPORT, Role.AUDITOR)

    assert user.has_perm("support.work_ticket")
    assert user.has_perm("billing.view_audit_log")


def limit(role, kind, currency=""):
    row = PolicyLimit.objects.get(role__name=role, kind=kind, currency=currency)
    return row.per_action, row.per_day


def test_default_policy_limits_are_specs():
    assert limit("support", ActionKind.REFUND, "usd") == (10_000, 50_000)
    assert limit("support", ActionKind.CREDIT, "usd") == (0, 0)
    assert limit("support", ActionKind.PRICE_CHANGE) == (0, 0)
    assert limit("support", ActionKind.TRIAL_EXTENSION) == (30, 30)
    assert limit("finance", ActionKind.REFUND, "usd") == (500_000, 2_000_000)
    assert limit("finance", ActionKind.CREDIT, "usd") == (200_000, 1_000_000)
    assert limit("finance", ActionKind.PRICE_CHANGE) == (None, None)
    assert limit("admin", ActionKind.REFUND, "usd") == (1_000_000, 5_000_000)
    assert limit("admin", ActionKind.CREDIT, "usd") == (1_000_000, 5_000_000)
    assert not PolicyLimit.objects.filter(role__name="auditor").exists()
    # The demo's other currencies: at par for EUR and GBP, ¥150 to the dollar for JPY.
    assert limit("finance", ActionKind.REFUND, "eur") == (500_000, 2_000_000)
    assert limit("support", ActionKind.REFUND, "jpy") == (15_000, 75_000)
    # No row for a currency means every such action needs an approval.
    assert not PolicyLimit.objects.filter(currency="chf").exists()


def test_default_policy_rows_have_their_creation_in_history():
    row = PolicyLimit.objects.get(role__name="support", kind=ActionKind.REFUND, currency="usd")

    created = row.history.get()
    assert created.history_type == "+"
    assert "SPEC" in created.history_change_reason


def test_reason_codes_per_kind_are_specs():
    def codes(kind):
        return list(ReasonCode.objects.filter(kind=kind).values_list("code", flat=True))

    assert codes(ActionKind.REFUND) == [
        "duplicate",
        "fraudulent",
        "requested_by_customer",
        "service_issue",
        "billing_error",
        "other",
    ]
    assert codes(ActionKind.CREDIT) == [
        "service_outage",
        "goodwill",
        "billing_error",
        "promotion",
        "other",
    ]
    assert all(codes(kind) for kind in ActionKind.values), "every kind has reason codes"
    assert set(ReasonCode.objects.filter(requires_note=True).values_list("code", flat=True)) == {
        "other"
    }

"""The staff roles (SPEC §1) as Django groups, and the permissions each one holds.

A user may hold several roles: their rights are the union. Data migrations call `sync_roles`
so that the groups in the database always match this table.
"""

from enum import StrEnum


class Role(StrEnum):
    SUPPORT = "support"
    FINANCE = "finance"
    ADMIN = "admin"
    AUDITOR = "auditor"
    AGENT = "agent"


# Everyone who works here may read everything about a customer.
_READ = [
    "accounts.view_user",
    "billing.view_customer",
    "billing.view_plan",
    "billing.view_price",
    "billing.view_subscription",
    "billing.view_invoice",
    "billing.view_payment",
    "billing.view_refund",
    "billing.view_balancetransaction",
    "billing.view_entitlementoverride",
    "billing.view_action",
    "billing.view_approvalrequest",
    "billing.view_stripeevent",
    "billing.view_policylimit",
    "billing.view_reasoncode",
    "support.view_ticket",
    "support.view_note",
]
# The screens are for people; automations and AI agents work through the API only.
_SCREENS = ["accounts.use_screens"]
_WORK_TICKETS = ["support.work_ticket", "support.add_note"]
_MONEY = ["billing.approve_action", "billing.export_data"]

_ACT = ["billing.request_action", "billing.act_directly"]

ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.SUPPORT: [*_READ, *_SCREENS, *_WORK_TICKETS, *_ACT],
    Role.FINANCE: [*_READ, *_SCREENS, *_WORK_TICKETS, *_ACT, *_MONEY, "billing.view_audit_log"],
    Role.ADMIN: [
        *_READ,
        *_SCREENS,
        *_WORK_TICKETS,
        *_ACT,
        *_MONEY,
        "billing.view_audit_log",
        "billing.manage_policy",
        "accounts.manage_staff",
        "accounts.review_access",
    ],
    Role.AUDITOR: [
        *_READ,
        *_SCREENS,
        "billing.view_audit_log",
        "billing.export_data",
        "accounts.review_access",
    ],
    # Automations and AI agents, through the API only: they read what support reads and may
    # ask for any action, but never act directly (no `billing.act_directly`, so the policy sends
    # every request of theirs to a person for approval) and never decide one.
    Role.AGENT: [*_READ, "billing.request_action"],
}


def sync_roles(apps, schema_editor) -> None:
    """Create the role groups and give each the permissions of ROLE_PERMISSIONS.

    Migrations call this whenever a role's permissions change. An older migration runs before
    some of today's permissions exist (their model's state is older): those are skipped
    there, and the migration that adds them calls this again. A test checks that after all
    migrations every role holds exactly its permissions.
    """
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after `migrate` finishes; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in ROLE_PERMISSIONS.items():
        wanted = []
        for name in names:
            app_label, codename = name.split(".")
            permission = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is not None:
                wanted.append(permission)
        group, _ = Group.objects.get_or_create(name=role.value)
        group.permissions.set(wanted)

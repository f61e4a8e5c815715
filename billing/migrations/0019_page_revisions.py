"""Revisions of what each customer's page shows, kept by triggers (billing.page_revisions):
the customer page's cache of rendered sections keys on them."""

from django.conf import settings
from django.db import migrations

from billing.page_revisions import revision_triggers

BY_CUSTOMER = "SELECT customer_id FROM {rows}"


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0018_customer_sections_by_created_id"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        revision_triggers(
            customer_tables={
                "billing_customer": "SELECT id FROM {rows}",
                "billing_subscription": BY_CUSTOMER,
                "billing_invoice": BY_CUSTOMER,
                "billing_payment": BY_CUSTOMER,
                "billing_refund": (
                    "SELECT p.customer_id FROM {rows} AS r "
                    "JOIN billing_payment AS p ON p.id = r.payment_id"
                ),
                "billing_balancetransaction": BY_CUSTOMER,
                "billing_entitlementoverride": BY_CUSTOMER,
                "billing_action": BY_CUSTOMER,
                "billing_approvalrequest": (
                    "SELECT a.customer_id FROM {rows} AS r "
                    "JOIN billing_action AS a ON a.id = r.action_id"
                ),
                "billing_syncproblem": BY_CUSTOMER,
            },
            global_tables={
                "billing_plan": (),
                "billing_price": (),
                "billing_planentitlement": (),
                # A staff member's name, as the pages show it (str(user)).
                "accounts_user": ("username", "first_name", "last_name"),
            },
        )
    ]

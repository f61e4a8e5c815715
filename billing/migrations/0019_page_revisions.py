"""Revisions of what each customer's page shows, kept by triggers (billing.page_revisions):
the customer page's cache of rendered sections keys on them."""

from django.conf import settings
from django.db import migrations

from billing.page_revisions import of_rows, revision_triggers

BY_CUSTOMER = of_rows("SELECT customer_id FROM {rows}")
EVERYONE = of_rows("SELECT 0 FROM {rows}")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0018_customer_sections_by_created_id"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        revision_triggers(
            {
                "billing_customer": of_rows("SELECT id FROM {rows}"),
                "billing_subscription": BY_CUSTOMER,
                "billing_invoice": BY_CUSTOMER,
                "billing_payment": BY_CUSTOMER,
                "billing_refund": of_rows(
                    "SELECT p.customer_id FROM {rows} AS r "
                    "JOIN billing_payment AS p ON p.id = r.payment_id"
                ),
                "billing_balancetransaction": BY_CUSTOMER,
                "billing_entitlementoverride": BY_CUSTOMER,
                "billing_action": BY_CUSTOMER,
                "billing_approvalrequest": of_rows(
                    "SELECT a.customer_id FROM {rows} AS r "
                    "JOIN billing_action AS a ON a.id = r.action_id"
                ),
                "billing_syncproblem": BY_CUSTOMER,
                # Shown on every customer's page.
                "billing_plan": EVERYONE,
                "billing_price": EVERYONE,
                "billing_planentitlement": EVERYONE,
                # A staff member's name, as the pages show it (str(user)), when it changes.
                "accounts_user": {
                    "UPDATE": (
                        "SELECT 0 FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id "
                        "WHERE (n.username, n.first_name, n.last_name) "
                        "IS DISTINCT FROM (o.username, o.first_name, o.last_name)"
                    )
                },
            }
        )
    ]

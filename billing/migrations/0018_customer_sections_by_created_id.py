"""The customer page's sections read in their full order (created, id) from one index each,
so that a prepared statement's generic plan, the same for every customer, reads a whale's
newest rows from the top instead of sorting all of them. The customer foreign keys lose
their own indexes: the new ones serve every lookup by customer, and with both the generic
plan chose the smaller one and sorted."""

import django.db.models.deletion
from django.db import migrations, models

from billing.migration_operations import AddIndexOnline, RemoveIndexOnline

# (table, index): the indexes Django gave each customer foreign key.
CUSTOMER_INDEXES = [
    ("billing_action", "billing_action_customer_id_25a9be99"),
    ("billing_balancetransaction", "billing_balancetransaction_customer_id_412321ba"),
    ("billing_invoice", "billing_invoice_customer_id_12e1ebba"),
    ("billing_payment", "billing_payment_customer_id_d41cd1dd"),
]


def _concurrently(schema_editor) -> str:
    return "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""


def drop_customer_indexes(apps, schema_editor):
    for _, index in CUSTOMER_INDEXES:
        schema_editor.execute(f'DROP INDEX {_concurrently(schema_editor)}IF EXISTS "{index}"')


def create_customer_indexes(apps, schema_editor):
    for table, index in CUSTOMER_INDEXES:
        schema_editor.execute(
            f'CREATE INDEX {_concurrently(schema_editor)}IF NOT EXISTS "{index}" '
            f'ON "{table}" ("customer_id")'
        )


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("billing", "0017_payment_last4_with_customer"),
    ]

    # Each new index first: the section has one to read from while the old one goes.
    operations = [
        AddIndexOnline(
            model_name="invoice",
            index=models.Index(
                fields=["customer", "-created", "-id"], name="invoice_customer_created_id"
            ),
        ),
        RemoveIndexOnline(model_name="invoice", name="invoice_customer_created"),
        AddIndexOnline(
            model_name="payment",
            index=models.Index(
                fields=["customer", "-created", "-id"], name="payment_customer_created_id"
            ),
        ),
        RemoveIndexOnline(model_name="payment", name="payment_customer_created"),
        AddIndexOnline(
            model_name="balancetransaction",
            index=models.Index(
                fields=["customer", "-created", "-id"], name="balancetxn_customer_created_id"
            ),
        ),
        RemoveIndexOnline(model_name="balancetransaction", name="balancetxn_customer_created"),
        AddIndexOnline(
            model_name="action",
            index=models.Index(
                fields=["customer", "-created_at", "-id"], name="action_customer_created_id"
            ),
        ),
        RemoveIndexOnline(model_name="action", name="action_customer_created"),
        # The foreign keys' own indexes dropped as the new ones were built, CONCURRENTLY on
        # PostgreSQL; Django's AlterField would also drop and re-add each foreign key,
        # validating every row while writes wait.
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(drop_customer_indexes, create_customer_indexes)
            ],
            state_operations=[
                migrations.AlterField(
                    model_name=model,
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name=related_name,
                        to="billing.customer",
                    ),
                )
                for model, related_name in (
                    ("action", "actions"),
                    ("balancetransaction", "balance_transactions"),
                    ("invoice", "invoices"),
                    ("payment", "payments"),
                )
            ],
        ),
    ]

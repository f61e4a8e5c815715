"""The customer page's sections read in their full order (created, id) from one index each,
so that a prepared statement's generic plan, the same for every customer, reads a whale's
newest rows from the top instead of sorting all of them. The customer foreign keys lose
their own indexes: the new ones serve every lookup by customer, and with both the generic
plan chose the smaller one and sorted."""

import django.db.models.deletion
from django.db import migrations, models

from billing.migration_operations import AddIndexOnline, RemoveIndexOnline

# Each section's model: its customer relation's name, the time it is ordered by, its new
# index, the index that one replaces, and the index Django gave its customer foreign key.
SECTIONS = [
    ("invoice", "invoices", "created", "invoice_customer_created_id", "invoice_customer_created",
     "billing_invoice_customer_id_12e1ebba"),
    ("payment", "payments", "created", "payment_customer_created_id", "payment_customer_created",
     "billing_payment_customer_id_d41cd1dd"),
    ("balancetransaction", "balance_transactions", "created", "balancetxn_customer_created_id",
     "balancetxn_customer_created", "billing_balancetransaction_customer_id_412321ba"),
    ("action", "actions", "created_at", "action_customer_created_id", "action_customer_created",
     "billing_action_customer_id_25a9be99"),
]  # fmt: skip


def _concurrently(schema_editor) -> str:
    return "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""


def drop_customer_indexes(apps, schema_editor):
    for *_, index in sorted(SECTIONS):
        schema_editor.execute(f'DROP INDEX {_concurrently(schema_editor)}IF EXISTS "{index}"')


def create_customer_indexes(apps, schema_editor):
    for model, *_, index in sorted(SECTIONS):
        schema_editor.execute(
            f'CREATE INDEX {_concurrently(schema_editor)}IF NOT EXISTS "{index}" '
            f'ON "billing_{model}" ("customer_id")'
        )


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("billing", "0017_payment_last4_with_customer"),
    ]

    operations = [
        # Each new index first: the section has one to read from while the old one goes.
        *(
            operation
            for model, _, created, new, old, _ in SECTIONS
            for operation in (
                AddIndexOnline(
                    model_name=model,
                    index=models.Index(fields=["customer", f"-{created}", "-id"], name=new),
                ),
                RemoveIndexOnline(model_name=model, name=old),
            )
        ),
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
                for model, related_name, *_ in sorted(SECTIONS)
            ],
        ),
    ]

from django.db import migrations, models

# PostgreSQL: `LOWER(column) LIKE 'text%'` (an email, handle or name starting with the text)
# can use a B-tree only with text_pattern_ops when the database's collation is not C; the
# plain LOWER() indexes of 0001 serve equality alone. SQLite (the demo) scans.
PREFIX_INDEXES = [
    ("customer_email_prefix", "billing_email"),
    ("customer_handle_prefix", "handle"),
    ("customer_name_prefix", "name"),
]


def create_prefix_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in PREFIX_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON billing_customer "
            f"(LOWER({column}) text_pattern_ops)"
        )


def drop_prefix_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in PREFIX_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("billing", "0012_api_idempotency_keys")]

    operations = [
        migrations.AddIndex(
            model_name="action",
            index=models.Index(fields=["-created_at", "-id"], name="action_created"),
        ),
        migrations.AddIndex(
            model_name="refund",
            index=models.Index(fields=["stripe_refund_id"], name="refund_stripe_id"),
        ),
        migrations.RunPython(create_prefix_indexes, drop_prefix_indexes, elidable=False),
    ]

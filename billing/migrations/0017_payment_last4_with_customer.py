from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class OnlineOnPostgres:
    """CONCURRENTLY on PostgreSQL (a plain CREATE INDEX would block every write to the table
    while it reads it all); the plain operation elsewhere (the demo's SQLite)."""

    plain: type

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return self.plain.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return self.plain.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexOnline(OnlineOnPostgres, AddIndexConcurrently):
    plain = migrations.AddIndex


class RemoveIndexOnline(OnlineOnPostgres, RemoveIndexConcurrently):
    plain = migrations.RemoveIndex


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("billing", "0016_stripe_events_by_customer_created_id"),
    ]

    operations = [
        # The new index first: the last4 search has one to use while the old one goes.
        AddIndexOnline(
            model_name="payment",
            index=models.Index(
                fields=["card_last4", "customer"], name="payment_card_last4_customer"
            ),
        ),
        RemoveIndexOnline(model_name="payment", name="payment_card_last4"),
    ]

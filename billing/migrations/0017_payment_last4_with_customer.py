from django.db import migrations, models

from billing.migration_operations import AddIndexOnline, RemoveIndexOnline


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

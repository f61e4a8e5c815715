from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0016_stripe_events_by_customer_created_id"),
    ]

    operations = [
        # The new index first: the search has one to use throughout.
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(
                fields=["card_last4", "customer"], name="payment_card_last4_customer"
            ),
        ),
        migrations.RemoveIndex(
            model_name="payment",
            name="payment_card_last4",
        ),
    ]

"""Invoices keep their service period (from their lines) beside Stripe's invoice period, which
is the window of pending items, not what the invoice bills; payments and refunds keep the
Stripe balance transaction (`txn_`) that moved their money, by which finance reconciles payouts.

Existing rows are not rewritten: an invoice's service period and a payment's balance
transaction are filled by the next read from Stripe (`manage.py stripe_sync`; until then the
drift report lists them). A refund recorded before this has no balance transaction: refunds are
an insert-only ledger, and adding the column writes no row.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0010_request_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="historicalinvoice",
            name="service_period_end",
            field=models.DateTimeField(
                blank=True, help_text="The latest end of its lines' periods.", null=True
            ),
        ),
        migrations.AddField(
            model_name="historicalinvoice",
            name="service_period_start",
            field=models.DateTimeField(
                blank=True, help_text="The earliest start of its lines' periods.", null=True
            ),
        ),
        migrations.AddField(
            model_name="historicalpayment",
            name="stripe_balance_transaction_id",
            field=models.CharField(
                blank=True,
                help_text="What the charge added to the Stripe balance (none if it failed); payouts are reconciled by it.",
                max_length=255,
            ),
        ),
        migrations.AddField(
            model_name="invoice",
            name="service_period_end",
            field=models.DateTimeField(
                blank=True, help_text="The latest end of its lines' periods.", null=True
            ),
        ),
        migrations.AddField(
            model_name="invoice",
            name="service_period_start",
            field=models.DateTimeField(
                blank=True, help_text="The earliest start of its lines' periods.", null=True
            ),
        ),
        migrations.AddField(
            model_name="payment",
            name="stripe_balance_transaction_id",
            field=models.CharField(
                blank=True,
                help_text="What the charge added to the Stripe balance (none if it failed); payouts are reconciled by it.",
                max_length=255,
            ),
        ),
        migrations.AddField(
            model_name="refund",
            name="stripe_balance_transaction_id",
            field=models.CharField(
                blank=True,
                help_text="What the refund took out of the Stripe balance (on a reversal row: what its failure gave back).",
                max_length=255,
            ),
        ),
        migrations.AlterField(
            model_name="historicalinvoice",
            name="period_end",
            field=models.DateTimeField(help_text="Stripe's window of pending items: end."),
        ),
        migrations.AlterField(
            model_name="historicalinvoice",
            name="period_start",
            field=models.DateTimeField(help_text="Stripe's window of pending items: start."),
        ),
        migrations.AlterField(
            model_name="invoice",
            name="period_end",
            field=models.DateTimeField(help_text="Stripe's window of pending items: end."),
        ),
        migrations.AlterField(
            model_name="invoice",
            name="period_start",
            field=models.DateTimeField(help_text="Stripe's window of pending items: start."),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("service_period_end__isnull", True), ("service_period_start__isnull", True)
                    ),
                    ("service_period_end__gte", models.F("service_period_start")),
                    _connector="OR",
                ),
                name="invoice_service_period_ends_after_start",
            ),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("stripe_balance_transaction_id", ""),
                    ("stripe_balance_transaction_id__startswith", "txn_"),
                    _connector="OR",
                ),
                name="payment_stripe_balance_transaction_id_prefix",
            ),
        ),
        migrations.AddConstraint(
            model_name="refund",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("stripe_balance_transaction_id", ""),
                    ("stripe_balance_transaction_id__startswith", "txn_"),
                    _connector="OR",
                ),
                name="refund_stripe_balance_transaction_id_prefix",
            ),
        ),
    ]

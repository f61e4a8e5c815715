from django.db import migrations

from accounts.audit import append_only_triggers

# PostgreSQL: trigram indexes serve the search box's "contains" and "starts with" lookups on
# LOWER(column), the expression the search QuerySet filters on. SQLite (the demo) scans.
SEARCH_INDEXES = [
    ("customer_name_trgm", "name"),
    ("customer_handle_trgm", "handle"),
    ("customer_email_trgm", "billing_email"),
]


def create_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in SEARCH_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON billing_customer "
            f"USING gin (LOWER({column}) gin_trgm_ops)"
        )


def drop_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in SEARCH_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [
        append_only_triggers(
            "billing_refund",
            "billing_balancetransaction",
            "billing_historicalplan",
            "billing_historicalprice",
            "billing_historicalplanentitlement",
            "billing_historicalcustomer",
            "billing_historicalentitlementoverride",
            "billing_historicalsubscription",
            "billing_historicalinvoice",
            "billing_historicalpayment",
            "billing_historicalaction",
            "billing_historicalapprovalrequest",
            "billing_historicalpolicylimit",
            "billing_historicalreasoncode",
            "billing_historicalstripeevent",
        ),
        migrations.RunPython(create_search_indexes, drop_search_indexes, elidable=False),
    ]

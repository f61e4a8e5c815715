"""The customer page's tickets and notes keep its revision too (billing.page_revisions)."""

from django.db import migrations

from billing.page_revisions import of_rows, revision_triggers


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0019_page_revisions"),
        ("support", "0005_audit_log_indexes"),
    ]

    operations = [
        revision_triggers(
            {
                # A ticket's reference shows beside its notes, on the notes' customer's page.
                "support_ticket": of_rows(
                    "SELECT customer_id FROM {rows} UNION ALL "
                    "SELECT n.customer_id FROM {rows} AS t JOIN support_note AS n "
                    "ON n.ticket_id = t.id"
                ),
                "support_note": of_rows("SELECT customer_id FROM {rows}"),
            }
        )
    ]

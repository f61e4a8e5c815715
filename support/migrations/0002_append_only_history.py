from django.db import migrations

from accounts.audit import append_only_triggers


class Migration(migrations.Migration):
    dependencies = [("support", "0001_initial")]

    operations = [append_only_triggers("support_historicalticket", "support_historicalnote")]

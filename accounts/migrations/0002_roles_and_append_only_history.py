from django.db import migrations

from accounts.audit import append_only_triggers
from accounts.roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("billing", "0001_initial"),
        ("support", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(sync_roles, migrations.RunPython.noop, elidable=False),
        append_only_triggers(
            "accounts_historicaluser",
            "accounts_historicaluser_groups",
            "accounts_historicaluser_user_permissions",
        ),
    ]

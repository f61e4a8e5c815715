from django.db import migrations

from accounts.roles import sync_roles


class Migration(migrations.Migration):
    """The `agent` role (automations and AI agents, through the API): reads what support reads,
    may request every action, never acts directly nor decides."""

    dependencies = [
        ("accounts", "0002_roles_and_append_only_history"),
        ("billing", "0008_action_attempts_decisions_and_measure"),
        ("support", "0002_append_only_history"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop, elidable=False)]

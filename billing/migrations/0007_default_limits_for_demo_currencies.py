"""More default policy (admin-editable), after a review of the first defaults:

- Support's direct trial extensions were capped per extension only (30 days), so 30-day
  extensions could be chained without an approval: they are now capped at 30 days per 24 h.
- Money limits existed in USD only, and an action in a currency without a limit needs an
  approval nobody could give (an approver's own limit must cover it): customers billed in EUR,
  GBP and JPY could never be refunded. Those currencies get the USD limits, at par for EUR and
  GBP and at about 150 yen to the dollar for JPY (which has no minor unit).
"""

import importlib

from django.db import migrations
from django.utils import timezone

first_defaults = importlib.import_module("billing.migrations.0003_default_policy_and_reason_codes")

REASON = "Default limits for EUR, GBP and JPY; support trial extensions capped per 24 h"
# Exchange as a ratio of integers (no floats near money): ¥150 to the dollar means one US cent
# is 1.5 yen, i.e. 3/2.
CURRENCIES = {"eur": (1, 1), "gbp": (1, 1), "jpy": (3, 2)}


def convert(amount, rate):
    numerator, denominator = rate
    return None if amount is None else amount * numerator // denominator


def add_limits(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    PolicyLimit = apps.get_model("billing", "PolicyLimit")
    History = apps.get_model("billing", "HistoricalPolicyLimit")
    now = timezone.now()

    def record(row, kind_of_change):
        values = {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields}
        History.objects.create(
            **values,
            history_date=now,
            history_type=kind_of_change,
            history_change_reason=REASON,
            history_user_id=None,
        )

    for role_name, rows in first_defaults.LIMITS.items():
        role = Group.objects.get(name=role_name)
        for kind, currency, (per_action, per_day) in rows:
            if currency != first_defaults.USD:
                continue
            for other, rate in CURRENCIES.items():
                row, created = PolicyLimit.objects.get_or_create(
                    role=role,
                    kind=kind,
                    currency=other,
                    defaults={
                        "per_action": convert(per_action, rate),
                        "per_day": convert(per_day, rate),
                    },
                )
                if created:
                    record(row, "+")
    trial = PolicyLimit.objects.filter(
        role__name="support", kind="trial_extension", currency="", per_day__isnull=True
    ).first()
    if trial is not None:
        trial.per_day = 30
        trial.save()
        record(trial, "~")


class Migration(migrations.Migration):
    dependencies = [("billing", "0006_action_stripe_metadata")]

    operations = [migrations.RunPython(add_limits, migrations.RunPython.noop)]

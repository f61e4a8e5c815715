"""Column types and constraints shared by the billing models: Stripe ids and currencies."""

from django.db import models
from django.db.models.functions import Length, Lower
from django.db.models.lookups import Exact

from billing import money


class CurrencyField(models.CharField):
    """A lowercase ISO 4217 code, as Stripe sends and wants it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 3)
        kwargs.setdefault("choices", [(code, code.upper()) for code in sorted(money.CURRENCIES)])
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        # The currency list is Stripe's and may grow; migrations need not follow it.
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("choices", None)
        return name, path, args, kwargs


def stripe_id_constraints(
    model_name: str, field: str, prefix: str, *, unique_condition: models.Q | None = None
) -> list[models.BaseConstraint]:
    """Unique, and shaped like a Stripe id of the right object (NULL allowed where nullable)."""
    return [
        models.UniqueConstraint(
            fields=[field], name=f"{model_name}_{field}_unique", condition=unique_condition
        ),
        models.CheckConstraint(
            condition=models.Q(**{f"{field}__startswith": prefix})
            | models.Q(**{f"{field}__isnull": True}),
            name=f"{model_name}_{field}_prefix",
        ),
    ]


def currency_constraint(model_name: str, field: str = "currency", *, blank_ok: bool = False):
    shaped = models.Q(**{field: Lower(field)}) & models.Q(Exact(Length(field), 3))
    if blank_ok:
        shaped |= models.Q(**{field: ""})
    return models.CheckConstraint(condition=shaped, name=f"{model_name}_{field}_lowercase_iso")


class StripeMirrored(models.Model):
    """A row mirroring a Stripe object. `stripe_fetched_at` orders the writes: a row is only
    overwritten from a Stripe read that began later than the one that wrote it."""

    stripe_fetched_at = models.DateTimeField(
        null=True, blank=True, help_text="When the Stripe read that gave this state began."
    )

    class Meta:
        abstract = True

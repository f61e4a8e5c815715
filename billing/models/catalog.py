"""The plan catalog: plans (Stripe products), their prices, and the entitlements each includes."""

from django.core.exceptions import ValidationError
from django.db import models

from accounts.audit import AuditedHistory
from billing.models.fields import (
    CurrencyField,
    StripeMirrored,
    currency_constraint,
    stripe_id_constraints,
)


class Feature(models.TextChoices):
    SEATS = "seats", "Seats"
    PRIVATE_REPOS = "private_repos", "Private repositories"
    BUILD_MINUTES = "build_minutes", "Build minutes per month"
    CONCURRENT_BUILDS = "concurrent_builds", "Concurrent builds"
    SSO = "sso", "SAML single sign-on"


BOOLEAN_FEATURES = frozenset({Feature.SSO})
UNLIMITED = "unlimited"


def validate_feature_value(feature: str, value: str) -> str:
    """Normalize an entitlement value: "true"/"false" for switches, a count or "unlimited"."""
    if feature not in Feature.values:
        raise ValidationError(f"{feature!r} is not a feature.")
    cleaned = value.strip().lower()
    if feature in BOOLEAN_FEATURES:
        if cleaned not in ("true", "false"):
            raise ValidationError(f"{Feature(feature).label} is on or off: use true or false.")
        return cleaned
    if cleaned == UNLIMITED:
        return cleaned
    if not cleaned.isdigit() or len(cleaned) > 9:
        raise ValidationError(
            f"{Feature(feature).label} takes a whole number up to 999999999, or “unlimited”."
        )
    return str(int(cleaned))


class Interval(models.TextChoices):
    MONTH = "month", "Monthly"
    YEAR = "year", "Annual"


class Plan(StripeMirrored):
    """A plan of the catalog, mirrored from a Stripe product."""

    code = models.CharField(max_length=500, unique=True)
    name = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    stripe_product_id = models.CharField(max_length=255, null=True, blank=True)
    per_seat = models.BooleanField(help_text="Priced per seat (quantity) rather than flat.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = AuditedHistory()

    class Meta:
        default_permissions = ("view",)
        ordering = ["name"]
        constraints = [*stripe_id_constraints("plan", "stripe_product_id", "prod_")]

    def __str__(self) -> str:
        return self.name


class PriceQuerySet(models.QuerySet):
    def active(self):
        return self.filter(active=True, plan__active=True)


class Price(StripeMirrored):
    """One price of a plan: an amount per interval in a currency (per seat for seat plans)."""

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="prices")
    stripe_price_id = models.CharField(max_length=255, null=True, blank=True)
    interval = models.CharField(max_length=5, choices=Interval.choices)
    unit_amount = models.BigIntegerField(help_text="Minor units, per seat for seat plans.")
    currency = CurrencyField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = AuditedHistory()
    objects = PriceQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["plan__name", "interval", "currency"]
        constraints = [
            *stripe_id_constraints("price", "stripe_price_id", "price_"),
            currency_constraint("price"),
            models.CheckConstraint(
                condition=models.Q(unit_amount__gte=0), name="price_unit_amount_not_negative"
            ),
            models.UniqueConstraint(
                fields=["plan", "interval", "currency"],
                condition=models.Q(active=True),
                name="price_one_active_per_plan_interval_currency",
            ),
        ]

    def __str__(self) -> str:
        from billing.money import format_amount

        return f"{self.plan.name} {format_amount(self.unit_amount, self.currency)}/{self.interval}"


class PlanEntitlement(models.Model):
    """What a plan includes, e.g. `build_minutes = 3000` or `sso = true`."""

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="entitlements")
    feature = models.CharField(max_length=40, choices=Feature.choices)
    value = models.CharField(max_length=20)

    history = AuditedHistory()

    class Meta:
        default_permissions = ("view",)
        ordering = ["plan", "feature"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "feature"], name="planentitlement_unique")
        ]

    def __str__(self) -> str:
        return f"{self.plan.code}: {self.feature} = {self.value}"

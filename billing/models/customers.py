"""Customers, their credit balance ledger and their entitlement overrides."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, ClassVar, cast

from django.conf import settings
from django.db import models
from django.db.models import Case, F, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, Lower
from django.urls import reverse

from accounts.audit import AppendOnlyModel, AppendOnlyQuerySet, AuditedHistory
from billing.models.catalog import Feature
from billing.models.choices import ActionKind
from billing.models.fields import (
    CurrencyField,
    StripeMirrored,
    currency_constraint,
    stripe_id_constraints,
)
from billing.models.prebuilt import built_once
from billing.money import Money

if TYPE_CHECKING:
    from billing.models.actions import Action


class CustomerKind(models.TextChoices):
    PERSONAL = "personal", "Personal account"
    ORGANIZATION = "organization", "Organization"


class CustomerStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DELINQUENT = "delinquent", "Delinquent"
    CLOSED = "closed", "Closed"


# Search by Stripe id: the prefix names the object, and so the column to look in.
STRIPE_ID_LOOKUPS = {
    "cus_": "stripe_customer_id",
    "sub_": "subscriptions__stripe_subscription_id",
    "in_": "invoices__stripe_invoice_id",
    "ch_": "payments__stripe_charge_id",
    "pi_": "payments__stripe_payment_intent_id",
    "re_": "payments__refunds__stripe_refund_id",
    "cbtxn_": "balance_transactions__stripe_balance_transaction_id",
}
STRIPE_ID_LABELS = {
    "cus_": "Stripe customer id",
    "sub_": "subscription",
    "in_": "invoice",
    "ch_": "charge",
    "pi_": "payment intent",
    "re_": "refund",
    "cbtxn_": "balance transaction",
}
_LAST4 = re.compile(r"\d{4}")
_INVOICE_NUMBER = re.compile(r"[A-Za-z0-9]{3,}-\d{3,}")
_DOMAIN = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")


# A free-text search ranks at most this many candidates of each kind (prefix matches of the
# handle and the name, then names containing the text); the box shows the first 50 by name. No
# free-text search counts or sorts every match: that is what makes it fast at any size.
SEARCH_CANDIDATES = 200
# Shorter text is looked for only at the start of a handle or name (a prefix index answers it);
# "contains" needs three characters, the size of a trigram.
SHORTEST_CONTAINS = 3


class CustomerQuerySet(models.QuerySet):
    def search(self, query: str):
        """The one search box (SPEC §6): a Stripe id, card last4, invoice number, email,
        email domain, name or handle. Every branch is served by an index and reads a bounded
        number of rows: exact ids go from the row that holds them to its customer, text
        gathers a capped list of candidates (see SEARCH_CANDIDATES).

        Each customer found carries `matched_on` (which field matched, in words) and
        `exact_match` (the query is exactly its Stripe id, billing email or one of its
        invoice numbers: the search box goes straight to a single such customer)."""
        text = query.strip()
        lowered = text.lower()
        if not text:
            return self.none()
        for prefix, lookup in STRIPE_ID_LOOKUPS.items():
            if text.startswith(prefix):
                return self.filter(pk__in=_customers_holding(lookup, text)).annotate(
                    matched_on=Value(f"{STRIPE_ID_LABELS[prefix]} {text}"),
                    exact_match=Value(True),
                )
        if _LAST4.fullmatch(text):
            return self.filter(
                pk__in=_customers_holding("payments__card_last4", text)[:SEARCH_CANDIDATES]
            ).annotate(matched_on=Value(f"card ending {text}"), exact_match=Value(False))
        if "@" in text:
            exact = Q(email_ci=lowered)
            return (
                self.filter(
                    pk__in=Customer.objects.alias(email_ci=Lower("billing_email"))
                    .filter(email_ci__startswith=lowered)
                    .order_by()
                    .values("pk")[:SEARCH_CANDIDATES]
                )
                .alias(email_ci=Lower("billing_email"))
                .annotate(
                    matched_on=Case(
                        When(exact, then=Value("billing email")),
                        default=Value("billing email (starts with it)"),
                    ),
                    exact_match=Case(When(exact, then=Value(True)), default=Value(False)),
                )
            )
        invoiced: list[int] = []
        if _INVOICE_NUMBER.fullmatch(text):
            invoiced = list(_customers_holding("invoices__number", text.upper()))
        reasons = [
            When(handle_ci=lowered, then=Value("handle")),
            When(handle_ci__startswith=lowered, then=Value("handle (starts with it)")),
            When(name_ci__contains=lowered, then=Value("name")),
        ]
        if _DOMAIN.fullmatch(lowered):
            reasons.insert(0, When(domain_ci=lowered, then=Value("email domain")))
        if invoiced:
            reasons.insert(0, When(pk__in=invoiced, then=Value(f"invoice {text.upper()}")))
        return (
            self.filter(pk__in=_text_candidates(text, lowered, invoiced))
            .alias(
                name_ci=Lower("name"), handle_ci=Lower("handle"), domain_ci=Lower("email_domain")
            )
            .annotate(
                matched_on=Case(*reasons, default=Value("")),
                exact_match=Case(When(pk__in=invoiced, then=Value(True)), default=Value(False)),
            )
        )

    def with_balance(self):
        """Annotate `balance_amount`: the balance ledger's sum (negative is credit, as Stripe)."""
        ledger = (
            BalanceTransaction.objects.filter(customer=OuterRef("pk"))
            .order_by()
            .values("customer")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        return self.annotate(
            balance_amount=Coalesce(
                Subquery(ledger), Value(0, output_field=models.BigIntegerField())
            )
        )


def _customers_holding(lookup: str, value: str) -> models.QuerySet:
    """Ids of the customers whose related rows hold `value`, e.g. `payments__card_last4`:
    read from the table that holds the value (its customer column), with no join back to
    customers."""
    *relations, column = lookup.split("__")
    model: type[models.Model] = Customer
    to_customer: list[str] = []
    for relation in relations:
        field = model._meta.get_field(relation)
        to_customer.insert(0, field.field.name)  # type: ignore[union-attr]
        model = cast("type[models.Model]", field.related_model)
    if not to_customer:
        return Customer.objects.filter(**{column: value}).values_list("pk", flat=True)
    return model._default_manager.filter(**{column: value}).values_list(
        "__".join(to_customer), flat=True
    )


def _text_candidates(text: str, lowered: str, invoiced: list[int]) -> list[int]:
    """Customers a piece of text may mean, best first: an exact domain or invoice number, then
    handles and names starting with it, then names containing it; each source capped, and
    the next one read only while fewer than SEARCH_CANDIDATES were found. Resolved to ids here:
    a subquery inside an OR would make PostgreSQL scan customers."""
    named = Customer.objects.alias(
        name_ci=Lower("name"), handle_ci=Lower("handle"), domain_ci=Lower("email_domain")
    )
    sources: list[models.QuerySet | list[int]] = []
    if _DOMAIN.fullmatch(lowered):
        sources.append(named.filter(domain_ci=lowered).order_by().values_list("pk", flat=True))
    if invoiced:
        sources.append(invoiced)
    # Unordered: only the text_pattern_ops index serves "starts with", and it cannot give
    # the collation's order (asking for it makes PostgreSQL walk the other index from "a").
    for column in ("handle_ci", "name_ci"):
        starting = named.filter(**{f"{column}__startswith": lowered}).order_by()
        sources.append(starting.values_list("pk", flat=True))
    if len(lowered) >= SHORTEST_CONTAINS:
        containing = named.filter(name_ci__contains=lowered).order_by()
        sources.append(containing.values_list("pk", flat=True))
    found: dict[int, None] = {}
    for source in sources:
        found.update(dict.fromkeys(source[: SEARCH_CANDIDATES - len(found)]))
        if len(found) >= SEARCH_CANDIDATES:
            break
    return list(found)


class Customer(StripeMirrored):
    """A personal account or an organization that pays us, mirrored to a Stripe customer."""

    kind = models.CharField(max_length=12, choices=CustomerKind.choices)
    # As long as Stripe allows (names 256, emails 512, metadata values 500): the mirror takes
    # whatever Stripe holds, and customers set their own names.
    name = models.CharField(max_length=256)
    handle = models.CharField(
        max_length=500,
        help_text="The account's namespace, e.g. acme-corp (from Stripe metadata; two Stripe "
        "customers may claim the same one).",
    )
    billing_email = models.CharField(max_length=512)
    email_domain = models.CharField(max_length=512, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    currency = CurrencyField()
    stripe_customer_id = models.CharField(max_length=255, null=True, blank=True)
    status = models.CharField(
        max_length=12, choices=CustomerStatus.choices, default=CustomerStatus.ACTIVE
    )
    created = models.DateTimeField(help_text="When the account was opened.")
    updated_at = models.DateTimeField(auto_now=True)

    history = AuditedHistory(indexed_by="id")
    objects = CustomerQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["name"]
        constraints = [
            *stripe_id_constraints("customer", "stripe_customer_id", "cus_"),
            currency_constraint("customer"),
            models.CheckConstraint(
                condition=Q(country=models.functions.Upper("country")),
                name="customer_country_upper",
            ),
        ]
        indexes = [
            models.Index(Lower("billing_email"), name="customer_email_ci"),
            models.Index(Lower("handle"), name="customer_handle_ci"),
            models.Index(Lower("email_domain"), name="customer_domain_ci"),
            models.Index(Lower("name"), name="customer_name_ci"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.handle})"

    def get_absolute_url(self) -> str:
        return reverse("customer", args=[self.pk])

    def balance(self) -> Money:
        """The customer's Stripe balance: negative is credit the customer may spend."""
        total = (
            Customer.objects.with_balance().values_list("balance_amount", flat=True).get(pk=self.pk)
        )
        return Money(total, self.currency)


class BalanceTransactionQuerySet(AppendOnlyQuerySet):
    def credits(self):
        return self.filter(amount__lt=0, reverses__isnull=True)

    def with_reversible(self):
        """Annotate `reversible` on credits (the one definition): the credit's size − its
        reversals in the ledger − reversals outstanding (in flight, or succeeded but not yet
        mirrored; see ActionQuerySet.outstanding). Stripe does not cap balance transactions,
        so this is all that stands between a credit and reversing it twice."""
        # Action refers to this model, so it is reached through the relation, not imported.
        action_model = cast("type[Action]", self.model._meta.get_field("actions").related_model)
        reversed_ = (
            BalanceTransaction.objects.filter(reverses=OuterRef("pk"))
            .order_by()
            .values("reverses")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        outstanding = (
            action_model.objects.filter(
                balance_transaction=OuterRef("pk"), kind=ActionKind.CREDIT_REVERSAL
            )
            .outstanding()
            .order_by()
            .values("balance_transaction")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        zero = Value(0, output_field=models.BigIntegerField())
        return self.annotate(
            reversible=-F("amount")
            - Coalesce(Subquery(reversed_), zero)
            - Coalesce(Subquery(outstanding), zero)
        )

    def reversible_of(self, credit: BalanceTransaction) -> int:
        return self.with_reversible().values_list("reversible", flat=True).get(pk=credit.pk)


# Every customer and ledger entry with its balance and reversible (the definitions above), to
# filter: what a page reads (a clone of one built once; see built_once).
customers_with_balance = built_once(lambda: Customer.objects.with_balance())
ledger_with_reversible = built_once(lambda: BalanceTransaction.objects.with_reversible())


class BalanceTransaction(AppendOnlyModel):
    """One entry of a customer's Stripe balance (a credit, a debit, or one applied to an invoice).

    Stripe's sign: a negative amount is a credit to the customer. A credit reversal is a new
    entry of the opposite sign pointing at the entry it reverses.
    """

    # No index of its own: (customer, created, id) serves every lookup by customer.
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="balance_transactions", db_index=False
    )
    stripe_balance_transaction_id = models.CharField(max_length=255)
    amount = models.BigIntegerField()
    currency = CurrencyField()
    type = models.CharField(max_length=40, default="adjustment")
    description = models.CharField(max_length=350, blank=True)
    ending_balance = models.BigIntegerField()
    invoice = models.ForeignKey(
        "billing.Invoice", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reverses = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversals"
    )
    action = models.ForeignKey(
        "billing.Action", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects: ClassVar[models.Manager] = BalanceTransactionQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-created", "-id"]
        constraints = [
            *stripe_id_constraints("balancetransaction", "stripe_balance_transaction_id", "cbtxn_"),
            currency_constraint("balancetransaction"),
            models.CheckConstraint(
                condition=~Q(amount=0), name="balancetransaction_amount_not_zero"
            ),
        ]
        indexes = [
            # (customer, created, id), the customer page's full order: see Payment's.
            models.Index(
                fields=["customer", "-created", "-id"], name="balancetxn_customer_created_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.stripe_balance_transaction_id} {Money(self.amount, self.currency)}"


class EntitlementOverrideQuerySet(models.QuerySet):
    def active(self, at: dt.datetime):
        """Overrides in force at `at`: started, not yet expired, not ended early."""
        return self.not_over(at).filter(starts_at__lte=at)

    def not_over(self, at: dt.datetime):
        """Overrides in force at `at` or starting later: neither expired nor ended early."""
        return self.filter(expires_at__gt=at).filter(Q(ended_at__isnull=True) | Q(ended_at__gt=at))


class EntitlementOverride(models.Model):
    """A local grant on top of the plan, e.g. 10,000 build minutes for the rest of the month."""

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="entitlement_overrides"
    )
    feature = models.CharField(max_length=40, choices=Feature.choices)
    value = models.CharField(max_length=20)
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Ended early, or expired.")
    reason = models.TextField()
    action = models.ForeignKey(
        "billing.Action", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = AuditedHistory(indexed_by="customer")
    objects = EntitlementOverrideQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("starts_at")),
                name="entitlementoverride_expires_after_start",
            )
        ]
        indexes = [
            models.Index(fields=["customer", "expires_at"], name="override_customer_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.feature} = {self.value} until {self.expires_at:%Y-%m-%d}"

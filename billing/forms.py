"""The action panels of the customer page: one form per kind of SPEC §3.

Each form holds what a person types (an amount as "20.00" in the customer's currency, a date,
a number of seats), the reason from that kind's list, the ticket and a note; it knows its
target (a payment, a credit, a subscription, an invoice) and which functions of
billing.actions preview and request the change. The rules stay in billing.actions: a form
only turns text into the typed arguments those functions take, and their errors into errors
next to the field they are about.

A review is confirmed with a one-time token, signed, bound to the staff member, the panel,
the target and exactly the reviewed values, and carrying the request key the action is
submitted with: a double click or a resubmitted confirm finds the first action instead of
making a second one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar, TypedDict, cast

from django import forms
from django.core import signing
from django.db.models import Model
from django.utils import timezone

from accounts.models import User
from billing import actions
from billing.actions.errors import InvalidAction
from billing.models import (
    Action,
    ActionKind,
    BalanceTransaction,
    Customer,
    Feature,
    Invoice,
    PauseBehavior,
    Payment,
    Price,
    ReasonCode,
    Subscription,
)
from billing.money import Money, MoneyError

CONFIRM_SALT = "billing.action-panel.confirm"
CONFIRM_MAX_AGE = 15 * 60  # seconds a review stays confirmable


class AmountField(forms.CharField):
    """An amount as a person types it ("20.00", "$1,234.50", "1500" for JPY), in minor units
    of the currency the form is for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 40)
        super().__init__(*args, **kwargs)
        self.currency = "usd"
        self.widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})

    def clean(self, value: Any) -> int | None:
        text = super().clean(value)
        if not text:
            return None
        try:
            return Money.parse(str(text), self.currency).amount
        except MoneyError as error:
            raise forms.ValidationError(str(error)) from None


class DateField(forms.DateField):
    """A day (trial ends, expiries, resumes), picked with the browser's date input."""

    widget = forms.DateInput(attrs={"type": "date"})


def end_of(day: dt.date | None) -> dt.datetime | None:
    """The end of that day in UTC: a trial or an override runs through the day picked."""
    return None if day is None else dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)


def start_of(day: dt.date | None) -> dt.datetime | None:
    return None if day is None else dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC)


class Why(TypedDict):
    reason: str
    ticket: str
    note: str


class Override(TypedDict):
    customer: Customer
    feature: str
    value: str
    starts_at: dt.datetime | None
    expires_at: dt.datetime | None


class ActionForm(forms.Form):
    """Reason, ticket and note: what every action carries."""

    kind: ClassVar[ActionKind]
    target_model: ClassVar[type[Model] | None] = None
    target_param: ClassVar[str] = ""
    title: ClassVar[str]

    reason = forms.ChoiceField(label="Reason")
    ticket = forms.CharField(
        label="Ticket",
        max_length=64,
        widget=forms.TextInput(attrs={"placeholder": "ZD-48213", "autocomplete": "off"}),
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, customer: Customer, target: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.customer = customer
        self.target = target
        reasons = ReasonCode.objects.filter(kind=self.kind, active=True).order_by("position")
        cast(forms.ChoiceField, self.fields["reason"]).choices = [("", "Choose a reason")] + [
            (reason.code, reason.label) for reason in reasons
        ]
        for field in self.fields.values():
            if isinstance(field, AmountField):
                field.currency = self.currency
        # Field order: the change first, then why.
        self.order_fields(
            [name for name in self.fields if name not in ("reason", "ticket", "note")]
        )

    @property
    def currency(self) -> str:
        return self.customer.currency

    def justification(self) -> Why:
        data = self.cleaned_data
        return {"reason": data["reason"], "ticket": data["ticket"], "note": data.get("note") or ""}

    def preview(self) -> actions.Preview:
        raise NotImplementedError

    def submit(self, *, actor: User, request_key: str) -> Action:
        raise NotImplementedError

    def absorb(self, error: InvalidAction) -> None:
        """The service's field errors, next to the fields they are about."""
        for field, message in error.errors.items():
            self.add_error(field if field in self.fields else None, message)

    def reviewed_values(self) -> dict[str, str]:
        """What was reviewed, as text: the confirm token is bound to exactly this."""
        return {
            name: "" if value is None else str(value)
            for name, value in sorted(self.cleaned_data.items())
        }


# Payments and the balance ---------------------------------------------------------------------


class RefundForm(ActionForm):
    kind = ActionKind.REFUND
    target_model = Payment
    target_param = "payment"
    title = "Refund"
    amount = AmountField(
        label="Amount", required=False, help_text="Leave empty to refund all that remains."
    )

    @property
    def currency(self) -> str:
        return self.target.currency

    def preview(self) -> actions.Preview:
        return actions.preview_refund(payment=self.target, amount=self.cleaned_data["amount"])

    def submit(self, *, actor: User, request_key: str) -> Action:
        return actions.request_refund(
            actor=actor,
            payment=self.target,
            amount=self.cleaned_data["amount"],
            request_key=request_key,
            **self.justification(),
        )


class CreditForm(ActionForm):
    kind = ActionKind.CREDIT
    title = "Credit the balance"
    amount = AmountField(label="Amount")

    def preview(self) -> actions.Preview:
        return actions.preview_credit(
            customer=self.customer, amount=self.cleaned_data["amount"], currency=self.currency
        )

    def submit(self, *, actor: User, request_key: str) -> Action:
        return actions.request_credit(
            actor=actor,
            customer=self.customer,
            amount=self.cleaned_data["amount"],
            currency=self.currency,
            request_key=request_key,
            **self.justification(),
        )


class CreditReversalForm(ActionForm):
    kind = ActionKind.CREDIT_REVERSAL
    target_model = BalanceTransaction
    target_param = "credit"
    title = "Reverse a credit"
    amount = AmountField(
        label="Amount", required=False, help_text="Leave empty to take back all that remains."
    )

    def preview(self) -> actions.Preview:
        return actions.preview_credit_reversal(
            credit=self.target, amount=self.cleaned_data["amount"]
        )

    def submit(self, *, actor: User, request_key: str) -> Action:
        return actions.request_credit_reversal(
            actor=actor,
            credit=self.target,
            amount=self.cleaned_data["amount"],
            request_key=request_key,
            **self.justification(),
        )


# Subscriptions --------------------------------------------------------------------------------


class SubscriptionForm(ActionForm):
    target_model = Subscription
    target_param = "subscription"
    change_name: ClassVar[str]

    @property
    def currency(self) -> str:
        return self.target.price.currency

    def change(self) -> actions.Change:
        return actions.Change(change=self.change_name)

    def preview(self) -> actions.Preview:
        return actions.preview_subscription_change(subscription=self.target, change=self.change())

    def submit(self, *, actor: User, request_key: str) -> Action:
        return actions.request_subscription_change(
            actor=actor,
            subscription=self.target,
            change=self.change(),
            request_key=request_key,
            **self.justification(),
        )


class PriceChangeForm(SubscriptionForm):
    kind = ActionKind.PRICE_CHANGE
    change_name = "price"
    title = "Change the plan or price"
    price = forms.ModelChoiceField(label="New price", queryset=Price.objects.none())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["price"].queryset = (  # type: ignore[attr-defined]
            Price.objects.filter(active=True, currency=self.target.price.currency)
            .exclude(stripe_price_id=None)
            .exclude(pk=self.target.price_id)
            .select_related("plan")
            .order_by("plan__name", "interval", "unit_amount")
        )

    def change(self) -> actions.Change:
        return actions.Change(change="price", price=self.cleaned_data["price"])

    def reviewed_values(self) -> dict[str, str]:
        values = super().reviewed_values()
        values["price"] = str(self.cleaned_data["price"].pk)
        return values


class SeatChangeForm(SubscriptionForm):
    kind = ActionKind.SEAT_CHANGE
    change_name = "seats"
    title = "Change the seats"
    quantity = forms.IntegerField(label="Seats", min_value=1, max_value=100_000)

    def change(self) -> actions.Change:
        return actions.Change(change="seats", quantity=self.cleaned_data["quantity"])


class TrialExtensionForm(SubscriptionForm):
    kind = ActionKind.TRIAL_EXTENSION
    change_name = "trial_end"
    title = "Extend the trial"
    trial_end = DateField(
        label="New trial end", help_text="The trial ends at the end of that day (UTC)."
    )

    def change(self) -> actions.Change:
        return actions.Change(change="trial_end", trial_end=end_of(self.cleaned_data["trial_end"]))


class DiscountForm(SubscriptionForm):
    kind = ActionKind.DISCOUNT
    change_name = "discount"
    title = "Give a discount"
    percent_off = forms.DecimalField(
        label="Percent off", required=False, min_value=0, max_value=100, decimal_places=2
    )
    amount_off = AmountField(label="Or an amount off", required=False)
    duration = forms.ChoiceField(
        label="For",
        choices=[("once", "the next invoice"), ("repeating", "some months"), ("forever", "ever")],
    )
    duration_in_months = forms.IntegerField(
        label="Months", required=False, min_value=1, max_value=36
    )

    def change(self) -> actions.Change:
        data = self.cleaned_data
        return actions.Change(
            change="discount",
            percent_off=data.get("percent_off"),
            amount_off=data.get("amount_off"),
            duration=data["duration"],
            duration_in_months=data.get("duration_in_months"),
        )


class PauseCollectionForm(SubscriptionForm):
    kind = ActionKind.PAUSE_COLLECTION
    change_name = "pause_collection"
    title = "Pause collection"
    behavior = forms.ChoiceField(label="Invoices meanwhile", choices=PauseBehavior.choices)
    resumes_at = DateField(
        label="Resume on", required=False, help_text="Empty: until someone resumes it."
    )

    def change(self) -> actions.Change:
        return actions.Change(
            change="pause_collection",
            behavior=self.cleaned_data["behavior"],
            resumes_at=start_of(self.cleaned_data.get("resumes_at")),
        )


class ResumeCollectionForm(SubscriptionForm):
    kind = ActionKind.RESUME_COLLECTION
    change_name = "resume_collection"
    title = "Resume collection"


class CancelForm(SubscriptionForm):
    kind = ActionKind.CANCEL
    change_name = "cancel"
    title = "Cancel the subscription"
    when = forms.ChoiceField(
        label="When",
        choices=[("period_end", "At the end of the period"), ("now", "Now")],
        widget=forms.RadioSelect,
        initial="period_end",
    )

    def change(self) -> actions.Change:
        return actions.Change(change="cancel", at_period_end=self.cleaned_data["when"] != "now")


class ReactivateForm(SubscriptionForm):
    kind = ActionKind.REACTIVATE
    change_name = "reactivate"
    title = "Reactivate the subscription"


# Entitlements and invoices --------------------------------------------------------------------


class EntitlementOverrideForm(ActionForm):
    kind = ActionKind.ENTITLEMENT_OVERRIDE
    title = "Override an entitlement"
    feature = forms.ChoiceField(label="Feature", choices=Feature.choices)
    value = forms.CharField(
        label="Value", max_length=20, help_text="A number, unlimited, true or false."
    )
    starts_at = DateField(label="From", required=False, help_text="Empty: from now.")
    expires_at = DateField(label="Until", help_text="It ends at the end of that day (UTC).")

    def _arguments(self) -> Override:
        data = self.cleaned_data
        starts_at = start_of(data.get("starts_at"))
        if starts_at is not None and starts_at < timezone.now():
            starts_at = None  # today: from now
        return {
            "customer": self.customer,
            "feature": data["feature"],
            "value": data["value"],
            "starts_at": starts_at,
            "expires_at": end_of(data["expires_at"]),
        }

    def preview(self) -> actions.Preview:
        return actions.preview_entitlement_override(**self._arguments())

    def submit(self, *, actor: User, request_key: str) -> Action:
        return actions.request_entitlement_override(
            actor=actor, request_key=request_key, **self._arguments(), **self.justification()
        )


class InvoiceForm(ActionForm):
    target_model = Invoice
    target_param = "invoice"
    invoice_action: ClassVar[str]

    @property
    def currency(self) -> str:
        return self.target.currency

    def preview(self) -> actions.Preview:
        return actions.preview_invoice_action(invoice=self.target, action=self.invoice_action)

    def submit(self, *, actor: User, request_key: str) -> Action:
        return actions.request_invoice_action(
            actor=actor,
            invoice=self.target,
            action=self.invoice_action,
            request_key=request_key,
            **self.justification(),
        )


class VoidInvoiceForm(InvoiceForm):
    kind = ActionKind.INVOICE_VOID
    invoice_action = "void"
    title = "Void the invoice"


class MarkUncollectibleForm(InvoiceForm):
    kind = ActionKind.INVOICE_MARK_UNCOLLECTIBLE
    invoice_action = "mark_uncollectible"
    title = "Mark the invoice uncollectible"


class RetryPaymentForm(InvoiceForm):
    kind = ActionKind.INVOICE_RETRY_PAYMENT
    invoice_action = "retry_payment"
    title = "Retry the payment"


# The panels, by the name in their URL ---------------------------------------------------------

PANELS: dict[str, type[ActionForm]] = {
    "refund": RefundForm,
    "credit": CreditForm,
    "credit-reversal": CreditReversalForm,
    "price": PriceChangeForm,
    "seats": SeatChangeForm,
    "trial": TrialExtensionForm,
    "discount": DiscountForm,
    "pause": PauseCollectionForm,
    "resume": ResumeCollectionForm,
    "cancel": CancelForm,
    "reactivate": ReactivateForm,
    "entitlement": EntitlementOverrideForm,
    "void": VoidInvoiceForm,
    "uncollectible": MarkUncollectibleForm,
    "retry-payment": RetryPaymentForm,
}


def target_of(form_class: type[ActionForm], customer: Customer, target_id: str) -> Any:
    """The panel's target, if it is this customer's; None if it has none, LookupError if it
    is not found (or not this customer's)."""
    model = form_class.target_model
    if model is None:
        return None
    if not target_id.isdigit():
        raise LookupError(f"No {form_class.target_param} given.")
    found = model._default_manager.filter(pk=int(target_id), customer=customer)
    if model is Subscription:
        found = found.select_related("price__plan", "customer")
    elif model in (Payment, BalanceTransaction, Invoice):
        found = found.select_related("customer")
    target = found.first()
    if target is None:
        raise LookupError(f"This customer has no such {form_class.target_param}.")
    return target


# The confirm token ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Review:
    """What a confirm must match: who reviewed what, and the key the action is asked with."""

    user: int
    panel: str
    customer: int
    target: int | None
    values: str  # SHA-256 of the reviewed values
    request_key: str

    def token(self) -> str:
        return signing.dumps(
            {
                "u": self.user,
                "p": self.panel,
                "c": self.customer,
                "t": self.target,
                "v": self.values,
                "k": self.request_key,
            },
            salt=CONFIRM_SALT,
        )

    @classmethod
    def of(cls, *, user: User, panel: str, form: ActionForm, request_key: str = "") -> Review:
        values = json.dumps(form.reviewed_values(), sort_keys=True, separators=(",", ":"))
        return cls(
            user=user.pk,
            panel=panel,
            customer=form.customer.pk,
            target=getattr(form.target, "pk", None),
            values=hashlib.sha256(values.encode()).hexdigest(),
            request_key=request_key or secrets.token_urlsafe(24),
        )


class ReviewExpired(Exception):
    """The confirm does not match a review of this person (stale, altered or foreign)."""


def check_confirm(token: str, expected: Review) -> str:
    """The request key of a confirm that matches its review; ReviewExpired otherwise."""
    try:
        data = signing.loads(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
    except signing.SignatureExpired:
        raise ReviewExpired("This review is more than 15 minutes old; review it again.") from None
    except signing.BadSignature:
        raise ReviewExpired("This confirmation is not valid; review the change again.") from None
    got = Review(
        user=data.get("u"),
        panel=data.get("p"),
        customer=data.get("c"),
        target=data.get("t"),
        values=data.get("v"),
        request_key=str(data.get("k") or ""),
    )
    if not got.request_key or got != Review(
        **{**expected.__dict__, "request_key": got.request_key}
    ):
        raise ReviewExpired("What you confirm is not what you reviewed; review it again.")
    return got.request_key

"""Forms of the admins' screens: policy limits, reason codes and staff roles. They turn text
into the typed arguments of billing.actions.policy_admin and billing.actions.staff; the rules
stay there."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import Group

from accounts.roles import Role
from billing.models import MEASURED_KINDS, MONEY_KINDS, ActionKind
from billing.money import CURRENCIES, Money, MoneyError

CAP_HELP = "Empty: no limit. 0: request only."


class WhyForm(forms.Form):
    reason = forms.CharField(
        label="Reason for the change",
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "Why (it goes in the history)"}),
    )

    def absorb(self, errors: dict[str, str]) -> None:
        for field, message in errors.items():
            self.add_error(field if field in self.fields else None, message)


def parse_cap(text: str, kind: str, currency: str) -> int | None:
    """A cap as typed: empty is no cap, 0 is request only; money in the currency's units
    ("1,500.00"), days for trial extensions; kinds without an amount take "direct" too."""
    text = (text or "").strip()
    if not text or text.lower() in ("none", "no limit", "direct"):
        return None
    if text.lower() == "request only":
        return 0
    if kind in MONEY_KINDS:
        try:
            return Money.parse(text, currency).amount
        except MoneyError as error:
            raise forms.ValidationError(str(error)) from None
    if text.isdigit():
        value = int(text)
        if kind not in MEASURED_KINDS and value != 0:
            raise forms.ValidationError("This kind has no amount: empty (direct) or 0.")
        return value
    unit = "a number of days" if kind in MEASURED_KINDS else "empty (direct) or 0"
    raise forms.ValidationError(f"Give {unit}.")


class CapsForm(WhyForm):
    per_action = forms.CharField(label="Per action", required=False, max_length=40)
    per_day = forms.CharField(label="Per 24 h", required=False, max_length=40)

    def __init__(self, *args: Any, kind: str = "", currency: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cap_kind, self.cap_currency = kind, currency
        self.order_fields(["per_action", "per_day", "reason"])
        for name in ("per_action", "per_day"):
            self.fields[name].help_text = CAP_HELP
            self.fields[name].widget.attrs.update({"inputmode": "decimal", "size": 12})

    def clean_per_action(self) -> int | None:
        return parse_cap(self.cleaned_data.get("per_action", ""), self.cap_kind, self.cap_currency)

    def clean_per_day(self) -> int | None:
        return parse_cap(self.cleaned_data.get("per_day", ""), self.cap_kind, self.cap_currency)


class NewLimitForm(CapsForm):
    role = forms.ModelChoiceField(label="Role", queryset=Group.objects.none(), to_field_name="name")
    kind = forms.ChoiceField(label="Action", choices=ActionKind.choices)
    currency = forms.ChoiceField(label="Currency", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        data = args[0] if args else kwargs.get("data")
        kind = (data or {}).get("kind", "")
        currency = (data or {}).get("currency", "") if kind in MONEY_KINDS else ""
        super().__init__(*args, kind=kind, currency=currency or "usd", **kwargs)
        self.fields["role"].queryset = Group.objects.filter(  # type: ignore[attr-defined]
            name__in=[Role.SUPPORT, Role.FINANCE, Role.ADMIN]
        ).order_by("name")
        self.fields["currency"].choices = [("", "— (not money)")] + [  # type: ignore[attr-defined]
            (code, code.upper()) for code in sorted(CURRENCIES)
        ]
        self.order_fields(["role", "kind", "currency", "per_action", "per_day", "reason"])


class NewReasonForm(WhyForm):
    kind = forms.ChoiceField(label="Action", choices=ActionKind.choices)
    code = forms.SlugField(label="Code", max_length=40)
    label = forms.CharField(label="Label", max_length=100)
    requires_note = forms.BooleanField(label="Requires a note", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order_fields(["kind", "code", "label", "requires_note", "reason"])


class ReasonChangeForm(WhyForm):
    active = forms.BooleanField(label="Offered", required=False)
    requires_note = forms.BooleanField(label="Requires a note", required=False)


class RolesForm(WhyForm):
    roles = forms.MultipleChoiceField(
        label="Roles",
        required=False,
        choices=[(role.value, role.value) for role in Role],
        widget=forms.CheckboxSelectMultiple,
    )


class ActiveForm(WhyForm):
    active = forms.TypedChoiceField(
        choices=[("0", "deactivate"), ("1", "reactivate")],
        coerce=lambda value: value == "1",
        widget=forms.HiddenInput,
    )

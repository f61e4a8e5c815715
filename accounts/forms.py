"""Forms of the staff-access screens."""

from __future__ import annotations

from django import forms

from accounts.models import User
from accounts.tokens import MAX_DAYS, NAME_MAX


class StaffChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:  # type: ignore[override]
        roles = ", ".join(sorted(group.name for group in obj.groups.all())) or "no roles"
        return f"{obj.username} ({roles})"


class ApiTokenForm(forms.Form):
    user = StaffChoice(
        label="Acts as",
        queryset=User.objects.filter(is_active=True)
        .prefetch_related("groups")
        .order_by("username"),
        help_text="The token has this staff member's roles and limits.",
    )
    name = forms.CharField(
        label="What it is for", max_length=NAME_MAX, help_text="e.g. “refund bot (ZD-48213)”"
    )
    read_only = forms.BooleanField(label="Read-only", required=False)
    expires_in_days = forms.IntegerField(
        label="Expires after (days)",
        min_value=1,
        max_value=MAX_DAYS,
        required=False,
        help_text="Empty: never; revoke it when it is no longer needed.",
    )


class RevokeTokenForm(forms.Form):
    reason = forms.CharField(label="Why", max_length=200)

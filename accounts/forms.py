"""Forms of the staff-access screens."""

from __future__ import annotations

from typing import Any

from allauth.account.internal.flows.login import record_authentication
from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts import signin
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


class StaffAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, behind the per-address rate limit and the account lockout
    (accounts/signin.py): a refused try is counted, and a locked account is refused even
    with the right password."""

    def clean(self) -> dict[str, Any]:
        if not settings.PASSWORD_SIGN_IN:
            raise ValidationError(
                f"Password sign-in is turned off: use {settings.OIDC_NAME}.", code="disabled"
            )
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()
        ip = signin.client_ip(self.request) if self.request is not None else None
        now = timezone.now()
        try:
            signin.check_allowed(username=username, ip=ip, now=now)
        except signin.SignInRefused as refusal:
            signin.record_failure(username=username, ip=ip, now=now)
            raise ValidationError(str(refusal), code="sign_in_refused") from None
        try:
            cleaned = super().clean()
        except ValidationError:
            if self.user_cache is None:
                locked = signin.record_failure(username=username, ip=ip, now=now)
                if locked:
                    raise ValidationError(locked, code="sign_in_refused") from None
            raise
        user = self.get_user()
        signin.record_success(user)
        if self.request is not None:
            # allauth's record of how this session authenticated: a password just typed counts
            # as a recent re-authentication for allauth's pages (setting up a second factor).
            record_authentication(
                self.request, user, method="password", username=username, reauthenticated=True
            )
        return cleaned

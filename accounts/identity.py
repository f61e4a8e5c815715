"""Staff identity with django-allauth: single sign-on through the company's OpenID Connect
provider, second factors (TOTP with recovery codes, WebAuthn), and re-authentication.

- SSO signs in an existing, active staff member whose email the provider says is verified;
  nobody is created on the fly (roles are given by an admin, never by a sign-in).
- The local password sign-in (accounts/views.py `login`) stays for break-glass accounts and
  is turned off with PASSWORD_SIGN_IN=0.
- `mfa_required(user)`: finance and admin (MFA_REQUIRED_ROLES), or everyone with
  MFA_REQUIRED_FOR_EVERYONE=1, need a second factor before any money action or decision;
  `mfa_used(request)`: this session proved one.
- `last_authenticated_at(request)`: when the user last proved who they are in this session.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.mfa.models import Authenticator
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import redirect

from accounts import signin
from accounts.audit import audited
from accounts.models import User

SECOND_FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


class AccountAdapter(DefaultAccountAdapter):
    """Nobody signs up: staff accounts are made by admins."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """The identity provider says who someone is; only an existing active staff account
    with that verified email may be signed in as, and it is linked on first use."""

    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        return False

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        if sociallogin.is_existing:
            if not sociallogin.user.is_active:
                self._refuse(request, "This staff account is deactivated.")
            return
        emails = [
            address.email
            for address in sociallogin.email_addresses
            if address.verified and address.email
        ]
        if not emails:
            self._refuse(request, "The identity provider did not vouch for your email address.")
        matches = list(User.objects.filter(email__iexact=emails[0], is_active=True)[:2])
        if len(matches) != 1:
            self._refuse(
                request,
                "No staff account here has your email address. Ask an admin to add you.",
            )
        uid = sociallogin.account.uid
        with (
            transaction.atomic(durable=True),
            audited(actor=None, reason=f"Single sign-on: linked to provider account {uid}"),
        ):
            sociallogin.connect(request, matches[0])

    def _refuse(self, request: HttpRequest, message: str) -> None:
        messages.error(request, f"Single sign-on refused: {message}")
        raise ImmediateHttpResponse(redirect(settings.LOGIN_URL))


def mfa_enrolled(user: User) -> bool:
    return Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTORS).exists()


def mfa_required(user: User) -> bool:
    """Must this person prove a second factor before moving money or deciding?"""
    if settings.MFA_REQUIRED_FOR_EVERYONE:
        return True
    return user.groups.filter(name__in=settings.MFA_REQUIRED_ROLES).exists()


def mfa_used(request: HttpRequest) -> bool:
    """This session's user proved a second factor (at sign-in or since)."""
    records = get_authentication_records(request, request.user)  # type: ignore[arg-type]
    return any(record.get("method") == "mfa" for record in records)


def last_authenticated_at(request: HttpRequest) -> float:
    """Epoch seconds of the last sign-in or re-authentication of this session's user."""
    records = get_authentication_records(request, request.user)  # type: ignore[arg-type]
    times = [float(record.get("at", 0)) for record in records]
    times.append(float(request.session.get(signin.AUTHENTICATED_AT, 0)))
    return max(times)

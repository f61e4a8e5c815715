"""The periodic access review (SOC 2): who holds which role, when they last signed in, and
whether they have a second factor, for admins and auditors to export."""

from __future__ import annotations

import csv
import datetime as dt
from typing import Protocol

from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from django.db.models import Exists, OuterRef, Prefetch

from accounts.identity import SECOND_FACTORS
from accounts.models import User

COLUMNS = [
    "username",
    "name",
    "email",
    "active",
    "roles",
    "last_sign_in",
    "second_factor",
    "second_factor_types",
    "single_sign_on",
    "password_sign_in",
    "locked_until",
    "joined",
]


class Writable(Protocol):
    def write(self, text: str, /) -> object: ...


def write_access_review(out: Writable, *, now: dt.datetime) -> None:
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    users = (
        User.objects.prefetch_related(
            "groups",
            Prefetch(
                "authenticator_set",
                queryset=Authenticator.objects.filter(type__in=SECOND_FACTORS),
                to_attr="second_factors",
            ),
        )
        .annotate(sso=Exists(SocialAccount.objects.filter(user=OuterRef("pk"))))
        .order_by("username")
    )
    for user in users:
        factors = sorted({factor.type for factor in user.second_factors})
        locked = user.locked_until if user.locked_until and user.locked_until > now else None
        writer.writerow(
            [
                user.username,
                user.get_full_name(),
                user.email,
                "yes" if user.is_active else "no",
                " ".join(sorted(group.name for group in user.groups.all())),
                user.last_login.isoformat(timespec="seconds") if user.last_login else "never",
                "yes" if factors else "no",
                " ".join(factors),
                "yes" if user.sso else "no",
                "yes" if user.has_usable_password() else "no",
                locked.isoformat(timespec="seconds") if locked else "",
                user.date_joined.isoformat(timespec="seconds"),
            ]
        )

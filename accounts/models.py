from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact

from accounts.audit import AppendOnlyModel, AuditedHistory


class User(AbstractUser):
    """A staff member. Roles are the groups `support`, `finance`, `admin`, `auditor` and
    `agent` (an automation, through the API only).

    Staff are deactivated, never deleted: their name stays on every change they made.
    """

    # Wrong passwords in a row since the last sign-in (accounts/signin.py); bookkeeping, not
    # in the history. Reaching the limit sets `locked_until`, which is.
    failed_sign_ins = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(
        null=True, blank=True, help_text="Sign-in refused until then (too many wrong passwords)."
    )

    # Sign-ins (last_login) and password hashes are not part of the audit trail; role
    # changes (groups) and lockouts are.
    history = AuditedHistory(
        excluded_fields=["password", "last_login", "failed_sign_ins"],
        m2m_fields=["groups", "user_permissions"],
    )

    class Meta:
        default_permissions = ("view",)
        permissions = [
            ("manage_staff", "Manage staff accounts and their roles"),
            ("review_access", "Read the staff list and export who holds which role"),
            ("use_screens", "Use the staff screens (people; automations use the API)"),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class ApiTokenQuerySet(models.QuerySet):
    def usable(self, at: dt.datetime) -> ApiTokenQuerySet:
        """Neither revoked nor expired at `at` (their owner may still be deactivated)."""
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=at)
        )


class ApiToken(models.Model):
    """A bearer token of the JSON API (SPEC §7). It acts as its staff user, with that user's
    roles and limits; a read-only token only reads.

    Only the SHA-256 of the token is stored (it is 240 random bits, so a fast hash is what a
    lookup needs and a slow one would not add to it); its first characters (`prefix`) name it
    on screens and in logs. Tokens are revoked, never deleted.
    """

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What it is for, e.g. “refund bot”.")
    prefix = models.CharField(max_length=12, help_text="The token's first characters.")
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token.")
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The request-rate state (GCRA's theoretical arrival time): per request bookkeeping, like
    # last_used_at, and so not in the token's history.
    throttled_until = models.DateTimeField(null=True, blank=True)

    history = AuditedHistory(excluded_fields=["last_used_at", "throttled_until"])
    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(Exact(Length("digest"), 64)), name="apitoken_digest_sha256"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=F("created_at")),
                name="apitoken_expires_after_creation",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True, revoked_by__isnull=True)
                | Q(revoked_at__isnull=False),
                name="apitoken_revoked_by_only_if_revoked",
            ),
        ]
        indexes = [models.Index(fields=["user", "-created_at"], name="apitoken_user_created")]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name}, {self.user.username})"

    @property
    def scope(self) -> str:
        return "read-only" if self.read_only else "read and write"

    def state(self, at: dt.datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= at:
            return "expired"
        return "active"


class SignInFailure(AppendOnlyModel):
    """A refused sign-in: the name typed (lowercased, whether or not such a user exists) and
    the client's address. Counted per address for the rate limit (accounts/signin.py)."""

    username = models.CharField(max_length=150)
    ip = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField()

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["ip", "-at"], name="signinfailure_ip_at")]


class ChainLink(AppendOnlyModel):
    """One row of a history or ledger table sealed into that table's hash chain
    (`accounts.chain`): `digest` is the SHA-256 of the previous link's digest and the row's
    canonical serialisation. Links are append-only themselves and form no chain of their own:
    the latest digest of each chain, noted outside the system, is what pins them."""

    chained = False

    table = models.CharField(max_length=100)
    row_id = models.BigIntegerField()
    digest = models.CharField(max_length=64)
    sealed_at = models.DateTimeField()

    class Meta:
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(fields=["table", "row_id"], name="chainlink_one_per_row"),
            models.CheckConstraint(
                condition=Q(Exact(Length("digest"), 64)), name="chainlink_digest_sha256"
            ),
        ]
        indexes = [models.Index(fields=["table", "id"], name="chainlink_table_order")]

    def __str__(self) -> str:
        return f"{self.table} #{self.row_id}"

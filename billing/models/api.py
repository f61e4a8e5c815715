"""The API's idempotency store (SPEC §7): every write request names a key; the first answer to
a key is kept and given again to a retry of the same request.

Both tables are insert-only. The key is claimed first, by its own committed insert, whose
unique constraint (token, key) lets exactly one of several concurrent requests run; the answer
is a second row, written when the request is done. A claim without an answer is a request
still running (or one that died midway, whose outcome only its action can tell: it is never
run again). Keys are kept for good, which is more than the 24 hours clients may rely on.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact, GreaterThan

from accounts.audit import AppendOnlyModel, AppendOnlyQuerySet
from accounts.models import ApiToken


class IdempotencyKey(AppendOnlyModel):
    """One write request's claim on its key: who sent it and what exactly (its fingerprint)."""

    token = models.ForeignKey(ApiToken, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(
        max_length=64, help_text="SHA-256 of the method, path and canonical JSON body."
    )
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    created_at = models.DateTimeField()

    objects: ClassVar[models.Manager] = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["token", "key"], name="idempotencykey_unique_per_token"
            ),
            models.CheckConstraint(
                condition=Q(GreaterThan(Length("key"), 0)), name="idempotencykey_key_present"
            ),
            models.CheckConstraint(
                condition=Q(Exact(Length("fingerprint"), 64)),
                name="idempotencykey_fingerprint_sha256",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} with key {self.key!r}"


class IdempotentResponse(AppendOnlyModel):
    """The first answer given to a key, exactly as it was sent."""

    request = models.OneToOneField(
        IdempotencyKey, on_delete=models.PROTECT, related_name="response"
    )
    status = models.PositiveSmallIntegerField()
    content_type = models.CharField(max_length=100)
    body = models.TextField()
    created_at = models.DateTimeField()

    objects: ClassVar[models.Manager] = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        constraints = [
            models.CheckConstraint(
                condition=Q(status__gte=100, status__lte=599), name="idempotentresponse_status"
            )
        ]

    def __str__(self) -> str:
        return f"{self.status} to {self.request}"

"""Exports of the audit log: each one is itself on record (SPEC §4, "every export is
recorded"): who exported which filter, when."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.audit import AppendOnlyModel


class AuditExport(AppendOnlyModel):
    exported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    filters = models.JSONField(help_text="The log's filters, as in its address.")
    created_at = models.DateTimeField()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["-created_at"], name="auditexport_created")]

    def __str__(self) -> str:
        return f"Audit export by {self.exported_by_id} at {self.created_at:%Y-%m-%d %H:%M}"

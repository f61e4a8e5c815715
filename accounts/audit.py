"""Who changed what, and why: the audit context, historied models and append-only ledgers.

Every write runs inside `audited(actor=..., reason=...)` (a service owns that), so each history
row carries the acting staff user, the reason and the ticket. A history row written without a
reason is refused: a silent gap in the history is an incident, so it fails where it is written.

Two kinds of models exist in the three apps, and a test checks every model is one of them:
- mutable models, historied with `AuditedHistory()` (django-simple-history);
- insert-only ledgers, subclassing `AppendOnlyModel`.
On PostgreSQL, triggers (`append_only_triggers`) reject UPDATE and DELETE on history and
ledger tables, so not even raw SQL can rewrite the past.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import migrations, models
from simple_history.models import HistoricalRecords
from simple_history.signals import pre_create_historical_record

if TYPE_CHECKING:
    from accounts.models import User


class MissingAuditReason(RuntimeError):
    """A historied row was written outside any audit context and without a change reason."""


class AppendOnlyViolation(RuntimeError):
    """Code tried to edit or delete a row of an append-only table."""


@dataclass(frozen=True)
class AuditContext:
    actor: User | None
    reason: str
    ticket: str = ""


_current: ContextVar[AuditContext | None] = ContextVar("audit_context", default=None)


@contextmanager
def audited(*, actor: User | None, reason: str, ticket: str = "") -> Iterator[AuditContext]:
    """Attribute every history row written inside the block to `actor`, `reason` and `ticket`.

    `actor` is None only for the system itself (Stripe webhooks, scheduled tasks, migrations),
    and then the reason names the system source.
    """
    if not reason.strip():
        raise MissingAuditReason("An audit reason is required.")
    token = _current.set(AuditContext(actor=actor, reason=reason.strip(), ticket=ticket.strip()))
    try:
        yield _current.get()  # type: ignore[misc]
    finally:
        _current.reset(token)


def current_audit_context() -> AuditContext | None:
    return _current.get()


InsertHook = Callable[[type[models.Model], Any, str | None], None]
_insert_hooks: list[InsertHook] = []


def on_append_only_insert(hook: InsertHook) -> None:
    """Call `hook(model, pk, using)` after each insert into a history or ledger table.

    accounts.chain installs its sealer here when the app starts (AccountsConfig.ready): the
    chain builds on this module, so this module cannot import it."""
    if hook not in _insert_hooks:
        _insert_hooks.append(hook)


def _row_inserted(model: type[models.Model], pk: Any, using: str | None) -> None:
    for hook in _insert_hooks:
        hook(model, pk, using)


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk rewrites of a ledger are refused before they reach the database; bulk inserts
    are sealed into the table's hash chain like single ones."""

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        created = super().bulk_create(objs, *args, **kwargs)
        if getattr(self.model, "chained", False):
            for obj in created:
                _row_inserted(self.model, obj.pk, self.db)
        return created

    def bulk_create_sealed_later(self, objs: Any) -> list[Any]:
        """bulk_create, leaving the rows out of the chain until a later step of the app seals
        them: only for rows `accounts.chain.seal_later` declares."""
        return super().bulk_create(objs)

    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyViolation(f"{self.model.__name__} is append-only: add a new row.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyViolation(f"{self.model.__name__} is append-only: rows are never deleted.")


class AppendOnlyModel(models.Model):
    """An insert-only ledger row: `save()` refuses an update, `delete()` refuses.

    A correction is a new row (e.g. a reversal pointing at the row it reverses). Subclasses
    with their own QuerySet derive it from `AppendOnlyQuerySet`. Each row is sealed into its
    table's hash chain once its transaction commits (`accounts.chain`).
    """

    objects: ClassVar[models.Manager] = AppendOnlyQuerySet.as_manager()
    # False only for the chain's own links.
    chained: ClassVar[bool] = True

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyViolation(f"{type(self).__name__} is append-only: add a new row.")
        super().save(*args, **kwargs)
        if self.chained:
            _row_inserted(type(self), self.pk, kwargs.get("using") or self._state.db)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyViolation(f"{type(self).__name__} is append-only: rows are never deleted.")


class AuditedHistoryFields(AppendOnlyModel):
    """Extra columns of every history table; history rows are append-only like a ledger."""

    history_ticket = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        abstract = True


class AuditedHistory(HistoricalRecords):
    """django-simple-history, with actor, reason and ticket taken from the audit context.

    Saves that touch only excluded bookkeeping fields (e.g. `last_login`) make no history row.
    """

    def __init__(self, *, indexed_by: str = "", **kwargs: Any) -> None:
        """`indexed_by` names the column that says whose record this is (e.g. "customer"):
        the history gets an index on (that column, time), so one customer's history is read
        without scanning the table."""
        self.indexed_by = indexed_by
        kwargs.setdefault("bases", [AuditedHistoryFields])
        kwargs.setdefault("m2m_bases", [AppendOnlyModel])
        kwargs.setdefault("history_id_field", models.BigAutoField(primary_key=True))
        kwargs.setdefault("history_change_reason_field", models.TextField(null=True))
        super().__init__(**kwargs)

    def get_meta_options(self, model: type[models.Model]) -> dict[str, Any]:
        """Indexes: (object, history id), so a version's previous version (its diff) is one
        index lookup; (`indexed_by`, time) where the rows belong to someone; and the three
        the global audit log reads by, newest first: staff rows by time, one person's rows
        by time, one ticket's rows by time. Those three are partial (rows with a person,
        rows with a ticket), so they are as big as the staff's work, not as the table: most
        history is written by the system and Stripe."""
        options = super().get_meta_options(model)
        table = model._meta.db_table

        def name(purpose: str) -> str:
            return f"history_{hashlib.sha256(f'{table}:{purpose}'.encode()).hexdigest()[:12]}"

        by_staff = models.Q(history_user__isnull=False)
        indexes = [
            *options.get("indexes", ()),
            models.Index(fields=["id", "-history_id"], name=f"{name('object')}_obj"),
            models.Index(
                fields=["-history_date", "-history_id"],
                condition=by_staff,
                name=f"{name('staff')}_staff",
            ),
            models.Index(
                fields=["history_user", "-history_date", "-history_id"],
                condition=by_staff,
                name=f"{name('actor')}_actor",
            ),
            models.Index(
                fields=["history_ticket", "-history_date", "-history_id"],
                condition=~models.Q(history_ticket=""),
                name=f"{name('ticket')}_ticket",
            ),
        ]
        if self.indexed_by:
            indexes.append(
                models.Index(
                    fields=[self.indexed_by, "-history_date", "-history_id"],
                    name=f"{name(self.indexed_by)}_time",
                )
            )
        options["indexes"] = indexes
        return options

    def post_save(self, instance: models.Model, created: bool, using: Any = None, **kwargs: Any):
        update_fields = kwargs.get("update_fields")
        if not created and update_fields and set(update_fields) <= set(self.excluded_fields):
            return None
        return super().post_save(instance, created, using=using, **kwargs)

    def get_history_user(self, instance: models.Model) -> Any:
        context = _current.get()
        if hasattr(instance, "_history_user") or context is None:
            return super().get_history_user(instance)
        return context.actor

    def get_change_reason_for_object(self, instance: models.Model, history_type, using) -> str:
        reason = super().get_change_reason_for_object(instance, history_type, using)
        context = _current.get()
        if not reason and context is not None:
            reason = context.reason
        if not reason:
            raise MissingAuditReason(
                f"{type(instance).__name__} was written without an audit reason; "
                "wrap the write in accounts.audit.audited(actor=..., reason=...)."
            )
        return reason


def _stamp_ticket(sender, instance, history_instance, **kwargs) -> None:
    """Put the ticket on the history row: an explicit `_change_ticket`, else the context's."""
    if isinstance(history_instance, AuditedHistoryFields):
        context = _current.get()
        history_instance.history_ticket = getattr(instance, "_change_ticket", "") or (
            context.ticket if context else ""
        )


pre_create_historical_record.connect(_stamp_ticket, dispatch_uid="accounts.audit.stamp_ticket")


def is_history_model(model: type[models.Model]) -> bool:
    return hasattr(model, "instance_type") and hasattr(model, "history_object")


def is_historied(model: type[models.Model]) -> bool:
    return isinstance(getattr(model._meta, "simple_history_manager_attribute", None), str)


def is_append_only(model: type[models.Model]) -> bool:
    return issubclass(model, AppendOnlyModel)


# PostgreSQL: history and ledger tables reject UPDATE and DELETE, whoever sends them.
# restrict_violation (SQLSTATE 23001) surfaces in Django as an IntegrityError.
_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION append_only_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on %: this table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
"""
APPEND_ONLY_TRIGGER = "append_only_guard"


def append_only_triggers(*tables: str) -> migrations.RunPython:
    """A migration operation installing the append-only trigger on `tables` (PostgreSQL only)."""

    def install(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(_GUARD_FUNCTION, params=None)
        for table in tables:
            quoted = schema_editor.quote_name(table)
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {APPEND_ONLY_TRIGGER} ON {quoted}")
            schema_editor.execute(
                f"CREATE TRIGGER {APPEND_ONLY_TRIGGER} BEFORE UPDATE OR DELETE ON {quoted} "
                "FOR EACH ROW EXECUTE FUNCTION append_only_guard()"
            )

    def uninstall(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in tables:
            quoted = schema_editor.quote_name(table)
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {APPEND_ONLY_TRIGGER} ON {quoted}")

    return migrations.RunPython(install, uninstall, elidable=False)

"""An object's history as changes people read: "Seats: 5 → 8", "Amount refunded: $0.00 →
$12.00", "Assignee: — → Sam Lee", with who, when, reason and ticket. A creation shows the
initial values.

`describe(rows)` turns history rows (of one table or several) into `Change`s with a fixed
number of queries: one to find each row's previous version, one per kind of related record
named. `object_history(model, pk)` is one object's history, newest first.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from billing.money import CURRENCIES, format_amount

CHANGE_KINDS = {"+": "created", "~": "changed", "-": "deleted"}

# Bookkeeping columns: they change with every write and mean nothing to a reader.
SKIPPED = {
    "updated_at",
    "stripe_fetched_at",
    "payload",
    "payload_hash",
    "raw_body",
    "stripe_metadata",
    "request_key",
    "idempotency_key",
    "password",
    "last_login",
}
# Integers on a row with a currency that are not money.
NOT_MONEY = {"measure", "quantity", "attempts", "occurrences", "position", "number", "status"}


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class Change:
    when: dt.datetime
    kind: str  # created, changed, deleted
    actor: str  # a username, or "Stripe" / "system"
    actor_id: int | None
    reason: str
    ticket: str
    model: str  # the model's label, e.g. "billing.payment"
    model_name: str  # "Payment"
    object_id: int
    history_id: int
    changes: list[FieldChange] = field(default_factory=list)


def actor_of(user: Any, reason: str) -> str:
    """A person by username; without one, Stripe when the change came from Stripe."""
    if user is not None:
        return user.username
    return "Stripe" if "stripe" in (reason or "").lower() else "system"


@functools.cache
def tracked_fields(history_model: type[models.Model]) -> list[models.Field]:
    return [
        f
        for f in history_model.tracked_fields  # type: ignore[attr-defined]
        if f.name not in SKIPPED and not getattr(f, "generated", False)
    ]


@functools.cache
def _money_fields(history_model: type[models.Model]) -> frozenset[str]:
    fields = tracked_fields(history_model)
    if "currency" not in {f.name for f in fields}:
        return frozenset()
    return frozenset(
        f.name for f in fields if isinstance(f, models.BigIntegerField) and f.name not in NOT_MONEY
    )


@functools.cache
def _choices(f: models.Field) -> dict[Any, str]:
    return {value: str(label) for value, label in f.flatchoices}


def _currency(row: Any) -> str:
    currency = getattr(row, "currency", "") or ""
    return currency if currency in CURRENCIES else ""


def _plain(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return timezone.localtime(value, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, dict | list):
        return (
            ", ".join(f"{k}: {v}" for k, v in value.items())
            if isinstance(value, dict)
            else ", ".join(map(str, value))
        )
    return str(value)


class _Namer:
    """Names of related records, looked up in one query per related model."""

    def __init__(self) -> None:
        self.wanted: dict[type[models.Model], set[Any]] = defaultdict(set)
        self.names: dict[tuple[type[models.Model], Any], str] = {}

    def want(self, related: type[models.Model], pk: Any) -> None:
        if pk is not None:
            self.wanted[related].add(pk)

    def load(self) -> None:
        for related, pks in self.wanted.items():
            for pk, obj in related._base_manager.in_bulk(pks).items():
                self.names[(related, pk)] = str(obj)

    def name(self, related: type[models.Model], pk: Any) -> str:
        if pk is None:
            return "—"
        return self.names.get((related, pk), f"#{pk}")


def _display(f: models.Field, row: Any, namer: _Namer) -> str:
    if f.is_relation and f.related_model is not None:
        return namer.name(f.related_model, getattr(row, f.attname))  # type: ignore[arg-type]
    value = getattr(row, f.attname)
    if f.choices and value not in (None, ""):
        return _choices(f).get(value, str(value))
    money = _money_fields(type(row))  # type: ignore[arg-type]
    if value is not None and f.name in money:
        currency = _currency(row)
        return format_amount(value, currency) if currency else f"{value:,} (minor units)"
    return _plain(value)


# Where a column's name is not what people call it.
LABELS = {"quantity": "Seats", "id": "Id", "is_active": "Active", "is_staff": "Staff"}


def _label(f: models.Field) -> str:
    if f.name in LABELS:
        return LABELS[f.name]
    return str(f.verbose_name)[:1].upper() + str(f.verbose_name)[1:]


Versions = dict[tuple[type[models.Model], int], Any]


def previous_id(history_model: type[models.Model]) -> Subquery:
    """The history id of a row's previous version of the same object: one probe of the
    (object, history id) index per row, to annotate a query of history rows with."""
    previous = history_model.objects.filter(  # type: ignore[attr-defined]
        id=OuterRef("id"), history_id__lt=OuterRef("history_id")
    ).order_by("-history_id")
    return Subquery(previous.values("history_id")[:1])


def previous_versions(history_model: type[models.Model], rows: Sequence[Any]) -> Versions:
    """Each row's previous version of the same object, by (table, history id): one query,
    or two when the rows were not read annotated with `previous_id`."""
    if not rows:
        return {}
    if all(hasattr(row, "previous_id") for row in rows):
        links = {row.history_id: row.previous_id for row in rows}
    else:
        pairs = history_model.objects.filter(  # type: ignore[attr-defined]
            history_id__in=[row.history_id for row in rows]
        ).annotate(previous_id=previous_id(history_model))
        links = dict(pairs.values_list("history_id", "previous_id"))
    found = history_model.objects.in_bulk([pk for pk in links.values() if pk])  # type: ignore[attr-defined]
    return {(history_model, hid): found.get(prev) for hid, prev in links.items() if prev}


def describe(rows: Sequence[Any], previous: Versions | None = None) -> list[Change]:
    """History rows as changes. `previous` maps (history model, history id) to the row's
    previous version; without it they are looked up (one query per table)."""
    if previous is None:
        previous = {}
        by_table: dict[type[models.Model], list[Any]] = defaultdict(list)
        for row in rows:
            by_table[type(row)].append(row)
        for history_model, table_rows in by_table.items():
            previous.update(previous_versions(history_model, table_rows))
    namer = _Namer()
    plan = []
    for row in rows:
        fields = tracked_fields(type(row))  # type: ignore[arg-type]
        before = previous.get((type(row), row.history_id))
        if before is None:
            shown = [
                f for f in fields if getattr(row, f.attname) not in (None, "") and not f.primary_key
            ]
        else:
            shown = [f for f in fields if getattr(row, f.attname) != getattr(before, f.attname)]
        for f in shown:
            if f.is_relation and f.related_model is not None:
                namer.want(f.related_model, getattr(row, f.attname))  # type: ignore[arg-type]
                if before is not None:
                    namer.want(f.related_model, getattr(before, f.attname))  # type: ignore[arg-type]
        plan.append((row, before, fields, shown))
    namer.load()
    changes = []
    for row, before, _fields, shown in plan:
        instance_model = row.instance_type
        changes.append(
            Change(
                when=row.history_date,
                kind=CHANGE_KINDS.get(row.history_type, row.history_type),
                actor=actor_of(row.history_user, row.history_change_reason),
                actor_id=row.history_user_id,
                reason=row.history_change_reason or "",
                ticket=row.history_ticket,
                model=instance_model._meta.label_lower,
                model_name=str(instance_model._meta.verbose_name).capitalize(),
                object_id=row.id,
                history_id=row.history_id,
                changes=[
                    FieldChange(
                        field=_label(f),
                        old="" if before is None else _display(f, before, namer),
                        new=_display(f, row, namer),
                    )
                    for f in shown
                ],
            )
        )
    return changes


def object_history(model: type[models.Model], pk: int, *, size: int = 200) -> list[Change]:
    """One object's history, newest first (the oldest row of the page compared with the one
    before it, so it too shows what changed)."""
    history = model.history.model  # type: ignore[attr-defined]
    rows = list(
        history.objects.filter(id=pk)
        .select_related("history_user")
        .order_by("-history_date", "-history_id")[: size + 1]
    )
    previous = {(history, newer.history_id): older for newer, older in itertools.pairwise(rows)}
    return describe(rows[:size], previous)

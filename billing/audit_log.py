"""The global audit log: every history row of every historied model, newest first.

Each historied model has its own history table; a page is the newest rows of each (filtered,
limited to the page size) merged in Python, so one page costs one query per history table.
Pages are keyset paginated on (history_date, model label, history_id).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db.models import Model, Q
from django.utils.dateparse import parse_date, parse_datetime

from accounts.audit import is_historied

AUDITED_APPS = ("accounts", "billing", "support")
CHANGE_TYPES = {"+": "created", "~": "changed", "-": "deleted"}


def historied_models() -> list[type[Model]]:
    """The historied models of our apps, ordered by label (the keyset's tie-breaker)."""
    found = [
        model
        for label in AUDITED_APPS
        for model in apps.get_app_config(label).get_models()
        if is_historied(model)
    ]
    return sorted(found, key=lambda model: model._meta.label_lower)


@dataclass
class AuditFilters:
    actor: str = ""
    ticket: str = ""
    model: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    cursor: tuple[dt.datetime, str, int] | None = None
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> AuditFilters:
        filters = cls(
            actor=query.get("actor", "").strip(),
            ticket=query.get("ticket", "").strip().upper(),
            model=query.get("model", "").strip(),
        )
        for name in ("date_from", "date_to"):
            raw = query.get(name, "").strip()
            if raw:
                parsed = parse_date(raw)
                if parsed is None:
                    filters.errors.append(f"“{raw}” is not a date (YYYY-MM-DD).")
                setattr(filters, name, parsed)
        if filters.model and filters.model not in model_choices():
            filters.errors.append(f"“{filters.model}” is not a kind of record.")
            filters.model = ""
        raw_cursor = query.get("before", "")
        if raw_cursor:
            filters.cursor = parse_cursor(raw_cursor)
        return filters

    def as_query(self) -> dict[str, str]:
        query = {"actor": self.actor, "ticket": self.ticket, "model": self.model}
        query["date_from"] = self.date_from.isoformat() if self.date_from else ""
        query["date_to"] = self.date_to.isoformat() if self.date_to else ""
        return {name: value for name, value in query.items() if value}


def model_choices() -> dict[str, str]:
    return {
        model._meta.label_lower: str(model._meta.verbose_name).capitalize()
        for model in historied_models()
    }


def parse_cursor(raw: str) -> tuple[dt.datetime, str, int] | None:
    try:
        stamp, label, history_id = raw.split("|")
        moment = parse_datetime(stamp)
        return (moment, label, int(history_id)) if moment else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Entry:
    when: dt.datetime
    label: str
    history_id: int
    model_name: str
    object_id: Any
    object_repr: str
    change: str
    actor: str
    reason: str
    ticket: str

    @property
    def cursor(self) -> str:
        return f"{self.when.isoformat()}|{self.label}|{self.history_id}"


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    next_cursor: str | None


def _rows(model: type[Model], filters: AuditFilters, size: int) -> list[Entry]:
    history = model.history.model  # type: ignore[attr-defined]
    label = model._meta.label_lower
    rows = history.objects.select_related("history_user")
    if filters.actor:
        rows = rows.filter(history_user__username=filters.actor)
    if filters.ticket:
        rows = rows.filter(history_ticket=filters.ticket)
    if filters.date_from:
        rows = rows.filter(history_date__date__gte=filters.date_from)
    if filters.date_to:
        rows = rows.filter(history_date__date__lte=filters.date_to)
    if filters.cursor:
        moment, cursor_label, cursor_id = filters.cursor
        same_moment = Q(history_date=moment)
        if label == cursor_label:
            same_moment &= Q(history_id__lt=cursor_id)
        elif label > cursor_label:
            same_moment = Q(pk__in=[])
        rows = rows.filter(Q(history_date__lt=moment) | same_moment)
    entries = []
    for row in rows.order_by("-history_date", "-history_id")[:size]:
        user = row.history_user
        entries.append(
            Entry(
                when=row.history_date,
                label=label,
                history_id=row.history_id,
                model_name=str(model._meta.verbose_name).capitalize(),
                object_id=row.id,
                object_repr=_describe(row),
                change=CHANGE_TYPES.get(row.history_type, row.history_type),
                actor=user.username if user else "system",
                reason=row.history_change_reason or "",
                ticket=row.history_ticket,
            )
        )
    return entries


# Columns that name a row to a person, tried in order; none of them needs another query.
_NAMING_FIELDS = ("name", "username", "external_ref", "number", "code", "stripe_event_id")


def _describe(row: Any) -> str:
    for name in _NAMING_FIELDS:
        value = getattr(row, name, None)
        if value:
            return f"#{row.id} {value}"
    return f"#{row.id}"


def page(filters: AuditFilters, *, size: int = 50) -> Page:
    if filters.errors:
        return Page([], None)
    models = historied_models()
    if filters.model:
        models = [model for model in models if model._meta.label_lower == filters.model]
    streams = [_rows(model, filters, size + 1) for model in models]
    merged = heapq.merge(
        *streams, key=lambda entry: (entry.when, entry.label, entry.history_id), reverse=True
    )
    entries = [entry for _, entry in zip(range(size + 1), merged, strict=False)]
    next_cursor = entries[size - 1].cursor if len(entries) > size else None
    return Page(entries[:size], next_cursor)

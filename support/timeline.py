"""One customer's timeline (SPEC §4): staff and system changes to the customer's records,
actions and their state changes, approvals and decisions, Stripe events that touched the
customer, tickets and notes, newest first.

Each source is read newest first through an index on (customer, time), limited to the page
size, and the sources are merged in Python: a page costs a fixed number of queries whatever
the history's size. Pages are keyset paginated on (time, source, row id); there is no OFFSET
and no COUNT.

    page = timeline(customer, before=None, kinds=None, size=50)
    page.entries      # list[Entry], newest first
    page.next_cursor  # str to pass as `before` for the next (older) page, or None

Called by the customer page and by the JSON API (`GET /customers/{id}/timeline`).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Collection, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.dateparse import parse_datetime

from accounts.models import User
from billing import diffs
from billing.models import (
    Action,
    ApprovalRequest,
    Customer,
    EntitlementOverride,
    Invoice,
    Payment,
    StripeEvent,
    Subscription,
)
from billing.money import format_amount
from support.models import Note, Ticket

KINDS = {
    "change": "Changes to records",
    "action": "Actions",
    "approval": "Approvals and decisions",
    "stripe": "Stripe events",
    "ticket": "Tickets",
    "note": "Notes",
}
MAX_SIZE = 200


class InvalidCursor(ValueError):
    """`before` is not a cursor this timeline gave out."""


@dataclass(frozen=True)
class Entry:
    cursor: str  # pass as `before` to continue after this entry
    at: dt.datetime
    kind: str  # one of KINDS
    actor: str  # a username, or "Stripe" / "system"
    actor_id: int | None
    title: str  # one line in people's words
    reason: str
    ticket: str
    object_type: str  # model label, e.g. "billing.payment"
    object_id: int
    changes: list[diffs.FieldChange] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: `at` as ISO 8601 with its time zone, changes as {field, old, new}."""
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    next_cursor: str | None


def parse_cursor(raw: str) -> tuple[dt.datetime, str, int]:
    try:
        stamp, source, row_id = raw.split("|")
        moment = parse_datetime(stamp)
        if moment is None or moment.tzinfo is None:
            raise ValueError(raw)
        return moment, source, int(row_id)
    except ValueError:
        raise InvalidCursor(f"“{raw}” is not a timeline cursor.") from None


def _before(
    cursor: tuple[dt.datetime, str, int] | None, source: str, time_field: str, id_field: str
) -> Q:
    """Rows after the cursor in (time desc, source desc, id desc) order."""
    if cursor is None:
        return Q()
    moment, cursor_source, cursor_id = cursor
    same_moment = Q(**{time_field: moment})
    if source == cursor_source:
        same_moment &= Q(**{f"{id_field}__lt": cursor_id})
    elif source > cursor_source:
        same_moment = Q(pk__in=[])
    return Q(**{f"{time_field}__lt": moment}) | same_moment


@dataclass(frozen=True)
class _Source:
    kind: str
    model: type[models.Model]
    customer_filter: str  # the history column naming the customer

    @property
    def label(self) -> str:
        return self.model._meta.label_lower


SOURCES = [
    _Source("change", Customer, "id"),
    _Source("change", Subscription, "customer"),
    _Source("change", Invoice, "customer"),
    _Source("change", Payment, "customer"),
    _Source("change", EntitlementOverride, "customer"),
    _Source("action", Action, "customer"),
    _Source("approval", ApprovalRequest, "action__in"),
    _Source("ticket", Ticket, "customer"),
    _Source("note", Note, "customer"),
]
STRIPE_LABEL = StripeEvent._meta.label_lower


def _history_rows(source: _Source, customer: Customer, cursor, size: int) -> list[Any]:
    history = source.model.history.model  # type: ignore[attr-defined]
    if source.customer_filter == "action__in":
        whose = Q(action__in=Action.objects.filter(customer=customer).values("id"))
    else:
        whose = Q(**{source.customer_filter: customer.pk})
    rows = (
        history.objects.filter(whose)
        .filter(_before(cursor, source.label, "history_date", "history_id"))
        .select_related("history_user")
        .order_by("-history_date", "-history_id")
    )
    return list(rows[:size])


def _object_name(row: Any) -> str:
    for name in ("number", "stripe_charge_id", "stripe_subscription_id", "feature", "name"):
        value = getattr(row, name, None)
        if value:
            return str(value)
    return f"#{row.id}"


def _title(source: _Source, row: Any, change: diffs.Change) -> str:
    if source.model is Action:
        what = row.get_kind_display()
        if row.amount is not None and row.currency:
            what += f" {format_amount(row.amount, row.currency)}"
        state = row.get_state_display().lower()
        return f"{what} requested: {state}" if change.kind == "created" else f"{what}: {state}"
    if source.model is ApprovalRequest:
        if row.decision:
            decider = row.decided_by.username if row.decided_by else "someone"
            return f"Approval request {row.get_decision_display().lower()} by {decider}"
        return "Approval requested" if change.kind == "created" else "Approval request changed"
    if source.model is Ticket:
        if change.kind == "created":
            return f"Ticket {row.external_ref} opened: {row.subject}"
        return f"Ticket {row.external_ref}: {row.get_status_display().lower()}"
    if source.model is Note:
        body = row.body if len(row.body) <= 140 else row.body[:139] + "…"
        return f"Note: {body}"
    return f"{change.model_name} {_object_name(row)} {change.kind}"


def _history_entries(source: _Source, customer: Customer, cursor, size: int) -> list[Entry]:
    rows = _history_rows(source, customer, cursor, size)
    if source.model is ApprovalRequest:
        # The decider's name for the title, in one query.
        deciders = {row.decided_by_id for row in rows if row.decided_by_id}
        users = User._base_manager.in_bulk(deciders)
        for row in rows:
            row.decided_by = users.get(row.decided_by_id)
    entries = []
    for row, change in zip(rows, diffs.describe(rows), strict=True):
        entries.append(
            Entry(
                cursor=f"{row.history_date.isoformat()}|{source.label}|{row.history_id}",
                at=row.history_date,
                kind=source.kind,
                actor=change.actor,
                actor_id=change.actor_id,
                title=_title(source, row, change),
                reason=change.reason,
                ticket=change.ticket,
                object_type=source.label,
                object_id=row.id,
                changes=change.changes if source.model is not Note else [],
            )
        )
    return entries


def _stripe_entries(customer: Customer, cursor, size: int) -> list[Entry]:
    events = (
        StripeEvent.objects.filter(customer=customer)
        .filter(_before(cursor, STRIPE_LABEL, "created", "id"))
        .order_by("-created", "-id")
        .only("id", "stripe_event_id", "type", "created", "processed_at", "error")[:size]
    )
    return [
        Entry(
            cursor=f"{event.created.isoformat()}|{STRIPE_LABEL}|{event.pk}",
            at=event.created,
            kind="stripe",
            actor="Stripe",
            actor_id=None,
            title=f"Stripe event {event.type} ({event.stripe_event_id})"
            + (f": not applied, {event.error}" if event.error else ""),
            reason="",
            ticket="",
            object_type=STRIPE_LABEL,
            object_id=event.pk,
        )
        for event in events
    ]


def _key(entry: Entry) -> tuple[dt.datetime, str, int]:
    _, source, row_id = entry.cursor.rsplit("|", 2)
    return entry.at, source, int(row_id)


def timeline(
    customer: Customer,
    *,
    before: str | None = None,
    kinds: Collection[str] | None = None,
    size: int = 50,
) -> Page:
    """The customer's timeline, newest first: `size` entries older than the `before` cursor
    (the first page without it), of the given `kinds` (all without them).

    Raises InvalidCursor for a `before` this function did not give out, ValueError for an
    unknown kind.
    """
    cursor = parse_cursor(before) if before else None
    wanted = set(kinds) if kinds else set(KINDS)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(f"Unknown timeline kinds: {', '.join(sorted(unknown))}.")
    size = max(1, min(size, MAX_SIZE))
    streams: list[Iterable[Entry]] = [
        _history_entries(source, customer, cursor, size + 1)
        for source in SOURCES
        if source.kind in wanted
    ]
    if "stripe" in wanted:
        streams.append(_stripe_entries(customer, cursor, size + 1))
    merged: Iterator[Entry] = heapq.merge(*streams, key=_key, reverse=True)
    entries = [entry for _, entry in zip(range(size + 1), merged, strict=False)]
    next_cursor = entries[size - 1].cursor if len(entries) > size else None
    return Page(entries[:size], next_cursor)

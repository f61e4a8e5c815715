"""One customer's timeline (SPEC §4): staff and system changes to the customer's records,
actions and their state changes, approvals and decisions, Stripe events that touched the
customer, tickets and notes, newest first.

Pages are keyset paginated on (time, source, row id); there is no OFFSET and no COUNT. A page
costs a fixed number of queries whatever the history's size, each served by an index:

1. the page's keys: one UNION ALL of the sources, each read newest first from the cursor on
   through its index on (customer, time, id) and limited to the page size, merged and cut to
   the page in the database. Each history row brings the id of its object's previous version
   (one probe of the index on (object, history id)), so its diff needs no search later;
2. the page's rows with those previous versions, one query per table on the page;
3. the names the diffs show (billing.diffs: one query per kind of related record named) and,
   when approvals are on the page, their deciders.

Only the page's own rows are loaded and described: the sources' surplus rows never leave the
database.

    page = timeline(customer, before=None, kinds=None, size=50)
    page.entries      # list[Entry], newest first
    page.next_cursor  # str to pass as `before` for the next (older) page, or None

Called by the customer page and by the JSON API (`GET /customers/{id}/timeline`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import models
from django.db.models import Expression, F, OuterRef, Q, QuerySet, Subquery, Value
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


Cursor = tuple[dt.datetime, str, int]  # (time, source label, row id) of the entry before


def parse_cursor(raw: str) -> Cursor:
    try:
        stamp, source, row_id = raw.split("|")
        moment = parse_datetime(stamp)
        if moment is None or moment.tzinfo is None:
            raise ValueError(raw)
        return moment, source, int(row_id)
    except ValueError:
        raise InvalidCursor(f"“{raw}” is not a timeline cursor.") from None


def _after_cursor(cursor: Cursor | None, source: _Source) -> Q:
    """The source's rows after the cursor in (time desc, source desc, id desc) order.

    Written as a range on time (what the index on (customer, time, id) seeks to) and, at the
    cursor's own moment, a filter: "time before, or at it and after in the tie-break" would
    make PostgreSQL walk the customer's whole history newer than the cursor."""
    if cursor is None:
        return Q()
    moment, cursor_source, cursor_id = cursor
    time, row_id = source.time_field, source.id_field
    if source.label > cursor_source:  # it comes before the cursor's source at the same moment
        return Q(**{f"{time}__lt": moment})
    if source.label < cursor_source:
        return Q(**{f"{time}__lte": moment})
    return Q(**{f"{time}__lte": moment}) & (
        Q(**{f"{time}__lt": moment}) | Q(**{f"{row_id}__lt": cursor_id})
    )


@dataclass(frozen=True)
class _Source:
    kind: str
    model: type[models.Model]
    customer_filter: str  # the column naming the customer; "action__in": through its actions
    historied: bool = True  # entries are the model's history rows, else its own rows

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    @functools.cached_property
    def table(self) -> type[models.Model]:
        # Cached: each read of `model.history` builds a new manager class (simple_history's
        # descriptor), about half a millisecond.
        return self.model.history.model if self.historied else self.model  # type: ignore[attr-defined]

    @property
    def time_field(self) -> str:
        return "history_date" if self.historied else "created"

    @property
    def id_field(self) -> str:
        return "history_id" if self.historied else "id"


SOURCES = [
    _Source("change", Customer, "id"),
    _Source("change", Subscription, "customer"),
    _Source("change", Invoice, "customer"),
    _Source("change", Payment, "customer"),
    _Source("change", EntitlementOverride, "customer"),
    _Source("action", Action, "customer"),
    _Source("approval", ApprovalRequest, "action__in"),
    _Source("stripe", StripeEvent, "customer", historied=False),
    _Source("ticket", Ticket, "customer"),
    _Source("note", Note, "customer"),
]
# The database orders the merged sources by this number, not by the label: text order
# depends on the database's collation, the cursor's tie-break on Python's string order.
_RANKS = {source.label: rank for rank, source in enumerate(sorted(SOURCES, key=lambda s: s.label))}
_BY_RANK = {_RANKS[source.label]: source for source in SOURCES}


def _keys(source: _Source, customer: Customer, cursor: Cursor | None, size: int) -> QuerySet:
    """(rank, time, row id, previous version's history id) of the source's first `size` rows
    after the cursor."""
    table = source.table
    if source.customer_filter == "action__in":
        whose = Q(action__in=Action.objects.filter(customer=customer).values("id"))
    else:
        whose = Q(**{source.customer_filter: customer.pk})
    previous: Expression = Value(None, output_field=models.BigIntegerField())
    if source.historied:
        versions = table.objects.filter(  # type: ignore[attr-defined]
            id=OuterRef("id"), history_id__lt=OuterRef("history_id")
        ).order_by("-history_id")
        previous = Subquery(versions.values("history_id")[:1])
    return (
        table.objects.filter(whose, _after_cursor(cursor, source))  # type: ignore[attr-defined]
        .order_by(f"-{source.time_field}", f"-{source.id_field}")
        .annotate(
            entry_rank=Value(_RANKS[source.label]),
            entry_at=F(source.time_field),
            entry_id=F(source.id_field),
            entry_previous=previous,
        )
        .values_list("entry_rank", "entry_at", "entry_id", "entry_previous")[:size]
    )


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


def _history_entry(source: _Source, row: Any, change: diffs.Change) -> Entry:
    return Entry(
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


def _stripe_entry(source: _Source, event: StripeEvent) -> Entry:
    return Entry(
        cursor=f"{event.created.isoformat()}|{source.label}|{event.pk}",
        at=event.created,
        kind="stripe",
        actor="Stripe",
        actor_id=None,
        title=f"Stripe event {event.type} ({event.stripe_event_id})"
        + (f": not applied, {event.error}" if event.error else ""),
        reason="",
        ticket="",
        object_type=source.label,
        object_id=event.pk,
    )


def _load(source: _Source, ids: set[int]) -> dict[int, Any]:
    """The source's rows with these ids (history ids for a history), by id."""
    if not source.historied:
        fields = ("id", "stripe_event_id", "type", "created", "processed_at", "error")
        return source.table.objects.only(*fields).in_bulk(ids)  # type: ignore[attr-defined]
    return source.table.objects.select_related("history_user").in_bulk(ids)  # type: ignore[attr-defined]


def _entries(keys: list[tuple[int, dt.datetime, int, int | None]]) -> list[Entry]:
    """The entries of these keys, in their order: rows and previous versions read in one query
    per table, the history rows described together (so a related record is named once)."""
    wanted: dict[_Source, set[int]] = defaultdict(set)
    for rank, _at, row_id, previous_id in keys:
        wanted[_BY_RANK[rank]].update({row_id} if previous_id is None else {row_id, previous_id})
    loaded = {source: _load(source, ids) for source, ids in wanted.items()}
    page = [(_BY_RANK[rank], loaded[_BY_RANK[rank]][row_id]) for rank, _at, row_id, _ in keys]
    history = [(source, row) for source, row in page if source.historied]
    previous: diffs.Versions = {
        (type(row), row.history_id): loaded[_BY_RANK[rank]][previous_id]
        for (rank, _at, _id, previous_id), (_source, row) in zip(keys, page, strict=True)
        if previous_id is not None
    }
    approvals = [row for source, row in history if source.model is ApprovalRequest]
    if approvals:  # the decider's name for the title, in one query
        users = User._base_manager.in_bulk({row.decided_by_id for row in approvals} - {None})
        for row in approvals:
            row.decided_by = users.get(row.decided_by_id)
    changes = iter(diffs.describe([row for _, row in history], previous))
    return [
        _history_entry(source, row, next(changes))
        if source.historied
        else _stripe_entry(source, row)
        for source, row in page
    ]


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
    first, *others = [
        _keys(source, customer, cursor, size + 1) for source in SOURCES if source.kind in wanted
    ]
    if others:
        merged = first.union(*others, all=True).order_by("-entry_at", "-entry_rank", "-entry_id")
        keys = list(merged[: size + 1])
    else:  # one source is already in the timeline's order (and a union of one is itself)
        keys = list(first)
    entries = _entries(keys[:size])
    next_cursor = entries[-1].cursor if len(keys) > size else None
    return Page(entries, next_cursor)

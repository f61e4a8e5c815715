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

from django.db import connection, models
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


@dataclass(frozen=True)
class _Source:
    kind: str
    model: type[models.Model]
    owner: str  # the field naming the customer, or the `through` record that belongs to one
    through: type[models.Model] | None = None  # approvals belong to the customer's actions
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
    def time_column(self) -> str:
        return _column(self.table, "history_date" if self.historied else "created")

    @property
    def id_column(self) -> str:
        return _column(self.table, "history_id" if self.historied else "id")


def _column(model: type[models.Model], name: str) -> str:
    """The field's column, quoted for SQL."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or field.column is None:
        raise TypeError(f"{model.__name__}.{name} is not a column.")
    return connection.ops.quote_name(field.column)


SOURCES = [
    _Source("change", Customer, "id"),
    _Source("change", Subscription, "customer"),
    _Source("change", Invoice, "customer"),
    _Source("change", Payment, "customer"),
    _Source("change", EntitlementOverride, "customer"),
    _Source("action", Action, "customer"),
    _Source("approval", ApprovalRequest, "action", through=Action),
    _Source("stripe", StripeEvent, "customer", historied=False),
    _Source("ticket", Ticket, "customer"),
    _Source("note", Note, "customer"),
]
# The database orders the merged sources by this number, not by the label: text order
# depends on the database's collation, the cursor's tie-break on Python's string order.
_RANKS = {source.label: rank for rank, source in enumerate(sorted(SOURCES, key=lambda s: s.label))}
_BY_RANK = {_RANKS[source.label]: source for source in SOURCES}

Key = tuple[int, dt.datetime, int, int | None]  # rank, time, row id, previous version's id


def _after_cursor(source: _Source, cursor: Cursor | None) -> tuple[str, list[Any]]:
    """SQL keeping the source's rows after the cursor in (time desc, source desc, id desc)
    order.

    Written as a range on time (what the index on (customer, time, id) seeks to) and, at the
    cursor's own moment, a filter: "time before, or at it and after in the tie-break" would
    make PostgreSQL walk the customer's whole history newer than the cursor."""
    if cursor is None:
        return "", []
    at, cursor_source, cursor_id = cursor
    moment = connection.ops.adapt_datetimefield_value(at)  # as stored (SQLite: text)
    time, row_id = f"t.{source.time_column}", f"t.{source.id_column}"
    if source.label > cursor_source:  # it comes before the cursor's source at the same moment
        return f" AND {time} < %s", [moment]
    if source.label < cursor_source:
        return f" AND {time} <= %s", [moment]
    return f" AND {time} <= %s AND ({time} < %s OR {row_id} < %s)", [moment, moment, cursor_id]


def _branch(
    source: _Source, customer: Customer, cursor: Cursor | None, size: int
) -> tuple[str, list[Any]]:
    """The source's part of the keys query: the Key of its first `size` rows after the cursor,
    newest first, read through its index on (owner, time, id). A history row's previous
    version is one probe of the index on (object, history id)."""
    table = connection.ops.quote_name(source.table._meta.db_table)
    time, row_id = f"t.{source.time_column}", f"t.{source.id_column}"
    previous = "CAST(NULL AS bigint)"
    if source.historied:
        previous = (
            f"(SELECT p.history_id FROM {table} p WHERE p.id = t.id"
            " AND p.history_id < t.history_id ORDER BY p.history_id DESC LIMIT 1)"
        )
    after, after_params = _after_cursor(source, cursor)
    owner = f"t.{_column(source.table, source.owner)}"

    def newest(owned: str) -> str:
        return (
            f"SELECT {_RANKS[source.label]} AS rank, {time} AS at, {row_id} AS row_id,"
            f" {previous} AS previous FROM {table} t WHERE {owned}{after}"
            f" ORDER BY {time} DESC, {row_id} DESC LIMIT %s"
        )

    if source.through is None:
        return f"({newest(f'{owner} = %s')})", [customer.pk, *after_params, size]
    through = connection.ops.quote_name(source.through._meta.db_table)
    through_customer = _column(source.through, "customer")
    if connection.vendor != "postgresql":  # no LATERAL in SQLite (the demo's, a small table)
        owned = f"{owner} IN (SELECT o.id FROM {through} o WHERE o.{through_customer} = %s)"
        return f"({newest(owned)})", [customer.pk, *after_params, size]
    # Rows of the customer's actions (approvals): each action's newest, merged. That reads an
    # index entry or two per action; "action in (the customer's actions)" had PostgreSQL
    # hash-join the whole approvals history instead (on `bench`, a sequential scan).
    sql = (
        f"(SELECT r.* FROM {through} o CROSS JOIN LATERAL ({newest(f'{owner} = o.id')}) r"
        f" WHERE o.{through_customer} = %s"
        " ORDER BY r.at DESC, r.row_id DESC LIMIT %s)"
    )
    return sql, [*after_params, size, customer.pk, size]


def _keys(
    sources: list[_Source], customer: Customer, cursor: Cursor | None, size: int
) -> list[Key]:
    """The Keys of the timeline's first `size` entries after the cursor: the sources merged
    and cut in the database.

    Written in SQL: compiling these ten subqueries through the ORM took longer than
    PostgreSQL takes to run them."""
    branches = [_branch(source, customer, cursor, size) for source in sources]
    # Each branch a subquery of its own: SQLite takes no ORDER BY or LIMIT in a UNION's arm.
    sql = " UNION ALL ".join(
        f"SELECT * FROM {part} AS branch_{number}" for number, (part, _) in enumerate(branches)
    )
    params = [param for _, part_params in branches for param in part_params]
    with connection.cursor() as db:
        db.execute(
            f"SELECT * FROM ({sql}) AS merged ORDER BY at DESC, rank DESC, row_id DESC LIMIT %s",
            [*params, size],
        )
        return db.fetchall()


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


def _entries(customer: Customer, keys: list[Key]) -> list[Entry]:
    """The entries of these keys, in their order: rows and previous versions read in one query
    per table, the history rows described together (so a related record is named once)."""
    wanted: dict[_Source, set[int]] = defaultdict(set)
    for rank, _at, row_id, previous_id in keys:
        wanted[_BY_RANK[rank]].update({row_id} if previous_id is None else {row_id, previous_id})
    loaded = {source: _load(source, ids) for source, ids in wanted.items()}
    page = []  # (source, row, the row's previous version or None)
    for rank, _at, row_id, previous_id in keys:
        rows = loaded[_BY_RANK[rank]]
        before = None if previous_id is None else rows[previous_id]
        page.append((_BY_RANK[rank], rows[row_id], before))
    history = [row for source, row, _ in page if source.historied]
    previous: diffs.Versions = {
        (type(row), row.history_id): before for _, row, before in page if before is not None
    }
    approvals = [row for source, row, _ in page if source.model is ApprovalRequest]
    if approvals:  # the decider's name for the title, in one query
        users = User._base_manager.in_bulk({row.decided_by_id for row in approvals} - {None})
        for row in approvals:
            row.decided_by = users.get(row.decided_by_id)
    changes = iter(diffs.describe(history, previous, known=[customer]))
    return [
        _history_entry(source, row, next(changes))
        if source.historied
        else _stripe_entry(source, row)
        for source, row, _ in page
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
    sources = [source for source in SOURCES if source.kind in wanted]
    keys = _keys(sources, customer, cursor, size + 1)
    entries = _entries(customer, keys[:size])
    next_cursor = entries[-1].cursor if len(keys) > size else None
    return Page(entries, next_cursor)

"""The global audit log: every history row of every historied model, newest first.

Each historied model has its own history table. A page is keyset paginated on (history_date,
model label, history_id) and costs a fixed handful of queries whatever the history holds: one
for the page's keys (a UNION ALL of each table's newest keys, every branch an index scan that
stops at the page size: AuditedHistory gives each history table partial indexes by time for
staff rows, for one person's rows and for one ticket's rows); then, per table shown, one for
its rows and one for their previous versions (their diffs); one per kind of record the diffs
name; one for the actors. The default view is staff changes only (rows with a person as
actor); system and Stripe rows are one click away (`everyone`).

The CSV export streams the same filtered view, memory flat whatever the number of rows. On
PostgreSQL the database writes it: one COPY whose cells and changes are SQL built from the
same display of each column (`diffs.changes_sql`), run in parallel. Elsewhere (the demo's
SQLite) each table is read with a server-side cursor in chunks, each chunk's previous
versions in one query, the streams merged on the keyset and each row written here; the tests
hold the two to the same file.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import heapq
import io
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NamedTuple

import psycopg
from django.apps import apps
from django.db import connection, models, transaction
from django.db.models import Model
from django.db.models.utils import create_namedtuple_class
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from psycopg import pq

from accounts.audit import audited, is_historied
from accounts.models import User
from billing import diffs
from billing.models import Action, ActionKind, AuditExport

AUDITED_APPS = ("accounts", "billing", "support")
CHANGE_TYPES = diffs.CHANGE_KINDS


def historied_models() -> list[type[Model]]:
    """The historied models of our apps, ordered by label (the keyset's tie-breaker)."""
    found = [
        model
        for label in AUDITED_APPS
        for model in apps.get_app_config(label).get_models()
        if is_historied(model)
    ]
    return sorted(found, key=lambda model: model._meta.label_lower)


history_model = diffs.history_model


def _customer_column(model: type[Model]) -> str | None:
    """The history column that names the row's customer, if the record belongs to one."""
    if model._meta.label_lower == "billing.customer":
        return "id"
    if model._meta.label_lower == "billing.approvalrequest":
        return "action__customer_id"
    names = {f.name for f in model._meta.concrete_fields}
    return "customer_id" if "customer" in names else None


@dataclass
class AuditFilters:
    actor: str = ""
    kind: str = ""
    customer: int | None = None
    ticket: str = ""
    model: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    everyone: bool = False  # False: staff changes only
    cursor: tuple[dt.datetime, str, int] | None = None
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> AuditFilters:
        filters = cls(
            actor=query.get("actor", "").strip()[:150],
            kind=query.get("kind", "").strip(),
            ticket=query.get("ticket", "").strip().upper()[:64],
            model=query.get("model", "").strip(),
            everyone=query.get("everyone", "") in ("1", "on", "true"),
        )
        for name in ("date_from", "date_to"):
            raw = query.get(name, "").strip()
            if raw:
                try:
                    parsed = parse_date(raw) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw) else None
                except ValueError:  # well formed but impossible, e.g. month 13
                    parsed = None
                if parsed is None:
                    filters.errors.append(f"“{raw[:40]}” is not a date (YYYY-MM-DD).")
                setattr(filters, name, parsed)
        raw_customer = query.get("customer", "").strip()
        if raw_customer:
            if raw_customer.isdigit() and len(raw_customer) < 19:
                filters.customer = int(raw_customer)
            else:
                filters.errors.append(f"“{raw_customer[:40]}” is not a customer number.")
        if filters.model and filters.model not in model_choices():
            filters.errors.append(f"“{filters.model[:60]}” is not a kind of record.")
            filters.model = ""
        if filters.kind and filters.kind not in ActionKind.values:
            filters.errors.append(f"“{filters.kind[:40]}” is not a kind of action.")
            filters.kind = ""
        raw_cursor = query.get("before", "")
        if raw_cursor:
            filters.cursor = parse_cursor(raw_cursor)
            if filters.cursor is None:
                filters.errors.append("That page link is broken; start from the first page.")
        return filters

    @functools.cached_property
    def actor_id(self) -> int:
        """The actor's user id, looked up once for every table (0, which no row has, when
        nobody has that username)."""
        found = User._base_manager.filter(username=self.actor).values_list("pk", flat=True)
        return found.first() or 0

    def as_query(self) -> dict[str, str]:
        query = {
            "actor": self.actor,
            "kind": self.kind,
            "customer": str(self.customer) if self.customer is not None else "",
            "ticket": self.ticket,
            "model": self.model,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "everyone": "1" if self.everyone else "",
        }
        return {name: value for name, value in query.items() if value}

    def models(self) -> list[type[Model]]:
        chosen = historied_models()
        if self.model:
            chosen = [m for m in chosen if m._meta.label_lower == self.model]
        if self.kind:
            chosen = [
                m
                for m in chosen
                if m._meta.label_lower in ("billing.action", "billing.approvalrequest")
            ]
        if self.customer is not None:
            chosen = [m for m in chosen if _customer_column(m)]
        return chosen


def model_choices() -> dict[str, str]:
    return {
        model._meta.label_lower: str(model._meta.verbose_name).capitalize()
        for model in historied_models()
    }


def parse_cursor(raw: str) -> tuple[dt.datetime, str, int] | None:
    try:
        stamp, label, history_id = raw.split("|")
        moment = parse_datetime(stamp)
        return (moment, label, int(history_id)) if moment and moment.tzinfo else None
    except ValueError:
        return None


class Entry(NamedTuple):  # a tuple: the CSV export makes a million of them
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
    customer_id: int | None
    amount: int | None
    currency: str
    changes: list[diffs.FieldChange]

    @property
    def cursor(self) -> str:
        return f"{self.when.isoformat()}|{self.label}|{self.history_id}"

    @property
    def changes_text(self) -> str:
        return "; ".join(change.text for change in self.changes)

    # What the page's row shows, worked out here: a template filter or tag per row costs
    # more than the rest of the page's rendering.
    @property
    def when_shown(self) -> str:
        """The time in the current time zone, as "2026-11-30 14:05:09"."""
        return timezone.localtime(self.when).isoformat(" ", "seconds")[:19]

    @property
    def first_changes(self) -> list[str]:
        return [change.text for change in self.changes[:SHOWN_CHANGES]]

    @property
    def more_changes(self) -> bool:
        return len(self.changes) > SHOWN_CHANGES


SHOWN_CHANGES = 6  # per row of the page; the object's history shows them all


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    next_cursor: str | None


def _history_rows(model: type[Model], filters: AuditFilters) -> models.QuerySet:
    """The model's history rows in the filtered view, newest first. Every filter is one an
    index of the history table serves (AuditedHistory's indexes): staff rows by time, one
    person's rows by time, one ticket's rows by time, one customer's rows by time."""
    history = history_model(model)
    label = model._meta.label_lower
    rows = history._default_manager.all()
    if not filters.everyone:
        rows = rows.filter(history_user__isnull=False)
    if filters.actor:
        # The person's id, not a join on users: the history's own index is (user, time).
        rows = rows.filter(history_user_id=filters.actor_id)
    if filters.ticket:
        rows = rows.filter(history_ticket=filters.ticket)
    if filters.kind:
        if label == "billing.action":
            rows = rows.filter(kind=filters.kind)
        else:
            rows = rows.filter(action_id__in=Action.objects.filter(kind=filters.kind).values("id"))
    if filters.customer is not None:
        column = _customer_column(model)
        if column == "action__customer_id":
            mine = Action.objects.filter(customer_id=filters.customer).values("id")
            rows = rows.filter(action_id__in=mine)
        elif column:
            rows = rows.filter(**{column: filters.customer})
    if filters.date_from:
        start = dt.datetime.combine(filters.date_from, dt.time.min, tzinfo=dt.UTC)
        rows = rows.filter(history_date__gte=start)
    if filters.date_to:
        end = dt.datetime.combine(
            filters.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC
        )
        rows = rows.filter(history_date__lt=end)
    if filters.cursor:
        # Older than the cursor in the keyset (time, label, history id), all descending. The
        # time bound alone is what an index range uses; the same-moment rows are then sorted
        # out by label and id.
        moment, cursor_label, cursor_id = filters.cursor
        if label > cursor_label:
            rows = rows.filter(history_date__lt=moment)
        else:
            rows = rows.filter(history_date__lte=moment)
            if label == cursor_label:
                rows = rows.exclude(history_date=moment, history_id__gte=cursor_id)
    return rows.order_by("-history_date", "-history_id")


Key = tuple[dt.datetime, str, int]


def _page_keys(filters: AuditFilters, count: int) -> list[Key]:
    """The keys (time, label, history id) of the first `count` rows of the filtered view.

    On PostgreSQL one query: a UNION ALL of each table's newest `count` keys (each an index
    scan that stops after `count` rows), ordered and cut once more. Each branch is its table's
    query compiled by the ORM (`_history_rows`, the one definition of the view) and the
    branches are joined as SQL: the ORM's own union compiles each branch again, several
    milliseconds a page for nothing. Databases that can't limit the branches of a UNION
    (SQLite, the demo's) get one query per table."""
    branches = [
        (model._meta.label_lower, _history_rows(model, filters).values_list(*_KEY_COLUMNS))
        for model in filters.models()
    ]
    if not branches:
        return []
    if not (connection.features.supports_slicing_ordering_in_compound and len(branches) > 1):
        per_table = [
            [(when, label, history_id) for when, history_id in rows[:count]]
            for label, rows in branches
        ]
        return list(islice(heapq.merge(*per_table, reverse=True), count))
    parts: list[str] = []
    params: list[Any] = []
    for label, rows in branches:
        sql, branch_params = rows[:count].query.sql_with_params()
        parts.append(f"(SELECT %s, branch.* FROM ({sql}) AS branch)")
        params += [label, *branch_params]
    union = " UNION ALL ".join(parts)
    with connection.cursor() as cursor:
        # Columns: label, history_date, history_id; the keyset is (time, label, id).
        cursor.execute(f"{union} ORDER BY 2 DESC, 1 DESC, 3 DESC LIMIT %s", [*params, count])
        return [(when, label, history_id) for label, when, history_id in cursor.fetchall()]


_KEY_COLUMNS = ("history_date", "history_id")


def _read_columns(history: type[Model]) -> list[str]:
    """The columns a page or an export reads of each history row: all but the bookkeeping
    ones (payloads, raw bodies). Rows are read as named tuples, not model instances: building
    an instance costs more than everything else done with the row."""
    return [f.attname for f in history._meta.concrete_fields if f.name not in diffs.SKIPPED]


def _versions(history: type[Model], history_ids: Iterable[int]) -> dict[int, Any]:
    """The history rows of `history_ids` (previous versions, to diff against), by id: one
    query."""
    wanted = set(history_ids)
    if not wanted:
        return {}
    rows = diffs.with_pks(history._default_manager.order_by(), wanted)
    return {row.history_id: row for row in rows.values_list(*_read_columns(history), named=True)}


def _rows_of(keys: list[Key]) -> list[diffs.Diff]:
    """The history rows named by `keys`, in their order, each with its previous version:
    per table shown, one query for the rows (with their actor's username, and their previous
    version's id annotated), one for those previous versions."""
    by_table: dict[str, list[int]] = {}
    for _, label, history_id in keys:
        by_table.setdefault(label, []).append(history_id)
    found: dict[tuple[str, int], diffs.Diff] = {}
    for label, history_ids in by_table.items():
        model: type[Model] = apps.get_model(label)
        history = history_model(model)
        rows = list(
            history._default_manager.filter(history_id__in=history_ids)
            .annotate(previous_id=diffs.previous_id(history))
            .values_list(
                *_read_columns(history), "previous_id", "history_user__username", named=True
            )
        )
        previous = _versions(history, (row.previous_id for row in rows if row.previous_id))
        for row in rows:
            found[(label, row.history_id)] = (history, row, previous.get(row.previous_id))
    return [found[(label, history_id)] for _, label, history_id in keys]


# Columns that name a row to a person, tried in order; none of them needs another query.
_NAMING_FIELDS = ("name", "username", "external_ref", "number", "code", "stripe_event_id")


def _describe(history: type[Model], row: Any) -> str:
    for name in _naming_columns(history):
        value = getattr(row, name)
        if value:
            return f"#{row.id} {value}"
    return f"#{row.id}"


@functools.cache
def _naming_columns(history: type[Model]) -> tuple[str, ...]:
    """The naming columns the history table has, in `_NAMING_FIELDS` order (asking a row
    for a column it lacks costs an exception each time)."""
    columns = set(_read_columns(history))
    return tuple(name for name in _NAMING_FIELDS if name in columns)


@functools.cache
def _has_column(history: type[Model], name: str) -> bool:
    return name in _read_columns(history)


@functools.cache
def _kind_of_record(history: type[Model]) -> tuple[str, str]:
    """The label and the name people read of the history table's model."""
    model = history.instance_type  # type: ignore[attr-defined]
    return model._meta.label_lower, str(model._meta.verbose_name).capitalize()


class _Usernames(dict[int, str]):
    """Staff usernames by id, loaded as rows name them (one query per batch that names
    someone new; there are only so many staff)."""

    def load(self, ids: Iterable[int | None]) -> None:
        missing = {pk for pk in ids if pk is not None and pk not in self}
        if missing:
            self.update(User._base_manager.filter(pk__in=missing).values_list("pk", "username"))


def _entry(
    history: type[Model], row: Any, usernames: _Usernames, changes: list[diffs.FieldChange]
) -> Entry:
    label, model_name = _kind_of_record(history)
    reason = row.history_change_reason or ""
    amount = row.amount if _has_column(history, "amount") else None
    # Positional: the CSV export makes a million of these, and keywords cost twice as much.
    return Entry(
        row.history_date,  # when
        label,
        row.history_id,
        model_name,
        row.id,  # object_id
        _describe(history, row),  # object_repr
        CHANGE_TYPES.get(row.history_type, row.history_type),  # change
        diffs.actor_of(usernames.get(row.history_user_id), reason),  # actor
        reason,
        row.history_ticket,  # ticket
        row.id
        if label == "billing.customer"
        else (row.customer_id if _has_column(history, "customer_id") else None),
        amount if isinstance(amount, int) else None,  # amount
        (row.currency or "") if _has_column(history, "currency") else "",
        changes,
    )


def _entries(items: list[diffs.Diff], usernames: _Usernames) -> list[Entry]:
    """The rows as entries, diffed against their previous versions (related records named
    in one query per kind, actors in at most one)."""
    usernames.load(row.history_user_id for _, row, _ in items)
    return [
        _entry(history, row, usernames, changes)
        for (history, row, _), changes in zip(items, diffs.field_changes(items), strict=True)
    ]


def page(filters: AuditFilters, *, size: int = 50) -> Page:
    """One page of the filtered view; its cost in queries doesn't grow with the history."""
    if filters.errors:
        return Page([], None)
    keys = _page_keys(filters, size + 1)
    items = _rows_of(keys[:size])
    actors = {
        row.history_user_id: row.history_user__username
        for _, row, _ in items
        if row.history_user_id is not None
    }
    entries = _entries(items, _Usernames(actors))
    next_cursor = entries[size - 1].cursor if len(keys) > size else None
    return Page(entries, next_cursor)


# CSV export ------------------------------------------------------------------------------

CSV_HEADER = [
    "time",
    "actor",
    "record_type",
    "record_id",
    "record",
    "change",
    "reason",
    "ticket",
    "customer_id",
    "amount",
    "currency",
    "changes",
]
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_FORMULA_STARTS = frozenset(("=", "+", "-", "@", "\t", "\r"))


def safe_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: a formula-like start (=, +, -, @, tab, CR) gets a
    leading apostrophe, except a plain number such as -2000, which stays a number."""
    text = "" if value is None else str(value)
    if text[:1] in _FORMULA_STARTS and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _csv_row(entry: Entry, changes_text: str, safe: Mapping[str, str]) -> list[Any]:
    """The entry's cells, each through `safe_cell` but the time and the integers: a time
    starts with its year and an integer is a plain number, which `safe_cell` leaves as they
    are (the csv module writes an integer as `str` does). `safe` holds the cells already made
    safe of the texts that repeat from row to row (actors, reasons, kinds)."""
    return [
        entry.when.astimezone(dt.UTC).isoformat(),
        safe[entry.actor],
        safe[entry.label],
        entry.object_id if isinstance(entry.object_id, int) else safe_cell(entry.object_id),
        safe_cell(entry.object_repr),
        safe[entry.change],
        safe[entry.reason],
        safe[entry.ticket],
        entry.customer_id if entry.customer_id is not None else "",
        entry.amount if entry.amount is not None else "",
        safe[entry.currency],
        safe_cell(changes_text),
    ]


class _SafeCells(dict[str, str]):
    """`safe_cell` of texts, each worked out once (the export's repeating cells)."""

    def __missing__(self, text: str) -> str:
        self[text] = cell = safe_cell(text)
        return cell


def _csv_rows(items: list[diffs.Diff], usernames: _Usernames) -> Iterator[list[Any]]:
    """The rows as CSV cells: what `_entries` shows, the changes as one text. Each row's
    cells are made as the writer takes them (a batch of them kept would keep the garbage
    collector busy)."""
    usernames.load(row.history_user_id for _, row, _ in items)
    safe = _SafeCells()
    texts = diffs.changes_texts(items)
    return (
        _csv_row(_entry(history, row, usernames, []), text, safe)
        for (history, row, _), text in zip(items, texts, strict=True)
    )


# Rows per fetch of each table's server-side cursor, and per batch diffed and written: big
# enough that the per-batch queries (previous versions, names) are few, small enough that
# memory stays flat (a batch of each table streamed is in memory at once).
EXPORT_CHUNK = 2000


def _table_export(model: type[Model], filters: AuditFilters, chunk: int) -> Iterator[Any]:
    """One table's rows of the filtered view, newest first, as (key..., diff) tuples: read
    with a server-side cursor, each chunk's previous versions in one query by id (their ids
    come with the rows, each an index probe)."""
    history = history_model(model)
    label = model._meta.label_lower
    rows = _stream(
        _history_rows(model, filters)
        .annotate(previous_id=diffs.previous_id(history))
        .values_list(*_read_columns(history), "previous_id", named=True),
        chunk,
    )
    while batch := list(islice(rows, chunk)):
        before = _versions(history, (row.previous_id for row in batch if row.previous_id))
        for row in batch:
            yield (
                row.history_date,
                label,
                row.history_id,
                (history, row, before.get(row.previous_id)),
            )


def _stream(rows: models.QuerySet, chunk: int) -> Iterator[Any]:
    """The named tuples of `rows` (a `values_list(..., named=True)`), read `chunk` at a time
    from a server-side cursor. On PostgreSQL, when no column needs converting by Django, the
    rows come in the binary format: a timestamp read as text costs psycopg (and PostgreSQL
    to write) several times a binary one, and a history row holds up to eight. Anywhere
    else, through the queryset's own iterator."""
    query = rows.query
    names = [*query.extra_select, *query.values_select, *query.annotation_select]
    compiler = query.get_compiler(rows.db)
    sql, params = compiler.as_sql()
    converters = compiler.get_converters([expression for expression, _, _ in compiler.select])
    if (
        connection.vendor != "postgresql"
        or converters
        or list(rows._fields) != names  # type: ignore[attr-defined]
        or connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
        # A cursor WITHOUT HOLD lives in a transaction (export_csv opens one); outside one,
        # the queryset's own iterator declares it WITH HOLD.
        or not connection.in_atomic_block
    ):
        yield from rows.iterator(chunk_size=chunk)
        return
    row_class = create_namedtuple_class(*names)
    new = tuple.__new__
    connection.ensure_connection()
    # psycopg's own server-side cursor (Django's binds parameters on the client, which rules
    # out binary results), wrapped as Django wraps its cursors: it shows among the queries.
    raw = psycopg.ServerCursor(connection.connection, f"audit_export_{next(_cursor_ids)}")
    raw.format = pq.Format.BINARY
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    # (django-stubs type the argument as Django's wrapper; Django wraps a DB-API cursor.)
    with wrap(raw) as cursor:  # type: ignore[arg-type]
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(chunk):
            for row in batch:
                yield new(row_class, row)


_cursor_ids = itertools.count(1)


def export_rows(
    filters: AuditFilters, *, chunk: int = EXPORT_CHUNK
) -> Iterator[Iterator[list[Any]]]:
    """Every row of the filtered view as CSV cells, newest first, in batches: each table
    streamed in its own cursor, the streams merged on the keyset (memory flat, whatever the
    rows)."""
    streams = [_table_export(model, filters, chunk) for model in filters.models()]
    merged = heapq.merge(*streams, reverse=True)
    usernames = _Usernames()
    while batch := list(islice(merged, chunk)):
        yield _csv_rows([item[-1] for item in batch], usernames)


def export_csv(filters: AuditFilters, *, chunk: int = EXPORT_CHUNK) -> Iterable[str]:
    """The CSV of the filtered view, header first, generated as it is read: a string per
    batch of rows. On PostgreSQL the database writes the rows (`_copied_csv`); elsewhere
    they are made here (`_written_csv`), the same cells either way."""
    if connection.vendor == "postgresql":
        return _copied_csv(filters)
    return _written_csv(filters, chunk=chunk)


def _header() -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(CSV_HEADER)
    return buffer.getvalue()


def _written_csv(filters: AuditFilters, *, chunk: int = EXPORT_CHUNK) -> Iterator[str]:
    """The CSV made row by row in Python from the streams `export_rows` reads. Read in one
    transaction, so the cursors stream (outside one, PostgreSQL would copy each cursor's
    whole result before the first row: WITH HOLD)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    yield _header()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # JIT compiling pays off for a query that ends; each of these streams costs a
            # second of it before its first row, for nothing.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        for rows in export_rows(filters, chunk=chunk):
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(rows)
            yield buffer.getvalue()


# The export on PostgreSQL ----------------------------------------------------------------
# A million rows made one by one in Python cost most of a minute: the database writes them
# instead, every cell and every row's changes as SQL expressions (`diffs.changes_sql`, which
# follows each column's display as the pages do), the tables merged on the keyset by one
# ORDER BY, streamed by COPY, which PostgreSQL runs in parallel across the cores.
# tests/billing/test_audit_export_sql.py holds it to `_written_csv` cell by cell.

# How many bytes of rows go to the response at once (COPY gives them a row at a time).
COPY_BLOCK = 256 * 1024
# Memory for each sort of the export's statement, in each process that runs it: a month of
# history at a million customers (a million rows) sorts its two biggest tables in about 120 MB
# a process. With 64 MB they spilled to temporary files and the export took a tenth longer
# (measured on the benchmark's dataset: 9.4 to 12.0 s against 8.2 to 9.1). Every branch's
# sort is held until the merge ends, so an export may hold about a gigabyte of the database
# server's memory while it runs; a bigger one spills, and is slower, never wrong.
EXPORT_WORK_MEM = "192MB"


def _copied_csv(filters: AuditFilters) -> Iterator[str]:
    yield _header()
    if filters.errors or not filters.models():
        return
    sql, params = export_sql(filters)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # No JIT (a second of compiling before the first row); ISO dates for `::text`;
            # room for each process's share of each sort.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")
            cursor.execute(f"SET LOCAL work_mem = '{EXPORT_WORK_MEM}'")
        with (
            connection.connection.cursor() as raw,  # psycopg's own: Django's has no COPY
            raw.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy,
        ):
            pending: list[bytes] = []
            size = 0
            for row in copy:
                pending.append(bytes(row))
                size += len(row)
                if size >= COPY_BLOCK:
                    yield b"".join(pending).decode()
                    pending, size = [], 0
            if pending:
                yield b"".join(pending).decode()


def _safe_sql(text: str) -> str:
    """`safe_cell` of an SQL text."""
    starts = ", ".join(diffs.sql_literal(start) for start in sorted(_FORMULA_STARTS))
    return (
        f"CASE WHEN left({text}, 1) IN ({starts}) "
        f"AND {text} !~ {diffs.sql_literal('^(' + _PLAIN_NUMBER.pattern + ')$')} "
        f"THEN '''' || {text} ELSE {text} END"
    )


def _cell_sql(text: str) -> str:
    """A text cell as the csv module writes it: COPY quotes an empty text, which the csv
    module leaves empty, as COPY does NULL."""
    return f"NULLIF({text}, '')"


_INTEGER_CELLS = {CSV_HEADER.index(name) for name in ("record_id", "customer_id", "amount")}


def _branch_sql(
    model: type[Model], filters: AuditFilters, *, created: bool, rank: int
) -> tuple[str, list[Any]]:
    """One table's creations (or its other rows) in the filtered view as the export's cells
    c0…c11, with their keyset (k_when, k_id), sorted. The two are apart because only the
    other rows need their previous version, found with a LIMIT, which PostgreSQL doesn't
    run in parallel: the creations, most of any export, it does."""
    history = history_model(model)
    label, _ = _kind_of_record(history)
    quote = connection.ops.quote_name
    lit = diffs.sql_literal
    rows = _history_rows(model, filters).order_by()
    rows = rows.filter(history_type="+") if created else rows.exclude(history_type="+")
    inner, params = rows.values_list(*_read_columns(history)).query.sql_with_params()
    when = "(h.history_date AT TIME ZONE 'UTC')"
    time = (  # isoformat(): microseconds only where there are some
        f"to_char({when}, 'YYYY-MM-DD\"T\"HH24:MI:SS') "
        f"|| COALESCE('.' || NULLIF(to_char({when}, 'US'), '000000'), '') || '+00:00'"
    )
    actor = diffs.actor_sql("u.username", "h.history_change_reason")
    naming = ", ".join(f"' ' || NULLIF(h.{quote(name)}, '')" for name in _naming_columns(history))
    record = f"'#' || h.id || COALESCE({naming}, '')" if naming else "'#' || h.id"  # _describe
    change = " ".join(f"WHEN {lit(code)} THEN {lit(text)}" for code, text in CHANGE_TYPES.items())
    if label == "billing.customer":
        customer = "h.id"
    else:
        customer = "h.customer_id" if _has_column(history, "customer_id") else "NULL::bigint"
    integer_amount = _has_column(history, "amount") and isinstance(
        history._meta.get_field("amount"), models.IntegerField
    )
    currency = "COALESCE(h.currency, '')" if _has_column(history, "currency") else "''"
    changes, names = diffs.changes_sql(history, "h", None if created else "p")
    # A row's changes start with a column's label: never a formula, unless a label is one.
    labels_safe = all(safe_cell(c.label) == c.label for c in diffs._columns(history))
    cells = [
        time,
        _cell_sql(_safe_sql(actor)),
        _cell_sql(lit(safe_cell(label))),
        "h.id",
        _cell_sql(_safe_sql(record)),
        f"CASE h.history_type {change} ELSE h.history_type END",
        _cell_sql(_safe_sql("COALESCE(h.history_change_reason, '')")),
        _cell_sql(_safe_sql("h.history_ticket")),
        customer,
        "h.amount" if integer_amount else "NULL::bigint",
        _cell_sql(_safe_sql(currency)),
        _cell_sql(changes if labels_safe else _safe_sql(changes)),
    ]
    # The previous version: the object's latest older row (diffs.previous_id); then joins,
    # not correlated subqueries, which would keep PostgreSQL from running it in parallel:
    # the actor, the names the changes show.
    previous = (
        ""
        if created
        else f" LEFT JOIN LATERAL (SELECT * FROM {quote(history._meta.db_table)} AS p"
        " WHERE p.id = h.id AND p.history_id < h.history_id"
        " ORDER BY p.history_id DESC LIMIT 1) AS p ON TRUE"
    )
    sql = (
        # The keyset: the time, then the table (its rank among the labels) and the history
        # id as one number, which each branch can be sorted on by itself (history ids stay
        # below 2**48: at a billion rows a day, for 770 years).
        f"SELECT h.history_date AS k_when, ({rank}::bigint << 48) + h.history_id AS k_id, "
        # Every branch's cells of the same type: PostgreSQL plans the branches as one.
        + ", ".join(
            f"({cell})::{'bigint' if n in _INTEGER_CELLS else 'text'} AS c{n}"
            for n, cell in enumerate(cells)
        )
        + f" FROM ({inner}) AS h{previous}"
        + f" LEFT JOIN {quote(User._meta.db_table)} AS u ON u.id = h.history_user_id "
        + " ".join(names)
        + " ORDER BY k_when DESC, k_id DESC"
    )
    return sql, list(params)


def export_sql(filters: AuditFilters) -> tuple[str, list[Any]]:
    """The statement that gives the export's rows, newest first, and its parameters: each
    branch sorted by itself (in parallel, where it is big enough), then merged. The biggest
    come first: PostgreSQL starts every branch at once, and the first take the parallel
    workers there are."""
    ranks = {model: rank for rank, model in enumerate(historied_models())}
    chosen = filters.models()
    sizes = _estimated_rows(chosen)
    order = sorted(
        ((model, created) for model in chosen for created in (True, False)),
        key=lambda branch: (not branch[1], -sizes.get(branch[0], 0)),
    )
    branches = [
        _branch_sql(model, filters, created=created, rank=ranks[model]) for model, created in order
    ]
    union = " UNION ALL ".join(f"({sql})" for sql, _ in branches)
    cells = ", ".join(f"c{n}" for n in range(len(CSV_HEADER)))
    sql = f"SELECT {cells} FROM ({union}) AS rows ORDER BY k_when DESC, k_id DESC"
    return sql, [param for _, params in branches for param in params]


def _estimated_rows(chosen: list[type[Model]]) -> dict[type[Model], float]:
    """Each history table's row count as PostgreSQL last estimated it (no count: a scan)."""
    tables = {history_model(model)._meta.db_table: model for model in chosen}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)", [list(tables)]
        )
        return {tables[name]: rows for name, rows in cursor.fetchall()}


def record_export(
    *, actor: User, filters: AuditFilters, now: dt.datetime | None = None
) -> AuditExport:
    """Every export is itself recorded: who exported which filter, when (a ledger row)."""
    with (
        transaction.atomic(durable=True),
        audited(actor=actor, reason="Audit log exported"),
    ):
        return AuditExport.objects.create(
            exported_by=actor, filters=filters.as_query(), created_at=now or timezone.now()
        )

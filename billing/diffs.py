"""An object's history as changes people read: "Seats: 5 → 8", "Amount refunded: $0.00 →
$12.00", "Assignee: — → Sam Lee", with who, when, reason and ticket. A creation shows the
initial values.

`describe(rows)` turns history rows (of one table or several) into `Change`s with a fixed
number of queries: one to find each row's previous version, one per kind of related record
named. `object_history(model, pk)` is one object's history, newest first. `field_changes`
is the diff itself, for rows of any shape with the columns as attributes (model instances,
or the named tuples the CSV export streams a million of: each column's display is worked
out once per table, not once per row).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import itertools
import json
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connection, models
from django.db.models import Case, OuterRef, Subquery, Value, When
from django.db.models.expressions import RawSQL

from billing.money import CURRENCIES, currencies_sql, format_amount, grouped_sql
from billing.money import format_sql as format_amount_sql

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


def change_text(field: str, old: str, new: str) -> str:
    """A change as people read it: "Field: old → new", or "Field: value" for an initial value."""
    return f"{field}: {old} → {new}" if old else f"{field}: {new}"


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    old: str
    new: str

    @property
    def text(self) -> str:
        return change_text(self.field, self.old, self.new)


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


def actor_of(username: str | None, reason: str) -> str:
    """A person by username; without one, Stripe when the change came from Stripe."""
    if username is not None:
        return username
    return "Stripe" if "stripe" in (reason or "").lower() else "system"


def actor_sql(username: str, reason: str) -> str:
    """`actor_of` of two SQL expressions, for the export the database writes."""
    return (
        f"COALESCE({username}, CASE WHEN strpos(lower(COALESCE({reason}, '')), 'stripe') > 0 "
        "THEN 'Stripe' ELSE 'system' END)"
    )


@functools.cache
def history_model(model: type[models.Model]) -> type[models.Model]:
    """The model's history table. (`model.history` builds a new manager class on every
    access, half a millisecond each: too much for one per table per page.)"""
    return model.history.model  # type: ignore[attr-defined]


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
        return _when(value)
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


# Related records whose name (`__str__`) reads another record: loaded together, or naming N
# prices would cost N more queries for their plans.
NAMED_WITH = {
    "billing.price": ("plan",),
    "billing.planentitlement": ("plan",),
    "billing.policylimit": ("role",),
    "billing.approvalrequest": ("action",),
    "support.note": ("author", "customer"),
    "accounts.apitoken": ("user",),
}
# The columns the name (`__str__`) of the records named most reads: those every invoice,
# payment and subscription row names, a million in an export. Only those columns are read, and
# the record the name is asked of is built from them alone (`name_from`): Django's __init__
# would cost more than the name. A test checks each name still reads nothing else.
NAMED_BY = {
    "billing.customer": ("name", "handle"),
    "billing.subscription": ("stripe_subscription_id", "status"),
    "billing.invoice": ("number", "stripe_invoice_id"),
    "billing.payment": ("stripe_charge_id", "amount", "currency"),
}


def with_pks(records: models.QuerySet, pks: Iterable[Any]) -> models.QuerySet:
    """The records whose primary key is one of `pks`. On PostgreSQL the keys go as one array
    parameter: an IN list of thousands costs more to build than to run (and integer keys go
    as the array's text, which psycopg needn't inspect key by key)."""
    wanted = list(pks)
    if connection.vendor != "postgresql":
        return records.filter(pk__in=wanted)
    if all(type(pk) is int for pk in wanted):
        keys = "{" + ",".join(map(str, wanted)) + "}"
        return records.filter(pk__in=RawSQL("SELECT unnest(%s::bigint[])", [keys]))
    return records.filter(pk__in=RawSQL("SELECT unnest(%s)", [wanted]))


def name_from(model: type[models.Model], columns: dict[str, Any]) -> str:
    """The record's name, asked of a record holding only `columns` (NAMED_BY)."""
    record = model.__new__(model)
    record.__dict__.update(columns)
    return str(record)


class _Namer:
    """Names of related records, looked up in one query per related model; records already
    in hand (`known`) are named without one."""

    def __init__(self, known: Iterable[models.Model] = ()) -> None:
        self.wanted: dict[type[models.Model], set[Any]] = defaultdict(set)
        self.names: dict[tuple[type[models.Model], Any], str] = {
            (type(obj), obj.pk): str(obj) for obj in known
        }

    def want(self, related: type[models.Model], pk: Any) -> None:
        if pk is not None and (related, pk) not in self.names:
            self.wanted[related].add(pk)

    def load(self) -> None:
        for related, pks in self.wanted.items():
            label = related._meta.label_lower
            records = with_pks(related._base_manager.order_by(), pks)  # unsorted
            if label in NAMED_BY:
                columns = NAMED_BY[label]
                for pk, *values in records.values_list("pk", *columns):
                    self.names[(related, pk)] = name_from(
                        related, dict(zip(columns, values, strict=True))
                    )
                continue
            if label in NAMED_WITH:
                records = records.select_related(*NAMED_WITH[label])
            for obj in records:
                self.names[(related, obj.pk)] = str(obj)

    def name(self, related: type[models.Model], pk: Any) -> str:
        if pk is None:
            return "—"
        return self.names.get((related, pk), f"#{pk}")


# Where a column's name is not what people call it.
LABELS = {"quantity": "Seats", "id": "Id", "is_active": "Active", "is_staff": "Staff"}


def _label(f: models.Field) -> str:
    if f.name in LABELS:
        return LABELS[f.name]
    return str(f.verbose_name)[:1].upper() + str(f.verbose_name)[1:]


Show = Callable[[Any, Any, _Namer], str]  # (value, its row, names) -> what people read


def _when(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        # Only the wall time is shown: a moment already at offset zero (the database's UTC,
        # whichever tzinfo object carries it) needs no conversion.
        if value.tzinfo is not None and value.utcoffset():
            value = value.astimezone(dt.UTC)
        return value.isoformat(" ", "minutes")[:16] + " UTC"
    return _plain(value)


# Amounts repeat (prices, plans): formatting each once is most of what the export spends on
# money columns.
_amount = functools.lru_cache(maxsize=8192)(format_amount)


def _display(history_model: type[models.Model], f: models.Field) -> str:
    """How the column's values are shown, the one choice both the Python display (`_shower`)
    and the database's (`show_sql`) follow: "related" (the record's name), "choice" (its
    label), "money" (an amount in the row's currency), "when", "text" or "plain"."""
    if f.is_relation and f.related_model is not None:
        return "related"
    if f.choices:
        return "choice"
    if f.name in _money_fields(history_model):
        return "money"
    if isinstance(f, models.DateTimeField):
        return "when"
    if isinstance(f, models.CharField | models.TextField):
        return "text"
    return "plain"


def _shower(history_model: type[models.Model], f: models.Field) -> Show:
    """The column's display as a function of (value, its row, names): dates and text
    without asking each value its type (the export shows ten million values)."""
    display = _display(history_model, f)
    if display == "related":
        related = f.related_model
        return lambda value, row, namer: namer.name(related, value)  # type: ignore[arg-type]
    if display == "choice":
        labels = _choices(f)
        return lambda value, row, namer: (
            _plain(value) if value in (None, "") else labels.get(value, str(value))
        )
    if display == "money":

        def money(value: Any, row: Any, namer: _Namer) -> str:
            if value is None:
                return "—"
            currency = _currency(row)
            return _amount(value, currency) if currency else f"{value:,} (minor units)"

        return money
    if display == "when":
        return _show_when
    if display == "text":
        return _show_text
    return _show_plain


# The showers of the commonest columns, called as they are (a lambda around each would be one
# more call for each of the export's twenty million values).
def _show_when(value: Any, row: Any, namer: _Namer) -> str:
    return _when(value)


def _show_text(value: Any, row: Any, namer: _Namer) -> str:
    return value if value and isinstance(value, str) else _plain(value)


def _show_plain(value: Any, row: Any, namer: _Namer) -> str:
    return _plain(value)


@dataclass(frozen=True)
class _Column:
    attname: str
    label: str
    related: type[models.Model] | None  # named in the diff: its names are loaded first
    primary_key: bool
    show: Show
    field: models.Field


@functools.cache
def _columns(history_model: type[models.Model]) -> tuple[_Column, ...]:
    return tuple(
        _Column(
            attname=f.attname,
            label=_label(f),
            related=f.related_model if f.is_relation else None,  # type: ignore[arg-type]
            primary_key=f.primary_key,
            show=_shower(history_model, f),
            field=f,
        )
        for f in tracked_fields(history_model)
    )


@functools.cache
def _tracked_values(history_model: type[models.Model]) -> Callable[[Any], tuple[Any, ...]]:
    """The row's tracked values in `_columns` order, read in one call (a model instance or
    a named tuple alike)."""
    return _getter([c.attname for c in _columns(history_model)])


@functools.cache
def _initial_columns(
    history_model: type[models.Model],
) -> tuple[tuple[_Column, ...], Callable[[Any], tuple[Any, ...]]]:
    """The columns a creation may show (all but the primary key) and their values' getter."""
    columns = tuple(c for c in _columns(history_model) if not c.primary_key)
    return columns, _getter([c.attname for c in columns])


def _getter(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) == 1:
        return lambda row: (getattr(row, names[0]),)
    return operator.attrgetter(*names)  # type: ignore[return-value]


ShownColumns = list[tuple[_Column, Any, Any]]  # (column, new value, old value) of each


def _shown(history_model: type[models.Model], row: Any, before: Any) -> ShownColumns:
    """The columns a change shows, with their new and old values: those that differ from
    the previous version, or for a creation every column with a value (old value None)."""
    if before is None:
        columns, values = _initial_columns(history_model)
        # "Has a value": neither None nor "" (`is not None` first: most values are neither).
        return [
            (c, v, None)
            for c, v in zip(columns, values(row), strict=True)
            if v is not None and v != ""
        ]
    columns = _columns(history_model)
    values = _tracked_values(history_model)
    return [
        (c, v, was)
        for c, v, was in zip(columns, values(row), values(before), strict=True)
        if v != was
    ]


Diff = tuple[type[models.Model], Any, Any]  # (history model, row, previous version or None)


def _want_names(namer: _Namer, shown: ShownColumns, before: Any) -> None:
    """Ask for the names of the related records the shown columns hold, new and old."""
    for column, value, was in shown:
        if column.related is not None:
            namer.want(column.related, value)
            if before is not None:
                namer.want(column.related, was)


def _shown_and_named(
    diffs: Sequence[Diff], known: Iterable[models.Model] = ()
) -> tuple[list[ShownColumns], _Namer]:
    """What each diff shows, and the names of the related records it names, loaded in one
    query per related model (none for those `known`)."""
    namer = _Namer(known)
    plans = []
    for history_model, row, before in diffs:
        shown = _shown(history_model, row, before)
        _want_names(namer, shown, before)
        plans.append(shown)
    namer.load()
    return plans, namer


def field_changes(
    diffs: Sequence[Diff], *, known: Iterable[models.Model] = ()
) -> list[list[FieldChange]]:
    """Each (history model, row, previous version) as the changes people read, the related
    records they name loaded in one query per related model (none for those `known`)."""
    plans, namer = _shown_and_named(diffs, known)
    return [
        [
            FieldChange(
                c.label,
                "" if before is None else c.show(was, before, namer),
                c.show(value, row, namer),
            )
            for c, value, was in shown
        ]
        for (_, row, before), shown in zip(diffs, plans, strict=True)
    ]


@functools.cache
def _names_related(history_model: type[models.Model]) -> bool:
    return any(c.related is not None for c in _columns(history_model))


def changes_texts(diffs: Sequence[Diff]) -> list[str]:
    """Each diff's changes as one text, "; " between them: what `field_changes` gives,
    joined, without building a FieldChange for each (the CSV export shows twenty million).

    The columns shown are worked out twice, once to know the names to load and once to show
    them, rather than kept for the whole batch in between: a batch's worth of lists kept
    alive sets off the garbage collector's full passes, which cost more than the lists."""
    namer = _Namer()
    for history_model, row, before in diffs:
        if _names_related(history_model):
            _want_names(namer, _shown(history_model, row, before), before)
    namer.load()
    texts = []
    for history_model, row, before in diffs:
        shown = _shown(history_model, row, before)
        if before is None:
            changes = [change_text(c.label, "", c.show(value, row, namer)) for c, value, _ in shown]
        else:
            changes = [
                change_text(c.label, c.show(was, before, namer), c.show(value, row, namer))
                for c, value, was in shown
            ]
        texts.append("; ".join(changes))
    return texts


Versions = dict[tuple[type[models.Model], int], Any]


def previous_id(history_model: type[models.Model]) -> Case:
    """The history id of a row's previous version of the same object, to annotate a query
    of history rows with: one probe of the (object, history id) index per row, but none for
    a creation, which shows its initial values (a million-row export is mostly creations)."""
    previous = history_model.objects.filter(  # type: ignore[attr-defined]
        id=OuterRef("id"), history_id__lt=OuterRef("history_id")
    ).order_by("-history_id")
    return Case(
        When(history_type="+", then=Value(None)),
        default=Subquery(previous.values("history_id")[:1]),
        # A history id, typed as the table's key: an auto field needs no conversion of the
        # values read (an integer field would pass each of a million through int()).
        output_field=history_model._meta.pk,
    )


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


def describe(
    rows: Sequence[Any], previous: Versions | None = None, *, known: Iterable[models.Model] = ()
) -> list[Change]:
    """History rows as changes. `previous` maps (history model, history id) to the row's
    previous version; without it they are looked up (one query per table). Related records
    in `known` (e.g. the customer whose timeline this is) are named without a query."""
    if previous is None:
        previous = {}
        by_table: dict[type[models.Model], list[Any]] = defaultdict(list)
        for row in rows:
            by_table[type(row)].append(row)
        for history_model, table_rows in by_table.items():
            previous.update(previous_versions(history_model, table_rows))
    changes = field_changes(
        [(type(row), row, previous.get((type(row), row.history_id))) for row in rows], known=known
    )
    return [
        Change(
            when=row.history_date,
            kind=CHANGE_KINDS.get(row.history_type, row.history_type),
            actor=actor_of(
                row.history_user.username if row.history_user else None, row.history_change_reason
            ),
            actor_id=row.history_user_id,
            reason=row.history_change_reason or "",
            ticket=row.history_ticket,
            model=row.instance_type._meta.label_lower,
            model_name=str(row.instance_type._meta.verbose_name).capitalize(),
            object_id=row.id,
            history_id=row.history_id,
            changes=shown,
        )
        for row, shown in zip(rows, changes, strict=True)
    ]


def object_history(model: type[models.Model], pk: int, *, size: int = 200) -> list[Change]:
    """One object's history, newest first (the oldest row of the page compared with the one
    before it, so it too shows what changed)."""
    history: Any = history_model(model)  # its `objects` is simple-history's manager
    rows = list(
        history.objects.filter(id=pk)
        .select_related("history_user")
        .order_by("-history_date", "-history_id")[: size + 1]
    )
    previous = {(history, newer.history_id): older for newer, older in itertools.pairwise(rows)}
    return describe(rows[:size], previous)


# The same changes written by PostgreSQL -------------------------------------------------
# The CSV export of a million history rows has the database write each row's changes (see
# audit_log.export_csv): these are the displays above as SQL expressions, each following the
# same `_display` of its column. tests/billing/test_audit_export_sql.py holds every kind of
# column, value and named record to the Python display.


def sql_literal(value: Any) -> str:
    """A constant as SQL, in a statement psycopg composes client-side (a % doubled)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''").replace("%", "%%") + "'"


# `str.strip()`'s whitespace, which `get_full_name` strips.
_WHITESPACE = sql_literal("".join(c for c in map(chr, range(0x3001)) if c.isspace()))


def _choice_sql(value: str, f: models.Field) -> str:
    """The choice's label, its value where it has none, a dash for nothing.

    The labels are looked up in a jsonb object of them by the value as text (a search of its
    sorted keys): a CASE would compare a currency with up to 135 codes in turn, a tenth of the
    audit export's time. Other choices (of another kind of column, or keys of another type
    than the column's) are compared in turn."""
    text = isinstance(f, models.CharField | models.TextField)
    empty = f"{value} IS NULL" + (f" OR {value} = ''" if text else "")
    choices = _choices(f)
    # The key is the column's text: a text column's value, an integer column's digits.
    if (text and all(type(c) is str for c in choices)) or (
        isinstance(f, models.IntegerField) and all(type(c) is int for c in choices)
    ):
        labels = json.dumps({str(choice): label for choice, label in choices.items()})
        shown = f"{sql_literal(labels)}::jsonb ->> ({value})::text"
        return f"CASE WHEN {empty} THEN '—' ELSE COALESCE({shown}, ({value})::text) END"
    labels = " ".join(
        f"WHEN {value} = {sql_literal(choice)} THEN {sql_literal(label)}"
        for choice, label in choices.items()
    )
    return f"CASE WHEN {empty} THEN '—' {labels} ELSE ({value})::text END"


# Each named record's name (`__str__`) as SQL over its row `r`, and what else the name reads
# (joined, not a subquery: a correlated subquery keeps PostgreSQL from running the export
# in parallel).
NAME_SQL: dict[str, Callable[[str], str]] = {
    "accounts.user": lambda r: (
        f"COALESCE(NULLIF(btrim({r}.first_name || ' ' || {r}.last_name, {_WHITESPACE}), ''), "
        f"{r}.username)"
    ),
    "auth.group": lambda r: f"{r}.name",
    "billing.customer": lambda r: f"{r}.name || ' (' || {r}.handle || ')'",
    "billing.subscription": lambda r: f"{r}.stripe_subscription_id || ' (' || {r}.status || ')'",
    "billing.invoice": lambda r: f"COALESCE(NULLIF({r}.number, ''), {r}.stripe_invoice_id)",
    "billing.payment": lambda r: (
        f"{r}.stripe_charge_id || ' ' || {format_amount_sql(f'{r}.amount', f'{r}.currency')}"
    ),
    "billing.balancetransaction": lambda r: (
        f"{r}.stripe_balance_transaction_id || ' ' || "
        f"{format_amount_sql(f'{r}.amount', f'{r}.currency')}"
    ),
    "billing.action": lambda r: (
        f"{_choice_sql(f'{r}.kind', _field('billing.action', 'kind'))} || ' #' || {r}.id "
        f"|| ' (' || {r}.state || ')'"
    ),
    "billing.price": lambda r: (
        f"{r}_plan.name || ' ' || {format_amount_sql(f'{r}.unit_amount', f'{r}.currency')} "
        f"|| '/' || {r}.interval"
    ),
    "billing.plan": lambda r: f"{r}.name",
    "support.ticket": lambda r: f"{r}.external_ref || ': ' || {r}.subject",
}
NAME_JOINS: dict[str, Callable[[str], str]] = {
    "billing.price": lambda r: f"LEFT JOIN billing_plan AS {r}_plan ON {r}_plan.id = {r}.plan_id",
}


def _field(label: str, name: str) -> models.Field:
    return apps.get_model(label)._meta.get_field(name)  # type: ignore[return-value]


def name_join(related: type[models.Model], value: str, alias: str) -> str:
    """A join giving `alias.name`: the name of the `related` record whose key is `value`
    (NULL where there is none)."""
    label = related._meta.label_lower
    if label not in NAME_SQL:
        raise NotImplementedError(f"No SQL name for {label}.")
    quote = connection.ops.quote_name
    r = f"{alias}_r"
    joins = NAME_JOINS[label](r) if label in NAME_JOINS else ""
    return (
        f"LEFT JOIN LATERAL (SELECT {NAME_SQL[label](r)} AS name "
        f"FROM {quote(related._meta.db_table)} AS {r} {joins} "
        f"WHERE {r}.{quote(str(related._meta.pk.column))} = {value}) AS {alias} ON TRUE"
    )


def show_sql(
    history_model: type[models.Model], column: _Column, value: str, row: str, name: str = ""
) -> str:
    """`column.show(value, row, names)` as SQL, for the SQL `value` of the history row
    aliased `row` (whose currency an amount is shown in); a related record's `name` comes
    from a `name_join`."""
    f = column.field
    display = _display(history_model, f)
    if display == "related":
        return f"CASE WHEN {value} IS NULL THEN '—' ELSE COALESCE({name}, '#' || {value}) END"
    if display == "choice":
        return _choice_sql(value, f)
    if display == "money":
        currency = f"{row}.currency"
        return (
            f"CASE WHEN {value} IS NULL THEN '—' "
            f"WHEN {currency} IN ({currencies_sql()}) THEN {format_amount_sql(value, currency)} "
            f"ELSE {grouped_sql(value)} || ' (minor units)' END"
        )
    if display == "when":
        # Wall time in UTC to the minute (the export sets DateStyle ISO).
        return f"COALESCE(left(({value} AT TIME ZONE 'UTC')::text, 16) || ' UTC', '—')"
    if display == "text":
        return f"COALESCE(NULLIF({value}, ''), '—')"
    if isinstance(f, models.BooleanField):
        return f"CASE WHEN {value} THEN 'yes' WHEN NOT {value} THEN 'no' ELSE '—' END"
    if isinstance(f, models.DecimalField):
        return f"COALESCE(trim_scale({value})::text, '—')"
    if isinstance(f, models.IntegerField):  # every integer field, keys included
        return f"COALESCE(({value})::text, '—')"
    raise NotImplementedError(f"No SQL display for {f} ({type(f).__name__}).")


def changes_sql(
    history_model: type[models.Model], new: str, old: str | None
) -> tuple[str, list[str]]:
    """`changes_texts` of the history row aliased `new` as SQL, and the joins that name the
    records its columns hold. `old` is its previous version's alias (a row of NULLs where
    there is none, which shows the initial values, as a creation does); without one, the
    row is a creation."""
    created: list[str] = []
    changed: list[str] = []
    joins: list[str] = []
    quote = connection.ops.quote_name
    for column in _columns(history_model):
        attname = quote(str(column.field.column))
        value = f"{new}.{attname}"
        name = was_name = ""
        if column.related is not None:
            name = f"n{len(joins)}"
            joins.append(name_join(column.related, value, name))
            name = f"{name}.name"
        label = sql_literal(column.label + ": ")
        shown = show_sql(history_model, column, value, new, name)
        if not column.primary_key:
            has_value = f"{value} IS NOT NULL" + (
                f" AND {value} <> ''"
                if isinstance(column.field, models.CharField | models.TextField)
                else ""
            )
            created.append(f"CASE WHEN {has_value} THEN {label} || {shown} END")
        if old is None:
            continue
        was = f"{old}.{attname}"
        if column.related is not None:
            was_name = f"n{len(joins)}"
            joins.append(name_join(column.related, was, was_name))
            was_name = f"{was_name}.name"
        # "Old → new", or "new" alone where the old shows as nothing (change_text).
        before = show_sql(history_model, column, was, old, was_name)
        changed.append(
            f"CASE WHEN {value} IS DISTINCT FROM {was} THEN "
            f"{label} || COALESCE(NULLIF({before}, '') || ' → ', '') || {shown} END"
        )
    initial = f"concat_ws('; ', {', '.join(created) or 'NULL'})"
    if old is None:
        return initial, joins
    text = (
        f"CASE WHEN {old}.history_id IS NULL THEN {initial} "
        f"ELSE concat_ws('; ', {', '.join(changed) or 'NULL'}) END"
    )
    return text, joins

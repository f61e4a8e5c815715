"""Tamper evidence: every history and ledger table is a hash chain (SPEC §4).

Each row of an append-only table gets a link (`ChainLink`) whose digest is
SHA-256(previous link's digest, table name, the row's canonical serialisation). Changing,
deleting or reordering any sealed row changes every digest after it, so the latest digest of
each chain (shown on the audit page, to be noted outside the system) pins the whole past, and
`manage.py audit_verify` finds the first row that no longer matches.

Sealing, not chaining inside the writer's transaction. A row is sealed right after its
transaction commits (an on-commit hook seals exactly the rows that transaction inserted), in
a short transaction of its own holding a per-table lock (a PostgreSQL advisory lock; SQLite
transactions here are IMMEDIATE, so they already hold the one write lock). The alternative,
reading the chain's head inside the writer's transaction, would hold a per-table lock from a
history write until commit: every writer of that table would queue behind the slowest
transaction, and two transactions writing two tables in opposite orders would deadlock.
Sealing after commit makes no writer wait on any chain lock. The periodic reconciliation
(`seal_unsealed`) seals any row whose on-commit sealing did not run (a crash between commit
and seal), so every row is sealed within minutes at worst, within milliseconds normally.
The chain's order is sealing order, which is commit order per table.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.utils import timezone

from accounts.audit import is_append_only
from accounts.models import ChainLink

CHAINED_APPS = ("accounts", "billing", "support")
GENESIS = "0" * 64
BATCH = 2000


def chained_models() -> list[type[models.Model]]:
    """Every history and ledger model of our apps, by table name."""
    found = [
        model
        for label in CHAINED_APPS
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
        if is_append_only(model) and getattr(model, "chained", False)
    ]
    return sorted(found, key=lambda model: model._meta.db_table)


def _columns(model: type[models.Model]) -> list[str]:
    return sorted(field.attname for field in model._meta.concrete_fields)


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    raise TypeError(f"Cannot serialise {type(value).__name__} for the hash chain.")


def canonical(columns: list[str], values: Iterable[Any]) -> str:
    """The row as JSON: its columns by name, values in one fixed form whatever the database."""
    return json.dumps(
        dict(zip(columns, values, strict=True)),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_encode,
    )


def digest(previous: str, table: str, serialised: str) -> str:
    return hashlib.sha256(f"{previous}\n{table}\n{serialised}".encode()).hexdigest()


# Registering and sealing --------------------------------------------------------------------

_PENDING = "_audit_chain_pending"


def register(model: type[models.Model], pk: Any, using: str | None = None) -> None:
    """Note a row just inserted; it is sealed when the transaction commits (at once outside
    one)."""
    connection = connections[using or DEFAULT_DB_ALIAS]
    pending: dict[type[models.Model], set[int]] = connection.__dict__.setdefault(_PENDING, {})
    pending.setdefault(model, set()).add(pk)
    # One hook per transaction. A rolled-back savepoint drops its hooks, so look, not a flag.
    if not any(hook[1] is _seal_pending for hook in connection.run_on_commit):
        transaction.on_commit(_seal_pending, using=connection.alias, robust=True)


def _seal_pending() -> None:
    for alias in connections:
        connection = connections[alias]
        pending = connection.__dict__.pop(_PENDING, None)
        if not pending:
            continue
        # Tables in one order, each in its own short transaction: no sealer waits on another
        # while holding a lock.
        for model in sorted(pending, key=lambda model: model._meta.db_table):
            seal(model, pending[model], using=alias)


def _lock(table: str, using: str) -> None:
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"audit-chain:{table}"])


def _head(table: str, using: str) -> str:
    latest = (
        ChainLink.objects.using(using)
        .filter(table=table)
        .order_by("-id")
        .values_list("digest", flat=True)
        .first()
    )
    return latest or GENESIS


def seal(model: type[models.Model], pks: Iterable[int], *, using: str = DEFAULT_DB_ALIAS) -> int:
    """Append the given rows of `model` (those not sealed yet) to its chain; how many."""
    table = model._meta.db_table
    wanted = sorted(pks)
    if not wanted:
        return 0
    columns = _columns(model)
    with transaction.atomic(using=using):
        _lock(table, using)
        sealed = set(
            ChainLink.objects.using(using)
            .filter(table=table, row_id__in=wanted)
            .values_list("row_id", flat=True)
        )
        todo = [pk for pk in wanted if pk not in sealed]
        if not todo:
            return 0
        rows = (
            model._base_manager.using(using)
            .filter(pk__in=todo)
            .order_by("pk")
            .values_list(*columns)
        )
        head = _head(table, using)
        now = timezone.now()
        pk_index = columns.index(model._meta.pk.attname)
        links = []
        for values in rows:
            head = digest(head, table, canonical(columns, values))
            links.append(
                ChainLink(table=table, row_id=values[pk_index], digest=head, sealed_at=now)
            )
        ChainLink.objects.using(using).bulk_create(links)
        return len(links)


# Rows whose writer leaves them to a later step of the app to seal, by model: a queryset of
# the pks of those still waiting (given the database alias).
PendingRows = Callable[[str], models.QuerySet]
_sealed_later: dict[type[models.Model], PendingRows] = {}


def seal_later(model: type[models.Model], pending: PendingRows) -> None:
    """Declare that some rows of `model` are written unsealed on purpose (with
    `AppendOnlyQuerySet.bulk_create_sealed_later`) and sealed by a later step of the app;
    `pending(using)` selects the pks of those still waiting. While they wait they are no
    strays to `verify`; `seal_unsealed` seals them at worst.

    For a hot path where the seal (a short transaction holding the table's chain lock) would
    cost more than the write itself: a Stripe webhook's receipt, sealed by the task that
    processes the event."""
    _sealed_later[model] = pending


def unsealed(model: type[models.Model], *, using: str = DEFAULT_DB_ALIAS) -> models.QuerySet:
    """Rows of `model` in no chain (NOT EXISTS: an anti-join, never NOT IN over a million)."""
    links = ChainLink.objects.using(using).filter(
        table=model._meta.db_table, row_id=models.OuterRef("pk")
    )
    return model._base_manager.using(using).filter(~models.Exists(links))


def seal_unsealed(*, using: str = DEFAULT_DB_ALIAS) -> int:
    """Seal every row not sealed yet, table by table (the backstop of the on-commit hook)."""
    total = 0
    for model in chained_models():
        while True:
            pks = list(
                unsealed(model, using=using).order_by("pk").values_list("pk", flat=True)[:BATCH]
            )
            if not pks:
                break
            total += seal(model, pks, using=using)
    return total


# Verifying ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Broken:
    table: str
    row_id: int
    why: str

    def __str__(self) -> str:
        return f"{self.table} row {self.row_id}: {self.why}"


@dataclass(frozen=True)
class Verification:
    rows: int
    chains: int
    seconds: float
    broken: Broken | None


def _links(table: str, using: str) -> Iterator[list[tuple[int, str]]]:
    """The chain's links in order, in batches, by keyset on the link id."""
    after = 0
    while True:
        batch = list(
            ChainLink.objects.using(using)
            .filter(table=table, id__gt=after)
            .order_by("id")
            .values_list("id", "row_id", "digest")[:BATCH]
        )
        if not batch:
            return
        after = batch[-1][0]
        yield [(row_id, link_digest) for _, row_id, link_digest in batch]


def verify_chain(
    model: type[models.Model], *, using: str = DEFAULT_DB_ALIAS
) -> tuple[int, Broken | None]:
    table = model._meta.db_table
    columns = _columns(model)
    pk_name = model._meta.pk.attname
    pk_index = columns.index(pk_name)
    head = GENESIS
    count = 0
    for batch in _links(table, using):
        rows = {
            values[pk_index]: values
            for values in model._base_manager.using(using)
            .filter(pk__in=[row_id for row_id, _ in batch])
            .values_list(*columns)
        }
        for row_id, link_digest in batch:
            values = rows.get(row_id)
            if values is None:
                return count, Broken(table, row_id, "the row was deleted")
            head = digest(head, table, canonical(columns, values))
            if head != link_digest:
                return count, Broken(table, row_id, "the row does not match its hash (altered)")
            count += 1
    strays = unsealed(model, using=using)
    if model in _sealed_later:
        strays = strays.exclude(pk__in=_sealed_later[model](using))
    stray = strays.order_by("pk").values_list("pk", flat=True).first()
    if stray is not None:
        return count, Broken(table, stray, "the row is in no chain (inserted outside the app)")
    return count, None


def verify(*, using: str = DEFAULT_DB_ALIAS) -> Verification:
    """Walk every chain from its start; stop at the first row that breaks one."""
    started = time.monotonic()
    rows = 0
    chains = chained_models()
    for model in chains:
        count, broken = verify_chain(model, using=using)
        rows += count
        if broken is not None:
            return Verification(rows, len(chains), time.monotonic() - started, broken)
    return Verification(rows, len(chains), time.monotonic() - started, None)


@dataclass(frozen=True)
class Head:
    table: str
    digest: str
    sealed_at: dt.datetime | None


def heads(*, using: str = DEFAULT_DB_ALIAS) -> list[Head]:
    """The latest digest of each chain, in one query: a UNION ALL of each table's latest
    link (one backward step of the (table, id) index each). Written as SQL because the
    ORM would compile one subquery per chain on every audit page, several milliseconds."""
    tables = [model._meta.db_table for model in chained_models()]
    quote = connections[using].ops.quote_name
    latest = (
        f"SELECT * FROM (SELECT {quote('id')}, {quote('table')}, {quote('digest')}, "
        f"{quote('sealed_at')} FROM {quote(ChainLink._meta.db_table)} "
        f"WHERE {quote('table')} = %s ORDER BY {quote('id')} DESC LIMIT 1) AS latest"
    )
    links = ChainLink.objects.using(using).raw(" UNION ALL ".join([latest] * len(tables)), tables)
    found = {link.table: Head(link.table, link.digest, link.sealed_at) for link in links}
    return [found[table] for table in tables if table in found]

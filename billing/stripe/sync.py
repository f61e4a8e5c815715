"""Backfill the mirror from Stripe's lists, and report every difference between the two.

The backfill walks Stripe's list endpoints a page at a time, parents before children, and
keeps its place in SyncCursor rows, so an interrupted run resumes where it stopped. Each page
is applied like a webhook: read first, then one short transaction, older states never winning.

The drift report reads Stripe's current state and compares it, field by field, with the mirror,
using the same column mapping the mirror writes with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.audit import audited
from billing.models import (
    BalanceTransaction,
    Customer,
    Invoice,
    Payment,
    Refund,
    RefundStatus,
    Subscription,
    SyncCursor,
    SyncProblem,
)
from billing.stripe import gateway, mirror

RESOURCES = [
    "products",
    "prices",
    "customers",
    "subscriptions",
    "invoices",
    "charges",
    "refunds",
    "balance_transactions",
]
SYNC_REASON = "Backfill from Stripe (manage.py stripe_sync)"

Progress = Callable[[str, int, bool], None]
# What to do with the actions the backfill finds done at Stripe (the pipeline confirms them).
Confirm = Callable[[list[mirror.Confirmation]], object]


def _ignore(confirmations: list[mirror.Confirmation]) -> None:
    return None


def _fill_from_page(snapshot: mirror.Snapshot, resource: str, items: list[dict[str, Any]]):
    for item in items:
        if resource == "products":
            snapshot.products.append(gateway.ProductData.parse(item))
        elif resource == "prices":
            price = gateway.PriceData.parse(item)
            if not price.interval:
                continue  # one-off prices are not plans
            snapshot.prices.append(price)
            listed = any(product.id == price.product for product in snapshot.products)
            if not listed and not _known_product(price.product):
                snapshot.products.append(gateway.retrieve_product(price.product))
        elif resource == "customers":
            snapshot.customers.append(gateway.CustomerData.parse(item))
        elif resource == "subscriptions":
            subscription = gateway.SubscriptionData.parse(item)
            snapshot.read_customer_if_unknown(subscription.customer)
            snapshot.read_price_if_unknown(subscription.price)
            snapshot.subscriptions.append(subscription)
        elif resource == "invoices":
            invoice = gateway.InvoiceData.parse(item)
            snapshot.read_customer_if_unknown(invoice.customer)
            snapshot.invoices.append(invoice)
        elif resource == "charges":
            snapshot.add_charge(gateway.ChargeData.parse(item))
        elif resource == "refunds":
            refund = gateway.RefundData.parse(item)
            if refund.charge and Payment.objects.filter(stripe_charge_id=refund.charge).exists():
                snapshot.refunds.append(refund)


def _known_product(product_id: str) -> bool:
    from billing.models import Plan

    return Plan.objects.filter(stripe_product_id=product_id).exists()


def _cursor(resource: str) -> SyncCursor:
    cursor = SyncCursor.objects.filter(resource=resource).first()
    if cursor is None:
        with transaction.atomic(durable=True), audited(actor=None, reason=SYNC_REASON):
            cursor, _ = SyncCursor.objects.get_or_create(resource=resource)
    return cursor


def _advance(cursor: SyncCursor, *, starting_after: str, count: int, done: bool) -> None:
    with transaction.atomic(durable=True), audited(actor=None, reason=SYNC_REASON):
        cursor.starting_after = starting_after
        cursor.synced += count
        cursor.completed_at = timezone.now() if done else None
        cursor.save()


def backfill(
    *, restart: bool = False, page_size: int = 100, progress: Progress, confirm: Confirm = _ignore
) -> int:
    """Mirror everything Stripe lists; resume an interrupted run unless `restart`.

    Returns the number of objects read. A completed run resets its cursors, so the next run
    reads everything again.
    """
    if restart:
        _reset_cursors()
    total = 0
    intent_invoices: dict[str, str] | None = None
    for resource in RESOURCES:
        cursor = _cursor(resource)
        if cursor.completed_at is not None:
            progress(resource, cursor.synced, True)
            continue
        if resource == "balance_transactions":
            total += _backfill_balances(cursor, progress, confirm)
            continue
        if resource == "charges" and intent_invoices is None:
            intent_invoices = gateway.invoices_by_payment_intent()
        while True:
            fetched_at = timezone.now()
            page = gateway.list_page(
                resource, starting_after=cursor.starting_after, limit=page_size
            )
            snapshot = mirror.Snapshot(fetched_at=fetched_at, intent_invoices=intent_invoices or {})
            _fill_from_page(snapshot, resource, page.items)
            confirm(snapshot.apply(reason=SYNC_REASON))
            last = page.items[-1]["id"] if page.items else cursor.starting_after
            done = not page.has_more or not page.items
            _advance(cursor, starting_after=last, count=len(page.items), done=done)
            total += len(page.items)
            progress(resource, cursor.synced, done)
            if done:
                break
    _reset_cursors()
    return total


def _backfill_balances(cursor: SyncCursor, progress: Progress, confirm: Confirm) -> int:
    """Balance transactions are listed per customer: walk our customers in id order."""
    customers = Customer.objects.exclude(stripe_customer_id=None).order_by("pk")
    if cursor.starting_after:
        customers = customers.filter(pk__gt=int(cursor.starting_after))
    count = 0
    for customer in customers.iterator():
        snapshot = mirror.Snapshot(fetched_at=timezone.now())
        snapshot.read_balance(customer.stripe_customer_id or "")
        confirm(snapshot.apply(reason=SYNC_REASON))
        count += len(snapshot.balance_transactions)
        _advance(
            cursor,
            starting_after=str(customer.pk),
            count=len(snapshot.balance_transactions),
            done=False,
        )
        progress("balance_transactions", cursor.synced, False)
    _advance(cursor, starting_after=cursor.starting_after, count=0, done=True)
    progress("balance_transactions", cursor.synced, True)
    return count


def _reset_cursors() -> None:
    with transaction.atomic(durable=True), audited(actor=None, reason=SYNC_REASON):
        for cursor in SyncCursor.objects.select_for_update(no_key=True):
            cursor.starting_after, cursor.synced, cursor.completed_at = "", 0, None
            cursor.save()


# Drift --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    kind: str
    stripe_id: str
    field: str
    local: str
    stripe: str

    def __str__(self) -> str:
        if self.field == "mirror":
            return f"{self.kind} {self.stripe_id}: not mirrored ({self.local})"
        where = f"{self.kind} {self.stripe_id} {self.field}"
        return f"{where}: ours {self.local}, Stripe's {self.stripe}"


MISSING = "(missing)"

CUSTOMER_FIELDS = ["name", "billing_email", "currency", "status"]
SUBSCRIPTION_FIELDS = [
    "status",
    "quantity",
    "trial_end",
    "current_period_end",
    "cancel_at_period_end",
    "pause_behavior",
    "discount_coupon_id",
]
INVOICE_FIELDS = [
    "number",
    "status",
    "total",
    "amount_due",
    "amount_paid",
    "amount_remaining",
    "service_period_start",
    "service_period_end",
]
PAYMENT_FIELDS = [
    "status",
    "amount",
    "amount_refunded",
    "currency",
    "stripe_balance_transaction_id",
]


def _show(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


def _compare(kind, stripe_id, expected: dict[str, Any], row, fields, found: list[Difference]):
    for name in fields:
        ours, theirs = getattr(row, name), expected[name]
        if ours != theirs:
            found.append(Difference(kind, stripe_id, name, _show(ours), _show(theirs)))


def _match(kind: str, stripe_ids: Iterable[str], local_ids: Iterable[str], found: list[Difference]):
    stripe_set, local_set = set(stripe_ids), set(local_ids)
    for missing in sorted(stripe_set - local_set):
        found.append(Difference(kind, missing, "exists", MISSING, "yes"))
    for extra in sorted(local_set - stripe_set):
        found.append(Difference(kind, extra, "exists", "yes", MISSING))


def drift(*, customer: Customer | None = None) -> list[Difference]:
    """Every difference between the mirror and Stripe, for one customer or for all."""
    found: list[Difference] = []
    if customer is not None:
        if not customer.stripe_customer_id:
            return found
        customers = [gateway.retrieve_customer(customer.stripe_customer_id)]
        stripe_ids = [customer.stripe_customer_id]
        subscriptions = gateway.list_subscriptions(customer.stripe_customer_id)
        invoices = gateway.list_invoices(customer.stripe_customer_id)
        charges = gateway.list_charges(customer.stripe_customer_id)
        local_customers = Customer.objects.filter(pk=customer.pk)
    else:
        customers = [gateway.CustomerData.parse(row) for row in _all("customers")]
        stripe_ids = [c.id for c in customers]
        subscriptions = [gateway.SubscriptionData.parse(row) for row in _all("subscriptions")]
        invoices = [gateway.InvoiceData.parse(row) for row in _all("invoices")]
        charges = [gateway.ChargeData.parse(row) for row in _all("charges")]
        local_customers = Customer.objects.exclude(stripe_customer_id=None)
    charges = [charge for charge in charges if charge.customer]

    _problem_drift(local_customers if customer is not None else None, found)
    _customer_drift(customers, local_customers, found)
    scope = {"customer__stripe_customer_id__in": stripe_ids}
    _subscription_drift(subscriptions, scope, found)
    _invoice_drift(invoices, scope, found)
    _payment_drift(charges, scope, found)
    _compare_refunds(charges, scope, found)
    return found


def _customer_drift(
    customers: list[gateway.CustomerData], local: Any, found: list[Difference]
) -> None:
    by_id = {c.stripe_customer_id: c for c in local.with_balance()}
    _match("customer", [c.id for c in customers if not c.deleted], by_id, found)
    for data in customers:
        row = by_id.get(data.id)
        if row is None:
            continue
        expected = mirror.customer_values(data)
        fields = [name for name in CUSTOMER_FIELDS if name in expected]
        _compare("customer", data.id, expected, row, fields, found)
        if data.deleted:
            continue
        if row.balance_amount != data.balance:
            found.append(
                Difference(
                    "customer", data.id, "balance", str(row.balance_amount), str(data.balance)
                )
            )
        _compare_balance_entries(data.id, row, found)


def _problem_drift(customers: Any, found: list[Difference]) -> None:
    """What the mirror could not take is a difference too, until a later read applies."""
    problems = SyncProblem.objects.open().order_by("object_type", "stripe_object_id")
    if customers is not None:
        problems = problems.filter(customer__in=customers)
    for problem in problems:
        found.append(
            Difference(problem.object_type, problem.stripe_object_id, "mirror", problem.error, "")
        )


def _subscription_drift(
    subscriptions: list[gateway.SubscriptionData], scope: dict[str, Any], found: list[Difference]
) -> None:
    local = {
        row.stripe_subscription_id: row
        for row in Subscription.objects.filter(**scope).select_related("price")
    }
    _match("subscription", [s.id for s in subscriptions], local, found)
    for data in subscriptions:
        row = local.get(data.id)
        if row is None:
            continue
        expected = mirror.subscription_values(data)
        _compare("subscription", data.id, expected, row, SUBSCRIPTION_FIELDS, found)
        if row.price.stripe_price_id != data.price:
            ours = row.price.stripe_price_id or ""
            found.append(Difference("subscription", data.id, "price", ours, data.price))


def _invoice_drift(
    invoices: list[gateway.InvoiceData], scope: dict[str, Any], found: list[Difference]
) -> None:
    local = {row.stripe_invoice_id: row for row in Invoice.objects.filter(**scope)}
    _match("invoice", [i.id for i in invoices], local, found)
    for data in invoices:
        if (row := local.get(data.id)) is not None:
            _compare("invoice", data.id, mirror.invoice_values(data), row, INVOICE_FIELDS, found)


def _payment_drift(
    charges: list[gateway.ChargeData], scope: dict[str, Any], found: list[Difference]
) -> None:
    local = {row.stripe_charge_id: row for row in Payment.objects.filter(**scope)}
    _match("payment", [c.id for c in charges], local, found)
    for data in charges:
        if (row := local.get(data.id)) is not None:
            _compare("payment", data.id, mirror.payment_values(data), row, PAYMENT_FIELDS, found)


def _all(resource: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    starting_after = ""
    while True:
        page = gateway.list_page(resource, starting_after=starting_after)
        rows.extend(page.items)
        if not page.has_more or not page.items:
            return rows
        starting_after = page.items[-1]["id"]


def _compare_balance_entries(stripe_customer_id: str, row: Customer, found: list[Difference]):
    theirs = {e.id: e for e in gateway.list_balance_transactions(stripe_customer_id)}
    ours = {
        e.stripe_balance_transaction_id: e for e in BalanceTransaction.objects.filter(customer=row)
    }
    _match("balance transaction", theirs, ours, found)
    for entry_id, entry in theirs.items():
        if entry_id in ours and ours[entry_id].amount != entry.amount:
            found.append(
                Difference(
                    "balance transaction",
                    entry_id,
                    "amount",
                    str(ours[entry_id].amount),
                    str(entry.amount),
                )
            )


def _compare_refunds(charges: list[gateway.ChargeData], scope: dict, found: list[Difference]):
    theirs: dict[str, gateway.RefundData] = {}
    for charge in charges:
        if charge.amount_refunded:
            theirs.update({r.id: r for r in gateway.list_refunds(charge.id)})
    settled = {rid: r for rid, r in theirs.items() if r.status == RefundStatus.SUCCEEDED}
    ours = Refund.objects.filter(**{f"payment__{k}": v for k, v in scope.items()})
    net: dict[str, int] = dict(
        ours.order_by()
        .values("stripe_refund_id")
        .annotate(total=Sum("amount"))
        .values_list("stripe_refund_id", "total")
    )
    recorded = {rid for rid, total in net.items() if total}
    # The balance transaction each settled refund row names. Rows written before the ledger
    # kept it have none, and an insert-only row cannot be amended: those are not compared.
    transactions = dict(
        ours.filter(reverses__isnull=True)
        .exclude(stripe_balance_transaction_id="")
        .values_list("stripe_refund_id", "stripe_balance_transaction_id")
    )
    _match("refund", settled, recorded, found)
    for refund_id, refund in settled.items():
        if refund_id in recorded and net[refund_id] != refund.amount:
            found.append(
                Difference("refund", refund_id, "amount", str(net[refund_id]), str(refund.amount))
            )
        ours_transaction = transactions.get(refund_id)
        if ours_transaction is not None and ours_transaction != refund.balance_transaction:
            found.append(
                Difference(
                    "refund",
                    refund_id,
                    "balance_transaction",
                    ours_transaction,
                    refund.balance_transaction or MISSING,
                )
            )

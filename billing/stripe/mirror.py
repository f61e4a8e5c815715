"""The local mirror of Stripe: apply what Stripe says to our rows, whatever the order.

Every handler re-reads the object from Stripe instead of trusting the event's copy, and
notes when that read began (`stripe_fetched_at`). A row is only overwritten by a read that
began later than the one that wrote it, so an old state can never replace a newer one, however
events are duplicated, delayed or reordered, and however many workers process them at once.
Reads happen outside any transaction; each application is one short transaction that locks
the rows it writes.

Refunds and balance transactions are append-only: a settled refund is inserted once (a later
failure adds a reversal row), a balance transaction is inserted once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.audit import audited
from accounts.models import User
from billing.models import (
    Action,
    BalanceTransaction,
    Customer,
    CustomerKind,
    CustomerStatus,
    Feature,
    Invoice,
    Payment,
    Plan,
    PlanEntitlement,
    Price,
    Refund,
    RefundStatus,
    Subscription,
    SyncProblem,
    validate_feature_value,
)
from billing.models.fields import StripeMirrored
from billing.money import CURRENCIES
from billing.stripe import gateway

logger = logging.getLogger(__name__)

# Product metadata that describes a plan of our catalog.
PLAN_CODE_KEY = "plan_code"
PER_SEAT_KEY = "per_seat"
FEATURE_PREFIX = "feature."


class MirrorError(Exception):
    """Stripe's data cannot be mirrored (e.g. an object of an account we do not know)."""


# What applying Stripe's data can fail with besides Stripe itself: its data does not fit ours
# (a constraint, a value too long), or refers to something we do not hold.
MIRROR_ERRORS: tuple[type[Exception], ...] = (MirrorError, DatabaseError, ObjectDoesNotExist)
# ... and reading it from Stripe in the first place.
SYNC_ERRORS: tuple[type[Exception], ...] = (gateway.StripeGatewayError, *MIRROR_ERRORS)

# An action of ours that Stripe shows done: (action id, Stripe object id).
type Confirmation = tuple[int, str]


# Applying one row ---------------------------------------------------------------------------


def _apply[M: StripeMirrored](
    model: type[M],
    lookup: dict[str, Any],
    values: dict[str, Any],
    fetched_at: dt.datetime,
    *,
    on_insert: dict[str, Any] | None = None,
) -> M:
    """Insert or update one mirror row from a Stripe read that began at `fetched_at`.

    Runs inside the caller's transaction and locks the row. A row already written from a
    later read is left alone; a row whose values are unchanged is not written (no history).
    `on_insert` holds values only a new row takes.
    """
    row = model._default_manager.select_for_update(no_key=True).filter(**lookup).first()
    if row is None:
        try:
            with transaction.atomic():  # a savepoint: a concurrent insert may win the race
                return model._default_manager.create(
                    **lookup, **(on_insert or {}), **values, stripe_fetched_at=fetched_at
                )
        except IntegrityError:
            row = model._default_manager.select_for_update(no_key=True).filter(**lookup).first()
            if row is None:
                raise
    if row.stripe_fetched_at is not None and row.stripe_fetched_at > fetched_at:
        return row
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    if changed:
        for name in changed:
            setattr(row, name, values[name])
        row.stripe_fetched_at = fetched_at
        row.save()
    return row


# Catalog ------------------------------------------------------------------------------------


def _apply_product(product: gateway.ProductData, fetched_at: dt.datetime) -> Plan:
    metadata = product.metadata
    code = metadata.get(PLAN_CODE_KEY) or product.id.lower()
    if Plan.objects.filter(code=code).exclude(stripe_product_id=product.id).exists():
        # Two products claim one plan code (e.g. a product replaced by a new one): keep both,
        # the newcomer's code made unique by its product id.
        logger.warning("Product %s reuses plan code %r", product.id, code)
        code = f"{code}-{product.id.removeprefix('prod_').lower()}"[:50]
    plan = _apply(
        Plan,
        {"stripe_product_id": product.id},
        {
            "code": code,
            "name": product.name or code,
            "description": product.description,
            "per_seat": metadata.get(PER_SEAT_KEY, "").lower() == "true",
            "active": product.active,
        },
        fetched_at,
    )
    wanted = {}
    for key, value in metadata.items():
        feature = key.removeprefix(FEATURE_PREFIX)
        if key.startswith(FEATURE_PREFIX) and feature in Feature.values:
            try:
                wanted[feature] = validate_feature_value(feature, value)
            except ValidationError:
                logger.warning("Product %s: ignoring malformed %s=%r", product.id, key, value)
    for entitlement in plan.entitlements.all():
        if entitlement.feature not in wanted:
            entitlement.delete()
        elif entitlement.value != wanted[entitlement.feature]:
            entitlement.value = wanted.pop(entitlement.feature)
            entitlement.save()
        else:
            wanted.pop(entitlement.feature)
    for feature, value in wanted.items():
        PlanEntitlement.objects.create(plan=plan, feature=feature, value=value)
    return plan


def _apply_price(price: gateway.PriceData, plan: Plan, fetched_at: dt.datetime) -> Price:
    return _apply(
        Price,
        {"stripe_price_id": price.id},
        {
            "plan": plan,
            "interval": price.interval or "month",
            "unit_amount": price.unit_amount,
            "currency": price.currency,
            "active": price.active,
        },
        fetched_at,
    )


# Customers ----------------------------------------------------------------------------------


def customer_values(customer: gateway.CustomerData) -> dict[str, Any]:
    metadata = customer.metadata
    email = customer.email or metadata.get("email", "")
    currency = customer.currency or metadata.get("currency", "")
    if currency not in CURRENCIES:
        currency = "usd"  # Stripe sets a customer's currency with their first invoice
    kind = metadata.get("kind", "")
    status = CustomerStatus.ACTIVE
    if customer.deleted:
        status = CustomerStatus.CLOSED
    elif customer.delinquent:
        status = CustomerStatus.DELINQUENT
    values = {
        "name": customer.name or metadata.get("name") or email or customer.id,
        "handle": metadata.get("handle") or customer.id.lower(),
        "kind": kind if kind in CustomerKind.values else CustomerKind.PERSONAL,
        "billing_email": email,
        "email_domain": metadata.get("email_domain") or email.rpartition("@")[2].lower(),
        "country": (customer.country or metadata.get("country", ""))[:2].upper(),
        "currency": currency,
        "status": status,
    }
    if customer.deleted:
        # A deleted customer's stub carries nothing but its id: keep what we knew.
        values = {"status": status}
    return values


def _apply_customer(customer: gateway.CustomerData, fetched_at: dt.datetime) -> Customer:
    values = customer_values(customer)
    existing = Customer.objects.filter(stripe_customer_id=customer.id).exists()
    if not existing and customer.deleted:
        raise MirrorError(f"Customer {customer.id} was deleted before we ever saw it.")
    row = _apply(
        Customer,
        {"stripe_customer_id": customer.id},
        values,
        fetched_at,
        on_insert={"created": customer.created or fetched_at},
    )
    _note_shared_handle(row)
    return row


HANDLE_PROBLEM = "customer handle"


def _note_shared_handle(customer: Customer) -> None:
    """Two Stripe customers may claim one handle (a namespace is ours, not Stripe's): both are
    mirrored, and the clash is shown as a sync problem on each until it is gone."""
    others = list(
        Customer.objects.alias(handle_ci=Lower("handle"))
        .filter(handle_ci=customer.handle.lower())
        .exclude(pk=customer.pk)
        .values_list("stripe_customer_id", flat=True)[:5]
    )
    stripe_id = customer.stripe_customer_id or ""
    if others:
        record_problem(
            HANDLE_PROBLEM,
            stripe_id,
            stripe_id,
            f"The handle “{customer.handle}” is also claimed by {', '.join(filter(None, others))}.",
        )
    else:
        resolve_problem(HANDLE_PROBLEM, stripe_id)


def _apply_balance_transaction(
    entry: gateway.BalanceTransactionData, customer: Customer
) -> Confirmation | None:
    """Insert a balance entry the first time it is seen; entries never change afterwards.
    Returns the action it confirms, if our action made it."""
    if BalanceTransaction.objects.filter(stripe_balance_transaction_id=entry.id).exists():
        return None
    invoice = None
    if entry.invoice:
        invoice = Invoice.objects.filter(stripe_invoice_id=entry.invoice).first()
    reverses = None
    if reversed_id := entry.metadata.get("reverses", ""):
        reverses = BalanceTransaction.objects.filter(
            stripe_balance_transaction_id=reversed_id
        ).first()
    try:
        with transaction.atomic():  # a savepoint: a concurrent insert may win the race
            BalanceTransaction.objects.create(
                customer=customer,
                stripe_balance_transaction_id=entry.id,
                amount=entry.amount,
                currency=entry.currency,
                type=entry.type,
                description=entry.description[:350],
                ending_balance=entry.ending_balance,
                invoice=invoice,
                reverses=reverses,
                action_id=_known_action(entry.metadata),
                created=entry.created,
            )
    except IntegrityError:
        if not BalanceTransaction.objects.filter(stripe_balance_transaction_id=entry.id).exists():
            raise
        return None
    return _reported(entry.metadata, entry.id)


def _known_action(metadata: dict[str, str]) -> int | None:
    """The id of our action that made this change at Stripe (stamped in its metadata)."""
    action_id = metadata.get("action_id", "")
    if action_id.isdigit() and Action.objects.filter(pk=int(action_id)).exists():
        return int(action_id)
    return None


def _reported(metadata: dict[str, str], stripe_object_id: str) -> Confirmation | None:
    """What the mirror reports when it records a ledger row one of our actions made: that
    action and the Stripe object. The pipeline, the only writer of an action's state, decides
    what follows (an action still waiting for Stripe's answer has it now)."""
    action_id = _known_action(metadata)
    return None if action_id is None else (action_id, stripe_object_id)


# Subscriptions, invoices, payments, refunds -------------------------------------------------


def subscription_values(subscription: gateway.SubscriptionData) -> dict[str, Any]:
    """The mirror's columns for a Stripe subscription (foreign keys aside)."""
    start = subscription.current_period_start or subscription.created
    end = subscription.current_period_end or start
    if end <= start:
        end = start + dt.timedelta(seconds=1)
    return {
        "stripe_item_id": subscription.item_id,
        "status": subscription.status,
        "quantity": subscription.quantity,
        "trial_start": subscription.trial_start,
        "trial_end": subscription.trial_end,
        "current_period_start": start,
        "current_period_end": end,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "canceled_at": subscription.canceled_at,
        "ended_at": subscription.ended_at,
        "pause_behavior": subscription.pause_behavior,
        "pause_resumes_at": subscription.pause_resumes_at,
        "discount_coupon_id": subscription.discount_coupon,
        "discount_percent_off": subscription.discount_percent_off,
        "discount_amount_off": subscription.discount_amount_off,
        "discount_end": subscription.discount_end,
        "created": subscription.created,
    }


def _apply_subscription(
    subscription: gateway.SubscriptionData, fetched_at: dt.datetime
) -> Subscription:
    values = subscription_values(subscription)
    values["customer"] = Customer.objects.get(stripe_customer_id=subscription.customer)
    values["price"] = Price.objects.get(stripe_price_id=subscription.price)
    return _apply(Subscription, {"stripe_subscription_id": subscription.id}, values, fetched_at)


def invoice_values(invoice: gateway.InvoiceData) -> dict[str, Any]:
    """The mirror's columns for a Stripe invoice (foreign keys aside)."""
    return {
        "number": invoice.number or None,
        "status": invoice.status,
        "currency": invoice.currency,
        "subtotal": invoice.subtotal,
        "total": invoice.total,
        "amount_due": invoice.amount_due,
        "amount_paid": invoice.amount_paid,
        "amount_remaining": invoice.amount_remaining,
        "period_start": invoice.period_start,
        "period_end": max(invoice.period_end, invoice.period_start),
        "service_period_start": invoice.service_period_start,
        "service_period_end": invoice.service_period_end,
        "due_date": invoice.due_date,
        "hosted_invoice_url": invoice.hosted_invoice_url,
        "created": invoice.created,
        "finalized_at": invoice.finalized_at,
        "paid_at": invoice.paid_at,
        "voided_at": invoice.voided_at,
    }


def _apply_invoice(invoice: gateway.InvoiceData, fetched_at: dt.datetime) -> Invoice:
    values = invoice_values(invoice)
    values["customer"] = Customer.objects.get(stripe_customer_id=invoice.customer)
    values["subscription"] = (
        Subscription.objects.filter(stripe_subscription_id=invoice.subscription).first()
        if invoice.subscription
        else None
    )
    return _apply(Invoice, {"stripe_invoice_id": invoice.id}, values, fetched_at)


def payment_values(charge: gateway.ChargeData) -> dict[str, Any]:
    """The mirror's columns for a Stripe charge (foreign keys aside)."""
    return {
        "stripe_payment_intent_id": charge.payment_intent,
        "amount": charge.amount,
        "amount_refunded": charge.amount_refunded,
        "currency": charge.currency,
        "status": charge.status,
        "card_brand": charge.card_brand,
        "card_last4": charge.card_last4,
        "failure_code": charge.failure_code,
        "failure_message": charge.failure_message,
        "stripe_balance_transaction_id": charge.balance_transaction,
        "created": charge.created,
    }


def _apply_charge(charge: gateway.ChargeData, invoice_id: str, fetched_at: dt.datetime) -> Payment:
    values = payment_values(charge)
    values["customer"] = Customer.objects.get(stripe_customer_id=charge.customer)
    values["invoice"] = (
        Invoice.objects.filter(stripe_invoice_id=invoice_id).first() if invoice_id else None
    )
    return _apply(Payment, {"stripe_charge_id": charge.id}, values, fetched_at)


SETTLED = RefundStatus.SUCCEEDED
UNDONE = (RefundStatus.FAILED, RefundStatus.CANCELED)


def _apply_refund(refund: gateway.RefundData) -> Confirmation | None:
    """A succeeded refund is inserted once; if it fails later, a reversal row follows.

    Pending refunds are not in the ledger yet: Stripe already counts them in the charge's
    `amount_refunded`, which the payment mirrors, so refundable remaining stays right. A refund
    first seen failed is recorded with its reversal at once (it moved nothing), so that an older
    read still saying "succeeded" finds it recorded and cannot add it as settled.
    """
    payment = Payment.objects.select_for_update(no_key=True).get(stripe_charge_id=refund.charge)
    recorded = Refund.objects.filter(stripe_refund_id=refund.id, reverses__isnull=True).first()
    confirmation = None
    if recorded is None and refund.status in (SETTLED, *UNDONE):
        recorded = Refund.objects.create(
            payment=payment,
            stripe_refund_id=refund.id,
            amount=refund.amount,
            currency=refund.currency,
            status=SETTLED,
            reason=refund.reason,
            stripe_balance_transaction_id=refund.balance_transaction,
            action_id=_known_action(refund.metadata),
            created=refund.created,
        )
        confirmation = _reported(refund.metadata, refund.id)
    if recorded is not None and refund.status in UNDONE and not hasattr(recorded, "reversal"):
        Refund.objects.create(
            payment=payment,
            stripe_refund_id=refund.id,
            amount=-recorded.amount,
            currency=refund.currency,
            status=refund.status,
            reason=refund.reason,
            # The money came back to the balance in the refund's failure transaction.
            stripe_balance_transaction_id=refund.failure_balance_transaction,
            reverses=recorded,
            created=timezone.now(),
        )
    return confirmation


# What could not be mirrored -----------------------------------------------------------------


def record_problem(
    object_type: str, stripe_id: str, stripe_customer_id: str, error: str
) -> SyncProblem:
    """Note (or note again) that a Stripe object could not be mirrored; inside the caller's
    transaction, after the object's own savepoint was rolled back."""
    now = timezone.now()
    customer = (
        Customer.objects.filter(stripe_customer_id=stripe_customer_id).first()
        if stripe_customer_id
        else None
    )
    problem = SyncProblem.objects.filter(
        object_type=object_type, stripe_object_id=stripe_id
    ).first()
    if problem is None:
        return SyncProblem.objects.create(
            object_type=object_type,
            stripe_object_id=stripe_id,
            customer=customer,
            stripe_customer_id=stripe_customer_id,
            error=error,
            first_seen_at=now,
            last_seen_at=now,
        )
    problem.error, problem.last_seen_at, problem.resolved_at = error, now, None
    problem.occurrences += 1
    problem.customer = problem.customer or customer
    problem.save()
    return problem


def resolve_problem(object_type: str, stripe_id: str) -> None:
    """A later read of the object applied cleanly: its problem is over (kept, with history)."""
    for problem in SyncProblem.objects.open().filter(
        object_type=object_type, stripe_object_id=stripe_id
    ):
        problem.resolved_at = timezone.now()
        problem.save()


# Reading from Stripe, then applying ---------------------------------------------------------


@dataclass
class Snapshot:
    """Everything read from Stripe for one change, applied together in one transaction.

    Each object remembers when its own read began (`read_at`): that, not when the snapshot
    began, decides whether it may overwrite what a row holds."""

    fetched_at: dt.datetime
    products: list[gateway.ProductData] = field(default_factory=list)
    prices: list[gateway.PriceData] = field(default_factory=list)
    customers: list[gateway.CustomerData] = field(default_factory=list)
    subscriptions: list[gateway.SubscriptionData] = field(default_factory=list)
    invoices: list[gateway.InvoiceData] = field(default_factory=list)
    charges: list[tuple[gateway.ChargeData, str]] = field(default_factory=list)
    refunds: list[gateway.RefundData] = field(default_factory=list)
    balance_transactions: list[gateway.BalanceTransactionData] = field(default_factory=list)
    read_at: dict[str, dt.datetime] = field(default_factory=dict)
    # Payment intent → invoice, when known in advance (the backfill reads them all at once).
    intent_invoices: dict[str, str] = field(default_factory=dict)
    # The Stripe ids of the objects that could not be applied (recorded as sync problems).
    problems: list[str] = field(default_factory=list)
    _open_problems: set[tuple[str, str]] = field(default_factory=set)

    def _read(self, fetch: Callable[..., Any], *args: Any) -> Any:
        """Call the gateway, stamping what it returns with the time the call began."""
        began = timezone.now()
        result = fetch(*args)
        for item in result if isinstance(result, list) else [result]:
            self.read_at[item.id] = began
        return result

    def stamp(self, object_id: str) -> dt.datetime:
        return self.read_at.get(object_id, self.fetched_at)

    def read_customer(self, customer_id: str) -> None:
        if customer_id and not any(c.id == customer_id for c in self.customers):
            self.customers.append(self._read(gateway.retrieve_customer, customer_id))

    def read_customer_if_unknown(self, customer_id: str) -> None:
        if customer_id and not Customer.objects.filter(stripe_customer_id=customer_id).exists():
            self.read_customer(customer_id)

    def read_price_if_unknown(self, price_id: str) -> None:
        if not price_id or Price.objects.filter(stripe_price_id=price_id).exists():
            return
        price = self._read(gateway.retrieve_price, price_id)
        self.prices.append(price)
        if not any(p.id == price.product for p in self.products):
            self.products.append(self._read(gateway.retrieve_product, price.product))

    def read_subscription(self, subscription_id: str) -> None:
        subscription = self._read(gateway.retrieve_subscription, subscription_id)
        self.read_customer_if_unknown(subscription.customer)
        self.read_price_if_unknown(subscription.price)
        self.subscriptions.append(subscription)

    def read_invoice(self, invoice_id: str) -> None:
        invoice = self._read(gateway.retrieve_invoice, invoice_id)
        self.read_customer_if_unknown(invoice.customer)
        if (
            invoice.subscription
            and not Subscription.objects.filter(
                stripe_subscription_id=invoice.subscription
            ).exists()
        ):
            self.read_subscription(invoice.subscription)
        self.invoices.append(invoice)

    def read_charge(self, charge_id: str) -> None:
        self.add_charge(self._read(gateway.retrieve_charge, charge_id))

    def add_charge(self, charge: gateway.ChargeData) -> None:
        """A charge read elsewhere (e.g. a list page), with its customer and invoice."""
        if not charge.customer:
            return  # a charge outside any customer is not billing of ours
        self.read_customer_if_unknown(charge.customer)
        invoice_id = ""
        if charge.payment_intent:
            invoice_id = self.intent_invoices.get(
                charge.payment_intent
            ) or gateway.invoice_for_payment_intent(charge.payment_intent)
            if invoice_id and not Invoice.objects.filter(stripe_invoice_id=invoice_id).exists():
                self.read_invoice(invoice_id)
        self.charges.append((charge, invoice_id))

    def read_refund(self, refund_id: str) -> None:
        refund = self._read(gateway.retrieve_refund, refund_id)
        self.read_charge(refund.charge)
        self.refunds.append(refund)

    def read_balance(self, customer_id: str) -> None:
        self.read_customer(customer_id)
        self.balance_transactions.extend(self._read(gateway.list_balance_transactions, customer_id))

    def read_whole_customer(self, customer_id: str) -> None:
        """The customer and everything billing-related Stripe holds for them."""
        self.read_customer(customer_id)
        for subscription in self._read(gateway.list_subscriptions, customer_id):
            self.read_price_if_unknown(subscription.price)
            self.subscriptions.append(subscription)
        self.invoices.extend(self._read(gateway.list_invoices, customer_id))
        for charge in self._read(gateway.list_charges, customer_id):
            invoice_id = ""
            if charge.payment_intent:
                invoice_id = gateway.invoice_for_payment_intent(charge.payment_intent)
            self.charges.append((charge, invoice_id))
            if charge.amount_refunded:
                self.refunds.extend(self._read(gateway.list_refunds, charge.id))
        self.balance_transactions.extend(self._read(gateway.list_balance_transactions, customer_id))

    def apply(self, *, reason: str, actor: User | None = None) -> list[Confirmation]:
        """Write everything read, parents first, in one transaction of its own (`actor`: the
        staff member who asked for it, if anyone did). Returns what it confirms."""
        with transaction.atomic(durable=True), audited(actor=actor, reason=reason):
            return self.apply_rows()

    def apply_rows(self) -> list[Confirmation]:
        """Write everything read, parents first, inside the caller's transaction and audit
        context (an action records Stripe's answer together with its own new state).

        Each object is applied in a savepoint of its own: one that cannot be mirrored (a value
        that does not fit, a reference to something we do not hold) is recorded as a sync
        problem, visible on its customer's page and in the drift report, and the others are
        still applied; `problems` lists what was not. Returns the actions whose change the
        rows show done (ledger rows naming them), for the pipeline to confirm."""
        confirmed: list[Confirmation] = []
        stamp = self.stamp
        self._open_problems = set(
            SyncProblem.objects.open()
            .filter(stripe_object_id__in=self._object_ids())
            .values_list("object_type", "stripe_object_id")
        )
        plans: dict[str, Plan] = {}
        for product in self.products:
            if plan := self._each(
                "product", product.id, "", _apply_product, product, stamp(product.id)
            ):
                plans[product.id] = plan
        for price in self.prices:
            self._each("price", price.id, "", self._apply_price, price, plans, stamp(price.id))
        mirrored: dict[str, Customer] = {}
        for customer in self.customers:
            if row := self._each(
                "customer", customer.id, customer.id, _apply_customer, customer, stamp(customer.id)
            ):
                mirrored[customer.id] = row
        for subscription in self.subscriptions:
            self._each(
                "subscription",
                subscription.id,
                subscription.customer,
                _apply_subscription,
                subscription,
                stamp(subscription.id),
            )
        for invoice in self.invoices:
            self._each(
                "invoice", invoice.id, invoice.customer, _apply_invoice, invoice, stamp(invoice.id)
            )
        for charge, invoice_id in self.charges:
            self._each(
                "charge",
                charge.id,
                charge.customer,
                _apply_charge,
                charge,
                invoice_id,
                stamp(charge.id),
            )
        for refund in self.refunds:
            if confirmation := self._each("refund", refund.id, "", _apply_refund, refund):
                confirmed.append(confirmation)
        for entry in sorted(self.balance_transactions, key=lambda e: (e.created, e.id)):
            if confirmation := self._each(
                "balance transaction",
                entry.id,
                entry.customer,
                self._apply_balance_transaction,
                entry,
                mirrored,
            ):
                confirmed.append(confirmation)
        return confirmed

    def _apply_price(
        self, price: gateway.PriceData, plans: dict[str, Plan], fetched_at: dt.datetime
    ) -> Price:
        plan = plans.get(price.product) or Plan.objects.get(stripe_product_id=price.product)
        return _apply_price(price, plan, fetched_at)

    def _apply_balance_transaction(
        self, entry: gateway.BalanceTransactionData, mirrored: dict[str, Customer]
    ) -> Confirmation | None:
        owner = mirrored.get(entry.customer) or Customer.objects.get(
            stripe_customer_id=entry.customer
        )
        return _apply_balance_transaction(entry, owner)

    def _each[**P, R](
        self,
        object_type: str,
        stripe_id: str,
        stripe_customer_id: str,
        apply: Callable[P, R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R | None:
        """Apply one object in a savepoint; on failure, record it as a sync problem."""
        try:
            with transaction.atomic():
                result = apply(*args, **kwargs)
        except MIRROR_ERRORS as error:
            logger.warning("Could not mirror %s %s: %s", object_type, stripe_id, error)
            self.problems.append(stripe_id)
            record_problem(
                object_type, stripe_id, stripe_customer_id, f"{type(error).__name__}: {error}"
            )
            return None
        if (object_type, stripe_id) in self._open_problems:
            resolve_problem(object_type, stripe_id)
        return result

    def _object_ids(self) -> list[str]:
        groups: list[list[Any]] = [
            self.products,
            self.prices,
            self.customers,
            self.subscriptions,
            self.invoices,
            [charge for charge, _ in self.charges],
            self.refunds,
            self.balance_transactions,
        ]
        return [item.id for group in groups for item in group]


def read(fill: Callable[[Snapshot], None]) -> Snapshot:
    """Start a snapshot (noting when the reads began) and fill it from Stripe."""
    snapshot = Snapshot(fetched_at=timezone.now())
    fill(snapshot)
    return snapshot


# Events -------------------------------------------------------------------------------------


def _reads_for_event(event: gateway.EventData) -> Callable[[Snapshot], None] | None:
    """What to re-read from Stripe for an event; None for events the mirror ignores."""
    kind, obj = event.object_type, event.object
    object_id = event.object_id
    if kind == "customer":
        if event.type == "customer.deleted":
            return lambda s: s.customers.append(
                gateway.CustomerData.parse({**obj, "deleted": True})
            )
        # Balance changes (credits, invoices paid from balance) arrive as customer.updated.
        return lambda s: s.read_balance(object_id)
    if kind == "subscription":
        return lambda s: s.read_subscription(object_id)
    if kind == "invoice":
        return lambda s: s.read_invoice(object_id)
    if kind == "invoice_payment":
        invoice_id = gateway.id_of(obj.get("invoice"))
        return lambda s: s.read_invoice(invoice_id)
    if kind == "charge":
        return lambda s: _read_charge_and_refunds(s, object_id)
    if kind == "refund":
        return lambda s: s.read_refund(object_id)
    if kind == "payment_intent":
        customer = gateway.id_of(obj.get("customer"))
        latest = gateway.id_of(obj.get("latest_charge"))
        return (lambda s: s.read_charge(latest)) if latest and customer else None
    if kind == "credit_note":
        customer = gateway.id_of(obj.get("customer"))
        invoice_id = gateway.id_of(obj.get("invoice"))

        def read_credit_note(snapshot: Snapshot) -> None:
            snapshot.read_invoice(invoice_id)  # its amounts changed
            snapshot.read_balance(customer)  # and perhaps the customer's balance

        return read_credit_note
    if kind == "customer_balance_transaction":
        customer = gateway.id_of(obj.get("customer"))
        return lambda s: s.read_balance(customer)
    if kind == "product":
        return lambda s: s.products.append(s._read(gateway.retrieve_product, object_id))
    if kind in ("price", "plan"):
        return lambda s: _read_price(s, object_id)
    return None


def _read_charge_and_refunds(snapshot: Snapshot, charge_id: str) -> None:
    snapshot.read_charge(charge_id)
    if snapshot.charges and snapshot.charges[-1][0].amount_refunded:
        snapshot.refunds.extend(snapshot._read(gateway.list_refunds, charge_id))


def _read_price(snapshot: Snapshot, price_id: str) -> None:
    price = snapshot._read(gateway.retrieve_price, price_id)
    snapshot.prices.append(price)
    if not Plan.objects.filter(stripe_product_id=price.product).exists():
        snapshot.products.append(snapshot._read(gateway.retrieve_product, price.product))


def apply_event(event: gateway.EventData) -> list[Confirmation]:
    """Bring the mirror up to date with what `event` is about (nothing for events the mirror
    ignores). Returns the actions it shows done."""
    reads = _reads_for_event(event)
    if reads is None:
        return []
    return read(reads).apply(reason=f"Stripe event {event.type} ({event.id})")


def resync_customer(
    stripe_customer_id: str, *, reason: str, actor: User | None = None
) -> list[Confirmation]:
    """Re-read one customer and all their billing from Stripe and bring the mirror level."""
    return read(lambda s: s.read_whole_customer(stripe_customer_id)).apply(
        reason=reason, actor=actor
    )

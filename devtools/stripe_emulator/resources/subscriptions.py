"""Subscriptions and subscription items.

Statuses follow Stripe: ``trialing`` during a trial; ``incomplete`` when the first invoice of a
``charge_automatically`` subscription is not paid (``incomplete_expired`` 23 hours later, or when
that invoice is voided); ``active``; ``past_due`` when a later invoice's payment fails (back to
``active`` once it is paid, voided or marked uncollectible); after the last retry fails,
``canceled`` (Stripe's default) or ``unpaid`` per :class:`~..context.Settings`; ``paused`` only
through ``POST /v1/subscriptions/:id/pause`` (which stops invoicing until ``/resume``). Pausing
*collection* (``pause_collection``) leaves the status alone and changes what happens to renewal
invoices: ``keep_as_draft``, ``void`` or ``mark_uncollectible``.

Since 2025-03-31.basil the billing period lives on each subscription item
(``items.data[].current_period_start/end``), not on the subscription. All items share it.

Price or quantity changes prorate to the second over the current period (see
:mod:`..billing_math`) with ``proration_behavior``: ``create_prorations`` (default) leaves
proration invoice items for the next invoice, ``always_invoice`` invoices them now, ``none``
skips them. Changing to a price with another interval resets the billing cycle to now and
invoices at once, as Stripe does. Trials carry no prorations.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..context import Context
from ..listing import filter_created, list_object, page
from ..params import Params, apply_metadata
from ..periods import DAY, boundary, next_boundary, previous_boundary
from ..routing import Router
from ..schema import (
    Array,
    Boolean,
    Enum,
    Hash,
    Integer,
    Metadata,
    OneOf,
    Spec,
    String,
    Timestamp,
    accepts,
    listing,
)
from ..store import render
from . import catalog, customers, discounts, invoices, payment_methods, payments
from . import subscription_billing as billing

routes = Router()

PRORATION_BEHAVIORS = ("create_prorations", "none", "always_invoice")
PAYMENT_BEHAVIORS = (
    "allow_incomplete",
    "default_incomplete",
    "error_if_incomplete",
    "pending_if_incomplete",
)
PAUSE_BEHAVIORS = ("keep_as_draft", "mark_uncollectible", "void")
LIVE_STATUSES = ("trialing", "active", "past_due", "unpaid", "incomplete", "paused")
COLLECTION_METHODS = ("charge_automatically", "send_invoice")
FEEDBACK = (
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
)
STATUS_FILTERS = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)

# What the endpoints that create, change or preview a subscription share.
TRIAL_END = OneOf(Enum("now"), Timestamp())
DISCOUNTS = Array(Hash({"coupon": String(), "discount": String()}), unset=True)
CANCELLATION_DETAILS = Hash(
    {"comment": String(max_length=500, unset=True), "feedback": Enum(*FEEDBACK, unset=True)}
)
BILLING_CYCLE_ANCHOR = Hash({"type": Enum("now", "unchanged", required=True)})
ITEM_CHANGE: dict[str, Spec] = {
    "deleted": Boolean(),
    "id": String(),
    "metadata": Metadata(unset=True),
    "plan": String(),
    "price": String(),
    "quantity": Integer(minimum=0),
}


# Invoicing a subscription --------------------------------------------------------------------


def _invoice_now(
    ctx: Context,
    subscription: dict[str, Any],
    lines: list[dict[str, Any]],
    *,
    billing_reason: str,
    service_start: int,
    window: tuple[int, int] | None = None,
    include_pending: bool = True,
) -> dict[str, Any]:
    """Create, finalize and (when charging automatically) try to pay a subscription invoice.

    ``service_start`` is when the service it bills begins (what a discount must still cover);
    ``window`` is the invoice's own period, Stripe's window for pending items: for a renewal
    the period that just ended, for an update an empty one now (the default)."""
    customer = ctx.store.require("customer", subscription["customer"])
    if include_pending:
        lines = [
            invoices.line_from_invoice_item(ctx, item)
            for item in invoices.pending_items(ctx, customer["id"], subscription["id"])
        ] + lines
    invoice = invoices.new_invoice(
        ctx,
        customer,
        billing_reason=billing_reason,
        lines=lines,
        subscription=subscription,
        collection_method=subscription["collection_method"],
        days_until_due=subscription["days_until_due"],
        period=window or (ctx.now(), ctx.now()),
        discount_ids=[
            d
            for d in subscription["discounts"]
            if discounts.applies(ctx.store.require("discount", d), service_start)
        ],
        discount_at=service_start,
        currency=subscription["currency"],
    )
    subscription["latest_invoice"] = invoice["id"]
    pause = subscription["pause_collection"]
    if pause is not None and billing_reason == "subscription_cycle":
        invoice["auto_advance"] = False
        if pause["behavior"] == "keep_as_draft":
            return invoice
        invoices.finalize(ctx, invoice)
        if invoice["status"] == "open":
            if pause["behavior"] == "void":
                invoices.void(ctx, invoice)
            else:
                invoices.mark_uncollectible(ctx, invoice)
        return invoice
    invoices.finalize(ctx, invoice)
    discounts.consume_once(ctx, subscription, invoice["total_discount_amounts"])
    if (
        invoice["status"] == "open"
        and subscription["collection_method"] == "charge_automatically"
        and subscription["status"] != "unpaid"
    ):
        invoices.attempt_payment(ctx, invoice)
    return invoice


# Reactions to invoice outcomes (called by the invoices module) ----------------------------------


def _latest(ctx: Context, invoice: dict[str, Any]) -> dict[str, Any] | None:
    subscription = ctx.store.get("subscription", invoice["_subscription"] or "")
    if subscription is None or subscription["latest_invoice"] != invoice["id"]:
        return None
    return subscription


def on_invoice_paid(ctx: Context, invoice: dict[str, Any]) -> None:
    subscription = _latest(ctx, invoice)
    if subscription is not None and subscription["status"] in ("incomplete", "past_due", "unpaid"):
        with ctx.events.updating(subscription, "customer.subscription.updated"):
            subscription["status"] = "active"


def on_invoice_payment_failed(ctx: Context, invoice: dict[str, Any], *, final: bool) -> None:
    subscription = _latest(ctx, invoice)
    if subscription is None:
        return
    if subscription["status"] in ("active", "trialing"):
        with ctx.events.updating(subscription, "customer.subscription.updated"):
            subscription["status"] = "past_due"
    if (
        final
        and invoice["billing_reason"] != "subscription_create"
        and subscription["status"]
        in (
            "past_due",
            "unpaid",
        )
    ):
        action = ctx.settings.final_failure_action
        if action == "cancel":
            cancel_now(ctx, subscription, reason="payment_failed")
        elif action == "unpaid":
            with ctx.events.updating(subscription, "customer.subscription.updated"):
                subscription["status"] = "unpaid"


def on_invoice_closed(ctx: Context, invoice: dict[str, Any]) -> None:
    """A voided or uncollectible latest invoice no longer holds the subscription back."""
    subscription = _latest(ctx, invoice)
    if subscription is None:
        return
    with ctx.events.updating(subscription, "customer.subscription.updated"):
        if subscription["status"] == "incomplete" and invoice["status"] == "void":
            subscription["status"] = "incomplete_expired"
            subscription["ended_at"] = ctx.now()
        elif subscription["status"] in ("incomplete", "past_due", "unpaid"):
            subscription["status"] = "active"


# Lifecycle steps (also driven by the clock) ----------------------------------------------------


def cancel_now(
    ctx: Context,
    subscription: dict[str, Any],
    *,
    reason: str,
    at: int | None = None,
    invoice_now: bool = False,
    prorate_unused: bool = False,
    comment: str | None = None,
    feedback: str | None = None,
) -> None:
    at = ctx.now() if at is None else at
    if prorate_unused and subscription["status"] in ("active", "past_due"):
        changes = [
            billing.ItemChange(item, item["price"], item["quantity"], None, 0)
            for item in billing.items_of(subscription)
        ]
        billing.spec_items(
            ctx, subscription, billing.proration_specs(ctx, subscription, changes, at)
        )
    if invoice_now and invoices.pending_items(ctx, subscription["customer"], subscription["id"]):
        _invoice_now(
            ctx,
            subscription,
            [],
            billing_reason="subscription_update",
            service_start=at,
            window=(at, at),
        )
    subscription["status"] = "canceled"
    subscription["canceled_at"] = subscription["canceled_at"] or at
    subscription["ended_at"] = at
    subscription["cancel_at"] = (
        subscription["cancel_at"] if subscription["cancel_at_period_end"] else None
    )
    subscription["cancellation_details"] = {
        "comment": comment,
        "feedback": feedback,
        "feedback_option": None,
        "reason": reason,
    }
    ctx.emit("customer.subscription.deleted", subscription)


def renew(ctx: Context, subscription: dict[str, Any], at: int) -> None:
    """The current period ended at ``at``: start the next one and invoice it."""
    interval, count = billing.interval_of(subscription)
    with ctx.events.updating(subscription, "customer.subscription.updated"):
        ended_start, _ = billing.period_of(subscription)
        end = next_boundary(subscription["billing_cycle_anchor"], at, interval, count)
        billing.set_period(subscription, at, end)
        _invoice_now(
            ctx,
            subscription,
            billing.period_lines(ctx, subscription, (at, end)),
            billing_reason="subscription_cycle",
            service_start=at,
            window=(ended_start, at),
        )


def end_trial(ctx: Context, subscription: dict[str, Any], at: int, *, billing_reason: str) -> None:
    """The trial is over at ``at``: a new period starts there and its invoice is charged."""
    interval, count = billing.interval_of(subscription)
    customer = ctx.store.require("customer", subscription["customer"])
    missing = (
        subscription["default_payment_method"] is None
        and customer["invoice_settings"]["default_payment_method"] is None
    )
    behavior = subscription["trial_settings"]["end_behavior"]["missing_payment_method"]
    with ctx.events.updating(subscription, "customer.subscription.updated"):
        subscription["trial_end"] = at
        if missing and behavior == "cancel":
            cancel_now(ctx, subscription, reason="cancellation_requested", at=at)
            return
        if missing and behavior == "pause":
            subscription["status"] = "paused"
            subscription["status_details"] = _paused_details(at, "trial_end_without_payment_method")
            ctx.emit("customer.subscription.paused", subscription)
            return
        subscription["status"] = "active"
        subscription["billing_cycle_anchor"] = at
        trial_start, _ = billing.period_of(subscription)
        end = boundary(at, 1, interval, count)
        billing.set_period(subscription, at, end)
        _invoice_now(
            ctx,
            subscription,
            billing.period_lines(ctx, subscription, (at, end)),
            billing_reason=billing_reason,
            service_start=at,
            window=(trial_start, at),
        )


def _paused_details(at: int, reason: str) -> dict[str, Any]:
    return {
        "paused": {
            "subscription": {"type": reason},
            "transitioned_at": at,
            "type": "subscription",
        }
    }


# Endpoints -----------------------------------------------------------------------------------


def _subscription(ctx: Context, subscription_id: str) -> dict[str, Any]:
    return ctx.store.require("subscription", subscription_id, param="subscription_exposed_id")


def _trial_end_param(ctx: Context, params: Params) -> int | str | None:
    value = params.timestamp_or_now("trial_end")
    if isinstance(value, int) and value <= ctx.now():
        raise errors.invalid_request(
            "Invalid timestamp: must be an integer Unix timestamp in the future.",
            param="trial_end",
            replayable=False,
        )
    return value


def _pause_collection(params: Params) -> dict[str, Any] | None:
    if params.raw("pause_collection") == "":
        return None
    pause = params.sub("pause_collection")
    assert pause is not None
    return {
        "behavior": pause.require_str("behavior", choices=PAUSE_BEHAVIORS),
        "resumes_at": pause.int("resumes_at"),
    }


def _replace_discounts(ctx: Context, subscription: dict[str, Any], params: Params) -> None:
    entries = params.list("discounts") or []
    new_ids = discounts.from_params(
        ctx, entries, customer=subscription["customer"], subscription=subscription["id"]
    )
    for old in subscription["discounts"]:
        if old not in new_ids:
            discount = ctx.store.get("discount", old)
            if discount is not None:
                ctx.store.delete(discount)
    subscription["discounts"] = new_ids


@routes.post(
    "/v1/subscriptions",
    accepts(
        "SubscriptionCreateParams",
        backdate_start_date=Timestamp(),
        billing_cycle_anchor=Timestamp(),
        cancel_at=Timestamp(),
        cancel_at_period_end=Boolean(),
        collection_method=Enum(*COLLECTION_METHODS),
        customer=String(required=True),
        days_until_due=Integer(minimum=0),
        default_payment_method=String(),
        description=String(max_length=500),
        discounts=DISCOUNTS,
        items=Array(
            Hash(
                {
                    "metadata": Metadata(),
                    "plan": String(),
                    "price": String(),
                    "quantity": Integer(minimum=0),
                }
            ),
            required=True,
        ),
        metadata=Metadata(unset=True),
        off_session=Boolean(),
        payment_behavior=Enum(*PAYMENT_BEHAVIORS),
        trial_end=TRIAL_END,
        trial_period_days=Integer(minimum=0),
        trial_settings=Hash(
            {
                "end_behavior": Hash(
                    {"missing_payment_method": Enum("cancel", "create_invoice", "pause")},
                    required=True,
                )
            }
        ),
    ),
)
def create(ctx: Context, params: Params) -> dict[str, Any]:
    customer = ctx.store.require("customer", params.require_str("customer"), param="customer")
    entries = params.list("items")
    if not entries:
        raise errors.missing_param("items")
    prices = [billing.price_for(ctx, entry) for entry in entries]
    billing.check_compatible(prices)
    quantities = []
    for entry in entries:
        quantity = entry.int("quantity", minimum=0)
        quantities.append(1 if quantity is None else quantity)
    currency = prices[0]["currency"]
    customers.set_currency(customer, currency, param="items")
    payment_behavior = (
        params.str("payment_behavior", choices=PAYMENT_BEHAVIORS) or "allow_incomplete"
    )
    collection = (
        params.str("collection_method", choices=("charge_automatically", "send_invoice"))
        or "charge_automatically"
    )
    days_until_due = params.int("days_until_due", minimum=0)
    if collection == "send_invoice" and days_until_due is None:
        raise errors.missing_param("days_until_due")
    pm_value = params.str("default_payment_method")
    pm = (
        payment_methods.resolve_for_customer(
            ctx, pm_value, customer, param="default_payment_method"
        )
        if pm_value
        else None
    )
    now = ctx.now()
    trial_end = _trial_end_param(ctx, params)
    trial_days = params.int("trial_period_days", minimum=0)
    if trial_days:
        trial_end = now + trial_days * DAY
    trial = isinstance(trial_end, int)
    start = params.int("backdate_start_date") or now
    if start > now:
        raise errors.invalid_request(
            "backdate_start_date must be in the past.",
            param="backdate_start_date",
            replayable=False,
        )
    interval = prices[0]["recurring"]["interval"]
    count = prices[0]["recurring"]["interval_count"]
    anchor_param = params.int("billing_cycle_anchor")
    full_period_start = None
    if trial:
        assert isinstance(trial_end, int)
        anchor = anchor_param or trial_end
        period = (now, trial_end)
    elif anchor_param and anchor_param > now:
        anchor = anchor_param
        period = (now, anchor_param)
        full_period_start = boundary(anchor_param, -1, interval, count)
    else:
        anchor = anchor_param or start
        period = (
            previous_boundary(anchor, now, interval, count),
            next_boundary(anchor, now, interval, count),
        )
    trial_settings_params = params.sub("trial_settings")
    missing_behavior = "create_invoice"
    if trial_settings_params is not None:
        end_behavior = trial_settings_params.sub("end_behavior")
        if end_behavior is not None:
            missing_behavior = (
                end_behavior.str(
                    "missing_payment_method", choices=("cancel", "create_invoice", "pause")
                )
                or "create_invoice"
            )
    subscription = ctx.create(
        "subscription",
        {
            "application": None,
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": anchor,
            "billing_cycle_anchor_config": None,
            "billing_mode": {"flexible": None, "type": "classic"},
            "billing_schedules": [],
            "billing_thresholds": None,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "cancellation_details": {
                "comment": None,
                "feedback": None,
                "feedback_option": None,
                "reason": None,
            },
            "collection_method": collection,
            "currency": currency,
            "customer": customer["id"],
            "customer_account": None,
            "days_until_due": days_until_due,
            "default_payment_method": pm["id"] if pm else None,
            "default_source": None,
            "default_tax_rates": [],
            "description": params.str("description"),
            "discounts": [],
            "ended_at": None,
            "invoice_settings": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": {"type": "self"},
            },
            "items": None,
            "latest_invoice": None,
            "managed_payments": None,
            "next_pending_invoice_item_invoice": None,
            "on_behalf_of": None,
            "pause_collection": None,
            "payment_settings": {
                "payment_method_options": None,
                "payment_method_types": None,
                "save_default_payment_method": "off",
            },
            "pending_invoice_item_interval": None,
            "pending_setup_intent": None,
            "pending_update": None,
            "schedule": None,
            "start_date": start,
            "status": "trialing"
            if trial
            else ("incomplete" if collection == "charge_automatically" else "active"),
            "test_clock": None,
            "transfer_data": None,
            "trial_end": trial_end if trial else None,
            "trial_settings": {
                "end_behavior": {
                    "billing_cycle_anchor": None,
                    "missing_payment_method": missing_behavior,
                }
            },
            "trial_start": now if trial else None,
        },
    )
    subscription["items"] = list_object(
        [
            billing.new_item(
                ctx, subscription, price, quantity, period, entry.sub("metadata") and entry
            )
            for price, quantity, entry in zip(prices, quantities, entries, strict=True)
        ],
        f"/v1/subscription_items?subscription={subscription['id']}",
    )
    subscription["items"]["total_count"] = len(prices)
    subscription["discounts"] = discounts.from_params(
        ctx,
        params.list("discounts") or [],
        customer=customer["id"],
        subscription=subscription["id"],
    )
    apply_metadata(subscription, params)
    if params.bool("cancel_at_period_end"):
        subscription["cancel_at_period_end"] = True
        subscription["cancel_at"] = period[1]
        subscription["canceled_at"] = now
    cancel_at = params.int("cancel_at")
    if cancel_at:
        subscription["cancel_at"] = cancel_at
    ctx.emit("customer.subscription.created", subscription)
    lines = billing.period_lines(
        ctx, subscription, period, trial=trial, full_period_start=full_period_start
    )
    customer_obj = customer
    invoice = invoices.new_invoice(
        ctx,
        customer_obj,
        billing_reason="subscription_create",
        lines=lines,
        subscription=subscription,
        collection_method=collection,
        days_until_due=days_until_due,
        discount_ids=list(subscription["discounts"]),
        discount_at=period[0],
        currency=currency,
    )
    subscription["latest_invoice"] = invoice["id"]
    invoices.finalize(ctx, invoice)
    discounts.consume_once(ctx, subscription, invoice["total_discount_amounts"])
    if (
        invoice["status"] == "open"
        and collection == "charge_automatically"
        and payment_behavior != "default_incomplete"
    ):
        invoices.attempt_payment(ctx, invoice)
        if invoice["status"] != "paid" and payment_behavior == "error_if_incomplete":
            intent = ctx.store.require("payment_intent", invoice["_payment_intent"])
            charge = ctx.store.get("charge", intent["latest_charge"] or "")
            pm_obj = ctx.store.get("payment_method", intent["payment_method"] or "")
            if pm_obj is not None:
                raise payments.card_error(intent, charge, pm_obj)
    return render(subscription)


@routes.get("/v1/subscriptions/{subscription}", accepts("SubscriptionRetrieveParams"))
def retrieve(ctx: Context, params: Params, subscription: str) -> dict[str, Any]:
    return render(_subscription(ctx, subscription))


@routes.post(
    "/v1/subscriptions/{subscription}",
    accepts(
        "SubscriptionUpdateParams",
        billing_cycle_anchor=BILLING_CYCLE_ANCHOR,
        cancel_at=Timestamp(unset=True),
        cancel_at_period_end=Boolean(),
        cancellation_details=CANCELLATION_DETAILS,
        collection_method=Enum(*COLLECTION_METHODS),
        days_until_due=Integer(minimum=0),
        default_payment_method=String(),
        description=String(max_length=500, unset=True),
        discounts=DISCOUNTS,
        items=Array(Hash(ITEM_CHANGE)),
        metadata=Metadata(unset=True),
        off_session=Boolean(),
        pause_collection=Hash(
            {"behavior": Enum(*PAUSE_BEHAVIORS, required=True), "resumes_at": Timestamp()},
            unset=True,
        ),
        payment_behavior=Enum(*PAYMENT_BEHAVIORS),
        proration_behavior=Enum(*PRORATION_BEHAVIORS),
        proration_date=Timestamp(),
        trial_end=TRIAL_END,
    ),
)
def update(ctx: Context, params: Params, subscription: str) -> dict[str, Any]:
    found = _subscription(ctx, subscription)
    if found["status"] in ("canceled", "incomplete_expired"):
        for key in params.data:
            if key not in ("metadata", "cancellation_details", "expand"):
                raise errors.invalid_request(
                    "A canceled subscription can only update its cancellation_details and "
                    "metadata.",
                    param=key,
                )
    behavior = params.str("proration_behavior", choices=PRORATION_BEHAVIORS) or "create_prorations"
    now = ctx.now()
    at = params.int("proration_date") or now
    customer = ctx.store.require("customer", found["customer"])
    with ctx.events.updating(found, "customer.subscription.updated"):
        apply_metadata(found, params)
        if "description" in params:
            found["description"] = params.str("description") or None
        if "default_payment_method" in params:
            found["default_payment_method"] = payment_methods.resolve_for_customer(
                ctx,
                params.require_str("default_payment_method"),
                customer,
                param="default_payment_method",
            )["id"]
        if "cancellation_details" in params:
            details = params.sub("cancellation_details")
            if details is not None:
                for key in ("comment", "feedback"):
                    if key in details:
                        found["cancellation_details"][key] = details.str(key) or None
        if "collection_method" in params:
            found["collection_method"] = params.require_str(
                "collection_method", choices=("charge_automatically", "send_invoice")
            )
            found["days_until_due"] = params.int("days_until_due")
        if "cancel_at_period_end" in params:
            if params.bool("cancel_at_period_end"):
                found["cancel_at_period_end"] = True
                found["cancel_at"] = billing.period_of(found)[1]
                found["canceled_at"] = now
            else:
                found["cancel_at_period_end"] = False
                found["cancel_at"] = None
                found["canceled_at"] = None
        if "cancel_at" in params:
            value = params.raw("cancel_at")
            found["cancel_at"] = None if value == "" else params.int("cancel_at")
            found["canceled_at"] = now if found["cancel_at"] else None
            found["cancel_at_period_end"] = False
        if "pause_collection" in params:
            found["pause_collection"] = _pause_collection(params)
        if "discounts" in params:
            _replace_discounts(ctx, found, params)
        entries = params.list("items")
        if entries:
            _change_items(ctx, found, entries, behavior=behavior, at=at)
        if "trial_end" in params:
            _change_trial(ctx, found, _trial_end_param(ctx, params), behavior=behavior)
        anchor = params.sub("billing_cycle_anchor")
        if anchor is not None and anchor.str("type") == "now":
            _reset_cycle(ctx, found, [], at=now, behavior=behavior)
    return render(found)


def _change_items(
    ctx: Context, subscription: dict[str, Any], entries: list[Params], *, behavior: str, at: int
) -> None:
    changes = billing.plan_changes(ctx, subscription, entries)
    if billing.interval_changes(subscription, changes):
        _reset_cycle(ctx, subscription, changes, at=ctx.now(), behavior=behavior)
        return
    specs = billing.proration_specs(ctx, subscription, changes, at) if behavior != "none" else []
    _apply_changes(ctx, subscription, changes)
    # Prorations name the item they belong to; new items only got their id just now.
    for spec in specs:
        if spec["subscription_item"] is None:
            spec["subscription_item"] = _item_for_price(subscription, spec["price"])
    billing.spec_items(ctx, subscription, specs)
    if behavior == "always_invoice" and specs:
        _invoice_now(ctx, subscription, [], billing_reason="subscription_update", service_start=at)


def _item_for_price(subscription: dict[str, Any], price: dict[str, Any]) -> str | None:
    for item in billing.items_of(subscription):
        if item["price"] is price:
            return item["id"]
    return None


def _apply_changes(
    ctx: Context, subscription: dict[str, Any], changes: list[billing.ItemChange]
) -> None:
    start, end = billing.period_of(subscription)
    kept = []
    for change in changes:
        if change.new_price is None:
            if change.item is not None:
                ctx.store.delete(change.item)
            continue
        if change.item is None:
            item = billing.new_item(
                ctx,
                subscription,
                change.new_price,
                change.new_quantity,
                (start, end),
                change.metadata,
            )
        else:
            item = change.item
            item["price"] = change.new_price
            item["plan"] = catalog.plan_from_price(change.new_price)
            item["quantity"] = change.new_quantity
            if change.metadata is not None:
                apply_metadata(item, change.metadata)
        kept.append(item)
    if not kept:
        raise errors.invalid_request(
            "A subscription must keep at least one item.", param="items", replayable=False
        )
    subscription["items"]["data"] = kept
    subscription["items"]["total_count"] = len(kept)


def _reset_cycle(
    ctx: Context,
    subscription: dict[str, Any],
    changes: list[billing.ItemChange],
    *,
    at: int,
    behavior: str,
) -> None:
    """Start a new billing period now (interval change or ``billing_cycle_anchor=now``)."""
    if not changes:
        changes = [
            billing.ItemChange(
                item, item["price"], item["quantity"], item["price"], item["quantity"]
            )
            for item in billing.items_of(subscription)
        ]
    credits = (
        billing.proration_specs(ctx, subscription, changes, at, credit_only=True)
        if behavior != "none"
        else []
    )
    billing.spec_items(ctx, subscription, credits)
    _apply_changes(ctx, subscription, changes)
    interval, count = billing.interval_of(subscription)
    end = boundary(at, 1, interval, count)
    subscription["billing_cycle_anchor"] = at
    billing.set_period(subscription, at, end)
    if subscription["status"] == "trialing":
        subscription["status"] = "active"
        subscription["trial_end"] = at
    _invoice_now(
        ctx,
        subscription,
        billing.period_lines(ctx, subscription, (at, end)),
        billing_reason="subscription_update",
        service_start=at,
    )


def _change_trial(
    ctx: Context, subscription: dict[str, Any], trial_end: int | str | None, *, behavior: str
) -> None:
    now = ctx.now()
    if trial_end == "now":
        if subscription["status"] == "trialing":
            end_trial(ctx, subscription, now, billing_reason="subscription_update")
        return
    if not isinstance(trial_end, int):
        return
    if subscription["status"] == "trialing":
        subscription["trial_end"] = trial_end
        subscription["billing_cycle_anchor"] = trial_end
        billing.set_period(subscription, billing.period_of(subscription)[0], trial_end)
        return
    if subscription["status"] in ("active", "past_due"):
        if behavior != "none":
            changes = [
                billing.ItemChange(item, item["price"], item["quantity"], None, 0)
                for item in billing.items_of(subscription)
            ]
            billing.spec_items(
                ctx, subscription, billing.proration_specs(ctx, subscription, changes, now)
            )
        subscription["status"] = "trialing"
        subscription["trial_start"] = now
        subscription["trial_end"] = trial_end
        subscription["billing_cycle_anchor"] = trial_end
        billing.set_period(subscription, now, trial_end)


@routes.delete(
    "/v1/subscriptions/{subscription}",
    accepts(
        "SubscriptionCancelParams",
        cancellation_details=CANCELLATION_DETAILS,
        invoice_now=Boolean(),
        prorate=Boolean(),
    ),
)
def cancel(ctx: Context, params: Params, subscription: str) -> dict[str, Any]:
    found = _subscription(ctx, subscription)
    if found["status"] in ("canceled", "incomplete_expired"):
        raise errors.invalid_request(
            f"Subscription {subscription} has already been canceled.",
            param="subscription_exposed_id",
        )
    details = params.sub("cancellation_details")
    cancel_now(
        ctx,
        found,
        reason="cancellation_requested",
        invoice_now=bool(params.bool("invoice_now")),
        prorate_unused=bool(params.bool("prorate")),
        comment=details.str("comment") if details else None,
        feedback=details.str("feedback") if details else None,
    )
    return render(found)


@routes.post(
    "/v1/subscriptions/{subscription}/pause",
    accepts(
        "SubscriptionPauseParams",
        bill_for=Hash(
            {
                "unused_time_from": Hash(
                    {"type": Enum("item_current_period_start", "none", "now", required=True)}
                )
            }
        ),
        type=Enum("subscription"),
    ),
)
def pause(ctx: Context, params: Params, subscription: str) -> dict[str, Any]:
    found = ctx.store.require("subscription", subscription, param="subscription")
    if found["status"] not in ("active", "trialing", "past_due"):
        raise errors.invalid_request(
            f"Subscriptions with status {found['status']} cannot be paused.", param="subscription"
        )
    now = ctx.now()
    bill_for = params.sub("bill_for")
    unused_from = "now"
    if bill_for is not None and bill_for.sub("unused_time_from") is not None:
        unused = bill_for.sub("unused_time_from")
        assert unused is not None
        unused_from = unused.str("type") or "now"
    with ctx.events.updating(found, "customer.subscription.updated"):
        if unused_from == "now" and found["status"] in ("active", "past_due"):
            changes = [
                billing.ItemChange(item, item["price"], item["quantity"], None, 0)
                for item in billing.items_of(found)
            ]
            billing.spec_items(ctx, found, billing.proration_specs(ctx, found, changes, now))
        found["status"] = "paused"
        found["status_details"] = _paused_details(now, "pause_requested")
        ctx.emit("customer.subscription.paused", found)
    return render(found)


@routes.post(
    "/v1/subscriptions/{subscription}/resume",
    accepts(
        "SubscriptionResumeParams",
        billing_cycle_anchor=BILLING_CYCLE_ANCHOR,
        proration_behavior=Enum(*PRORATION_BEHAVIORS),
    ),
)
def resume(ctx: Context, params: Params, subscription: str) -> dict[str, Any]:
    found = ctx.store.require("subscription", subscription, param="subscription")
    if found["status"] != "paused":
        raise errors.invalid_request(
            "This subscription is not paused, so it cannot be resumed.", param="subscription"
        )
    if found["collection_method"] != "charge_automatically":
        raise errors.invalid_request(
            "Resume is only available for subscriptions that use charge_automatically.",
            param="subscription",
        )
    anchor_params = params.sub("billing_cycle_anchor")
    anchor = (anchor_params.str("type") if anchor_params else None) or "now"
    behavior = params.str("proration_behavior") or "create_prorations"
    now = ctx.now()
    interval, count = billing.interval_of(found)
    with ctx.events.updating(found, "customer.subscription.updated"):
        found["status"] = "active"
        found.pop("status_details", None)  # only a paused subscription has one
        if anchor == "now":
            end = boundary(now, 1, interval, count)
            found["billing_cycle_anchor"] = now
            billing.set_period(found, now, end)
            lines = billing.period_lines(ctx, found, (now, end))
        else:
            end = next_boundary(found["billing_cycle_anchor"], now, interval, count)
            start = previous_boundary(found["billing_cycle_anchor"], now, interval, count)
            billing.set_period(found, start, end)
            lines = (
                billing.period_lines(ctx, found, (now, end), full_period_start=start)
                if behavior != "none"
                else []
            )
        ctx.emit("customer.subscription.resumed", found)
        if lines:
            _invoice_now(ctx, found, lines, billing_reason="subscription_update", service_start=now)
    return render(found)


@routes.get(
    "/v1/subscriptions",
    listing(
        "SubscriptionListParams",
        collection_method=Enum(*COLLECTION_METHODS),
        customer=String(),
        price=String(),
        status=Enum(*STATUS_FILTERS),
    ),
)
def list_subscriptions(ctx: Context, params: Params) -> dict[str, Any]:
    found = filter_created(ctx.store.all("subscription"), params)
    status = params.str("status")
    if status in (None, ""):
        found = [s for s in found if s["status"] not in ("canceled", "incomplete_expired")]
    elif status != "all":
        if status == "ended":
            found = [s for s in found if s["status"] in ("canceled", "incomplete_expired")]
        else:
            found = [s for s in found if s["status"] == status]
    for key in ("customer", "collection_method"):
        value = params.str(key)
        if value:
            found = [s for s in found if s[key] == value]
    price = params.str("price")
    if price:
        found = [s for s in found if any(i["price"]["id"] == price for i in billing.items_of(s))]
    return page(found, params, "/v1/subscriptions")


@routes.delete(
    "/v1/subscriptions/{subscription}/discount",
    accepts("SubscriptionDeleteDiscountParams", expand=False),
)
def delete_discount(ctx: Context, params: Params, subscription: str) -> dict[str, Any]:
    found = _subscription(ctx, subscription)
    if not found["discounts"]:
        raise errors.invalid_request("This subscription has no discount.", param="subscription")
    with ctx.events.updating(found, "customer.subscription.updated"):
        removed = []
        for discount_id in found["discounts"]:
            discount = ctx.store.get("discount", discount_id)
            if discount is not None:
                removed.append(ctx.store.delete(discount))
        found["discounts"] = []
    return removed[0] if removed else {"object": "discount", "deleted": True}


# Subscription items --------------------------------------------------------------------------


@routes.get("/v1/subscription_items/{item}", accepts("SubscriptionItemRetrieveParams"))
def retrieve_item(ctx: Context, params: Params, item: str) -> dict[str, Any]:
    return render(ctx.store.require("subscription_item", item, param="item"))


@routes.get(
    "/v1/subscription_items",
    listing("SubscriptionItemListParams", created=False, subscription=String(required=True)),
)
def list_items(ctx: Context, params: Params) -> dict[str, Any]:
    subscription = ctx.store.require(
        "subscription", params.require_str("subscription"), param="subscription"
    )
    return page(
        list(reversed(billing.items_of(subscription))),
        params,
        f"/v1/subscription_items?subscription={subscription['id']}",
    )

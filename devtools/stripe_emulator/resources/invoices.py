"""Invoices, their lines and their payments, with Stripe's status machine.

``draft`` → (finalize) → ``open`` → ``paid`` | ``void`` | ``uncollectible``; an ``uncollectible``
invoice can still be paid or voided. Changing a paid or void invoice is an
``invalid_request_error``.

Finalizing assigns ``number`` (``<customer.invoice_prefix>-0001``, counting per customer), the
hosted URL, and applies the customer's balance as Stripe does: with ``owed = total + balance``,
``amount_due = max(owed, 0)`` and the balance becomes ``min(owed, 0)``; the difference is one
``applied_to_invoice`` balance transaction and shows as ``starting_balance``/``ending_balance``.
A zero ``amount_due`` is paid on finalization. Otherwise a PaymentIntent for ``amount_due`` is
created with a default InvoicePayment (``inpay_``), which is how this API version links invoice
→ payment intent → charge (invoices have no ``payment_intent``/``charge`` fields since
2025-03-31.basil). Voiding gives back applied balance (``unapplied_from_invoice``).

Line items carry their origin in ``parent``: ``subscription_item_details`` (with ``proration``,
``subscription``, ``subscription_item``, ``invoice_item``) or ``invoice_item_details``; the price
is at ``pricing.price_details.price``. The subscription of a subscription invoice is at
``parent.subscription_details.subscription``.
"""

from __future__ import annotations

from typing import Any

from .. import errors, ids
from ..context import Context
from ..events import previous_attributes
from ..listing import filter_created, list_object, page
from ..params import Params, apply_metadata
from ..periods import add_days
from ..routing import Router
from ..schema import (
    Array,
    Boolean,
    Currency,
    Enum,
    Hash,
    Integer,
    Metadata,
    String,
    Timestamp,
    accepts,
    listing,
    time_filter,
)
from ..store import render
from . import customers, discounts, payment_methods, payments

routes = Router()

LINES_SHOWN = 10
COLLECTION_METHODS = ("charge_automatically", "send_invoice")
STATUSES = ("draft", "open", "paid", "uncollectible", "void")
# ``discounts[0][coupon]=X`` (a new discount) or ``discounts[0][discount]=di_...`` (a kept one).
DISCOUNTS = Array(Hash({"coupon": String(), "discount": String()}), unset=True)


# Lines ---------------------------------------------------------------------------------------


def price_pricing(price: dict[str, Any] | None) -> dict[str, Any] | None:
    """The `pricing` of a line or invoice item billed at a price (None without one)."""
    if price is None:
        return None
    return {
        "price_details": {"price": price["id"], "product": price["product"]},
        "type": "price_details",
        "unit_amount_decimal": price["unit_amount_decimal"],
    }


def new_line(
    *,
    amount: int,
    currency: str,
    description: str | None,
    period: tuple[int, int],
    price: dict[str, Any] | None = None,
    quantity: int | None = None,
    proration: bool = False,
    subscription: str | None = None,
    subscription_item: str | None = None,
    invoice_item: str | None = None,
    discountable: bool | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An invoice line (``il_``), not stored on its own: it lives in ``invoice.lines``."""
    if subscription_item is not None:
        parent: dict[str, Any] = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
                "subscription_item": subscription_item,
            },
            "type": "subscription_item_details",
        }
    else:
        parent = {
            "invoice_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    pricing = price_pricing(price)
    return {
        "id": ids.new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": description,
        "discount_amounts": [],
        "discountable": (not proration) if discountable is None else discountable,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": dict(metadata or {}),
        "parent": parent,
        "period": {"start": period[0], "end": period[1]},
        "pretax_credit_amounts": [],
        "pricing": pricing,
        "quantity": quantity,
        "quantity_decimal": str(quantity) if quantity is not None else None,
        "subscription": subscription,
        "subtotal": amount,
        "taxes": [],
    }


def line_from_invoice_item(ctx: Context, item: dict[str, Any]) -> dict[str, Any]:
    price = None
    if item["pricing"] is not None:
        price = ctx.store.get("price", item["pricing"]["price_details"]["price"])
    parent = item["parent"] or {}
    details = parent.get("subscription_details") or {}
    return new_line(
        amount=item["amount"],
        currency=item["currency"],
        description=item["description"],
        period=(item["period"]["start"], item["period"]["end"]),
        price=price,
        quantity=item["quantity"],
        proration=item["proration"],
        subscription=details.get("subscription"),
        subscription_item=details.get("subscription_item"),
        invoice_item=item["id"],
        discountable=item["discountable"],
        metadata=item["metadata"],
    )


def pending_items(
    ctx: Context, customer: str, subscription: str | None = None
) -> list[dict[str, Any]]:
    """Invoice items not yet on an invoice, oldest first (``subscription`` narrows them)."""
    items = [
        item
        for item in ctx.store.values("invoiceitem")
        if item["customer"] == customer and item["invoice"] is None
    ]
    if subscription is not None:
        items = [
            item
            for item in items
            if (item["parent"] or {}).get("subscription_details", {}).get("subscription")
            == subscription
        ]
    return items


def add_line(ctx: Context, invoice: dict[str, Any], line: dict[str, Any]) -> None:
    line["invoice"] = invoice["id"]
    invoice["lines"]["data"].append(line)


# Totals --------------------------------------------------------------------------------------


def compute_totals(ctx: Context, invoice: dict[str, Any], balance: int) -> None:
    """Subtotal, discounts, total and (for a draft or preview) the expected amount due."""
    lines = invoice["lines"]["data"]
    subtotal = sum(line["amount"] for line in lines)
    discount_totals = discounts.allocate(ctx, invoice["discounts"], lines, invoice["_discount_at"])
    total = subtotal - sum(entry["amount"] for entry in discount_totals)
    invoice["subtotal"] = subtotal
    invoice["subtotal_excluding_tax"] = subtotal
    invoice["total_discount_amounts"] = discount_totals
    invoice["total"] = total
    invoice["total_excluding_tax"] = total
    invoice["lines"]["total_count"] = len(lines)
    owed = total + balance
    invoice["starting_balance"] = balance
    invoice["amount_due"] = max(owed, 0)
    invoice["amount_remaining"] = max(owed, 0) - invoice["amount_paid"]


def new_invoice(
    ctx: Context,
    customer: dict[str, Any],
    *,
    billing_reason: str,
    lines: list[dict[str, Any]],
    subscription: dict[str, Any] | None = None,
    collection_method: str = "charge_automatically",
    auto_advance: bool = True,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    default_payment_method: str | None = None,
    days_until_due: int | None = None,
    currency: str | None = None,
    period: tuple[int, int] | None = None,
    discount_ids: list[str] | None = None,
    discount_at: int | None = None,
    store: bool = True,
) -> dict[str, Any]:
    """A draft invoice with ``lines``; stored with ``invoice.created`` unless it is a preview.

    ``period`` is Stripe's ``period_start``/``period_end``: the window in which pending invoice
    items were gathered (default: an empty window at creation), not the service the invoice
    bills, which each line's ``period`` gives. ``discount_at`` is the moment a discount must
    still cover to apply (default: creation)."""
    now = ctx.now()
    invoice_id = ids.new_id("in") if store else f"upcoming_in_{ids.random_token(24)}"
    parent = None
    if subscription is not None:
        parent = {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(subscription["metadata"]),
                "subscription": subscription["id"],
            },
            "type": "subscription_details",
        }
    currency = currency or customer["currency"] or (lines[0]["currency"] if lines else "usd")
    invoice: dict[str, Any] = {
        "id": invoice_id,
        "object": "invoice",
        "account_country": ctx.settings.account_country,
        "account_name": ctx.settings.account_name,
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_paid_off_stripe": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": auto_advance,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": collection_method,
        "confirmation_secret": None,
        "created": now,
        "currency": currency,
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": customer["address"],
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "customer_phone": customer["phone"],
        "customer_shipping": None,
        "customer_tax_exempt": customer["tax_exempt"],
        "customer_tax_ids": [],
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": list(discount_ids or []),
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": list_object([], f"/v1/invoices/{invoice_id}/lines"),
        "livemode": False,
        "metadata": dict(metadata or {}),
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": parent,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": period[1] if period else now,
        "period_start": period[0] if period else now,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": now,
        "_days_until_due": days_until_due,
        "_discount_at": now if discount_at is None else discount_at,
        "_payment_intent": None,
        "_payments": [],
        "_subscription": subscription["id"] if subscription else None,
    }
    for line in lines:
        add_line(ctx, invoice, line)
    if store:
        for line in lines:
            item_id = line_invoice_item(line)
            if item_id:
                item = ctx.store.get("invoiceitem", item_id)
                if item is not None:
                    item["invoice"] = invoice_id
        ctx.store.add(invoice)
        if auto_advance and billing_reason == "manual":
            invoice["automatically_finalizes_at"] = now + 3600
    compute_totals(ctx, invoice, customer["balance"])
    if store:
        ctx.emit("invoice.created", invoice)
    return invoice


def line_invoice_item(line: dict[str, Any]) -> str | None:
    parent = line["parent"]
    details = parent["subscription_item_details"] or parent["invoice_item_details"] or {}
    return details.get("invoice_item")


def subscription_of(invoice: dict[str, Any]) -> str | None:
    return invoice["_subscription"]


# Status changes ------------------------------------------------------------------------------


def _changed(ctx: Context, invoice: dict[str, Any], before: dict[str, Any]) -> None:
    changed = previous_attributes(before, render(invoice))
    if changed:
        ctx.emit("invoice.updated", invoice, changed)


def _require_status(invoice: dict[str, Any], allowed: tuple[str, ...], action: str) -> None:
    if invoice["status"] in allowed:
        return
    status = invoice["status"]
    if status == "paid":
        message = f"Invoice {invoice['id']} is already paid, so it cannot be {action}."
    elif status == "void":
        message = f"Invoice {invoice['id']} has been voided, so it cannot be {action}."
    elif status == "draft":
        message = f"Invoice {invoice['id']} is a draft; finalize it before it can be {action}."
    else:
        message = f"Invoice {invoice['id']} has status {status}, so it cannot be {action}."
    raise errors.invalid_request(message, param="invoice")


def _payment_for(ctx: Context, invoice: dict[str, Any]) -> dict[str, Any] | None:
    """The invoice's default InvoicePayment."""
    for payment_id in reversed(invoice["_payments"]):
        payment = ctx.store.get("invoice_payment", payment_id)
        if payment is not None and payment["is_default"]:
            return payment
    return None


def _open_intent(ctx: Context, invoice: dict[str, Any]) -> dict[str, Any]:
    """The invoice's PaymentIntent for what remains, with its default InvoicePayment."""
    intent = ctx.store.get("payment_intent", invoice["_payment_intent"] or "")
    if intent is not None and intent["status"] not in ("canceled", "succeeded"):
        intent["amount"] = invoice["amount_remaining"]
        payment = _payment_for(ctx, invoice)
        if payment is not None:
            payment["amount_requested"] = invoice["amount_remaining"]
        return intent
    reason = invoice["billing_reason"] or "manual"
    description = {
        "subscription_create": "Subscription creation",
        "subscription_cycle": "Subscription update",
        "subscription_update": "Subscription update",
    }.get(reason, f"Payment for Invoice {invoice['number'] or ''}".strip())
    intent = payments.new_payment_intent(
        ctx,
        amount=invoice["amount_remaining"],
        currency=invoice["currency"],
        customer=invoice["customer"],
        payment_method=None,
        description=description,
    )
    invoice["_payment_intent"] = intent["id"]
    for old_id in invoice["_payments"]:
        old = ctx.store.get("invoice_payment", old_id)
        if old is not None:
            old["is_default"] = False
    payment = ctx.create(
        "invoice_payment",
        {
            "amount_paid": None,
            "amount_requested": invoice["amount_remaining"],
            "currency": invoice["currency"],
            "invoice": invoice["id"],
            "is_default": True,
            "payment": {"payment_intent": intent["id"], "type": "payment_intent"},
            "status": "open",
            "status_transitions": {"canceled_at": None, "paid_at": None},
        },
    )
    payment.pop("metadata", None)
    invoice["_payments"].append(payment["id"])
    return intent


def finalize(ctx: Context, invoice: dict[str, Any]) -> None:
    """draft → open (or straight to paid when nothing is due)."""
    if invoice["status"] != "draft":
        raise errors.invalid_request(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            param="invoice",
        )
    before = render(invoice)
    customer = ctx.store.require("customer", invoice["customer"])
    now = ctx.now()
    balance = customer["balance"]
    compute_totals(ctx, invoice, balance)
    owed = invoice["total"] + balance
    ending = min(owed, 0)
    if ending != balance:
        customers.add_balance_transaction(
            ctx,
            customer,
            ending - balance,
            currency=invoice["currency"],
            type="applied_to_invoice",
            invoice=invoice["id"],
        )
    customers.set_currency(customer, invoice["currency"])
    sequence = customer["next_invoice_sequence"]
    customer["next_invoice_sequence"] = sequence + 1
    token = ids.random_token(40)
    invoice.update(
        {
            "number": f"{customer['invoice_prefix']}-{sequence:04d}",
            "status": "open",
            "starting_balance": balance,
            "ending_balance": ending,
            "amount_due": max(owed, 0),
            "amount_remaining": max(owed, 0),
            "effective_at": now,
            "automatically_finalizes_at": None,
            "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_emulator/test_{token}",
            "invoice_pdf": f"https://pay.stripe.com/invoice/acct_emulator/test_{token}/pdf",
        }
    )
    invoice["status_transitions"]["finalized_at"] = now
    if invoice["collection_method"] == "send_invoice" and invoice["due_date"] is None:
        invoice["due_date"] = add_days(now, invoice["_days_until_due"] or 30)
    if invoice["amount_due"] > 0:
        _open_intent(ctx, invoice)
        # Stripe attempts an auto-advancing one-off invoice about an hour after finalizing;
        # subscription invoices are charged right away by the subscription flow.
        if (
            invoice["collection_method"] == "charge_automatically"
            and invoice["auto_advance"]
            and invoice["_subscription"] is None
        ):
            invoice["next_payment_attempt"] = now + 3600
    ctx.emit("invoice.finalized", invoice)
    if invoice["amount_due"] == 0:
        _settle_paid(ctx, invoice, out_of_band=False)
    _changed(ctx, invoice, before)


def _settle_paid(ctx: Context, invoice: dict[str, Any], *, out_of_band: bool) -> None:
    from . import subscriptions

    now = ctx.now()
    remaining = invoice["amount_remaining"]
    invoice["amount_paid"] += remaining
    if out_of_band:
        invoice["amount_paid_off_stripe"] = (invoice["amount_paid_off_stripe"] or 0) + remaining
    invoice["amount_remaining"] = 0
    invoice["status"] = "paid"
    invoice["next_payment_attempt"] = None
    invoice["status_transitions"]["paid_at"] = now
    payment = _payment_for(ctx, invoice)
    if payment is not None:
        intent = ctx.store.get("payment_intent", invoice["_payment_intent"] or "")
        if out_of_band or intent is None or intent["status"] != "succeeded":
            payment["status"] = "canceled"
            payment["status_transitions"]["canceled_at"] = now
            if intent is not None:
                payments.cancel_intent_object(ctx, intent, None)
        else:
            payment["status"] = "paid"
            payment["amount_paid"] = intent["amount_received"]
            payment["status_transitions"]["paid_at"] = now
            ctx.emit("invoice_payment.paid", payment)
    ctx.emit("invoice.paid", invoice)
    if not out_of_band:
        ctx.emit("invoice.payment_succeeded", invoice)
    _set_delinquent(ctx, invoice["customer"], False)
    subscriptions.on_invoice_paid(ctx, invoice)


def _set_delinquent(ctx: Context, customer_id: str, delinquent: bool) -> None:
    """Stripe's `customer.delinquent`: set by an automatic payment failure, cleared by paying
    an invoice or marking it uncollectible; the change is a customer.updated event."""
    customer = ctx.store.get("customer", customer_id)
    if customer is None or customer.get("deleted") or customer["delinquent"] == delinquent:
        return
    customer["delinquent"] = delinquent
    ctx.emit("customer.updated", customer, {"delinquent": not delinquent})


def choose_payment_method(ctx: Context, invoice: dict[str, Any]) -> str | None:
    """Invoice's default, then the subscription's, then the customer's invoice settings."""
    if invoice["default_payment_method"]:
        return invoice["default_payment_method"]
    subscription = ctx.store.get("subscription", invoice["_subscription"] or "")
    if subscription is not None and subscription["default_payment_method"]:
        return subscription["default_payment_method"]
    customer = ctx.store.get("customer", invoice["customer"])
    if customer is not None:
        return customer["invoice_settings"]["default_payment_method"]
    return None


def attempt_payment(
    ctx: Context,
    invoice: dict[str, Any],
    *,
    payment_method: str | None = None,
    raise_on_decline: bool = False,
) -> bool:
    """Charge what remains on an open invoice; True when it is now paid."""
    from . import subscriptions

    _require_status(invoice, ("open", "uncollectible"), "paid")
    before = render(invoice)
    if invoice["amount_remaining"] <= 0:
        _settle_paid(ctx, invoice, out_of_band=False)
        _changed(ctx, invoice, before)
        return True
    intent = _open_intent(ctx, invoice)
    invoice["attempted"] = True
    invoice["attempt_count"] += 1
    pm_id = payment_method or choose_payment_method(ctx, invoice)
    succeeded, charge = False, None
    if pm_id:
        intent["payment_method"] = pm_id
        intent["status"] = "requires_confirmation"
        succeeded, charge = payments.confirm(ctx, intent)
    if succeeded:
        _settle_paid(ctx, invoice, out_of_band=False)
        _changed(ctx, invoice, before)
        return True
    final = True
    invoice["next_payment_attempt"] = None
    if (
        invoice["_subscription"]
        and invoice["collection_method"] == "charge_automatically"
        and invoice["billing_reason"] != "subscription_create"
    ):
        schedule = ctx.settings.retry_schedule_days
        if invoice["attempt_count"] <= len(schedule):
            invoice["next_payment_attempt"] = add_days(
                ctx.now(), schedule[invoice["attempt_count"] - 1]
            )
            final = False
    ctx.emit("invoice.payment_failed", invoice)
    _changed(ctx, invoice, before)
    if invoice["collection_method"] == "charge_automatically":
        _set_delinquent(ctx, invoice["customer"], True)
    subscriptions.on_invoice_payment_failed(ctx, invoice, final=final)
    if raise_on_decline:
        if pm_id is None:
            raise errors.invalid_request(
                "There is no `default_payment_method` set on this Customer or Invoice. You can "
                "set a payment method to use by passing `payment_method`.",
                param="payment_method",
            )
        pm = ctx.store.require("payment_method", pm_id)
        raise payments.card_error(intent, charge, pm)
    return False


def mark_paid_out_of_band(ctx: Context, invoice: dict[str, Any]) -> None:
    _require_status(invoice, ("open", "uncollectible"), "paid")
    before = render(invoice)
    _settle_paid(ctx, invoice, out_of_band=True)
    _changed(ctx, invoice, before)


def void(ctx: Context, invoice: dict[str, Any]) -> None:
    from . import subscriptions

    _require_status(invoice, ("open", "uncollectible"), "voided")
    before = render(invoice)
    now = ctx.now()
    invoice["status"] = "void"
    invoice["next_payment_attempt"] = None
    invoice["status_transitions"]["voided_at"] = now
    intent = ctx.store.get("payment_intent", invoice["_payment_intent"] or "")
    if intent is not None:
        payments.cancel_intent_object(ctx, intent, "void_invoice")
    payment = _payment_for(ctx, invoice)
    if payment is not None and payment["status"] == "open":
        payment["status"] = "canceled"
        payment["status_transitions"]["canceled_at"] = now
    applied = (invoice["ending_balance"] or 0) - invoice["starting_balance"]
    if applied:
        customer = ctx.store.require("customer", invoice["customer"])
        customers.add_balance_transaction(
            ctx,
            customer,
            -applied,
            currency=invoice["currency"],
            type="unapplied_from_invoice",
            invoice=invoice["id"],
        )
    ctx.emit("invoice.voided", invoice)
    _changed(ctx, invoice, before)
    subscriptions.on_invoice_closed(ctx, invoice)


def mark_uncollectible(ctx: Context, invoice: dict[str, Any]) -> None:
    from . import subscriptions

    _require_status(invoice, ("open",), "marked uncollectible")
    before = render(invoice)
    invoice["status"] = "uncollectible"
    invoice["next_payment_attempt"] = None
    invoice["status_transitions"]["marked_uncollectible_at"] = ctx.now()
    ctx.emit("invoice.marked_uncollectible", invoice)
    _changed(ctx, invoice, before)
    _set_delinquent(ctx, invoice["customer"], False)
    subscriptions.on_invoice_closed(ctx, invoice)


def reduce_remaining(ctx: Context, invoice: dict[str, Any], amount: int) -> None:
    """A pre-payment credit note lowers what the open invoice asks for; at zero it is paid."""
    before = render(invoice)
    invoice["pre_payment_credit_notes_amount"] += amount
    invoice["amount_remaining"] -= amount
    invoice["amount_due"] -= amount
    if invoice["amount_remaining"] <= 0:
        invoice["amount_remaining"] = 0
        _settle_paid(ctx, invoice, out_of_band=True)
    else:
        _open_intent(ctx, invoice)
    _changed(ctx, invoice, before)


def paid_charge(ctx: Context, invoice: dict[str, Any]) -> dict[str, Any] | None:
    """The succeeded charge that paid the invoice, through its InvoicePayment."""
    for payment_id in invoice["_payments"]:
        payment = ctx.store.get("invoice_payment", payment_id)
        if payment is None or payment["status"] != "paid":
            continue
        intent = ctx.store.get("payment_intent", payment["payment"]["payment_intent"])
        if intent is not None and intent["latest_charge"]:
            return ctx.store.get("charge", intent["latest_charge"])
    return None


# Endpoints -----------------------------------------------------------------------------------


def _invoice(ctx: Context, invoice_id: str) -> dict[str, Any]:
    return ctx.store.require("invoice", invoice_id, param="invoice")


@routes.post(
    "/v1/invoices",
    accepts(
        "InvoiceCreateParams",
        auto_advance=Boolean(),
        collection_method=Enum(*COLLECTION_METHODS),
        currency=Currency(),
        customer=String(required=True),
        days_until_due=Integer(minimum=0),
        default_payment_method=String(),
        description=String(max_length=1500),
        discounts=DISCOUNTS,
        due_date=Timestamp(),
        metadata=Metadata(unset=True),
        pending_invoice_items_behavior=Enum("exclude", "include"),
        subscription=String(),
    ),
)
def create(ctx: Context, params: Params) -> dict[str, Any]:
    customer = ctx.store.require("customer", params.require_str("customer"), param="customer")
    subscription = None
    subscription_id = params.str("subscription")
    if subscription_id:
        subscription = ctx.store.require("subscription", subscription_id, param="subscription")
        if subscription["customer"] != customer["id"]:
            raise errors.invalid_request(
                "The subscription does not belong to this customer.", param="subscription"
            )
    collection = params.str("collection_method") or "charge_automatically"
    days_until_due = params.int("days_until_due")
    if collection == "send_invoice" and days_until_due is None and "due_date" not in params:
        raise errors.invalid_request(
            "Invoices with `send_invoice` collection need `days_until_due` or `due_date`.",
            param="days_until_due",
            replayable=False,
        )
    behavior = params.str("pending_invoice_items_behavior")
    lines = []
    if behavior == "include":
        lines = [
            line_from_invoice_item(ctx, item)
            for item in pending_items(ctx, customer["id"], subscription_id)
        ]
    pm_value = params.str("default_payment_method")
    pm = (
        payment_methods.resolve_for_customer(
            ctx, pm_value, customer, param="default_payment_method"
        )
        if pm_value
        else None
    )
    holder: dict[str, Any] = {"metadata": {}}
    apply_metadata(holder, params)
    discount_entries = params.list("discounts") or []
    discount_ids = discounts.from_params(
        ctx, discount_entries, customer=customer["id"], subscription=subscription_id or ""
    )
    invoice = new_invoice(
        ctx,
        customer,
        billing_reason="manual",
        lines=lines,
        subscription=subscription,
        collection_method=collection,
        auto_advance=bool(params.bool("auto_advance")),
        description=params.str("description"),
        metadata=holder["metadata"],
        default_payment_method=pm["id"] if pm else None,
        days_until_due=days_until_due,
        currency=(params.str("currency") or "").lower() or None,
        discount_ids=discount_ids,
    )
    if "due_date" in params:
        invoice["due_date"] = params.int("due_date")
    return render(invoice)


@routes.get("/v1/invoices/{invoice}", accepts("InvoiceRetrieveParams"))
def retrieve(ctx: Context, params: Params, invoice: str) -> dict[str, Any]:
    found = ctx.store.get("invoice", invoice)
    if found is None:
        deleted = ctx.store.deleted(invoice)
        if deleted is not None:
            return dict(deleted)
        raise errors.resource_missing("invoice", invoice, param="invoice")
    return show(found)


def show(invoice: dict[str, Any]) -> dict[str, Any]:
    """The invoice as the API shows it: the first ten lines, with ``has_more``."""
    shown = render(invoice)
    lines = shown["lines"]
    lines["has_more"] = len(lines["data"]) > LINES_SHOWN
    lines["data"] = lines["data"][:LINES_SHOWN]
    return shown


@routes.post(
    "/v1/invoices/{invoice}",
    accepts(
        "InvoiceUpdateParams",
        auto_advance=Boolean(),
        collection_method=Enum(*COLLECTION_METHODS),
        days_until_due=Integer(minimum=0),
        default_payment_method=String(),
        due_date=Timestamp(),
        description=String(max_length=1500),
        footer=String(max_length=5000),
        metadata=Metadata(unset=True),
    ),
)
def update(ctx: Context, params: Params, invoice: str) -> dict[str, Any]:
    found = _invoice(ctx, invoice)
    editable_after_finalize = {"metadata", "description", "footer", "auto_advance"}
    if found["status"] != "draft":
        for key in params.data:
            if key not in editable_after_finalize | {"expand"}:
                raise errors.invalid_request(
                    f"You can only update `{key}` on a draft invoice.",
                    param=key,
                    code="invoice_not_editable",
                )
    before = render(found)
    if "description" in params:
        found["description"] = params.str("description")
    if "footer" in params:
        found["footer"] = params.str("footer")
    if "auto_advance" in params:
        found["auto_advance"] = params.bool("auto_advance")
    if "collection_method" in params:
        found["collection_method"] = params.str("collection_method")
    if "days_until_due" in params:
        found["_days_until_due"] = params.int("days_until_due")
    if "due_date" in params:
        found["due_date"] = params.int("due_date")
    if "default_payment_method" in params:
        customer = ctx.store.require("customer", found["customer"])
        found["default_payment_method"] = payment_methods.resolve_for_customer(
            ctx,
            params.require_str("default_payment_method"),
            customer,
            param="default_payment_method",
        )["id"]
    apply_metadata(found, params)
    _changed(ctx, found, before)
    return show(found)


@routes.delete("/v1/invoices/{invoice}", accepts("InvoiceDeleteParams", expand=False))
def delete(ctx: Context, params: Params, invoice: str) -> dict[str, Any]:
    found = _invoice(ctx, invoice)
    if found["status"] != "draft":
        raise errors.invalid_request(
            "You can only delete draft invoices. Void the invoice instead.", param="invoice"
        )
    for line in found["lines"]["data"]:
        item = ctx.store.get("invoiceitem", line_invoice_item(line) or "")
        if item is not None:
            item["invoice"] = None
    ctx.emit("invoice.deleted", found)
    return ctx.store.delete(found)


@routes.post(
    "/v1/invoices/{invoice}/finalize",
    accepts("InvoiceFinalizeInvoiceParams", auto_advance=Boolean()),
)
def finalize_endpoint(ctx: Context, params: Params, invoice: str) -> dict[str, Any]:
    found = _invoice(ctx, invoice)
    finalize(ctx, found)
    if params.bool("auto_advance") is False:
        found["auto_advance"] = False
    return show(found)


@routes.post(
    "/v1/invoices/{invoice}/pay",
    accepts(
        "InvoicePayParams",
        off_session=Boolean(),
        paid_out_of_band=Boolean(),
        payment_method=String(),
    ),
)
def pay(ctx: Context, params: Params, invoice: str) -> dict[str, Any]:
    found = _invoice(ctx, invoice)
    if found["status"] == "draft":
        finalize(ctx, found)
        if found["status"] == "paid":
            return show(found)
    _require_status(found, ("open", "uncollectible"), "paid")
    if params.bool("paid_out_of_band"):
        mark_paid_out_of_band(ctx, found)
        return show(found)
    pm_value = params.str("payment_method")
    pm_id = None
    if pm_value:
        customer = ctx.store.require("customer", found["customer"])
        pm_id = payment_methods.resolve_for_customer(
            ctx, pm_value, customer, param="payment_method"
        )["id"]
    attempt_payment(ctx, found, payment_method=pm_id, raise_on_decline=True)
    return show(found)


@routes.post("/v1/invoices/{invoice}/void", accepts("InvoiceVoidInvoiceParams"))
def void_endpoint(ctx: Context, params: Params, invoice: str) -> dict[str, Any]:
    found = _invoice(ctx, invoice)
    void(ctx, found)
    return show(found)


@routes.post("/v1/invoices/{invoice}/mark_uncollectible", accepts("InvoiceMarkUncollectibleParams"))
def mark_uncollectible_endpoint(ctx: Context, params: Params, invoice: str) -> dict[str, Any]:
    found = _invoice(ctx, invoice)
    mark_uncollectible(ctx, found)
    return show(found)


@routes.post("/v1/invoices/{invoice}/send", accepts("InvoiceSendInvoiceParams"))
def send(ctx: Context, params: Params, invoice: str) -> dict[str, Any]:
    found = _invoice(ctx, invoice)
    _require_status(found, ("open",), "sent")
    ctx.emit("invoice.sent", found)
    return show(found)


@routes.get("/v1/invoices/{invoice}/lines", listing("InvoiceLineItemListParams", created=False))
def lines(ctx: Context, params: Params, invoice: str) -> dict[str, Any]:
    found = _invoice(ctx, invoice)
    # Lines keep the invoice's order (not newest first): paginate over them as they are.
    return page(list(found["lines"]["data"]), params, f"/v1/invoices/{invoice}/lines")


@routes.get(
    "/v1/invoices",
    listing(
        "InvoiceListParams",
        collection_method=Enum(*COLLECTION_METHODS),
        customer=String(),
        due_date=time_filter(),
        status=Enum(*STATUSES),
        subscription=String(),
    ),
)
def list_invoices(ctx: Context, params: Params) -> dict[str, Any]:
    invoices = filter_created(ctx.store.all("invoice"), params)
    customer = params.str("customer")
    if customer:
        invoices = [i for i in invoices if i["customer"] == customer]
    subscription = params.str("subscription")
    if subscription:
        invoices = [i for i in invoices if i["_subscription"] == subscription]
    status = params.str("status")
    if status:
        invoices = [i for i in invoices if i["status"] == status]
    collection = params.str("collection_method")
    if collection:
        invoices = [i for i in invoices if i["collection_method"] == collection]
    invoices = filter_created(invoices, params, "due_date")
    result = page(invoices, params, "/v1/invoices")
    for shown in result["data"]:
        shown["lines"]["has_more"] = len(shown["lines"]["data"]) > LINES_SHOWN
        shown["lines"]["data"] = shown["lines"]["data"][:LINES_SHOWN]
    return result


# Invoice payments ----------------------------------------------------------------------------


@routes.get("/v1/invoice_payments/{invoice_payment}", accepts("InvoicePaymentRetrieveParams"))
def retrieve_payment(ctx: Context, params: Params, invoice_payment: str) -> dict[str, Any]:
    return render(ctx.store.require("invoice_payment", invoice_payment, param="invoice_payment"))


@routes.get(
    "/v1/invoice_payments",
    listing(
        "InvoicePaymentListParams",
        invoice=String(),
        payment=Hash(
            {
                "payment_intent": String(),
                "type": Enum("payment_intent", required=True),
            }
        ),
        status=Enum("canceled", "open", "paid"),
    ),
)
def list_payments(ctx: Context, params: Params) -> dict[str, Any]:
    found = filter_created(ctx.store.all("invoice_payment"), params)
    invoice = params.str("invoice")
    if invoice:
        found = [p for p in found if p["invoice"] == invoice]
    status = params.str("status")
    if status:
        found = [p for p in found if p["status"] == status]
    payment = params.sub("payment")
    if payment is not None:
        intent = payment.str("payment_intent")
        if intent:
            found = [p for p in found if p["payment"]["payment_intent"] == intent]
    return page(found, params, "/v1/invoice_payments")

"""Invoice items: one-off charges or credits, and the prorations subscription changes leave.

An item without ``invoice`` is *pending*: the customer's next subscription invoice (or a manual
invoice created with ``pending_invoice_items_behavior=include``) picks it up. With ``invoice``
it is added to that draft invoice at once. Proration items made by subscription updates carry
``proration: true`` and ``parent.subscription_details``.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..context import Context
from ..events import previous_attributes
from ..listing import filter_created, page
from ..params import Params, apply_metadata
from ..routing import Router
from ..schema import (
    Amount,
    Boolean,
    Currency,
    Hash,
    Integer,
    Metadata,
    String,
    Timestamp,
    accepts,
    listing,
)
from ..store import render
from . import invoices

routes = Router()


def new_item(
    ctx: Context,
    *,
    customer: str,
    amount: int,
    currency: str,
    description: str | None,
    period: tuple[int, int],
    price: dict[str, Any] | None = None,
    quantity: int = 1,
    proration: bool = False,
    subscription: str | None = None,
    subscription_item: str | None = None,
    discountable: bool | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    parent = None
    if subscription is not None:
        parent = {
            "subscription_details": {
                "subscription": subscription,
                "subscription_item": subscription_item,
            },
            "type": "subscription_details",
        }
    pricing = invoices.price_pricing(price)
    item = ctx.create(
        "invoiceitem",
        {
            "amount": amount,
            "currency": currency,
            "customer": customer,
            "customer_account": None,
            "date": ctx.now(),
            "description": description,
            "discountable": (not proration) if discountable is None else discountable,
            "discounts": [],
            "invoice": None,
            "metadata": dict(metadata or {}),
            "net_amount": amount,
            "parent": parent,
            "period": {"start": period[0], "end": period[1]},
            "pricing": pricing,
            "proration": proration,
            "quantity": quantity,
            "quantity_decimal": str(quantity),
            "tax_rates": [],
            "test_clock": None,
        },
    )
    # Invoice items are dated by `date`, not `created`; prorations say what they credit.
    del item["created"]
    if proration:
        item["proration_details"] = {"credited_items": None, "discount_amounts": []}
    ctx.emit("invoiceitem.created", item)
    return item


@routes.post(
    "/v1/invoiceitems",
    accepts(
        "InvoiceItemCreateParams",
        amount=Amount(minimum=None),
        currency=Currency(),
        customer=String(required=True),
        description=String(),
        discountable=Boolean(),
        invoice=String(),
        metadata=Metadata(unset=True),
        period=Hash({"end": Timestamp(required=True), "start": Timestamp(required=True)}),
        pricing=Hash({"price": String()}),
        quantity=Integer(minimum=0),
        subscription=String(),
    ),
)
def create(ctx: Context, params: Params) -> dict[str, Any]:
    customer = ctx.store.require("customer", params.require_str("customer"), param="customer")
    quantity = params.int("quantity")
    if quantity is None:
        quantity = 1
    pricing = params.sub("pricing")
    price_id = pricing.str("price") if pricing else None
    price = ctx.store.require("price", price_id, param="pricing[price]") if price_id else None
    if price is not None:
        amount = price["unit_amount"] * quantity
        currency = price["currency"]
    else:
        amount = params.require_int("amount")
        currency = params.require_str("currency").lower()
    period_params = params.sub("period")
    now = ctx.now()
    period = (now, now)
    if period_params is not None:
        period = (period_params.require_int("start"), period_params.require_int("end"))
    subscription_id = params.str("subscription")
    if subscription_id:
        ctx.store.require("subscription", subscription_id, param="subscription")
    invoice = None
    invoice_id = params.str("invoice")
    if invoice_id:
        invoice = ctx.store.require("invoice", invoice_id, param="invoice")
        if invoice["status"] != "draft":
            raise errors.invalid_request(
                f"Invoice {invoice_id} is no longer editable: only draft invoices take new items.",
                param="invoice",
                code="invoice_not_editable",
            )
    holder: dict[str, Any] = {"metadata": {}}
    apply_metadata(holder, params)
    item = new_item(
        ctx,
        customer=customer["id"],
        amount=amount,
        currency=currency,
        description=params.str("description"),
        period=period,
        price=price,
        quantity=quantity,
        subscription=subscription_id,
        discountable=params.bool("discountable"),
        metadata=holder["metadata"],
    )
    if invoice is not None:
        item["invoice"] = invoice["id"]
        before = render(invoice)
        invoices.add_line(ctx, invoice, invoices.line_from_invoice_item(ctx, item))
        invoices.compute_totals(ctx, invoice, customer["balance"])
        changed = previous_attributes(before, render(invoice))
        if changed:
            ctx.emit("invoice.updated", invoice, changed)
    return render(item)


@routes.get("/v1/invoiceitems/{invoiceitem}", accepts("InvoiceItemRetrieveParams"))
def retrieve(ctx: Context, params: Params, invoiceitem: str) -> dict[str, Any]:
    return render(ctx.store.require("invoiceitem", invoiceitem, param="invoiceitem"))


@routes.post(
    "/v1/invoiceitems/{invoiceitem}",
    accepts(
        "InvoiceItemUpdateParams",
        amount=Amount(minimum=None),
        description=String(),
        metadata=Metadata(unset=True),
    ),
)
def update(ctx: Context, params: Params, invoiceitem: str) -> dict[str, Any]:
    item = ctx.store.require("invoiceitem", invoiceitem, param="invoiceitem")
    if item["invoice"] is not None and any(key != "metadata" for key in params.data):
        raise errors.invalid_request(
            "This invoice item is already on an invoice and can no longer be changed.",
            code="invoice_not_editable",
        )
    if "amount" in params:
        item["amount"] = params.require_int("amount")
        item["net_amount"] = item["amount"]
    if "description" in params:
        item["description"] = params.str("description")
    apply_metadata(item, params)
    return render(item)


@routes.delete("/v1/invoiceitems/{invoiceitem}", accepts("InvoiceItemDeleteParams", expand=False))
def delete(ctx: Context, params: Params, invoiceitem: str) -> dict[str, Any]:
    item = ctx.store.require("invoiceitem", invoiceitem, param="invoiceitem")
    if item["invoice"] is not None:
        invoice = ctx.store.get("invoice", item["invoice"])
        if invoice is not None and invoice["status"] != "draft":
            raise errors.invalid_request(
                "This invoice item is on a finalized invoice and can't be deleted.",
                code="invoice_not_editable",
            )
        if invoice is not None:
            invoice["lines"]["data"] = [
                line
                for line in invoice["lines"]["data"]
                if invoices.line_invoice_item(line) != item["id"]
            ]
            customer = ctx.store.require("customer", invoice["customer"])
            invoices.compute_totals(ctx, invoice, customer["balance"])
    ctx.emit("invoiceitem.deleted", item)
    return ctx.store.delete(item)


@routes.get(
    "/v1/invoiceitems",
    listing("InvoiceItemListParams", customer=String(), invoice=String(), pending=Boolean()),
)
def list_items(ctx: Context, params: Params) -> dict[str, Any]:
    items = filter_created(ctx.store.all("invoiceitem"), params)
    for key in ("customer", "invoice"):
        value = params.str(key)
        if value:
            items = [item for item in items if item[key] == value]
    if "pending" in params:
        pending = params.bool("pending")
        items = [item for item in items if (item["invoice"] is None) == pending]
    return page(items, params, "/v1/invoiceitems")

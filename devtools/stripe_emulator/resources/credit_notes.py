"""Credit notes: reducing what an invoice asks for, or giving back what was paid.

- On an ``open`` invoice (a *pre-payment* credit note) the total lowers the invoice's
  ``amount_due``/``amount_remaining``; when nothing remains the invoice is marked paid.
- On a ``paid`` invoice (*post-payment*) the total must be split exactly between
  ``credit_amount`` (a ``credit_note`` customer balance transaction, negative: credit),
  ``refund_amount`` (a refund of the invoice's charge, or ``refunds[]`` naming existing ones)
  and ``out_of_band_amount``. If none is given the whole total is credited to the balance.
- The total comes from ``lines`` (``invoice_line_item`` with ``amount`` or ``quantity``, or
  ``custom_line_item`` with ``unit_amount`` × ``quantity``), else ``amount``, else the sum of
  the three allocations. It cannot exceed what remains on the invoice (pre-payment) or what was
  paid less earlier post-payment credit notes.

Voiding (``POST /v1/credit_notes/:id/void``) undoes the balance credit or the reduction; a
credit note whose money was refunded cannot be voided.
"""

from __future__ import annotations

from typing import Any

from .. import errors, ids
from ..context import Context
from ..events import previous_attributes
from ..listing import filter_created, list_object, page
from ..params import Params, apply_metadata
from ..routing import Router
from ..schema import (
    Amount,
    Array,
    Enum,
    Hash,
    Integer,
    Metadata,
    String,
    Timestamp,
    accepts,
    listing,
)
from ..store import render
from . import customers, invoices, refunds

routes = Router()

REASONS = ("duplicate", "fraudulent", "order_change", "product_unsatisfactory")
REFUND_REASONS = {"duplicate": "duplicate", "fraudulent": "fraudulent"}


def _line(
    *,
    amount: int,
    description: str | None,
    kind: str,
    invoice_line_item: str | None,
    quantity: int | None,
    unit_amount: int | None,
) -> dict[str, Any]:
    line = {
        "id": ids.new_id("cnli"),
        "object": "credit_note_line_item",
        "amount": amount,
        "description": description,
        "discount_amount": 0,
        "discount_amounts": [],
        "invoice_line_item": invoice_line_item,
        "livemode": False,
        "metadata": {},
        "pretax_credit_amounts": [],
        "quantity": quantity,
        "tax_rates": [],
        "taxes": [],
        "type": kind,
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount) if unit_amount is not None else None,
    }
    if invoice_line_item is None:
        del line["invoice_line_item"]  # a custom line credits no invoice line
    return line


def _lines_from_params(invoice: dict[str, Any], entries: list[Params]) -> list[dict[str, Any]]:
    by_id = {line["id"]: line for line in invoice["lines"]["data"]}
    result = []
    for entry in entries:
        kind = entry.require_str("type")
        quantity = entry.int("quantity", minimum=0)
        if kind == "invoice_line_item":
            line_id = entry.require_str("invoice_line_item")
            source = by_id.get(line_id)
            if source is None:
                raise errors.resource_missing(
                    "invoice line item", line_id, param=entry.name("invoice_line_item")
                )
            amount = entry.int("amount", minimum=0)
            if amount is None:
                source_quantity = source["quantity"] or 1
                amount = source["amount"] * (quantity or source_quantity) // source_quantity
            if amount > source["amount"]:
                raise errors.invalid_request(
                    "The credit note line amount cannot exceed the invoice line item amount.",
                    param=entry.name("amount"),
                )
            result.append(
                _line(
                    amount=amount,
                    description=source["description"],
                    kind=kind,
                    invoice_line_item=line_id,
                    quantity=quantity or source["quantity"],
                    unit_amount=None,
                )
            )
        else:
            unit_amount = entry.require_int("unit_amount", minimum=0)
            quantity = 1 if quantity is None else quantity
            result.append(
                _line(
                    amount=unit_amount * quantity,
                    description=entry.str("description"),
                    kind=kind,
                    invoice_line_item=None,
                    quantity=quantity,
                    unit_amount=unit_amount,
                )
            )
    return result


@routes.post(
    "/v1/credit_notes",
    accepts(
        "CreditNoteCreateParams",
        amount=Amount(minimum=1),
        credit_amount=Amount(),
        effective_at=Timestamp(),
        invoice=String(required=True),
        lines=Array(
            Hash(
                {
                    "amount": Amount(),
                    "description": String(),
                    "invoice_line_item": String(),
                    "quantity": Integer(minimum=0),
                    "type": Enum("custom_line_item", "invoice_line_item", required=True),
                    "unit_amount": Amount(),
                }
            )
        ),
        memo=String(),
        metadata=Metadata(),
        out_of_band_amount=Amount(),
        reason=Enum(*REASONS),
        refund_amount=Amount(),
        refunds=Array(Hash({"amount_refunded": Amount(), "refund": String()})),
    ),
)
def create(ctx: Context, params: Params) -> dict[str, Any]:
    invoice = ctx.store.require("invoice", params.require_str("invoice"), param="invoice")
    if invoice["status"] not in ("open", "paid"):
        raise errors.invalid_request(
            f"Credit notes can only be issued for open or paid invoices; invoice "
            f"{invoice['id']} is {invoice['status']}.",
            param="invoice",
        )
    credit_amount = params.int("credit_amount", minimum=0)
    refund_amount = params.int("refund_amount", minimum=0)
    out_of_band = params.int("out_of_band_amount", minimum=0)
    refund_entries = params.list("refunds") or []
    linked_refunds = []
    for entry in refund_entries:
        refund = ctx.store.require(
            "refund", entry.require_str("refund"), param=entry.name("refund")
        )
        linked_refunds.append((refund, entry.int("amount_refunded") or refund["amount"]))
    line_entries = params.list("lines")
    amount_param = params.int("amount", minimum=1)
    if line_entries:
        lines = _lines_from_params(invoice, line_entries)
    else:
        allocated = (credit_amount or 0) + (refund_amount or 0) + (out_of_band or 0)
        allocated += sum(amount for _, amount in linked_refunds)
        total = amount_param or allocated
        if not total:
            raise errors.invalid_request(
                "You must pass either `lines` or `amount` (or the amounts to credit, refund or "
                "settle out of band).",
                param="amount",
                replayable=False,
            )
        lines = [
            _line(
                amount=total,
                description=params.str("memo") or "Credit",
                kind="custom_line_item",
                invoice_line_item=None,
                quantity=1,
                unit_amount=total,
            )
        ]
    total = sum(line["amount"] for line in lines)
    if amount_param is not None and amount_param != total:
        raise errors.invalid_request(
            "The `amount` must equal the sum of the credit note lines.", param="amount"
        )
    currency = invoice["currency"]
    post_payment = invoice["status"] == "paid"
    if post_payment:
        creditable = invoice["amount_paid"] - invoice["post_payment_credit_notes_amount"]
        if total > creditable:
            raise errors.invalid_request(
                f"The sum of credit amount, refund amount and out of band amount "
                f"({total}) must be less than or equal to the invoice's amount paid less earlier "
                f"credit notes ({creditable}).",
                param="amount",
            )
        linked_total = sum(amount for _, amount in linked_refunds)
        if (
            credit_amount is None
            and refund_amount is None
            and out_of_band is None
            and not linked_refunds
        ):
            credit_amount = total
        split = (credit_amount or 0) + (refund_amount or 0) + (out_of_band or 0) + linked_total
        if split != total:
            raise errors.invalid_request(
                f"The sum of credit_amount, refund_amount and out_of_band_amount ({split}) must "
                f"equal the credit note amount ({total}).",
                param="credit_amount",
            )
    else:
        if total > invoice["amount_remaining"]:
            raise errors.invalid_request(
                f"The credit note amount ({total}) cannot exceed the amount remaining on the "
                f"invoice ({invoice['amount_remaining']}).",
                param="amount",
            )
        if credit_amount or refund_amount or linked_refunds:
            raise errors.invalid_request(
                "An open invoice cannot be credited to the balance or refunded; the credit note "
                "reduces its amount due.",
                param="credit_amount",
            )
    charge = None
    if refund_amount:
        charge = invoices.paid_charge(ctx, invoice)
        if charge is None:
            raise errors.invalid_request(
                "This invoice was not paid with a charge, so the credit note cannot refund it.",
                param="refund_amount",
            )
    customer = ctx.store.require("customer", invoice["customer"])
    sequence = (
        sum(1 for note in ctx.store.all("credit_note") if note["invoice"] == invoice["id"]) + 1
    )
    reason = params.str("reason")
    note_id = ids.new_id("cn")
    for line in lines:
        line["id"] = ids.new_id("cnli")
    note = ctx.create(
        "credit_note",
        {
            "amount": total,
            "amount_shipping": 0,
            "currency": currency,
            "customer": customer["id"],
            "customer_account": None,
            "customer_balance_transaction": None,
            "discount_amount": 0,
            "discount_amounts": [],
            "effective_at": params.int("effective_at") or ctx.now(),
            "invoice": invoice["id"],
            "lines": list_object(lines, f"/v1/credit_notes/{note_id}/lines"),
            "memo": params.str("memo"),
            "number": f"{invoice['number']}-CN-{sequence:02d}",
            "out_of_band_amount": out_of_band,
            "pdf": f"https://pay.stripe.com/credit_notes/acct_emulator/test_{ids.random_token(40)}/pdf",
            "post_payment_amount": total if post_payment else 0,
            "pre_payment_amount": 0 if post_payment else total,
            "pretax_credit_amounts": [],
            "reason": reason,
            "refunds": [],
            "shipping_cost": None,
            "status": "issued",
            "subtotal": total,
            "subtotal_excluding_tax": total,
            "total": total,
            "total_excluding_tax": total,
            "total_taxes": [],
            "type": "post_payment" if post_payment else "pre_payment",
            "voided_at": None,
            "_credit_amount": credit_amount or 0,
        },
        object_id=note_id,
    )
    apply_metadata(note, params)
    if post_payment:
        before = render(invoice)
        invoice["post_payment_credit_notes_amount"] += total
        changed = previous_attributes(before, render(invoice))
        if changed:
            ctx.emit("invoice.updated", invoice, changed)
        if credit_amount:
            transaction = customers.add_balance_transaction(
                ctx,
                customer,
                -credit_amount,
                currency=currency,
                type="credit_note",
                credit_note=note["id"],
                invoice=invoice["id"],
            )
            note["customer_balance_transaction"] = transaction["id"]
        if refund_amount and charge is not None:
            refund = refunds.create_refund(
                ctx,
                charge,
                refund_amount,
                reason=REFUND_REASONS.get(reason or "", "requested_by_customer"),
                metadata={"credit_note": note["id"]},
            )
            linked_refunds.append((refund, refund_amount))
        note["refunds"] = [
            {
                "amount_refunded": amount,
                "payment_record_refund": None,
                "refund": refund["id"],
                "type": "refund",
            }
            for refund, amount in linked_refunds
        ]
    else:
        invoices.reduce_remaining(ctx, invoice, total)
    ctx.emit("credit_note.created", note)
    return render(note)


@routes.get("/v1/credit_notes/{credit_note}", accepts("CreditNoteRetrieveParams"))
def retrieve(ctx: Context, params: Params, credit_note: str) -> dict[str, Any]:
    return render(ctx.store.require("credit_note", credit_note, param="id"))


@routes.post(
    "/v1/credit_notes/{credit_note}",
    accepts("CreditNoteUpdateParams", memo=String(), metadata=Metadata()),
)
def update(ctx: Context, params: Params, credit_note: str) -> dict[str, Any]:
    note = ctx.store.require("credit_note", credit_note, param="id")
    with ctx.events.updating(note, "credit_note.updated"):
        if "memo" in params:
            note["memo"] = params.str("memo")
        apply_metadata(note, params)
    return render(note)


@routes.post("/v1/credit_notes/{credit_note}/void", accepts("CreditNoteVoidCreditNoteParams"))
def void(ctx: Context, params: Params, credit_note: str) -> dict[str, Any]:
    note = ctx.store.require("credit_note", credit_note, param="id")
    if note["status"] != "issued":
        raise errors.invalid_request("This credit note has already been voided.", param="id")
    if note["refunds"]:
        raise errors.invalid_request(
            "A credit note whose amount was refunded cannot be voided.", param="id"
        )
    invoice = ctx.store.require("invoice", note["invoice"])
    if note["type"] == "pre_payment" and invoice["status"] != "open":
        raise errors.invalid_request(
            "This credit note cannot be voided because its invoice is no longer open.", param="id"
        )
    with ctx.events.updating(invoice, "invoice.updated"):
        if note["type"] == "pre_payment":
            invoice["pre_payment_credit_notes_amount"] -= note["total"]
            invoice["amount_due"] += note["total"]
            invoice["amount_remaining"] += note["total"]
        else:
            invoice["post_payment_credit_notes_amount"] -= note["total"]
    if note["_credit_amount"]:
        customer = ctx.store.require("customer", note["customer"])
        customers.add_balance_transaction(
            ctx,
            customer,
            note["_credit_amount"],
            currency=note["currency"],
            type="credit_note",
            credit_note=note["id"],
            invoice=invoice["id"],
        )
    note["status"] = "void"
    note["voided_at"] = ctx.now()
    ctx.emit("credit_note.voided", note)
    return render(note)


@routes.get(
    "/v1/credit_notes/{credit_note}/lines",
    listing("CreditNoteLineItemListParams", created=False),
)
def lines(ctx: Context, params: Params, credit_note: str) -> dict[str, Any]:
    note = ctx.store.require("credit_note", credit_note, param="credit_note")
    return page(list(note["lines"]["data"]), params, f"/v1/credit_notes/{credit_note}/lines")


@routes.get(
    "/v1/credit_notes",
    listing("CreditNoteListParams", customer=String(), invoice=String()),
)
def list_notes(ctx: Context, params: Params) -> dict[str, Any]:
    notes = filter_created(ctx.store.all("credit_note"), params)
    for key in ("customer", "invoice"):
        value = params.str(key)
        if value:
            notes = [note for note in notes if note[key] == value]
    return page(notes, params, "/v1/credit_notes")

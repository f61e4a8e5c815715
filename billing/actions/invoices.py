"""Invoice actions: void, mark uncollectible, retry the payment."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from accounts.models import User
from billing.actions.errors import ActionConflict, InvalidAction
from billing.actions.pipeline import (
    Handler,
    Preview,
    PreviewLine,
    Proposal,
    justify,
    register,
    required,
    submit,
)
from billing.models import Action, ActionKind, Invoice, InvoiceStatus
from billing.money import format_amount
from billing.stripe import gateway
from billing.stripe.mirror import Snapshot

INVOICE_ACTIONS: dict[str, tuple[str, str, str]] = {
    "void": (ActionKind.INVOICE_VOID, "void", InvoiceStatus.VOID),
    "mark_uncollectible": (
        ActionKind.INVOICE_MARK_UNCOLLECTIBLE,
        "mark_uncollectible",
        InvoiceStatus.UNCOLLECTIBLE,
    ),
    "retry_payment": (ActionKind.INVOICE_RETRY_PAYMENT, "pay", InvoiceStatus.PAID),
}
# Which invoices each action applies to (as Stripe allows them).
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    ActionKind.INVOICE_VOID: (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE),
    ActionKind.INVOICE_MARK_UNCOLLECTIBLE: (InvoiceStatus.OPEN,),
    ActionKind.INVOICE_RETRY_PAYMENT: (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE),
}


def check_state(kind: str, invoice: Invoice) -> None:
    if invoice.status not in ALLOWED_FROM[kind]:
        name = invoice.number or invoice.stripe_invoice_id
        raise ActionConflict(
            f"Invoice {name} is {invoice.get_status_display().lower()}: "
            f"“{ActionKind(kind).label}” does not apply to it."
        )
    if kind == ActionKind.INVOICE_RETRY_PAYMENT and invoice.amount_remaining <= 0:
        raise ActionConflict("Nothing remains to be paid on this invoice.")


def _proposal(invoice: Invoice, action: str) -> Proposal:
    if action not in INVOICE_ACTIONS:
        raise InvalidAction({"action": f"“{action}” is not an invoice action."})
    kind, stripe_action, _ = INVOICE_ACTIONS[action]
    check_state(kind, invoice)
    return Proposal(
        kind=kind,
        customer=invoice.customer,
        payload={
            "invoice_id": invoice.pk,
            "stripe_invoice": invoice.stripe_invoice_id,
            "action": stripe_action,
        },
        targets={"invoice": invoice},
    )


def preview_invoice_action(*, invoice: Invoice, action: str) -> Preview:
    invoice = Invoice.objects.get(pk=invoice.pk)
    proposal = _proposal(invoice, action)
    _, _, after = INVOICE_ACTIONS[action]
    remaining = format_amount(invoice.amount_remaining, invoice.currency)
    summary: str = {
        ActionKind.INVOICE_VOID: f"Void the invoice: the customer no longer owes {remaining}.",
        ActionKind.INVOICE_MARK_UNCOLLECTIBLE: f"Stop collecting {remaining}: written off as bad "
        "debt; it can still be paid later.",
        ActionKind.INVOICE_RETRY_PAYMENT: f"Charge {remaining} to the customer's default payment "
        "method now.",
    }[ActionKind(proposal.kind)]
    return Preview(
        kind=proposal.kind,
        summary=summary,
        lines=[PreviewLine("Status", invoice.get_status_display(), InvoiceStatus(after).label)],
    )


def request_invoice_action(
    *,
    actor: User,
    invoice: Invoice,
    action: str,
    reason: str,
    ticket: str,
    note: str = "",
    now: dt.datetime | None = None,
) -> Action:
    kind = INVOICE_ACTIONS.get(action, (None,))[0]
    if kind is None:
        raise InvalidAction({"action": f"“{action}” is not an invoice action."})
    justification = justify(kind=kind, reason=reason, ticket=ticket, note=note)
    proposal = _proposal(Invoice.objects.select_related("customer").get(pk=invoice.pk), action)
    return submit(proposal, actor=actor, justification=justification, now=now or timezone.now())


# The invoice status each Stripe invoice action leads to.
TARGET_STATUS = {"void": "void", "mark_uncollectible": "uncollectible", "pay": "paid"}


class InvoiceHandler(Handler):
    def check_locked(self, action: Action) -> None:
        invoice_id = required(action.invoice_id, "invoice")
        check_state(action.kind, Invoice.objects.select_for_update(no_key=True).get(pk=invoice_id))

    def find_existing(self, action: Action) -> gateway.InvoiceData | None:
        """Stripe's invoice actions refuse a second go; an earlier attempt may have done it."""
        invoice = gateway.retrieve_invoice(action.payload["stripe_invoice"])
        return invoice if invoice.status == TARGET_STATUS[action.payload["action"]] else None

    def perform(self, action: Action, metadata: dict[str, str]) -> gateway.InvoiceData:
        return gateway.invoice_action(
            invoice_id=action.payload["stripe_invoice"],
            action=action.payload["action"],
            idempotency_key=action.idempotency_key,
        )

    def read_back(self, action: Action, result: gateway.InvoiceData) -> Snapshot:
        snapshot = Snapshot(fetched_at=timezone.now())
        snapshot.invoices.append(result)
        return snapshot


@register
class VoidInvoiceHandler(InvoiceHandler):
    kind = ActionKind.INVOICE_VOID


@register
class MarkUncollectibleHandler(InvoiceHandler):
    kind = ActionKind.INVOICE_MARK_UNCOLLECTIBLE


@register
class RetryPaymentHandler(InvoiceHandler):
    kind = ActionKind.INVOICE_RETRY_PAYMENT

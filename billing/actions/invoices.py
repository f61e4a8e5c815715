"""Invoice actions: void, mark uncollectible, retry the payment."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TypedDict

from django.utils import timezone

from accounts.models import User
from billing.actions.base import Handler, Preview, PreviewLine, Proposal, register, required
from billing.actions.errors import ActionConflict, InvalidAction
from billing.actions.justification import justify
from billing.actions.pipeline import submit
from billing.models import INVOICE_KINDS, Action, ActionKind, Invoice, InvoiceStatus
from billing.money import format_amount
from billing.stripe import gateway
from billing.stripe.mirror import Snapshot


@dataclass(frozen=True)
class InvoiceAction:
    kind: ActionKind
    stripe_action: str  # the gateway's name for it
    allowed_from: tuple[InvoiceStatus, ...]  # as Stripe allows it
    leads_to: InvoiceStatus


INVOICE_ACTIONS: dict[str, InvoiceAction] = {
    "void": InvoiceAction(
        ActionKind.INVOICE_VOID,
        "void",
        (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE),
        InvoiceStatus.VOID,
    ),
    "mark_uncollectible": InvoiceAction(
        ActionKind.INVOICE_MARK_UNCOLLECTIBLE,
        "mark_uncollectible",
        (InvoiceStatus.OPEN,),
        InvoiceStatus.UNCOLLECTIBLE,
    ),
    "retry_payment": InvoiceAction(
        ActionKind.INVOICE_RETRY_PAYMENT,
        "pay",
        (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE),
        InvoiceStatus.PAID,
    ),
}
BY_KIND = {spec.kind: spec for spec in INVOICE_ACTIONS.values()}


class InvoicePayload(TypedDict):
    invoice_id: int
    stripe_invoice: str
    action: str  # the gateway's name for it


def check_state(kind: str, invoice: Invoice) -> None:
    """Whether the invoice, as it is now, allows this action: in a status Stripe allows it
    from, with nothing left to pay for a retry, and no other invoice action in flight or done
    at Stripe but not yet mirrored (its effect is not in the invoice's status yet)."""
    spec = BY_KIND[ActionKind(kind)]
    name = invoice.number or invoice.stripe_invoice_id
    if invoice.status not in spec.allowed_from:
        raise ActionConflict(
            f"Invoice {name} is {invoice.get_status_display().lower()}: "
            f"“{spec.kind.label}” does not apply to it."
        )
    if kind == ActionKind.INVOICE_RETRY_PAYMENT and invoice.amount_remaining <= 0:
        raise ActionConflict("Nothing remains to be paid on this invoice.")
    other = Action.objects.filter(invoice=invoice, kind__in=INVOICE_KINDS).outstanding().first()
    if other is not None:
        raise ActionConflict(
            f"{other.get_kind_display()} #{other.pk} of invoice {name} is still being "
            "confirmed by Stripe; look again in a minute."
        )


def _proposal(invoice: Invoice, action: str) -> Proposal:
    spec = INVOICE_ACTIONS.get(action)
    if spec is None:
        raise InvalidAction({"action": f"“{action}” is not an invoice action."})
    check_state(spec.kind, invoice)
    payload: InvoicePayload = {
        "invoice_id": invoice.pk,
        "stripe_invoice": invoice.stripe_invoice_id,
        "action": spec.stripe_action,
    }
    return Proposal(
        kind=spec.kind, customer=invoice.customer, payload=payload, invoice_id=invoice.pk
    )


def _fresh(invoice: Invoice) -> Invoice:
    return Invoice.objects.select_related("customer").get(pk=invoice.pk)


def preview_invoice_action(*, invoice: Invoice, action: str) -> Preview:
    invoice = _fresh(invoice)
    proposal = _proposal(invoice, action)
    spec = INVOICE_ACTIONS[action]
    remaining = format_amount(invoice.amount_remaining, invoice.currency)
    summary = {
        ActionKind.INVOICE_VOID: f"Void the invoice: the customer no longer owes {remaining}.",
        ActionKind.INVOICE_MARK_UNCOLLECTIBLE: f"Stop collecting {remaining}: written off as bad "
        "debt; it can still be paid later.",
        ActionKind.INVOICE_RETRY_PAYMENT: f"Charge {remaining} to the customer's default payment "
        "method now.",
    }[spec.kind]
    return Preview(
        kind=proposal.kind,
        summary=summary,
        lines=[PreviewLine("Status", invoice.get_status_display(), spec.leads_to.label)],
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
    request_key: str = "",
) -> Action:
    spec = INVOICE_ACTIONS.get(action)
    if spec is None:
        raise InvalidAction({"action": f"“{action}” is not an invoice action."})
    justification = justify(kind=spec.kind, reason=reason, ticket=ticket, note=note)
    proposal = _proposal(_fresh(invoice), action)
    return submit(
        proposal,
        actor=actor,
        justification=justification,
        now=now or timezone.now(),
        request_key=request_key,
    )


# The invoice status each of the gateway's invoice actions leads to.
TARGET_STATUS = {spec.stripe_action: spec.leads_to for spec in INVOICE_ACTIONS.values()}


class InvoiceHandler(Handler[InvoicePayload, gateway.InvoiceData]):
    def check_locked(self, action: Action) -> None:
        invoice_id = required(action.invoice_id, "invoice")
        check_state(action.kind, Invoice.objects.select_for_update(no_key=True).get(pk=invoice_id))

    def find_existing(self, action: Action) -> gateway.InvoiceData | None:
        """Stripe's invoice actions refuse a second go; an earlier attempt may have done it."""
        payload = self.payload(action)
        invoice = gateway.retrieve_invoice(payload["stripe_invoice"])
        return invoice if invoice.status == TARGET_STATUS[payload["action"]] else None

    def perform(self, action: Action, metadata: dict[str, str]) -> gateway.InvoiceData:
        payload = self.payload(action)
        return gateway.invoice_action(
            invoice_id=payload["stripe_invoice"],
            action=payload["action"],
            idempotency_key=action.idempotency_key,
        )

    def read_back(self, action: Action, result: gateway.InvoiceData) -> Snapshot:
        snapshot = Snapshot(fetched_at=timezone.now())
        snapshot.read_invoice(result.id)
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

"""Refunds of a card payment, in full or in part."""

from __future__ import annotations

import datetime as dt
from typing import TypedDict

from django.utils import timezone

from accounts.models import User
from billing.actions.base import Handler, Preview, PreviewLine, Proposal, register, required
from billing.actions.errors import ActionConflict, InvalidAction
from billing.actions.justification import check_positive_amount, justify
from billing.actions.pipeline import submit
from billing.models import Action, ActionKind, Payment, PaymentStatus, RefundReason
from billing.money import Money, format_amount
from billing.stripe import gateway
from billing.stripe.mirror import Snapshot

# Our reason codes that have a Stripe refund reason of the same meaning.
STRIPE_REASONS = {code: code for code in RefundReason.values}


class RefundPayload(TypedDict):
    payment_id: int
    charge: str
    amount: int
    currency: str


def refundable(payment: Payment) -> int:
    """amount − refunded − refunds outstanding (PaymentQuerySet.with_refundable, SPEC §3)."""
    return Payment.objects.refundable_of(payment)


def _proposal(payment: Payment, amount: int | None) -> Proposal:
    if payment.status != PaymentStatus.SUCCEEDED:
        raise ActionConflict("Only a succeeded payment can be refunded.")
    remaining = refundable(payment)
    if remaining <= 0:
        raise ActionConflict("This payment has nothing left to refund.")
    errors: dict[str, str] = {}
    if amount is None:
        amount = remaining  # the whole remaining amount
    check_positive_amount(amount, errors)
    if not errors and not Money(amount, payment.currency).is_chargeable():
        errors["amount"] = f"Stripe refunds {payment.currency.upper()} only in whole steps."
    elif not errors and amount > remaining:
        errors["amount"] = (
            f"At most {format_amount(remaining, payment.currency)} can still be refunded."
        )
    if errors:
        raise InvalidAction(errors)
    payload: RefundPayload = {
        "payment_id": payment.pk,
        "charge": payment.stripe_charge_id,
        "amount": amount,
        "currency": payment.currency,
    }
    return Proposal(
        kind=ActionKind.REFUND,
        customer=payment.customer,
        payload=payload,
        amount=amount,
        currency=payment.currency,
        measure=amount,
        payment_id=payment.pk,
    )


def _fresh(payment: Payment) -> Payment:
    """The payment as it is now (a screen may hold an older copy)."""
    return Payment.objects.select_related("customer").get(pk=payment.pk)


def preview_refund(*, payment: Payment, amount: int | None) -> Preview:
    payment = _fresh(payment)
    proposal = _proposal(payment, amount)
    asked = required(proposal.amount, "amount")
    remaining = refundable(payment)
    refunded = payment.amount - remaining
    card = f"{payment.card_brand.title()} ···· {payment.card_last4}".strip(" ·")
    return Preview(
        kind=ActionKind.REFUND,
        summary=f"Refund {format_amount(asked, payment.currency)} to {card or 'the card'}",
        lines=[
            PreviewLine(
                "Refunded",
                format_amount(refunded, payment.currency),
                format_amount(refunded + asked, payment.currency),
            ),
            PreviewLine(
                "Refundable remaining",
                format_amount(remaining, payment.currency),
                format_amount(remaining - asked, payment.currency),
            ),
        ],
        currency=proposal.currency,
        measure=proposal.measure,
    )


def request_refund(
    *,
    actor: User,
    payment: Payment,
    amount: int | None,
    reason: str,
    ticket: str,
    note: str = "",
    now: dt.datetime | None = None,
) -> Action:
    """Refund `amount` (minor units; None: all that remains) of a succeeded payment."""
    justification = justify(kind=ActionKind.REFUND, reason=reason, ticket=ticket, note=note)
    proposal = _proposal(_fresh(payment), amount)
    return submit(proposal, actor=actor, justification=justification, now=now or timezone.now())


@register
class RefundHandler(Handler[RefundPayload, gateway.RefundData]):
    kind = ActionKind.REFUND

    def check_locked(self, action: Action) -> None:
        payment = Payment.objects.select_for_update(no_key=True).get(
            pk=required(action.payment_id, "payment")
        )
        if payment.status != PaymentStatus.SUCCEEDED:
            raise ActionConflict("Only a succeeded payment can be refunded.")
        remaining = refundable(payment)
        if required(action.amount, "amount") > remaining:
            raise ActionConflict(
                "Another refund got there first: at most "
                f"{format_amount(max(remaining, 0), payment.currency)} can still be refunded."
            )

    def find_existing(self, action: Action) -> gateway.RefundData | None:
        for refund in gateway.list_refunds(self.payload(action)["charge"]):
            if refund.metadata.get("action_id") == str(action.pk):
                return refund
        return None

    def perform(self, action: Action, metadata: dict[str, str]) -> gateway.RefundData:
        payload = self.payload(action)
        return gateway.create_refund(
            charge_id=payload["charge"],
            amount=payload["amount"],
            reason=STRIPE_REASONS.get(action.reason_code, ""),
            metadata=metadata,
            idempotency_key=action.idempotency_key,
        )

    def read_back(self, action: Action, result: gateway.RefundData) -> Snapshot:
        snapshot = Snapshot(fetched_at=timezone.now())
        snapshot.read_charge(result.charge)
        snapshot.refunds.append(result)
        return snapshot

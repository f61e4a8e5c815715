"""Credits to a customer's balance, and their reversal.

Stripe's sign: a customer balance below zero is credit they will spend on their next invoices,
so a credit is a negative balance transaction and its reversal a positive one. The action's
amount is always the positive size of the change.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from billing.actions.errors import ActionConflict, InvalidAction
from billing.actions.pipeline import (
    Handler,
    Preview,
    PreviewLine,
    Proposal,
    check_positive_amount,
    justify,
    register,
    required,
    submit,
)
from billing.models import Action, ActionKind, BalanceTransaction, Customer
from billing.money import MoneyError, format_amount, normalize_currency
from billing.stripe import gateway
from billing.stripe.mirror import Snapshot


def _credit_proposal(customer: Customer, amount: int, currency: str) -> Proposal:
    errors: dict[str, str] = {}
    if not customer.stripe_customer_id:
        raise ActionConflict("This customer has no Stripe account to credit.")
    try:
        currency = normalize_currency(currency)
    except MoneyError as error:
        errors["currency"] = error.args[0]
    else:
        if currency != customer.currency:
            errors["currency"] = (
                f"{customer.name}'s balance is in {customer.currency.upper()}; "
                f"credit in {customer.currency.upper()}."
            )
    check_positive_amount(amount, errors)
    if errors:
        raise InvalidAction(errors)
    return Proposal(
        kind=ActionKind.CREDIT,
        customer=customer,
        payload={
            "customer_id": customer.pk,
            "stripe_customer": customer.stripe_customer_id,
            "amount": -amount,  # Stripe's sign: negative is credit
            "currency": currency,
        },
        amount=amount,
        currency=currency,
        measure=amount,
    )


def _balance_line(customer: Customer, change: int) -> PreviewLine:
    balance = customer.balance().amount

    def show(value: int) -> str:
        if value < 0:
            return f"{format_amount(-value, customer.currency)} credit"
        return f"{format_amount(value, customer.currency)} owed" if value else "none"

    return PreviewLine("Balance", show(balance), show(balance + change))


def preview_credit(*, customer: Customer, amount: int, currency: str) -> Preview:
    proposal = _credit_proposal(customer, amount, currency)
    return Preview(
        kind=ActionKind.CREDIT,
        summary=f"Credit {format_amount(amount, proposal.currency)} to {customer.name}'s "
        "balance, used on their next invoices",
        lines=[_balance_line(customer, -amount)],
    )


def request_credit(
    *,
    actor: User,
    customer: Customer,
    amount: int,
    currency: str,
    reason: str,
    ticket: str,
    note: str = "",
    now: dt.datetime | None = None,
) -> Action:
    justification = justify(kind=ActionKind.CREDIT, reason=reason, ticket=ticket, note=note)
    proposal = _credit_proposal(Customer.objects.get(pk=customer.pk), amount, currency)
    return submit(proposal, actor=actor, justification=justification, now=now or timezone.now())


def reversible(credit: BalanceTransaction, *, excluding: Action | None = None) -> int:
    """What is left to reverse of a credit: its size − reversals − reversals in flight."""
    reversed_ = credit.reversals.aggregate(total=Sum("amount"))["total"] or 0
    pending = Action.objects.filter(
        balance_transaction=credit, kind=ActionKind.CREDIT_REVERSAL
    ).in_flight_amount(excluding=excluding)
    return -credit.amount - reversed_ - pending


def _reversal_proposal(credit: BalanceTransaction, amount: int | None) -> Proposal:
    if credit.amount >= 0 or credit.reverses_id is not None:
        raise ActionConflict("Only a credit can be reversed.")
    remaining = reversible(credit)
    if remaining <= 0:
        raise ActionConflict("This credit was already reversed in full.")
    errors: dict[str, str] = {}
    if amount is None:
        amount = remaining
    check_positive_amount(amount, errors)
    if not errors and amount > remaining:
        errors["amount"] = f"At most {format_amount(remaining, credit.currency)} can be reversed."
    if errors:
        raise InvalidAction(errors)
    return Proposal(
        kind=ActionKind.CREDIT_REVERSAL,
        customer=credit.customer,
        payload={
            "balance_transaction_id": credit.pk,
            "reverses": credit.stripe_balance_transaction_id,
            "stripe_customer": credit.customer.stripe_customer_id,
            "amount": amount,  # positive: takes the credit back
            "currency": credit.currency,
        },
        amount=amount,
        currency=credit.currency,
        measure=amount,
        targets={"balance_transaction": credit},
    )


def preview_credit_reversal(*, credit: BalanceTransaction, amount: int | None) -> Preview:
    proposal = _reversal_proposal(credit, amount)
    taken_back = required(proposal.amount, "amount")
    return Preview(
        kind=ActionKind.CREDIT_REVERSAL,
        summary=f"Take back {format_amount(taken_back, credit.currency)} of the credit of "
        f"{credit.created:%Y-%m-%d}",
        lines=[_balance_line(credit.customer, taken_back)],
    )


def request_credit_reversal(
    *,
    actor: User,
    credit: BalanceTransaction,
    amount: int | None,
    reason: str,
    ticket: str,
    note: str = "",
    now: dt.datetime | None = None,
) -> Action:
    justification = justify(
        kind=ActionKind.CREDIT_REVERSAL, reason=reason, ticket=ticket, note=note
    )
    credit = BalanceTransaction.objects.select_related("customer").get(pk=credit.pk)
    proposal = _reversal_proposal(credit, amount)
    return submit(proposal, actor=actor, justification=justification, now=now or timezone.now())


class _BalanceHandler(Handler):
    def find_existing(self, action: Action) -> gateway.BalanceTransactionData | None:
        for entry in gateway.list_balance_transactions(action.payload["stripe_customer"]):
            if entry.metadata.get("action_id") == str(action.pk):
                return entry
        return None

    def perform(self, action: Action, metadata: dict[str, str]) -> gateway.BalanceTransactionData:
        payload = action.payload
        if "reverses" in payload:
            metadata = {**metadata, "reverses": payload["reverses"]}
        return gateway.create_balance_transaction(
            customer_id=payload["stripe_customer"],
            amount=payload["amount"],
            currency=payload["currency"],
            description=f"{ActionKind(action.kind).label} ({action.ticket_ref})",
            metadata=metadata,
            idempotency_key=action.idempotency_key,
        )

    def read_back(self, action: Action, result: gateway.BalanceTransactionData) -> Snapshot:
        snapshot = Snapshot(fetched_at=timezone.now())
        snapshot.read_balance(result.customer)
        return snapshot


@register
class CreditHandler(_BalanceHandler):
    kind = ActionKind.CREDIT

    def check_locked(self, action: Action) -> None:
        """The customer row is already locked by `submit`; nothing else can change."""


@register
class CreditReversalHandler(_BalanceHandler):
    kind = ActionKind.CREDIT_REVERSAL

    def check_locked(self, action: Action) -> None:
        credit = BalanceTransaction.objects.get(
            pk=required(action.balance_transaction_id, "credit")
        )
        remaining = reversible(credit, excluding=action)
        if required(action.amount, "amount") > remaining:
            raise ActionConflict(
                f"At most {format_amount(max(remaining, 0), credit.currency)} of this credit "
                "can still be reversed."
            )

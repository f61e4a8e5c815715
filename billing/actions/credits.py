"""Credits to a customer's balance, and their reversal.

Stripe's sign: a customer balance below zero is credit they will spend on their next invoices,
so a credit is a negative balance transaction and its reversal a positive one. The action's
amount is always the positive size of the change.
"""

from __future__ import annotations

import datetime as dt
from typing import NotRequired, TypedDict

from django.utils import timezone

from accounts.models import User
from billing.actions.base import Handler, Preview, PreviewLine, Proposal, register, required
from billing.actions.errors import ActionConflict, InvalidAction
from billing.actions.justification import check_positive_amount, justify
from billing.actions.pipeline import submit
from billing.models import Action, ActionKind, BalanceTransaction, Customer
from billing.money import MoneyError, format_amount, normalize_currency
from billing.stripe import gateway
from billing.stripe.mirror import Snapshot


class BalancePayload(TypedDict):
    stripe_customer: str
    amount: int  # Stripe's sign: negative is credit
    currency: str
    customer_id: NotRequired[int]  # a credit
    balance_transaction_id: NotRequired[int]  # a reversal: the credit it reverses
    reverses: NotRequired[str]


def _credit_proposal(customer: Customer, amount: int, currency: str) -> Proposal:
    errors: dict[str, str] = {}
    if not customer.stripe_customer_id:
        raise ActionConflict("This customer has no Stripe account to credit.")
    try:
        currency = normalize_currency(currency)
    except MoneyError as error:
        errors["currency"] = str(error.args[0])
    else:
        if currency != customer.currency:
            errors["currency"] = (
                f"{customer.name}'s balance is in {customer.currency.upper()}; "
                f"credit in {customer.currency.upper()}."
            )
    check_positive_amount(amount, errors)
    if errors:
        raise InvalidAction(errors)
    payload: BalancePayload = {
        "customer_id": customer.pk,
        "stripe_customer": customer.stripe_customer_id,
        "amount": -amount,
        "currency": currency,
    }
    return Proposal(
        kind=ActionKind.CREDIT,
        customer=customer,
        payload=payload,
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
    customer = Customer.objects.get(pk=customer.pk)
    proposal = _credit_proposal(customer, amount, currency)
    return Preview(
        kind=ActionKind.CREDIT,
        summary=f"Credit {format_amount(amount, proposal.currency)} to {customer.name}'s "
        "balance, used on their next invoices",
        lines=[_balance_line(customer, -amount)],
        currency=proposal.currency,
        measure=proposal.measure,
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


def reversible(credit: BalanceTransaction) -> int:
    """What is left to reverse of a credit (BalanceTransactionQuerySet.with_reversible)."""
    return BalanceTransaction.objects.reversible_of(credit)


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
    payload: BalancePayload = {
        "balance_transaction_id": credit.pk,
        "reverses": credit.stripe_balance_transaction_id,
        "stripe_customer": required(credit.customer.stripe_customer_id, "Stripe customer"),
        "amount": amount,  # positive: takes the credit back
        "currency": credit.currency,
    }
    return Proposal(
        kind=ActionKind.CREDIT_REVERSAL,
        customer=credit.customer,
        payload=payload,
        amount=amount,
        currency=credit.currency,
        measure=amount,
        balance_transaction_id=credit.pk,
    )


def _fresh(credit: BalanceTransaction) -> BalanceTransaction:
    return BalanceTransaction.objects.select_related("customer").get(pk=credit.pk)


def preview_credit_reversal(*, credit: BalanceTransaction, amount: int | None) -> Preview:
    credit = _fresh(credit)
    proposal = _reversal_proposal(credit, amount)
    taken_back = required(proposal.amount, "amount")
    return Preview(
        kind=ActionKind.CREDIT_REVERSAL,
        summary=f"Take back {format_amount(taken_back, credit.currency)} of the credit of "
        f"{credit.created:%Y-%m-%d}",
        lines=[
            _balance_line(credit.customer, taken_back),
            PreviewLine(
                "Reversible of this credit",
                format_amount(reversible(credit), credit.currency),
                format_amount(reversible(credit) - taken_back, credit.currency),
            ),
        ],
        currency=proposal.currency,
        measure=proposal.measure,
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
    proposal = _reversal_proposal(_fresh(credit), amount)
    return submit(proposal, actor=actor, justification=justification, now=now or timezone.now())


class _BalanceHandler(Handler[BalancePayload, gateway.BalanceTransactionData]):
    def find_existing(self, action: Action) -> gateway.BalanceTransactionData | None:
        for entry in gateway.list_balance_transactions(self.payload(action)["stripe_customer"]):
            if entry.metadata.get("action_id") == str(action.pk):
                return entry
        return None

    def perform(self, action: Action, metadata: dict[str, str]) -> gateway.BalanceTransactionData:
        payload = self.payload(action)
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
        """Under the customer's lock (taken by submit and approve): nothing else can reverse
        this credit meanwhile."""
        credit = BalanceTransaction.objects.get(
            pk=required(action.balance_transaction_id, "credit")
        )
        remaining = reversible(credit)
        if required(action.amount, "amount") > remaining:
            raise ActionConflict(
                f"At most {format_amount(max(remaining, 0), credit.currency)} of this credit "
                "can still be reversed."
            )

"""What the API answers: one schema per object, built from our rows by one function each.

Amounts are integers in the currency's minor unit, always next to their `currency` (SPEC §2);
`id` is ours, `stripe_id` Stripe's where the object has one. Nothing here reads or decides a
rule: refundable and reversible amounts come from their QuerySet annotations, entitlements
from billing.entitlements, who may decide from the policy.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema

from accounts.models import User
from billing.actions import Preview
from billing.entitlements import Entitlement
from billing.models import (
    Action,
    ApprovalRequest,
    BalanceTransaction,
    Customer,
    Invoice,
    Payment,
    Price,
    Refund,
    Subscription,
)

# Customers ------------------------------------------------------------------------------------


class CustomerOut(Schema):
    id: int
    stripe_id: str | None
    kind: str = Field(description="personal or organization")
    name: str
    handle: str
    billing_email: str
    email_domain: str
    country: str
    currency: str
    status: str
    created: dt.datetime


class PlanOut(Schema):
    code: str
    name: str
    per_seat: bool


class PriceOut(Schema):
    id: int
    stripe_id: str | None
    plan: PlanOut
    interval: str
    unit_amount: int = Field(description="Minor units, per seat for per-seat plans.")
    currency: str
    active: bool


class DiscountOut(Schema):
    coupon: str
    percent_off: str | None = Field(description="A decimal, as text (e.g. “12.50”).")
    amount_off: int | None
    currency: str
    ends_at: dt.datetime | None


class SubscriptionOut(Schema):
    id: int
    stripe_id: str
    status: str
    price: PriceOut
    quantity: int = Field(description="Seats, for per-seat plans.")
    trial_start: dt.datetime | None
    trial_end: dt.datetime | None
    current_period_start: dt.datetime
    current_period_end: dt.datetime
    cancel_at_period_end: bool
    canceled_at: dt.datetime | None
    ended_at: dt.datetime | None
    collection_paused: bool
    pause_behavior: str | None
    pause_resumes_at: dt.datetime | None
    discount: DiscountOut | None
    created: dt.datetime


class BalanceOut(Schema):
    amount: int = Field(
        description="The customer's Stripe balance, Stripe's sign: below zero is credit the "
        "customer will spend on their next invoices, above zero is owed."
    )
    currency: str


class EntitlementOut(Schema):
    feature: str
    value: str
    source: str = Field(description="The plan, or the override, that gives it.")


class CustomerDetailOut(CustomerOut):
    balance: BalanceOut
    subscriptions: list[SubscriptionOut]
    entitlements: list[EntitlementOut]


class CustomerPage(Schema):
    items: list[CustomerOut]
    next: str | None = Field(description="Pass as `cursor` for the next page; null: last page.")


def customer_out(customer: Customer) -> CustomerOut:
    return CustomerOut(
        id=customer.pk,
        stripe_id=customer.stripe_customer_id,
        kind=customer.kind,
        name=customer.name,
        handle=customer.handle,
        billing_email=customer.billing_email,
        email_domain=customer.email_domain,
        country=customer.country,
        currency=customer.currency,
        status=customer.status,
        created=customer.created,
    )


def price_out(price: Price) -> PriceOut:
    plan = price.plan
    return PriceOut(
        id=price.pk,
        stripe_id=price.stripe_price_id,
        plan=PlanOut(code=plan.code, name=plan.name, per_seat=plan.per_seat),
        interval=price.interval,
        unit_amount=price.unit_amount,
        currency=price.currency,
        active=price.active,
    )


def subscription_out(subscription: Subscription) -> SubscriptionOut:
    discount = None
    if subscription.discount_coupon_id:
        percent = subscription.discount_percent_off
        discount = DiscountOut(
            coupon=subscription.discount_coupon_id,
            percent_off=None if percent is None else str(percent),
            amount_off=subscription.discount_amount_off,
            currency=subscription.price.currency,
            ends_at=subscription.discount_end,
        )
    return SubscriptionOut(
        id=subscription.pk,
        stripe_id=subscription.stripe_subscription_id,
        status=subscription.status,
        price=price_out(subscription.price),
        quantity=subscription.quantity,
        trial_start=subscription.trial_start,
        trial_end=subscription.trial_end,
        current_period_start=subscription.current_period_start,
        current_period_end=subscription.current_period_end,
        cancel_at_period_end=subscription.cancel_at_period_end,
        canceled_at=subscription.canceled_at,
        ended_at=subscription.ended_at,
        collection_paused=subscription.collection_paused,
        pause_behavior=subscription.pause_behavior or None,
        pause_resumes_at=subscription.pause_resumes_at,
        discount=discount,
        created=subscription.created,
    )


def customer_detail_out(
    customer: Customer,
    *,
    balance: int,
    subscriptions: list[Subscription],
    entitlements: list[Entitlement],
) -> CustomerDetailOut:
    return CustomerDetailOut(
        **customer_out(customer).model_dump(),
        balance=BalanceOut(amount=balance, currency=customer.currency),
        subscriptions=[subscription_out(subscription) for subscription in subscriptions],
        entitlements=[
            EntitlementOut(feature=e.feature, value=e.value, source=e.source) for e in entitlements
        ],
    )


# Payments, invoices, the balance ----------------------------------------------------------------


class RefundOut(Schema):
    id: int
    stripe_id: str
    amount: int = Field(description="Below zero: a reversal of the refund it names.")
    currency: str
    status: str
    reason: str
    reverses_id: int | None
    action_id: int | None = Field(description="The staff action that asked for it, if any.")
    created: dt.datetime


class PaymentOut(Schema):
    id: int
    stripe_id: str = Field(description="The Stripe charge.")
    payment_intent: str | None
    invoice_id: int | None
    amount: int
    amount_refunded: int = Field(description="Refunded so far, as Stripe and our ledger know.")
    refundable: int = Field(
        description="What may still be refunded: amount − refunded − refunds in flight."
    )
    currency: str
    status: str
    card_brand: str
    card_last4: str
    failure_code: str
    failure_message: str
    created: dt.datetime
    refunds: list[RefundOut]


class PaymentPage(Schema):
    items: list[PaymentOut]
    next: str | None


def refund_out(refund: Refund) -> RefundOut:
    return RefundOut(
        id=refund.pk,
        stripe_id=refund.stripe_refund_id,
        amount=refund.amount,
        currency=refund.currency,
        status=refund.status,
        reason=refund.reason,
        reverses_id=refund.reverses_id,
        action_id=refund.action_id,
        created=refund.created,
    )


def payment_out(payment: Payment) -> PaymentOut:
    """`payment` from Payment.objects.with_refundable() (its `refunded` and `refundable`)."""
    annotated: Any = payment
    return PaymentOut(
        id=payment.pk,
        stripe_id=payment.stripe_charge_id,
        payment_intent=payment.stripe_payment_intent_id or None,
        invoice_id=payment.invoice_id,
        amount=payment.amount,
        amount_refunded=annotated.refunded,
        refundable=max(annotated.refundable, 0),
        currency=payment.currency,
        status=payment.status,
        card_brand=payment.card_brand,
        card_last4=payment.card_last4,
        failure_code=payment.failure_code,
        failure_message=payment.failure_message,
        created=payment.created,
        refunds=[refund_out(refund) for refund in payment.refunds.all()],
    )


class InvoiceOut(Schema):
    id: int
    stripe_id: str
    number: str | None
    status: str
    subscription_id: int | None
    currency: str
    subtotal: int
    total: int
    amount_due: int
    amount_paid: int
    amount_remaining: int
    period_start: dt.datetime
    period_end: dt.datetime
    due_date: dt.datetime | None
    hosted_invoice_url: str
    created: dt.datetime
    finalized_at: dt.datetime | None
    paid_at: dt.datetime | None
    voided_at: dt.datetime | None


class InvoicePage(Schema):
    items: list[InvoiceOut]
    next: str | None


def invoice_out(invoice: Invoice) -> InvoiceOut:
    return InvoiceOut(
        id=invoice.pk,
        stripe_id=invoice.stripe_invoice_id,
        number=invoice.number,
        status=invoice.status,
        subscription_id=invoice.subscription_id,
        currency=invoice.currency,
        subtotal=invoice.subtotal,
        total=invoice.total,
        amount_due=invoice.amount_due,
        amount_paid=invoice.amount_paid,
        amount_remaining=invoice.amount_remaining,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        due_date=invoice.due_date,
        hosted_invoice_url=invoice.hosted_invoice_url,
        created=invoice.created,
        finalized_at=invoice.finalized_at,
        paid_at=invoice.paid_at,
        voided_at=invoice.voided_at,
    )


class BalanceTransactionOut(Schema):
    id: int
    stripe_id: str
    amount: int = Field(description="Stripe's sign: below zero is a credit to the customer.")
    currency: str
    type: str
    description: str
    ending_balance: int
    invoice_id: int | None
    reverses_id: int | None = Field(description="The credit this entry reverses, if any.")
    reversible: int | None = Field(
        description="For a credit: what may still be reversed (POST /credits/{id}/reversals)."
    )
    action_id: int | None
    created: dt.datetime


class BalanceTransactionPage(Schema):
    items: list[BalanceTransactionOut]
    next: str | None


def balance_transaction_out(entry: BalanceTransaction) -> BalanceTransactionOut:
    """`entry` from BalanceTransaction.objects.with_reversible() (its `reversible`)."""
    is_credit = entry.amount < 0 and entry.reverses_id is None
    reversible: Any = getattr(entry, "reversible", None)
    return BalanceTransactionOut(
        id=entry.pk,
        stripe_id=entry.stripe_balance_transaction_id,
        amount=entry.amount,
        currency=entry.currency,
        type=entry.type,
        description=entry.description,
        ending_balance=entry.ending_balance,
        invoice_id=entry.invoice_id,
        reverses_id=entry.reverses_id,
        reversible=max(reversible, 0) if is_credit and reversible is not None else None,
        action_id=entry.action_id,
        created=entry.created,
    )


# Actions and approvals --------------------------------------------------------------------------


class StaffOut(Schema):
    id: int
    username: str
    name: str


def staff_out(user: User) -> StaffOut:
    return StaffOut(id=user.pk, username=user.username, name=user.get_full_name())


class ApprovalBrief(Schema):
    id: int
    state: str = Field(description="pending, approved, rejected, expired or withdrawn")
    requested_by: StaffOut
    created_at: dt.datetime
    expires_at: dt.datetime
    decided_by: StaffOut | None
    decided_at: dt.datetime | None
    note: str = Field(description="The approver's note, or the reason for a rejection.")


class ActionErrorOut(Schema):
    code: str
    message: str


class ActionOut(Schema):
    id: int
    kind: str
    state: str = Field(
        description="pending_approval, approved, executing, succeeded, failed, rejected, "
        "expired or withdrawn (SPEC §3)."
    )
    customer_id: int
    amount: int | None = Field(description="Minor units of `currency`, for money actions.")
    currency: str
    measure: int | None = Field(
        description="What the limits count: the amount, or days for a trial extension."
    )
    actor: StaffOut
    reason: str
    ticket: str
    note: str
    payload: dict[str, Any] = Field(description="The exact change asked for.")
    payment_id: int | None
    subscription_id: int | None
    invoice_id: int | None
    balance_transaction_id: int | None
    stripe_id: str | None = Field(description="What Stripe made (a refund, a balance entry…).")
    stripe_idempotency_key: str = Field(description="The key every Stripe call of it carries.")
    approval: ApprovalBrief | None
    error: ActionErrorOut | None = Field(
        description="Why it failed, or why Stripe has not answered yet while executing."
    )
    attempts: int
    created_at: dt.datetime
    completed_at: dt.datetime | None
    policy_note: str = Field(
        description="On the answer to a request: why it waits for an approval. Empty otherwise."
    )


class ActionPage(Schema):
    items: list[ActionOut]
    next: str | None


def approval_state(approval: ApprovalRequest, now: dt.datetime) -> str:
    if approval.decision:
        return approval.decision
    return "expired" if approval.expires_at <= now else "pending"


def approval_brief(approval: ApprovalRequest, now: dt.datetime) -> ApprovalBrief:
    return ApprovalBrief(
        id=approval.pk,
        state=approval_state(approval, now),
        requested_by=staff_out(approval.requested_by),
        created_at=approval.created_at,
        expires_at=approval.expires_at,
        decided_by=staff_out(approval.decided_by) if approval.decided_by else None,
        decided_at=approval.decided_at,
        note=approval.decision_note,
    )


def action_out(action: Action, *, now: dt.datetime, waiting_error: str = "") -> ActionOut:
    """`waiting_error`: the last attempt's message, for an action still executing."""
    approval = getattr(action, "approval", None)
    error = None
    if action.error_code or action.error_message:
        error = ActionErrorOut(code=action.error_code, message=action.error_message)
    elif waiting_error:
        error = ActionErrorOut(code="stripe_unavailable", message=waiting_error)
    return ActionOut(
        id=action.pk,
        kind=action.kind,
        state=action.state,
        customer_id=action.customer_id,
        amount=action.amount,
        currency=action.currency,
        measure=action.measure,
        actor=staff_out(action.actor),
        reason=action.reason_code,
        ticket=action.ticket_ref,
        note=action.note,
        payload=action.payload,
        payment_id=action.payment_id,
        subscription_id=action.subscription_id,
        invoice_id=action.invoice_id,
        balance_transaction_id=action.balance_transaction_id,
        stripe_id=action.stripe_object_id or None,
        stripe_idempotency_key=action.idempotency_key,
        approval=approval_brief(approval, now) if approval is not None else None,
        error=error,
        attempts=action.attempts,
        created_at=action.created_at,
        completed_at=action.completed_at,
        policy_note=action.policy_note,
    )


class ApprovalOut(ApprovalBrief):
    may_decide: bool = Field(description="Whether you may approve or reject it now.")
    action: ActionOut


class ApprovalPage(Schema):
    items: list[ApprovalOut]
    next: str | None


def approval_out(approval: ApprovalRequest, *, now: dt.datetime, may_decide: bool) -> ApprovalOut:
    return ApprovalOut(
        **approval_brief(approval, now).model_dump(),
        may_decide=may_decide,
        action=action_out(approval.action, now=now),
    )


# Dry runs -------------------------------------------------------------------------------------


class PreviewLineOut(Schema):
    label: str
    before: str
    after: str


class DryRunOut(Schema):
    """What a request would do, computed without writing anything."""

    dry_run: bool = Field(description="Always true: nothing was created.")
    kind: str
    summary: str
    lines: list[PreviewLineOut]
    currency: str
    measure: int | None = Field(
        description="What your limits would count: minor units, or days for a trial extension."
    )
    needs_approval: bool = Field(description="Whether, asked now, it would wait for an approval.")
    why: str = Field(description="Why it would need an approval; empty if it would run now.")


def dry_run_out(preview: Preview, *, direct: bool, why: str) -> DryRunOut:
    return DryRunOut(
        dry_run=True,
        kind=preview.kind,
        summary=preview.summary,
        lines=[
            PreviewLineOut(label=x.label, before=x.before, after=x.after) for x in preview.lines
        ],
        currency=preview.currency,
        measure=preview.measure,
        needs_approval=not direct,
        why=why,
    )

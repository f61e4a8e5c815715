"""What must never happen is refused by the database itself, whatever code path writes."""

import datetime as dt
import hashlib

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import audited
from billing.models import (
    Action,
    ActionKind,
    ActionState,
    ApprovalDecision,
    ApprovalRequest,
    BalanceTransaction,
    Refund,
    StripeEvent,
)
from tests.factories import make_customer, make_invoice, make_payment, make_subscription

pytestmark = pytest.mark.django_db


def refused(write) -> bool:
    """Run `write` in a savepoint; True if the database rejected it."""
    try:
        with transaction.atomic(), audited(actor=None, reason="constraint test"):
            write()
    except IntegrityError:
        return True
    return False


def make_action(customer, actor, **fields) -> Action:
    payload = {"amount": 500}
    values = {
        "kind": ActionKind.REFUND,
        "state": ActionState.EXECUTING,
        "customer": customer,
        "actor": actor,
        "reason_code": "duplicate",
        "ticket_ref": "ZD-1",
        "payload": payload,
        "payload_hash": hashlib.sha256(b"{}").hexdigest(),
        "amount": 500,
        "currency": "usd",
    }
    values.update(fields)
    with audited(actor=actor, reason="test"):
        return Action.objects.create(**values)


def test_payment_amounts_cannot_go_negative_or_over_refund():
    customer = make_customer()
    payment = make_payment(customer, amount=5000)

    def refund_more_than_paid():
        payment.amount_refunded = 5001
        payment.save()

    def negative_refunded():
        payment.amount_refunded = -1
        payment.save()

    assert refused(refund_more_than_paid)
    assert refused(negative_refunded)
    assert refused(lambda: make_payment(customer, amount=0))
    assert refused(lambda: make_payment(customer, amount=-100))


def test_only_a_succeeded_payment_can_show_refunds():
    customer = make_customer()

    assert refused(lambda: make_payment(customer, status="failed", amount=100, amount_refunded=50))


def test_stripe_ids_are_unique_and_shaped_like_their_object():
    customer = make_customer(stripe_customer_id="cus_unique1")
    payment = make_payment(customer)

    assert refused(lambda: make_customer(stripe_customer_id="cus_unique1"))
    assert refused(lambda: make_customer(stripe_customer_id="sub_wrongkind"))

    def duplicate_charge():
        make_payment(customer).__class__.objects.create(
            stripe_charge_id=payment.stripe_charge_id,
            customer=customer,
            amount=100,
            currency="usd",
            status="succeeded",
            created=timezone.now(),
        )

    assert refused(duplicate_charge)


def test_a_payment_needs_a_stripe_id():
    customer = make_customer()

    def without_ids():
        make_payment(customer).__class__.objects.create(
            customer=customer,
            amount=100,
            currency="usd",
            status="succeeded",
            created=timezone.now(),
        )

    assert refused(without_ids)


def test_refund_ledger_signs_and_ids():
    customer = make_customer()
    payment = make_payment(customer)

    def refund(**fields):
        values = {
            "payment": payment,
            "stripe_refund_id": "re_one",
            "amount": 100,
            "currency": "usd",
            "status": "succeeded",
            "created": timezone.now(),
        }
        values.update(fields)
        return Refund.objects.create(**values)

    first = refund()
    assert refused(lambda: refund(stripe_refund_id="re_two", amount=-100))
    assert refused(lambda: refund(stripe_refund_id="re_one"))  # the same refund twice
    # A failed refund is reversed by a new row carrying the same Stripe id.
    assert not refused(lambda: refund(amount=-100, status="failed", reverses=first))
    assert refused(lambda: refund(amount=-100, status="failed", reverses=first))  # only once
    assert payment.refunds.net_amount() == 0


def test_balance_entries_are_never_zero_and_ids_unique():
    customer = make_customer()

    def entry(stripe_id, amount):
        BalanceTransaction.objects.create(
            customer=customer,
            stripe_balance_transaction_id=stripe_id,
            amount=amount,
            currency="usd",
            ending_balance=amount,
            created=timezone.now(),
        )

    assert not refused(lambda: entry("cbtxn_a", -500))
    assert refused(lambda: entry("cbtxn_b", 0))
    assert refused(lambda: entry("cbtxn_a", -700))


def test_stripe_event_ids_are_unique():
    def event():
        StripeEvent.objects.create(
            stripe_event_id="evt_1",
            type="customer.updated",
            created=timezone.now(),
            raw_body="{}",
            payload={},
        )

    assert not refused(event)
    assert refused(event)


def test_action_idempotency_key_is_kind_and_id(finance_user):
    action = make_action(make_customer(), finance_user)

    assert action.idempotency_key == f"refund:{action.pk}"
    action.refresh_from_db()
    assert action.idempotency_key == f"refund:{action.pk}"
    assert Action.objects.filter(idempotency_key=f"refund:{action.pk}").get() == action


def test_an_action_needs_a_ticket_reason_and_a_positive_amount(finance_user):
    customer = make_customer()

    assert refused(lambda: make_action(customer, finance_user, ticket_ref=""))
    assert refused(lambda: make_action(customer, finance_user, reason_code=""))
    assert refused(lambda: make_action(customer, finance_user, amount=0))
    assert refused(lambda: make_action(customer, finance_user, amount=-5))
    assert refused(lambda: make_action(customer, finance_user, currency=""))
    assert refused(lambda: make_action(customer, finance_user, payload_hash="short"))


def test_nobody_approves_their_own_request(support_user, finance_user):
    action = make_action(make_customer(), support_user, state=ActionState.PENDING_APPROVAL)
    with audited(actor=support_user, reason="over limit"):
        approval = ApprovalRequest.objects.create(
            action=action,
            requested_by=support_user,
            payload_hash=action.payload_hash,
            expires_at=timezone.now() + dt.timedelta(hours=72),
        )

    def decide(user, decision, note=""):
        approval.decision, approval.decided_by = decision, user
        approval.decided_at, approval.decision_note = timezone.now(), note
        approval.save()

    assert refused(lambda: decide(support_user, ApprovalDecision.APPROVED))
    assert refused(lambda: decide(support_user, ApprovalDecision.REJECTED, "no"))
    assert refused(lambda: decide(finance_user, ApprovalDecision.REJECTED, ""))
    assert not refused(lambda: decide(finance_user, ApprovalDecision.APPROVED))


def test_subscription_and_invoice_sanity():
    customer = make_customer()
    subscription = make_subscription(customer)

    def period_backwards():
        subscription.current_period_end = subscription.current_period_start - dt.timedelta(days=1)
        subscription.save()

    def two_kinds_of_discount():
        subscription.discount_percent_off = 20
        subscription.discount_amount_off = 500
        subscription.save()

    assert refused(period_backwards)
    assert refused(two_kinds_of_discount)
    make_invoice(customer, number="ACME-0001")
    assert refused(lambda: make_invoice(customer, number="ACME-0001"))
    assert refused(lambda: make_invoice(customer, amount=-100))


def test_currency_codes_are_lowercase_iso():
    assert refused(lambda: make_customer(currency="USD"))
    assert refused(lambda: make_customer(currency="us"))

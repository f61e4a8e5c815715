"""Rolling 24-hour limits hold when one staff member's requests arrive all at once: 30
simultaneous requests never put more money (or trial days) through directly than the limit
per 24 hours; the rest become approval requests."""

import datetime as dt
import threading
from collections import Counter

from django.db import connections

from accounts.roles import Role
from billing import actions
from billing.actions import Change
from billing.models import Action, ActionState, BalanceTransaction, Customer, Subscription
from billing.stripe import gateway
from tests.billing.conftest import mirrored_account
from tests.factories import make_staff

SIMULTANEOUS = 30
DIRECT = (ActionState.EXECUTING, ActionState.SUCCEEDED)


def all_at_once(requests) -> Counter:
    """Run each request in its own thread, released together; count how each ended."""
    outcomes: Counter = Counter()
    barrier = threading.Barrier(len(requests))
    lock = threading.Lock()

    def run(request):
        barrier.wait()
        try:
            outcome = request().state
        except actions.ActionError as error:
            outcome = type(error).__name__
        finally:
            connections.close_all()
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=run, args=(request,)) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def direct_total(actor, kind) -> int:
    actions_ = Action.objects.filter(actor=actor, kind=kind, state__in=DIRECT, approval=None)
    return sum(action.measure for action in actions_)


def test_simultaneous_refunds_stay_within_support_s_daily_limit(committed_db, stripe_emulator):
    account = mirrored_account(quantity=100)  # $5,000.00 paid
    support = make_staff(Role.SUPPORT)
    payment = account.payment

    def refund_100():
        return actions.request_refund(
            actor=support, payment=payment, amount=10_000, reason="duplicate", ticket="ZD-1"
        )

    outcomes = all_at_once([refund_100] * SIMULTANEOUS)

    assert direct_total(support, "refund") == 50_000  # $500.00 a day, not a cent more
    assert outcomes == {"succeeded": 5, "pending_approval": SIMULTANEOUS - 5}
    at_stripe = gateway.list_refunds(payment.stripe_charge_id)
    assert sum(refund.amount for refund in at_stripe) == 50_000


def test_simultaneous_credits_stay_within_finance_s_daily_limit(committed_db, stripe_emulator):
    account = mirrored_account()
    finance = make_staff(Role.FINANCE)
    customer = Customer.objects.get(pk=account.customer.pk)

    def credit_1000():
        return actions.request_credit(
            actor=finance,
            customer=customer,
            amount=100_000,
            currency="usd",
            reason="goodwill",
            ticket="ZD-2",
        )

    outcomes = all_at_once([credit_1000] * SIMULTANEOUS)

    assert direct_total(finance, "credit") == 1_000_000  # $10,000.00 a day
    assert outcomes == {"succeeded": 10, "pending_approval": SIMULTANEOUS - 10}
    stripe_credits = gateway.list_balance_transactions(customer.stripe_customer_id or "")
    assert sum(-entry.amount for entry in stripe_credits) == 1_000_000


def test_simultaneous_credit_reversals_stay_within_finance_s_daily_limit(
    committed_db, stripe_emulator
):
    account = mirrored_account()
    admin, finance = make_staff(Role.ADMIN), make_staff(Role.FINANCE)
    for _ in range(3):  # $30,000.00 of credit to take back from
        actions.request_credit(
            actor=admin,
            customer=account.customer,
            amount=1_000_000,
            currency="usd",
            reason="goodwill",
            ticket="ZD-3",
        )
    credits = list(BalanceTransaction.objects.credits().filter(customer=account.customer))
    assert len(credits) == 3

    def reversal_of(credit):
        return lambda: actions.request_credit_reversal(
            actor=finance, credit=credit, amount=100_000, reason="issued_in_error", ticket="ZD-3"
        )

    outcomes = all_at_once([reversal_of(credits[n % 3]) for n in range(SIMULTANEOUS)])

    assert direct_total(finance, "credit_reversal") == 1_000_000
    assert outcomes == {"succeeded": 10, "pending_approval": SIMULTANEOUS - 10}
    at_stripe = gateway.list_balance_transactions(account.customer.stripe_customer_id or "")
    assert sum(entry.amount for entry in at_stripe) == -3_000_000 + 1_000_000  # 10 reversed


def test_simultaneous_trial_extensions_stay_within_support_s_daily_days(
    committed_db, stripe_emulator
):
    support = make_staff(Role.SUPPORT)
    trials = [mirrored_account(trial_days=14).subscription for _ in range(SIMULTANEOUS)]

    def extend(subscription: Subscription):
        def request():
            fresh = Subscription.objects.get(pk=subscription.pk)
            return actions.request_subscription_change(
                actor=support,
                subscription=fresh,
                change=Change(change="trial_end", trial_end=fresh.trial_end + dt.timedelta(days=2)),
                reason="evaluation_in_progress",
                ticket="ZD-4",
            )

        return request

    outcomes = all_at_once([extend(subscription) for subscription in trials])

    assert direct_total(support, "trial_extension") == 30  # days: 15 extensions of 2 days
    assert outcomes == {"succeeded": 15, "pending_approval": SIMULTANEOUS - 15}

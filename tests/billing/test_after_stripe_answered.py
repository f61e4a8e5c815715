"""Nothing left to chance after Stripe answered: what an action did counts against what is
left (refundable, reversible, an invoice's next action) even before the mirror has seen it;
the read-back is retried until Stripe answers; the reconciler mends what is still missing."""

import itertools

import pytest
from django_tasks_db.models import DBTaskResult

from billing import actions
from billing.actions import pipeline
from billing.models import (
    Action,
    ActionState,
    BalanceTransaction,
    Invoice,
    ReconcileRun,
    Refund,
)
from billing.stripe import gateway
from tests.billing.conftest import mirrored_account, open_invoice
from tests.tasks import failed_tasks, run_due_tasks

READ_BACK = "billing.actions.pipeline.read_back"


def refund(actor, payment, amount):
    return actions.request_refund(
        actor=actor, payment=payment, amount=amount, reason="duplicate", ticket="ZD-9"
    )


def test_a_refund_whose_read_back_failed_still_counts_against_what_is_left(
    account, finance_user, stripe_emulator
):
    stripe_emulator.add_fault("/v1/charges/", "500", method="GET", count=5)
    first = refund(finance_user, account.payment, 30_000)

    assert first.state == ActionState.SUCCEEDED
    assert not Refund.objects.exists()  # the mirror has not seen it yet
    assert actions.refundable(account.payment) == 20_000
    with pytest.raises(actions.InvalidAction, match=r"At most \$200\.00"):
        refund(finance_user, account.payment, 30_000)
    assert len(gateway.list_refunds(account.payment.stripe_charge_id)) == 1


def test_a_credit_whose_reversal_read_back_failed_cannot_be_reversed_twice(
    account, finance_user, stripe_emulator, clock
):
    actions.request_credit(
        actor=finance_user,
        customer=account.customer,
        amount=5_000,
        currency="usd",
        reason="goodwill",
        ticket="ZD-10",
    )
    credit = BalanceTransaction.objects.credits().get(customer=account.customer)
    stripe_customer = account.customer.stripe_customer_id
    stripe_emulator.add_fault(f"/v1/customers/{stripe_customer}", "500", method="GET", count=3)

    reversal = actions.request_credit_reversal(
        actor=finance_user, credit=credit, amount=None, reason="issued_in_error", ticket="ZD-10"
    )

    assert reversal.state == ActionState.SUCCEEDED
    assert not credit.reversals.exists()  # its read-back failed
    with pytest.raises(actions.ActionConflict, match="already reversed in full"):
        actions.request_credit_reversal(
            actor=finance_user, credit=credit, amount=None, reason="issued_in_error", ticket="ZD-10"
        )
    run_due_tasks(clock)  # the read-back, retried until Stripe answers
    assert credit.reversals.get().amount == 5_000
    assert actions.reversible(credit) == 0
    entries = gateway.list_balance_transactions(stripe_customer or "")
    assert sorted(entry.amount for entry in entries) == [-5_000, 5_000]  # reversed once
    assert failed_tasks() == []


def test_an_invoice_action_waiting_for_its_read_back_blocks_the_next_one(
    stripe_emulator, finance_user
):
    account = mirrored_account(card="pm_card_chargeDeclined")  # its first invoice is open
    invoice = open_invoice(account.customer)
    stripe_emulator.add_fault(f"/v1/invoices/{invoice.stripe_invoice_id}", "500", method="GET")

    voided = actions.request_invoice_action(
        actor=finance_user, invoice=invoice, action="void", reason="billing_error", ticket="ZD-11"
    )

    assert voided.state == ActionState.SUCCEEDED
    assert Invoice.objects.get(pk=invoice.pk).status == "open"  # not read back yet
    with pytest.raises(actions.ActionConflict, match="still being confirmed by Stripe"):
        actions.request_invoice_action(
            actor=finance_user,
            invoice=invoice,
            action="mark_uncollectible",
            reason="unrecoverable",
            ticket="ZD-11",
        )


def test_the_read_back_is_retried_with_growing_pauses_until_stripe_answers(
    account, finance_user, stripe_emulator, clock
):
    stripe_emulator.add_fault("/v1/charges/", "500", method="GET", count=1)
    stripe_emulator.add_fault("/v1/customers/", "429", method="GET", count=3)

    done = refund(finance_user, account.payment, 10_000)
    run_due_tasks(clock)

    assert done.state == ActionState.SUCCEEDED
    read_backs = list(DBTaskResult.objects.filter(task_path=READ_BACK).order_by("started_at"))
    assert [r.args_kwargs["args"] for r in read_backs] == [[done.pk, n] for n in range(4)]
    assert {r.status for r in read_backs} == {"SUCCESSFUL"}
    started = [r.started_at for r in read_backs]
    gaps = [round((b - a).total_seconds()) for a, b in itertools.pairwise(started)]
    assert gaps == [30, 60, 120]  # three failures, each followed by a longer pause
    assert Refund.objects.get(action=done).amount == 10_000
    assert failed_tasks() == []


def test_the_reconciler_mends_a_gap_a_lost_read_back_left(account, finance_user, stripe_emulator):
    stripe_emulator.add_fault("/v1/charges/", "500", method="GET", count=1)
    done = refund(finance_user, account.payment, 10_000)
    DBTaskResult.objects.filter(task_path=READ_BACK).delete()  # a worker lost it
    assert Action.objects.unmirrored().filter(pk=done.pk).exists()

    run = pipeline.reconcile()

    assert Refund.objects.get(action=done).amount == 10_000
    assert not Action.objects.unmirrored().exists()
    assert run.customers_checked == 1
    assert account.customer.stripe_customer_id in run.mended
    assert ReconcileRun.objects.count() == 1


def test_the_reconciler_confirms_an_action_whose_answer_and_retries_were_lost(
    account, finance_user, stripe_emulator
):
    stripe_emulator.add_fault("/v1/refunds", "drop_after_apply", method="POST")
    lost = refund(finance_user, account.payment, 10_000)
    DBTaskResult.objects.filter(task_path__endswith="retry_action").delete()
    assert lost.state == ActionState.EXECUTING

    run = pipeline.reconcile()

    lost.refresh_from_db()
    assert lost.state == ActionState.SUCCEEDED
    assert run.actions_confirmed == 1
    assert [r.amount for r in gateway.list_refunds(account.payment.stripe_charge_id)] == [10_000]


def test_the_reconciler_finds_a_difference_of_a_recent_customer_and_reads_it_back(
    account, finance_user, stripe_emulator
):
    refund(finance_user, account.payment, 5_000)  # a recent action: this customer is checked
    gateway.create_balance_transaction(  # made at Stripe directly: no webhook reached us
        customer_id=account.customer.stripe_customer_id or "",
        amount=-700,
        currency="usd",
        description="made in the Stripe Dashboard",
        metadata={},
        idempotency_key="dashboard-credit-1",
    )

    run = pipeline.reconcile()

    assert run.differences_found >= 1
    assert "difference(s) mended" in run.mended
    assert BalanceTransaction.objects.filter(customer=account.customer, amount=-700).exists()

import pytest

from billing import actions
from billing.models import ActionState, BalanceTransaction
from billing.stripe import gateway
from tests.billing.conftest import mirrored_account

CREDIT = {"reason": "service_outage", "ticket": "ZD-777", "note": "CI outage on 3 Nov"}
REVERSAL = {"reason": "issued_in_error", "ticket": "ZD-778", "note": ""}


def credit(actor, customer, amount, currency="usd", **overrides):
    return actions.request_credit(
        actor=actor, customer=customer, amount=amount, currency=currency, **{**CREDIT, **overrides}
    )


def test_a_credit_within_the_limit_lands_on_the_stripe_balance_and_the_ledger(
    account, finance_user
):
    customer = account.customer

    preview = actions.preview_credit(customer=customer, amount=2500, currency="usd")
    action = credit(finance_user, customer, 2500)

    assert [(line.before, line.after) for line in preview.lines] == [("none", "$25.00 credit")]
    assert action.state == ActionState.SUCCEEDED
    assert gateway.retrieve_customer(customer.stripe_customer_id).balance == -2500
    [entry] = BalanceTransaction.objects.filter(customer=customer)
    assert (entry.amount, entry.action, entry.stripe_balance_transaction_id) == (
        -2500,
        action,
        action.stripe_object_id,
    )
    assert customer.balance().amount == -2500
    [at_stripe] = gateway.list_balance_transactions(customer.stripe_customer_id)
    assert at_stripe.metadata["action_id"] == str(action.pk)


def test_support_may_only_request_a_credit(account, support_user, finance_user):
    action = credit(support_user, account.customer, 100)

    assert action.state == ActionState.PENDING_APPROVAL
    assert "may only request a credit in USD" in action.policy_note
    done = actions.approve(approval_pk=action.approval.pk, approver=finance_user)
    assert done.state == ActionState.SUCCEEDED


def test_a_credit_must_be_in_the_customers_currency(account, finance_user):
    with pytest.raises(actions.InvalidAction, match="balance is in USD"):
        credit(finance_user, account.customer, 100, currency="eur")


def test_a_credit_in_a_currency_without_a_limit_row_needs_approval(stripe_emulator, finance_user):
    franc_account = mirrored_account(currency="chf")

    action = credit(finance_user, franc_account.customer, 100, currency="chf")

    assert action.state == ActionState.PENDING_APPROVAL
    assert "may only request a credit in CHF" in action.policy_note


def test_a_credit_in_euros_is_within_finances_euro_limit(stripe_emulator, finance_user):
    euro_account = mirrored_account(currency="eur")

    action = credit(finance_user, euro_account.customer, 10_000, currency="eur")

    assert action.state == ActionState.SUCCEEDED


def test_finance_credits_above_2000_need_approval(account, finance_user, admin_user):
    action = credit(finance_user, account.customer, 250000)

    assert action.state == ActionState.PENDING_APPROVAL
    assert actions.approve(approval_pk=action.approval.pk, approver=admin_user).state == (
        ActionState.SUCCEEDED
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reason": "duplicate"}, "reason"),  # a refund reason
        ({"ticket": "ZD 777"}, "ticket"),
        ({"reason": "other", "note": ""}, "note"),
    ],
)
def test_a_credit_without_a_proper_reason_is_refused(account, finance_user, overrides, field):
    with pytest.raises(actions.InvalidAction) as refused:
        credit(finance_user, account.customer, 100, **overrides)

    assert field in refused.value.errors


def test_reversing_a_credit_in_part_then_in_full(account, finance_user):
    credit(finance_user, account.customer, 5000)
    entry = BalanceTransaction.objects.get()

    part = actions.request_credit_reversal(
        actor=finance_user, credit=entry, amount=2000, **REVERSAL
    )
    rest = actions.request_credit_reversal(
        actor=finance_user, credit=entry, amount=None, **REVERSAL
    )

    assert (part.state, rest.state) == (ActionState.SUCCEEDED, ActionState.SUCCEEDED)
    assert rest.amount == 3000
    reversals = entry.reversals.order_by("created", "id")
    assert [r.amount for r in reversals] == [2000, 3000]
    assert account.customer.balance().amount == 0
    assert gateway.retrieve_customer(account.customer.stripe_customer_id).balance == 0
    with pytest.raises(actions.ActionConflict, match="already reversed in full"):
        actions.request_credit_reversal(actor=finance_user, credit=entry, amount=1, **REVERSAL)


def test_a_reversal_above_what_is_left_is_refused(account, finance_user):
    credit(finance_user, account.customer, 5000)
    entry = BalanceTransaction.objects.get()

    with pytest.raises(actions.InvalidAction, match=r"At most \$50.00"):
        actions.request_credit_reversal(actor=finance_user, credit=entry, amount=5001, **REVERSAL)


def test_only_a_credit_can_be_reversed(account, finance_user):
    credit(finance_user, account.customer, 5000)
    entry = BalanceTransaction.objects.get()
    actions.request_credit_reversal(actor=finance_user, credit=entry, amount=100, **REVERSAL)
    reversal = entry.reversals.get()

    with pytest.raises(actions.ActionConflict, match="Only a credit"):
        actions.request_credit_reversal(actor=finance_user, credit=reversal, amount=100, **REVERSAL)

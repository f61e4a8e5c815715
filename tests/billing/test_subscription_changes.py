import datetime as dt

import pytest
from django.utils import timezone

from billing import actions
from billing.actions import Change
from billing.models import ActionState, Price, Subscription
from billing.stripe import gateway
from tests import stripe_scenarios as scenario
from tests.billing.conftest import mirrored_account

WHY = {"reason": "customer_request", "ticket": "ZD-500", "note": ""}


def change(actor, subscription, reason="customer_request", **fields):
    return actions.request_subscription_change(
        actor=actor,
        subscription=subscription,
        change=Change(**fields),
        **{**WHY, "reason": reason},
    )


def at_stripe(subscription: Subscription) -> gateway.SubscriptionData:
    return gateway.retrieve_subscription(subscription.stripe_subscription_id)


def test_a_seat_change_previews_its_proration_and_applies(account, finance_user):
    subscription = account.subscription

    preview = actions.preview_subscription_change(
        subscription=subscription, change=Change(change="seats", quantity=15)
    )
    action = change(finance_user, subscription, change="seats", quantity=15)

    seats, proration = preview.lines
    assert (seats.before, seats.after) == ("10", "15")
    assert proration.after.startswith("$")
    assert proration.after != "$0.00"
    assert action.state == ActionState.SUCCEEDED
    assert at_stripe(subscription).quantity == 15
    subscription.refresh_from_db()
    assert subscription.quantity == 15
    assert subscription.history.latest().history_ticket == "ZD-500"


def test_support_may_only_request_plan_and_seat_changes(account, support_user, finance_user):
    action = change(support_user, account.subscription, change="seats", quantity=12)

    assert action.state == ActionState.PENDING_APPROVAL
    actions.approve(approval_pk=action.approval.pk, approver=finance_user)
    assert at_stripe(account.subscription).quantity == 12


def test_a_price_change_moves_the_subscription_to_the_new_price(account, finance_user):
    annual = scenario.plan(code="business", unit_amount=39000, interval="year")
    account.refresh()
    snapshot_price = gateway.retrieve_price(annual.id)
    from billing.stripe.mirror import read

    read(lambda s: s.read_price_if_unknown(snapshot_price.id)).apply(reason="test: new price")
    new_price = Price.objects.get(stripe_price_id=annual.id)

    action = change(finance_user, account.subscription, change="price", price=new_price)

    assert action.state == ActionState.SUCCEEDED
    assert at_stripe(account.subscription).price == annual.id
    account.subscription.refresh_from_db()
    assert account.subscription.price == new_price


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"change": "seats", "quantity": 10}, "already has 10 seats"),
        ({"change": "seats", "quantity": 0}, "whole number"),
        ({"change": "price"}, "Choose the new price"),
        ({"change": "teleport"}, "not a change we know"),
        ({"change": "discount", "percent_off": "0"}, "percentage"),
        ({"change": "discount"}, "either a percentage or an amount"),
        ({"change": "discount", "percent_off": "10", "duration": "repeating"}, "1 to 36 months"),
        ({"change": "pause_collection", "behavior": "shred"}, "Choose what happens"),
    ],
)
def test_a_malformed_change_is_refused(account, finance_user, fields, error):
    reason = "retention" if fields["change"] == "discount" else "customer_request"

    with pytest.raises(actions.InvalidAction, match=error):
        change(finance_user, account.subscription, reason=reason, **fields)


def test_the_same_price_is_not_a_change(account, finance_user):
    with pytest.raises(actions.InvalidAction, match="already the subscription's price"):
        change(finance_user, account.subscription, change="price", price=account.subscription.price)


def test_seats_only_change_on_a_per_seat_plan(stripe_emulator, finance_user):
    flat = mirrored_account(quantity=1, per_seat=False)

    with pytest.raises(actions.ActionConflict, match="not priced per seat"):
        change(finance_user, flat.subscription, change="seats", quantity=3)


def test_support_extends_a_trial_up_to_30_days_directly(
    stripe_emulator, support_user, finance_user
):
    trial = mirrored_account(trial_days=14)
    sub = trial.subscription
    old_end = sub.trial_end

    short = change(
        support_user,
        sub,
        reason="evaluation_in_progress",
        change="trial_end",
        trial_end=old_end + dt.timedelta(days=10),
    )
    sub.refresh_from_db()
    long = change(
        support_user,
        sub,
        reason="evaluation_in_progress",
        change="trial_end",
        trial_end=sub.trial_end + dt.timedelta(days=45),
    )

    assert short.state == ActionState.SUCCEEDED
    assert at_stripe(sub).trial_end == old_end + dt.timedelta(days=10)
    assert long.state == ActionState.PENDING_APPROVAL
    assert "Above your limit of 30 days" in long.policy_note
    assert long.payload["days"] == 45


def test_only_a_trialing_subscription_has_its_trial_extended(account, finance_user):
    with pytest.raises(actions.ActionConflict, match="on trial"):
        change(
            finance_user,
            account.subscription,
            reason="evaluation_in_progress",
            change="trial_end",
            trial_end=timezone.now() + dt.timedelta(days=5),
        )


def test_a_discount_is_created_and_applied(account, finance_user):
    preview = actions.preview_subscription_change(
        subscription=account.subscription,
        change=Change(
            change="discount", percent_off="20", duration="repeating", duration_in_months=3
        ),
    )
    action = change(
        finance_user,
        account.subscription,
        reason="retention",
        change="discount",
        percent_off="20",
        duration="repeating",
        duration_in_months=3,
    )

    assert preview.summary == "20.00% off for 3 months"
    assert action.state == ActionState.SUCCEEDED
    stripe_side = at_stripe(account.subscription)
    assert stripe_side.discount_percent_off == 20
    account.subscription.refresh_from_db()
    assert account.subscription.discount_percent_off == 20
    assert account.subscription.discount_coupon_id == stripe_side.discount_coupon


def test_pausing_and_resuming_collection(account, finance_user):
    paused = change(finance_user, account.subscription, change="pause_collection", behavior="void")
    with pytest.raises(actions.ActionConflict, match="already paused"):
        change(finance_user, account.subscription, change="pause_collection", behavior="void")
    resumed = change(
        finance_user, account.subscription, reason="issue_resolved", change="resume_collection"
    )

    assert (paused.state, resumed.state) == (ActionState.SUCCEEDED, ActionState.SUCCEEDED)
    assert at_stripe(account.subscription).pause_behavior == ""
    account.subscription.refresh_from_db()
    assert not account.subscription.collection_paused
    with pytest.raises(actions.ActionConflict, match="not paused"):
        change(
            finance_user, account.subscription, reason="issue_resolved", change="resume_collection"
        )


def test_cancel_at_period_end_then_reactivate(account, finance_user):
    with pytest.raises(actions.ActionConflict, match="cancel at the period end"):
        change(finance_user, account.subscription, change="reactivate")

    cancel = change(finance_user, account.subscription, change="cancel", at_period_end=True)
    assert at_stripe(account.subscription).cancel_at_period_end is True
    reactivate = change(finance_user, account.subscription, change="reactivate")

    assert (cancel.state, reactivate.state) == (ActionState.SUCCEEDED, ActionState.SUCCEEDED)
    assert at_stripe(account.subscription).cancel_at_period_end is False


def test_cancel_now_ends_the_subscription(account, finance_user):
    action = change(finance_user, account.subscription, change="cancel", at_period_end=False)

    assert action.state == ActionState.SUCCEEDED
    assert at_stripe(account.subscription).status == "canceled"
    account.subscription.refresh_from_db()
    assert account.subscription.status == "canceled"
    with pytest.raises(actions.ActionConflict, match="can no longer be changed"):
        change(finance_user, account.subscription, change="seats", quantity=3)

"""Subscriptions: creation, trials, proration, discounts, pausing and cancellation."""

from __future__ import annotations

import pytest
import stripe

DAY = 86_400


@pytest.fixture
def frozen(emulator):
    """Freeze the clock so period arithmetic in assertions is exact."""
    emulator.set_clock(1_767_225_600, frozen=True)  # 2026-01-01T00:00:00Z
    return emulator


def _subscribe(client, customer, price, **params):
    return client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": price.id, **params.pop("item", {})}],
            **params,
        }
    )


def test_new_subscription_pays_its_first_invoice_and_is_active(
    client, frozen, make_customer, make_price
):
    customer = make_customer()
    price = make_price(1000)

    subscription = _subscribe(
        client, customer, price, item={"quantity": 3}, metadata={"org": "acme"}
    )
    item = subscription["items"].data[0]
    invoice = client.v1.invoices.retrieve(subscription.latest_invoice)

    assert subscription.status == "active"
    assert (item.price.id, item.quantity) == (price.id, 3)
    assert item.current_period_start == 1_767_225_600
    assert item.current_period_end == 1_769_904_000  # 2026-02-01
    assert subscription.billing_cycle_anchor == 1_767_225_600
    assert invoice.status == "paid"
    assert invoice.billing_reason == "subscription_create"
    assert (invoice.subtotal, invoice.total, invoice.amount_paid, invoice.amount_remaining) == (
        3000,
        3000,
        3000,
        0,
    )
    assert invoice.parent.subscription_details.subscription == subscription.id
    assert invoice.number == f"{customer.invoice_prefix}-0001"


def test_declined_first_payment_leaves_subscription_incomplete(client, make_customer, make_price):
    customer = make_customer(card="pm_card_chargeDeclined")

    subscription = _subscribe(client, customer, make_price())
    invoice = client.v1.invoices.retrieve(subscription.latest_invoice)

    assert subscription.status == "incomplete"
    assert invoice.status == "open"
    assert invoice.attempt_count == 1
    assert invoice.amount_remaining == 1000


def test_paying_the_incomplete_invoice_with_a_new_card_activates_it(
    client, make_customer, make_price
):
    customer = make_customer(card="pm_card_chargeDeclined")
    subscription = _subscribe(client, customer, make_price())

    client.v1.invoices.pay(subscription.latest_invoice, {"payment_method": "pm_card_visa"})

    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"


def test_trial_subscription_is_trialing_with_a_zero_invoice(
    client, frozen, make_customer, make_price
):
    customer = make_customer()

    subscription = _subscribe(client, customer, make_price(), trial_period_days=14)
    invoice = client.v1.invoices.retrieve(subscription.latest_invoice)

    assert subscription.status == "trialing"
    assert subscription.trial_end == 1_767_225_600 + 14 * DAY
    assert subscription["items"].data[0].current_period_end == subscription.trial_end
    assert (invoice.total, invoice.status) == (0, "paid")


def test_trial_extension_moves_trial_end_and_period(client, frozen, make_customer, make_price):
    subscription = _subscribe(client, make_customer(), make_price(), trial_period_days=7)
    new_end = 1_767_225_600 + 30 * DAY

    updated = client.v1.subscriptions.update(subscription.id, {"trial_end": new_end})

    assert updated.trial_end == new_end
    assert updated["items"].data[0].current_period_end == new_end
    assert updated.status == "trialing"


def test_ending_a_trial_now_charges_the_first_period(client, make_customer, make_price):
    subscription = _subscribe(client, make_customer(), make_price(1500), trial_period_days=7)

    updated = client.v1.subscriptions.update(subscription.id, {"trial_end": "now"})
    invoice = client.v1.invoices.retrieve(updated.latest_invoice)

    assert updated.status == "active"
    assert (invoice.total, invoice.status) == (1500, "paid")


def test_trial_end_in_the_past_is_refused(client, make_customer, make_price):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _subscribe(client, make_customer(), make_price(), trial_end=1_000_000_000)

    assert raised.value.param == "trial_end"


def test_seat_change_with_create_prorations_leaves_pending_proration_items(
    client, frozen, make_customer, make_price
):
    customer = make_customer()
    subscription = _subscribe(
        client, customer, make_price(3100, interval="month"), item={"quantity": 2}
    )
    item = subscription["items"].data[0]
    frozen.set_clock(1_767_225_600 + 10 * DAY)  # 21 of 31 days left

    updated = client.v1.subscriptions.update(
        subscription.id, {"items": [{"id": item.id, "quantity": 5}]}
    )
    pending = client.v1.invoice_items.list({"customer": customer.id, "pending": True})

    assert updated["items"].data[0].quantity == 5
    assert sorted(i.amount for i in pending.data) == [-4200, 10500]
    assert all(i.proration for i in pending.data)


def test_proration_preview_matches_stripe_math_and_changes_nothing(
    client, frozen, make_customer, make_price
):
    customer = make_customer()
    old = make_price(1000, name="Team")
    new = make_price(3000, name="Business")
    subscription = _subscribe(client, customer, old)
    item = subscription["items"].data[0]
    proration_date = 1_767_225_600 + 15 * DAY + 12 * 3600  # 15.5 of 31 days used

    preview = client.v1.invoices.create_preview(
        {
            "customer": customer.id,
            "subscription": subscription.id,
            "subscription_details": {
                "items": [{"id": item.id, "price": new.id}],
                "proration_date": proration_date,
            },
        }
    )
    prorations = [
        line for line in preview.lines.data if line.parent.subscription_item_details.proration
    ]

    assert preview.id.startswith("upcoming_in_")
    assert sorted(line.amount for line in prorations) == [-500, 1500]
    assert preview.parent.subscription_details.subscription_proration_date == proration_date
    assert preview.total == -500 + 1500 + 3000
    after = client.v1.subscriptions.retrieve(subscription.id)
    assert after["items"].data[0].price.id == old.id
    assert client.v1.invoice_items.list({"customer": customer.id}).data == []


def test_always_invoice_bills_the_proration_immediately(client, frozen, make_customer, make_price):
    customer = make_customer()
    subscription = _subscribe(client, customer, make_price(3100))
    item = subscription["items"].data[0]
    frozen.set_clock(1_767_225_600 + 21 * DAY)  # 10 of 31 days left

    updated = client.v1.subscriptions.update(
        subscription.id,
        {"items": [{"id": item.id, "quantity": 3}], "proration_behavior": "always_invoice"},
    )
    invoice = client.v1.invoices.retrieve(updated.latest_invoice)

    assert invoice.billing_reason == "subscription_update"
    assert sorted(line.amount for line in invoice.lines.data) == [-1000, 3000]
    assert (invoice.total, invoice.status) == (2000, "paid")


def test_proration_none_changes_price_without_lines(client, make_customer, make_price):
    customer = make_customer()
    subscription = _subscribe(client, customer, make_price(1000))
    other = make_price(2000)

    client.v1.subscriptions.update(
        subscription.id,
        {
            "items": [{"id": subscription["items"].data[0].id, "price": other.id}],
            "proration_behavior": "none",
        },
    )

    assert client.v1.invoice_items.list({"customer": customer.id}).data == []


def test_changing_to_a_yearly_price_resets_the_cycle_and_invoices_now(
    client, frozen, make_customer, make_price
):
    customer = make_customer()
    subscription = _subscribe(client, customer, make_price(1000, interval="month"))
    yearly = make_price(10000, interval="year")
    frozen.set_clock(1_767_225_600 + 10 * DAY)

    updated = client.v1.subscriptions.update(
        subscription.id, {"items": [{"id": subscription["items"].data[0].id, "price": yearly.id}]}
    )
    invoice = client.v1.invoices.retrieve(updated.latest_invoice)

    assert updated.billing_cycle_anchor == 1_767_225_600 + 10 * DAY
    assert updated["items"].data[0].current_period_end == 1_767_225_600 + 10 * DAY + 365 * DAY
    assert sorted(line.amount for line in invoice.lines.data) == [-677, 10000]


def test_percent_coupon_discounts_the_invoice_rounding_half_up(client, make_customer, make_price):
    coupon = client.v1.coupons.create({"percent_off": 12.5, "duration": "forever"})

    subscription = _subscribe(
        client, make_customer(), make_price(999), discounts=[{"coupon": coupon.id}]
    )
    invoice = client.v1.invoices.retrieve(subscription.latest_invoice)
    expanded = client.v1.subscriptions.retrieve(subscription.id, {"expand": ["discounts"]})

    assert invoice.subtotal == 999
    assert invoice.total_discount_amounts[0].amount == 125  # 124.875 rounds half up
    assert invoice.total == 874
    assert expanded.discounts[0].source.coupon == coupon.id


def test_once_coupon_applies_to_first_invoice_only(client, emulator, make_customer, make_price):
    coupon = client.v1.coupons.create({"amount_off": 300, "currency": "usd", "duration": "once"})
    subscription = _subscribe(
        client, make_customer(), make_price(1000), discounts=[{"coupon": coupon.id}]
    )

    emulator.advance_clock(32 * DAY)
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    second = client.v1.invoices.retrieve(renewed.latest_invoice)

    assert client.v1.invoices.retrieve(subscription.latest_invoice).total == 700
    assert renewed.discounts == []
    assert second.total == 1000


def test_discounts_can_be_replaced_and_removed(client, make_customer, make_price):
    subscription = _subscribe(client, make_customer(), make_price())
    coupon = client.v1.coupons.create({"percent_off": 20, "duration": "forever"})

    with_discount = client.v1.subscriptions.update(
        subscription.id, {"discounts": [{"coupon": coupon.id}]}
    )
    removed = client.v1.subscriptions.update(subscription.id, {"discounts": ""})

    assert len(with_discount.discounts) == 1
    assert with_discount.discounts[0].startswith("di_")
    assert removed.discounts == []


def test_pause_collection_and_resume_keep_the_status(client, make_customer, make_price):
    subscription = _subscribe(client, make_customer(), make_price())

    paused = client.v1.subscriptions.update(
        subscription.id, {"pause_collection": {"behavior": "void"}}
    )
    resumed = client.v1.subscriptions.update(subscription.id, {"pause_collection": ""})

    assert paused.pause_collection.behavior == "void"
    assert paused.status == "active"
    assert resumed.pause_collection is None


def test_cancel_at_period_end_can_be_set_and_undone(client, make_customer, make_price):
    subscription = _subscribe(client, make_customer(), make_price())
    period_end = subscription["items"].data[0].current_period_end

    scheduled = client.v1.subscriptions.update(subscription.id, {"cancel_at_period_end": True})
    undone = client.v1.subscriptions.update(subscription.id, {"cancel_at_period_end": False})

    assert (scheduled.cancel_at_period_end, scheduled.cancel_at) == (True, period_end)
    assert scheduled.status == "active"
    assert (undone.cancel_at_period_end, undone.cancel_at, undone.canceled_at) == (
        False,
        None,
        None,
    )


def test_cancel_now_ends_the_subscription_and_emits_deleted(client, make_customer, make_price):
    subscription = _subscribe(client, make_customer(), make_price())

    canceled = client.v1.subscriptions.cancel(subscription.id)
    event = client.v1.events.list({"type": "customer.subscription.deleted"}).data[0]

    assert canceled.status == "canceled"
    assert canceled.ended_at is not None
    assert canceled.canceled_at is not None
    assert canceled.cancellation_details.reason == "cancellation_requested"
    assert event.data.object.id == subscription.id


def test_cancel_with_prorate_and_invoice_now_credits_unused_time(
    client, frozen, make_customer, make_price
):
    customer = make_customer()
    subscription = _subscribe(client, customer, make_price(3100))
    frozen.set_clock(1_767_225_600 + 21 * DAY)

    client.v1.subscriptions.cancel(subscription.id, {"prorate": True, "invoice_now": True})

    assert client.v1.customers.retrieve(customer.id).balance == -1000


def test_canceled_subscription_only_takes_metadata(client, make_customer, make_price):
    subscription = _subscribe(client, make_customer(), make_price())
    client.v1.subscriptions.cancel(subscription.id)

    with pytest.raises(stripe.InvalidRequestError, match="canceled subscription"):
        client.v1.subscriptions.update(subscription.id, {"cancel_at_period_end": True})
    assert (
        client.v1.subscriptions.update(subscription.id, {"metadata": {"a": "b"}}).metadata.a == "b"
    )


def test_pause_and_resume_endpoints_change_status(client, make_customer, make_price):
    subscription = _subscribe(client, make_customer(), make_price())

    paused = client.v1.subscriptions.pause(subscription.id)
    resumed = client.v1.subscriptions.resume(subscription.id)
    types = [e.type for e in client.v1.events.list({"limit": 100}).data]

    assert paused.status == "paused"
    assert paused.status_details.paused.subscription.type == "pause_requested"
    assert resumed.status == "active"
    assert "customer.subscription.paused" in types
    assert "customer.subscription.resumed" in types


def test_subscriptions_list_filters_by_customer_and_status(client, make_customer, make_price):
    customer = make_customer()
    price = make_price()
    active = _subscribe(client, customer, price)
    canceled = _subscribe(client, customer, make_price(2000))
    client.v1.subscriptions.cancel(canceled.id)

    default = client.v1.subscriptions.list({"customer": customer.id})
    every = client.v1.subscriptions.list({"customer": customer.id, "status": "all"})

    assert [s.id for s in default.data] == [active.id]
    assert {s.id for s in every.data} == {active.id, canceled.id}


def test_items_must_share_currency_and_interval(client, make_customer, make_price):
    monthly = make_price(1000, interval="month")
    yearly = make_price(1000, interval="year")

    with pytest.raises(stripe.InvalidRequestError, match="must match"):
        client.v1.subscriptions.create(
            {"customer": make_customer().id, "items": [{"price": monthly.id}, {"price": yearly.id}]}
        )


def test_canceling_twice_is_an_invalid_request(client, make_customer, make_price):
    subscription = _subscribe(client, make_customer(), make_price())
    client.v1.subscriptions.cancel(subscription.id)

    with pytest.raises(stripe.InvalidRequestError, match="already been canceled"):
        client.v1.subscriptions.cancel(subscription.id)

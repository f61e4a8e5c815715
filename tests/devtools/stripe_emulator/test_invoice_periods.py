"""An invoice's ``period_start``/``period_end`` and its lines' ``period``, as Stripe defines them.

Stripe: the invoice's period is the window in which pending invoice items were gathered ("the
earliest/latest timestamp at which invoice items can be associated with this invoice"), which
looks back one period for a subscription invoice; the service period is on each line.
"""

from __future__ import annotations

import pytest

DAY = 86_400
JAN_1 = 1_767_225_600  # 2026-01-01T00:00:00Z
FEB_1 = 1_769_904_000
MAR_1 = 1_772_323_200
APR_1 = 1_775_001_600


@pytest.fixture
def january(emulator):
    emulator.set_clock(JAN_1, frozen=True)
    return emulator


def _period(obj) -> tuple[int, int]:
    return obj.period.start, obj.period.end


def _window(invoice) -> tuple[int, int]:
    return invoice.period_start, invoice.period_end


def test_a_subscriptions_first_invoice_has_an_empty_window_at_creation(
    client, january, make_customer, make_price
):
    subscription = client.v1.subscriptions.create(
        {"customer": make_customer().id, "items": [{"price": make_price(1000).id}]}
    )

    invoice = client.v1.invoices.retrieve(subscription.latest_invoice)

    assert invoice.billing_reason == "subscription_create"
    assert _window(invoice) == (subscription.created, subscription.created) == (JAN_1, JAN_1)
    assert [_period(line) for line in invoice.lines.data] == [(JAN_1, FEB_1)]


def test_a_renewal_looks_back_at_the_period_that_ended_and_bills_the_next(
    client, january, make_customer, make_price
):
    subscription = client.v1.subscriptions.create(
        {"customer": make_customer().id, "items": [{"price": make_price(1000).id}]}
    )

    january.advance_clock_to(MAR_1)
    renewals = client.v1.invoices.list(
        {"subscription": subscription.id, "status": "paid", "limit": 3}
    ).data

    assert [invoice.billing_reason for invoice in renewals] == [
        "subscription_cycle",
        "subscription_cycle",
        "subscription_create",
    ]
    assert [_window(invoice) for invoice in renewals[:2]] == [(FEB_1, MAR_1), (JAN_1, FEB_1)]
    assert [_period(invoice.lines.data[0]) for invoice in renewals[:2]] == [
        (MAR_1, APR_1),
        (FEB_1, MAR_1),
    ]


def test_the_end_of_a_trial_looks_back_at_the_trial(client, january, make_customer, make_price):
    subscription = client.v1.subscriptions.create(
        {
            "customer": make_customer().id,
            "items": [{"price": make_price(1000).id}],
            "trial_end": JAN_1 + 14 * DAY,
        }
    )
    trial_invoice = client.v1.invoices.retrieve(subscription.latest_invoice)

    january.advance_clock(15 * DAY)
    first_paid = client.v1.invoices.retrieve(
        client.v1.subscriptions.retrieve(subscription.id).latest_invoice
    )

    assert (trial_invoice.amount_due, _window(trial_invoice)) == (0, (JAN_1, JAN_1))
    assert _period(trial_invoice.lines.data[0]) == (JAN_1, JAN_1 + 14 * DAY)
    assert first_paid.amount_paid == 1000
    assert _window(first_paid) == (JAN_1, JAN_1 + 14 * DAY)
    assert _period(first_paid.lines.data[0]) == (
        JAN_1 + 14 * DAY,
        JAN_1 + 14 * DAY + (FEB_1 - JAN_1),
    )


def test_an_invoice_made_at_a_change_has_an_empty_window_and_prorated_lines(
    client, january, make_customer, make_price
):
    subscription = client.v1.subscriptions.create(
        {"customer": make_customer().id, "items": [{"price": make_price(3100).id}]}
    )
    item = subscription["items"].data[0]
    january.advance_clock(10 * DAY)

    updated = client.v1.subscriptions.update(
        subscription.id,
        {"items": [{"id": item.id, "quantity": 2}], "proration_behavior": "always_invoice"},
    )
    invoice = client.v1.invoices.retrieve(updated.latest_invoice)

    changed_at = JAN_1 + 10 * DAY
    assert invoice.billing_reason == "subscription_update"
    assert _window(invoice) == (changed_at, changed_at)
    assert {_period(line) for line in invoice.lines.data} == {(changed_at, FEB_1)}


def test_the_preview_of_the_next_renewal_means_what_the_renewal_will(
    client, january, make_customer, make_price
):
    subscription = client.v1.subscriptions.create(
        {"customer": make_customer().id, "items": [{"price": make_price(1000).id}]}
    )

    preview = client.v1.invoices.create_preview({"subscription": subscription.id})

    assert _window(preview) == (JAN_1, FEB_1)
    assert [_period(line) for line in preview.lines.data] == [(FEB_1, MAR_1)]


def test_a_one_off_invoice_has_an_empty_window_and_its_items_periods(
    client, january, make_customer
):
    customer = make_customer()
    client.v1.invoice_items.create(
        {
            "customer": customer.id,
            "amount": 5000,
            "currency": "usd",
            "period": {"start": JAN_1 - 30 * DAY, "end": JAN_1},
        }
    )

    invoice = client.v1.invoices.create(
        {"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )

    assert _window(invoice) == (JAN_1, JAN_1)
    assert [_period(line) for line in invoice.lines.data] == [(JAN_1 - 30 * DAY, JAN_1)]


def test_a_renewal_made_late_still_looks_back_at_the_period_that_ended(
    client, january, make_customer, make_price
):
    subscription = client.v1.subscriptions.create(
        {"customer": make_customer().id, "items": [{"price": make_price(1000).id}]}
    )
    january.set_clock(FEB_1 + 3600, frozen=True)  # the clock jumped past the renewal

    january.advance_clock(0)
    renewal = client.v1.invoices.retrieve(
        client.v1.subscriptions.retrieve(subscription.id).latest_invoice
    )

    assert renewal.created == FEB_1 + 3600
    assert _window(renewal) == (JAN_1, FEB_1)
    assert [_period(line) for line in renewal.lines.data] == [(FEB_1, MAR_1)]

"""Products, prices and coupons."""

from __future__ import annotations

import pytest
import stripe


def test_recurring_price_has_interval_amount_and_currency(client):
    product = client.v1.products.create({"name": "Team", "metadata": {"plan_code": "team"}})

    price = client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 1200,
            "currency": "USD",
            "recurring": {"interval": "year"},
            "lookup_key": "team_yearly",
        }
    )

    assert price.id.startswith("price_")
    assert (price.unit_amount, price.currency, price.type) == (1200, "usd", "recurring")
    assert (price.recurring.interval, price.recurring.interval_count) == ("year", 1)
    assert price.product == product.id


def test_prices_filter_by_product_active_and_lookup_key(client, make_price):
    team = make_price(1000, name="Team")
    make_price(2000, name="Business")
    client.v1.prices.update(team.id, {"lookup_key": "team_monthly"})
    inactive = client.v1.prices.create(
        {"product": team.product, "unit_amount": 900, "currency": "usd", "active": False}
    )

    by_product = client.v1.prices.list({"product": team.product})
    active = client.v1.prices.list({"product": team.product, "active": True})
    by_key = client.v1.prices.list({"lookup_keys": ["team_monthly"]})

    assert {p.id for p in by_product.data} == {team.id, inactive.id}
    assert [p.id for p in active.data] == [team.id]
    assert [p.id for p in by_key.data] == [team.id]


def test_lookup_key_taken_by_another_price_is_refused_unless_transferred(client, make_price):
    first = make_price(1000)
    second = make_price(1100)
    client.v1.prices.update(first.id, {"lookup_key": "team"})

    with pytest.raises(stripe.InvalidRequestError, match="already uses that lookup key"):
        client.v1.prices.update(second.id, {"lookup_key": "team"})
    moved = client.v1.prices.update(second.id, {"lookup_key": "team", "transfer_lookup_key": True})

    assert moved.lookup_key == "team"
    assert client.v1.prices.retrieve(first.id).lookup_key is None


def test_product_update_emits_product_updated_with_previous_name(client):
    product = client.v1.products.create({"name": "Team"})

    client.v1.products.update(product.id, {"name": "Team Pro"})
    event = client.v1.events.list({"type": "product.updated"}).data[0]

    assert event.data.object.name == "Team Pro"
    assert event.data.previous_attributes.name == "Team"


def test_percent_and_amount_coupons(client):
    percent = client.v1.coupons.create({"percent_off": 12.5, "duration": "forever"})
    amount = client.v1.coupons.create(
        {"id": "WELCOME5", "amount_off": 500, "currency": "usd", "duration": "once"}
    )
    repeating = client.v1.coupons.create(
        {"percent_off": 50, "duration": "repeating", "duration_in_months": 3}
    )

    assert percent.percent_off == 12.5
    assert percent.duration == "forever"
    assert (amount.id, amount.amount_off, amount.currency) == ("WELCOME5", 500, "usd")
    assert repeating.duration_in_months == 3
    assert {c.id for c in client.v1.coupons.list().data} == {percent.id, amount.id, repeating.id}


def test_coupon_needs_exactly_one_of_percent_or_amount(client):
    with pytest.raises(stripe.InvalidRequestError, match="exactly one"):
        client.v1.coupons.create({"duration": "once"})


def test_deleted_coupon_is_gone(client):
    coupon = client.v1.coupons.create({"percent_off": 10, "duration": "once"})

    client.v1.coupons.delete(coupon.id)

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.coupons.retrieve(coupon.id)
    assert raised.value.code == "resource_missing"

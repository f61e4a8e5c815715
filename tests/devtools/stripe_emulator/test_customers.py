"""Customers and customer balance transactions."""

from __future__ import annotations

import pytest
import stripe


def test_customer_create_retrieve_update_list(client):
    customer = client.v1.customers.create(
        {"email": "ada@example.com", "name": "Ada", "metadata": {"account": "42"}}
    )

    client.v1.customers.update(customer.id, {"name": "Ada L.", "metadata": {"plan": "team"}})
    fetched = client.v1.customers.retrieve(customer.id)
    by_email = client.v1.customers.list({"email": "ada@example.com"})

    assert fetched.name == "Ada L."
    assert fetched.metadata.to_dict() == {"account": "42", "plan": "team"}
    assert fetched.balance == 0
    assert fetched.invoice_prefix
    assert fetched.next_invoice_sequence == 1
    assert [c.id for c in by_email.data] == [customer.id]


def test_metadata_key_with_empty_value_is_deleted(client):
    customer = client.v1.customers.create({"metadata": {"a": "1", "b": "2"}})

    updated = client.v1.customers.update(customer.id, {"metadata": {"a": ""}})

    assert updated.metadata.to_dict() == {"b": "2"}


def test_deleted_customer_retrieves_as_deleted_stub(client):
    customer = client.v1.customers.create({"email": "gone@example.com"})

    result = client.v1.customers.delete(customer.id)
    fetched = client.v1.customers.retrieve(customer.id)

    assert result.deleted is True
    assert fetched.deleted is True


def test_default_payment_method_from_test_token_is_an_attached_card(client, make_customer):
    customer = make_customer(card="pm_card_mastercard")

    pm = client.v1.payment_methods.retrieve(customer.invoice_settings.default_payment_method)

    assert pm.id.startswith("pm_")
    assert pm.id != "pm_card_mastercard"
    assert pm.customer == customer.id
    assert (pm.card.brand, pm.card.last4) == ("mastercard", "4444")


def test_attaching_a_test_card_to_a_customer(client):
    customer = client.v1.customers.create({})

    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    listed = client.v1.customers.payment_methods.list(customer.id)

    assert (pm.card.brand, pm.card.last4, pm.customer) == ("visa", "4242", customer.id)
    assert [p.id for p in listed.data] == [pm.id]


def test_negative_balance_transaction_credits_the_customer(client):
    customer = client.v1.customers.create({})

    first = client.v1.customers.balance_transactions.create(
        customer.id, {"amount": -2500, "currency": "usd", "description": "Goodwill"}
    )
    second = client.v1.customers.balance_transactions.create(
        customer.id, {"amount": 1000, "currency": "usd"}
    )
    fetched = client.v1.customers.retrieve(customer.id)

    assert first.id.startswith("cbtxn_")
    assert (first.amount, first.ending_balance, first.type) == (-2500, -2500, "adjustment")
    assert second.ending_balance == -1500
    assert fetched.balance == -1500
    assert fetched.currency == "usd"


def test_balance_equals_the_sum_of_balance_transactions(client):
    customer = client.v1.customers.create({})
    for amount in (-500, -700, 300):
        client.v1.customers.balance_transactions.create(
            customer.id, {"amount": amount, "currency": "usd"}
        )

    transactions = client.v1.customers.balance_transactions.list(customer.id)
    one = client.v1.customers.balance_transactions.retrieve(customer.id, transactions.data[0].id)

    assert (
        sum(t.amount for t in transactions.data)
        == client.v1.customers.retrieve(customer.id).balance
    )
    assert [t.ending_balance for t in transactions.data] == [-900, -1200, -500]
    assert one.id == transactions.data[0].id


def test_balance_transaction_in_another_currency_is_refused(client):
    customer = client.v1.customers.create({})
    client.v1.customers.balance_transactions.create(
        customer.id, {"amount": -100, "currency": "usd"}
    )

    with pytest.raises(stripe.InvalidRequestError, match="combine currencies"):
        client.v1.customers.balance_transactions.create(
            customer.id, {"amount": -100, "currency": "eur"}
        )


def test_balance_transaction_for_unknown_customer_is_404(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.balance_transactions.create(
            "cus_missing", {"amount": -100, "currency": "usd"}
        )

    assert raised.value.http_status == 404
    assert str(raised.value.user_message) == "No such customer: 'cus_missing'"


def test_balance_change_emits_customer_updated_with_previous_balance(client):
    customer = client.v1.customers.create({})

    client.v1.customers.balance_transactions.create(
        customer.id, {"amount": -300, "currency": "usd"}
    )
    event = client.v1.events.list({"type": "customer.updated"}).data[0]

    assert event.data.object.balance == -300
    assert event.data.previous_attributes.balance == 0

"""Requests Stripe refuses are refused here too, with Stripe's error type, code and param."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
import stripe


def _refused(call, *args, **kwargs) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call(*args, **kwargs)
    assert raised.value.http_status == 400
    assert raised.value.error.type == "invalid_request_error"
    return raised.value


def _paid_subscription(client, make_customer, make_price):
    customer = make_customer()
    return client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": make_price(1000).id}]}
    )


# Unknown and missing parameters -------------------------------------------------------------


def test_an_unknown_parameter_is_refused_with_its_name(client, make_charge):
    charge = make_charge()

    error = _refused(client.v1.refunds.create, {"charge": charge.id, "descripton": "typo"})

    assert (error.code, error.param) == ("parameter_unknown", "descripton")
    assert error.user_message == "Received unknown parameter: descripton"
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 0


def test_a_parameter_stripe_does_not_take_on_that_endpoint_is_unknown(client, make_charge):
    charge = make_charge()

    error = _refused(client.v1.refunds.create, {"charge": charge.id, "description": "Refund"})

    assert (error.code, error.param) == ("parameter_unknown", "description")


def test_an_unknown_nested_parameter_is_named_in_brackets(client, make_customer, make_price):
    subscription = _paid_subscription(client, make_customer, make_price)

    error = _refused(
        client.v1.invoices.create_preview,
        {"subscription": subscription.id, "subscription_details": {"bogus": "1"}},
    )

    assert (error.code, error.param) == ("parameter_unknown", "subscription_details[bogus]")


def test_an_unknown_parameter_inside_an_array_entry_is_named_with_its_index(
    client, make_customer, make_price
):
    subscription = _paid_subscription(client, make_customer, make_price)
    item = subscription["items"].data[0]

    error = _refused(
        client.v1.subscriptions.update,
        subscription.id,
        {"items": [{"id": item.id, "quantity": 2, "seats": 2}]},
    )

    assert (error.code, error.param) == ("parameter_unknown", "items[0][seats]")
    assert client.v1.subscriptions.retrieve(subscription.id)["items"].data[0].quantity == 1


def test_a_missing_required_nested_parameter_is_parameter_missing(client, make_charge):
    charge = make_charge()

    error = _refused(
        client.v1.invoice_payments.list, {"payment": {"payment_intent": charge.payment_intent}}
    )

    assert (error.code, error.param) == ("parameter_missing", "payment[type]")


def test_a_missing_required_parameter_is_parameter_missing(client):
    error = _refused(client.v1.payment_intents.create, {"amount": 1000})

    assert (error.code, error.param) == ("parameter_missing", "currency")


def test_a_value_of_the_wrong_type_is_refused(client, make_charge):
    charge = make_charge()

    error = _refused(client.v1.refunds.create, {"charge": charge.id, "amount": "ten"})

    assert (error.code, error.param) == ("parameter_invalid_integer", "amount")


def test_a_value_outside_an_enumeration_is_refused(client, make_charge):
    charge = make_charge()

    error = _refused(client.v1.refunds.create, {"charge": charge.id, "reason": "changed_mind"})

    assert error.param == "reason"
    assert "must be one of duplicate, fraudulent, or requested_by_customer" in error.user_message


def test_an_empty_value_for_a_parameter_that_cannot_be_unset_is_refused(client, make_customer):
    customer = make_customer()

    error = _refused(client.v1.customers.update, customer.id, {"email": ""})

    assert (error.code, error.param) == ("parameter_invalid_empty", "email")
    assert client.v1.customers.retrieve(customer.id).email == "ada@example.com"


def test_an_empty_value_unsets_where_stripe_allows_it(client, make_customer):
    customer = make_customer(metadata={"plan": "team"})

    updated = client.v1.customers.update(customer.id, {"metadata": ""})

    assert updated.metadata.to_dict() == {}


def test_a_refused_request_leaves_its_idempotency_key_free(client, make_charge):
    charge = make_charge()
    options = {"idempotency_key": "refund-1"}

    _refused(client.v1.refunds.create, {"charge": charge.id, "bogus": "1"}, options=options)
    refund = client.v1.refunds.create({"charge": charge.id, "amount": 100}, options=options)

    assert refund.amount == 100


# Currencies, amounts, metadata --------------------------------------------------------------


@pytest.mark.parametrize("currency", ["xyz", "usdollar", "btc"])
def test_a_currency_stripe_does_not_support_is_refused_on_payment_intents(
    client, make_customer, currency
):
    error = _refused(client.v1.payment_intents.create, {"amount": 1000, "currency": currency})

    assert error.param == "currency"
    assert error.user_message.startswith(f"Invalid currency: {currency}.")


def test_a_currency_stripe_does_not_support_is_refused_on_prices(client):
    product = client.v1.products.create({"name": "Team"})

    error = _refused(
        client.v1.prices.create, {"product": product.id, "unit_amount": 100, "currency": "xyz"}
    )

    assert error.param == "currency"
    assert client.v1.prices.list().data == []


def test_a_currency_stripe_does_not_support_is_refused_on_balance_transactions(
    client, make_customer
):
    customer = make_customer()

    error = _refused(
        client.v1.customers.balance_transactions.create,
        customer.id,
        {"amount": -500, "currency": "xyz"},
    )

    assert error.param == "currency"
    assert client.v1.customers.retrieve(customer.id).balance == 0


def test_a_supported_currency_in_upper_case_is_taken_as_stripe_does(client, make_customer):
    customer = make_customer()

    transaction = client.v1.customers.balance_transactions.create(
        customer.id, {"amount": -500, "currency": "EUR"}
    )

    assert transaction.currency == "eur"


def test_an_amount_over_eight_digits_is_amount_too_large(client, make_customer):
    customer = make_customer()

    error = _refused(
        client.v1.payment_intents.create,
        {"amount": 100_000_000, "currency": "usd", "customer": customer.id},
    )

    assert (error.code, error.param) == ("amount_too_large", "amount")
    assert client.v1.payment_intents.list().data == []


def test_the_largest_amount_stripe_takes_is_taken(client, make_customer):
    customer = make_customer()

    intent = client.v1.payment_intents.create(
        {
            "amount": 99_999_999,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": customer.invoice_settings.default_payment_method,
            "confirm": True,
        }
    )

    assert (intent.status, intent.amount_received) == ("succeeded", 99_999_999)


def test_a_credit_over_eight_digits_is_amount_too_large(client, make_customer):
    customer = make_customer()

    error = _refused(
        client.v1.customers.balance_transactions.create,
        customer.id,
        {"amount": -100_000_000, "currency": "usd"},
    )

    assert (error.code, error.param) == ("amount_too_large", "amount")


def test_metadata_within_stripes_limits_is_taken(client, make_customer):
    metadata = {f"k{index:02d}{'x' * 37}": "v" * 500 for index in range(50)}

    customer = make_customer(metadata=metadata)

    assert customer.metadata.to_dict() == metadata


def test_more_than_fifty_metadata_keys_are_refused(client, make_customer):
    error = _refused(make_customer, metadata={f"key{index}": "v" for index in range(51)})

    assert error.param == "metadata"
    assert error.user_message == "Metadata can have up to 50 keys, but you've set 51."
    assert client.v1.customers.list().data == []


def test_metadata_keys_merged_past_fifty_are_refused(client, make_customer):
    customer = make_customer(metadata={f"old{index}": "v" for index in range(30)})

    error = _refused(
        client.v1.customers.update,
        customer.id,
        {"metadata": {f"new{index}": "v" for index in range(21)}},
    )

    assert error.param == "metadata"
    assert len(client.v1.customers.retrieve(customer.id).metadata.to_dict()) == 30


def test_a_metadata_key_over_forty_characters_is_refused(client, make_customer):
    error = _refused(make_customer, metadata={"k" * 41: "v"})

    assert error.param == "metadata"
    assert error.user_message.startswith(f"Invalid key: {'k' * 41}")


def test_a_metadata_value_over_five_hundred_characters_is_refused(client, make_charge):
    charge = make_charge()

    error = _refused(client.v1.charges.update, charge.id, {"metadata": {"note": "v" * 501}})

    assert error.param == "metadata"
    assert error.user_message.startswith("Invalid val: ")


# Idempotency keys ---------------------------------------------------------------------------


def test_an_idempotency_key_over_255_characters_is_refused(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.create(
            {"email": "ada@example.com"}, options={"idempotency_key": "k" * 256}
        )

    assert raised.value.http_status == 400
    assert "Idempotent Keys must be 1-255 characters long" in raised.value.user_message
    assert client.v1.customers.list().data == []


def test_an_idempotency_key_of_255_characters_is_taken(client):
    customer = client.v1.customers.create(
        {"email": "ada@example.com"}, options={"idempotency_key": "k" * 255}
    )

    assert customer.email == "ada@example.com"


# expand[] -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["email", "bogus", "invoice_settings.footer", "customer.email"])
def test_expanding_a_property_that_cannot_be_expanded_is_refused(client, make_charge, path):
    charge = make_charge()

    error = _refused(client.v1.charges.retrieve, charge.id, {"expand": [path]})

    assert error.user_message.startswith("This property cannot be expanded (")


def test_expanding_a_field_of_list_items_needs_data_first(client, make_charge):
    make_charge()

    error = _refused(client.v1.charges.list, {"expand": ["customer"]})

    assert error.user_message == (
        "This property cannot be expanded (customer). You may want to try expanding "
        "'data.customer' instead."
    )


def test_expandable_and_includable_properties_expand(client, make_charge):
    charge = make_charge()
    client.v1.refunds.create({"charge": charge.id, "amount": 100})

    expanded = client.v1.charges.retrieve(
        charge.id, {"expand": ["customer", "balance_transaction", "refunds", "payment_intent"]}
    )
    listed = client.v1.charges.list({"expand": ["data.customer"]})

    assert expanded.customer.object == "customer"
    assert expanded.balance_transaction.object == "balance_transaction"
    assert [refund.amount for refund in expanded.refunds.data] == [100]
    assert expanded.payment_intent.object == "payment_intent"
    assert listed.data[0].customer.object == "customer"


def test_expanding_a_null_expandable_property_leaves_it_null(client, make_customer):
    customer = make_customer(card=None)

    found = client.v1.customers.retrieve(
        customer.id, {"expand": ["invoice_settings.default_payment_method"]}
    )

    assert found.invoice_settings.default_payment_method is None


def test_paths_run_through_embedded_objects_to_what_they_can_expand(
    client, make_customer, make_price
):
    subscription = _paid_subscription(client, make_customer, make_price)

    found = client.v1.subscriptions.retrieve(
        subscription.id,
        {"expand": ["items.data.price.product", "latest_invoice.payments", "customer"]},
    )

    assert found["items"].data[0].price.product.object == "product"
    assert found.latest_invoice.payments.data[0].object == "invoice_payment"
    assert found.customer.object == "customer"


def test_more_than_four_levels_are_refused(client, make_customer, make_price):
    subscription = _paid_subscription(client, make_customer, make_price)

    error = _refused(
        client.v1.subscriptions.retrieve,
        subscription.id,
        {"expand": ["latest_invoice.payments.data.payment.payment_intent"]},
    )

    assert error.user_message.startswith("You cannot expand more than 4 levels")


def test_a_payment_intent_takes_the_card_parameters_stripes_docs_use(client, make_customer):
    customer = make_customer()

    intent = client.v1.payment_intents.create(
        {
            "amount": 2000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": customer.invoice_settings.default_payment_method,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "statement_descriptor_suffix": "SEATS",
            "confirm": True,
        }
    )

    assert intent.status == "succeeded"
    assert intent.automatic_payment_methods.to_dict() == {
        "allow_redirects": "never",
        "enabled": True,
    }
    assert intent.statement_descriptor_suffix == "SEATS"


def test_authorizing_without_capture_is_not_emulated_and_says_so(client, make_customer):
    customer = make_customer()

    error = _refused(
        client.v1.payment_intents.create,
        {"amount": 2000, "currency": "usd", "customer": customer.id, "capture_method": "manual"},
    )

    assert error.param == "capture_method"


def test_a_lone_value_where_an_array_belongs_is_refused(emulator):
    request = urllib.request.Request(
        f"{emulator.url}/v1/customers?expand=data.default_source",
        headers={"Authorization": "Bearer sk_test_emulator"},
    )

    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request)

    body = json.loads(raised.value.read())["error"]
    assert raised.value.code == 400
    assert (body["code"], body["param"]) == ("parameter_invalid_array", "expand")


def test_a_path_is_checked_even_where_there_is_nothing_to_expand(client, make_customer):
    customer = make_customer(card=None)

    on_empty_list = _refused(client.v1.charges.list, {"expand": ["data.bogus"]})
    through_a_null = _refused(
        client.v1.customers.retrieve,
        customer.id,
        {"expand": ["invoice_settings.default_payment_method.bogus"]},
    )

    assert on_empty_list.user_message == "This property cannot be expanded (bogus)."
    assert through_a_null.user_message == "This property cannot be expanded (bogus)."

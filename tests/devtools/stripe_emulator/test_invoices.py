"""Invoices: one-off invoices, status transitions, balance application, lines and payments."""

from __future__ import annotations

import pytest
import stripe


def _draft_with_items(client, customer, *amounts):
    invoice = client.v1.invoices.create({"customer": customer.id})
    for amount in amounts:
        client.v1.invoice_items.create(
            {
                "customer": customer.id,
                "invoice": invoice.id,
                "amount": amount,
                "currency": "usd",
                "description": "Setup",
            }
        )
    return client.v1.invoices.retrieve(invoice.id)


def test_draft_invoice_collects_items_and_totals(client, make_customer):
    customer = make_customer()

    invoice = _draft_with_items(client, customer, 1200, 800)

    assert invoice.status == "draft"
    assert invoice.number is None
    assert (invoice.subtotal, invoice.total, invoice.amount_due) == (2000, 2000, 2000)
    assert [line.amount for line in invoice.lines.data] == [1200, 800]
    assert invoice.lines.data[0].parent.invoice_item_details.invoice_item.startswith("ii_")


def test_finalize_assigns_number_and_hosted_url_and_pay_charges_the_card(client, make_customer):
    customer = make_customer()
    invoice = _draft_with_items(client, customer, 2000)

    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    paid = client.v1.invoices.pay(invoice.id)
    payments = client.v1.invoice_payments.list(
        {"invoice": invoice.id, "expand": ["data.payment.payment_intent.latest_charge"]}
    )

    assert finalized.status == "open"
    assert finalized.number == f"{customer.invoice_prefix}-0001"
    assert finalized.hosted_invoice_url.startswith("https://invoice.stripe.com/")
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 2000, 0)
    assert paid.status_transitions.paid_at is not None
    payment = payments.data[0]
    assert (payment.status, payment.amount_paid, payment.is_default) == ("paid", 2000, True)
    charge = payment.payment.payment_intent.latest_charge
    assert (charge.amount, charge.payment_method_details.card.last4) == (2000, "4242")


def test_invoice_numbers_count_per_customer(client, make_customer):
    customer = make_customer()
    numbers = []
    for _ in range(2):
        invoice = _draft_with_items(client, customer, 500)
        numbers.append(client.v1.invoices.finalize_invoice(invoice.id).number)

    assert numbers == [f"{customer.invoice_prefix}-0001", f"{customer.invoice_prefix}-0002"]


def test_paying_with_a_declined_card_is_a_card_error_and_leaves_it_open(client, make_customer):
    customer = make_customer(card="pm_card_chargeDeclinedInsufficientFunds")
    invoice = _draft_with_items(client, customer, 2000)
    client.v1.invoices.finalize_invoice(invoice.id)

    with pytest.raises(stripe.CardError) as raised:
        client.v1.invoices.pay(invoice.id)

    assert raised.value.error.decline_code == "insufficient_funds"
    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.status, after.attempted, after.attempt_count) == ("open", True, 1)


def test_paid_out_of_band_marks_it_paid_without_a_charge(client, make_customer):
    customer = make_customer()
    invoice = _draft_with_items(client, customer, 2000)
    client.v1.invoices.finalize_invoice(invoice.id)

    paid = client.v1.invoices.pay(invoice.id, {"paid_out_of_band": True})

    assert paid.status == "paid"
    assert client.v1.charges.list({"customer": customer.id}).data == []


def test_voiding_a_paid_invoice_is_an_invalid_request(client, make_customer):
    customer = make_customer()
    invoice = _draft_with_items(client, customer, 2000)
    client.v1.invoices.pay(invoice.id)

    with pytest.raises(stripe.InvalidRequestError, match="already paid"):
        client.v1.invoices.void_invoice(invoice.id)


def test_void_and_mark_uncollectible_transitions(client, make_customer):
    customer = make_customer(card=None)
    first = _draft_with_items(client, customer, 1000)
    second = _draft_with_items(client, customer, 1000)
    client.v1.invoices.finalize_invoice(first.id)
    client.v1.invoices.finalize_invoice(second.id)

    voided = client.v1.invoices.void_invoice(first.id)
    uncollectible = client.v1.invoices.mark_uncollectible(second.id)
    types = [e.type for e in client.v1.events.list({"limit": 100}).data]

    assert voided.status == "void"
    assert voided.status_transitions.voided_at is not None
    assert uncollectible.status == "uncollectible"
    assert "invoice.voided" in types
    assert "invoice.marked_uncollectible" in types
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.mark_uncollectible(first.id)


def test_finalizing_applies_customer_credit_balance(client, make_customer):
    customer = make_customer()
    client.v1.customers.balance_transactions.create(
        customer.id, {"amount": -1500, "currency": "usd"}
    )
    invoice = _draft_with_items(client, customer, 1000)

    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    applied = client.v1.customers.balance_transactions.list(customer.id).data[0]

    assert (finalized.starting_balance, finalized.ending_balance) == (-1500, -500)
    assert (finalized.amount_due, finalized.status) == (0, "paid")
    assert (applied.type, applied.amount, applied.invoice) == (
        "applied_to_invoice",
        1000,
        invoice.id,
    )
    assert client.v1.customers.retrieve(customer.id).balance == -500


def test_voiding_gives_back_the_applied_balance(client, make_customer):
    customer = make_customer(card=None)
    client.v1.customers.balance_transactions.create(
        customer.id, {"amount": -500, "currency": "usd"}
    )
    invoice = _draft_with_items(client, customer, 2000)
    finalized = client.v1.invoices.finalize_invoice(invoice.id)

    client.v1.invoices.void_invoice(invoice.id)

    assert finalized.amount_due == 1500
    assert client.v1.customers.retrieve(customer.id).balance == -500


def test_pending_items_are_included_only_when_asked(client, make_customer):
    customer = make_customer()
    client.v1.invoice_items.create({"customer": customer.id, "amount": 700, "currency": "usd"})

    without = client.v1.invoices.create({"customer": customer.id})
    with_items = client.v1.invoices.create(
        {"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )

    assert without.total == 0
    assert with_items.total == 700


def test_lines_endpoint_paginates(client, make_customer):
    customer = make_customer()
    invoice = _draft_with_items(client, customer, *range(100, 1300, 100))

    first = client.v1.invoices.line_items.list(invoice.id, {"limit": 5})
    everything = list(
        client.v1.invoices.line_items.list(invoice.id, {"limit": 5}).auto_paging_iter()
    )

    assert invoice.lines.has_more is True
    assert len(invoice.lines.data) == 10
    assert [line.amount for line in first.data] == [100, 200, 300, 400, 500]
    assert len(everything) == 12


def test_invoices_list_filters(client, make_customer, make_price):
    customer = make_customer()
    subscription = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": make_price().id}]}
    )
    draft = client.v1.invoices.create({"customer": customer.id})

    by_subscription = client.v1.invoices.list({"subscription": subscription.id})
    drafts = client.v1.invoices.list({"customer": customer.id, "status": "draft"})

    assert [i.id for i in by_subscription.data] == [subscription.latest_invoice]
    assert [i.id for i in drafts.data] == [draft.id]


def test_deleting_a_draft_and_refusing_to_delete_an_open_one(client, make_customer):
    customer = make_customer(card=None)
    draft = client.v1.invoices.create({"customer": customer.id})
    other = _draft_with_items(client, customer, 100)
    client.v1.invoices.finalize_invoice(other.id)

    deleted = client.v1.invoices.delete(draft.id)

    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError, match="draft"):
        client.v1.invoices.delete(other.id)


def test_invoice_events_in_order(client, make_customer):
    customer = make_customer()
    invoice = _draft_with_items(client, customer, 900)

    client.v1.invoices.pay(invoice.id)
    types = [
        e.type for e in reversed(client.v1.events.list({"type": "invoice.*", "limit": 100}).data)
    ]

    assert (
        types.index("invoice.created")
        < types.index("invoice.finalized")
        < types.index("invoice.paid")
    )
    assert "invoice.payment_succeeded" in types


def test_only_metadata_and_description_change_after_finalization(client, make_customer):
    customer = make_customer(card=None)
    invoice = _draft_with_items(client, customer, 100)
    client.v1.invoices.finalize_invoice(invoice.id)

    updated = client.v1.invoices.update(
        invoice.id, {"metadata": {"ticket": "ZD-1"}, "description": "Seats"}
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoices.update(invoice.id, {"collection_method": "send_invoice"})

    assert updated.metadata.to_dict() == {"ticket": "ZD-1"}
    assert updated.description == "Seats"
    assert raised.value.code == "invoice_not_editable"


def test_a_failed_automatic_payment_makes_the_customer_delinquent_until_paid(client):
    product = client.v1.products.create(params={"name": "Team"})
    price = client.v1.prices.create(
        params={
            "product": product.id,
            "unit_amount": 1200,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    customer = client.v1.customers.create(
        params={
            "payment_method": "pm_card_chargeDeclined",
            "invoice_settings": {"default_payment_method": "pm_card_chargeDeclined"},
        }
    )
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    assert client.v1.customers.retrieve(customer.id).delinquent is True

    client.v1.invoices.pay(subscription.latest_invoice, params={"paid_out_of_band": True})

    assert client.v1.customers.retrieve(customer.id).delinquent is False

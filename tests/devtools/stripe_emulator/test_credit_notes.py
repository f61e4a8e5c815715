"""Credit notes on open and paid invoices."""

from __future__ import annotations

import pytest
import stripe


def _invoice(client, customer, amount, *, pay):
    invoice = client.v1.invoices.create({"customer": customer.id})
    client.v1.invoice_items.create(
        {"customer": customer.id, "invoice": invoice.id, "amount": amount, "currency": "usd"}
    )
    if pay:
        return client.v1.invoices.pay(invoice.id)
    return client.v1.invoices.finalize_invoice(invoice.id)


def test_credit_note_on_paid_invoice_credits_the_customer_balance(client, make_customer):
    customer = make_customer()
    invoice = _invoice(client, customer, 5000, pay=True)

    note = client.v1.credit_notes.create(
        {
            "invoice": invoice.id,
            "amount": 1200,
            "credit_amount": 1200,
            "reason": "order_change",
            "memo": "Outage",
        }
    )
    transaction = client.v1.customers.balance_transactions.retrieve(
        customer.id, note.customer_balance_transaction
    )

    assert note.id.startswith("cn_")
    assert note.number == f"{invoice.number}-CN-01"
    assert (note.status, note.type, note.total, note.post_payment_amount) == (
        "issued",
        "post_payment",
        1200,
        1200,
    )
    assert (transaction.type, transaction.amount, transaction.credit_note) == (
        "credit_note",
        -1200,
        note.id,
    )
    assert client.v1.customers.retrieve(customer.id).balance == -1200
    assert client.v1.invoices.retrieve(invoice.id).post_payment_credit_notes_amount == 1200


def test_credit_note_with_refund_amount_refunds_the_charge(client, make_customer):
    customer = make_customer()
    invoice = _invoice(client, customer, 5000, pay=True)

    note = client.v1.credit_notes.create({"invoice": invoice.id, "refund_amount": 2000})
    refund = client.v1.refunds.retrieve(note.refunds[0].refund)
    charge = client.v1.charges.retrieve(refund.charge)

    assert note.total == 2000
    assert note.refunds[0].amount_refunded == 2000
    assert (charge.amount_refunded, charge.refunded) == (2000, False)
    assert client.v1.customers.retrieve(customer.id).balance == 0


def test_credit_note_on_open_invoice_reduces_amount_due(client, make_customer):
    customer = make_customer(card=None)
    invoice = _invoice(client, customer, 5000, pay=False)

    note = client.v1.credit_notes.create({"invoice": invoice.id, "amount": 1500})
    after = client.v1.invoices.retrieve(invoice.id)

    assert note.type == "pre_payment"
    assert (after.amount_due, after.amount_remaining, after.pre_payment_credit_notes_amount) == (
        3500,
        3500,
        1500,
    )
    assert after.status == "open"


def test_credit_note_for_everything_left_marks_an_open_invoice_paid(client, make_customer):
    customer = make_customer(card=None)
    invoice = _invoice(client, customer, 5000, pay=False)

    client.v1.credit_notes.create({"invoice": invoice.id, "amount": 5000})

    assert client.v1.invoices.retrieve(invoice.id).status == "paid"


def test_credit_note_above_what_was_paid_is_refused(client, make_customer):
    customer = make_customer()
    invoice = _invoice(client, customer, 1000, pay=True)

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.credit_notes.create({"invoice": invoice.id, "credit_amount": 1500})


def test_credit_note_split_must_add_up(client, make_customer):
    customer = make_customer()
    invoice = _invoice(client, customer, 5000, pay=True)

    with pytest.raises(stripe.InvalidRequestError, match="must equal"):
        client.v1.credit_notes.create({"invoice": invoice.id, "amount": 1000, "credit_amount": 400})


def test_credit_note_from_invoice_lines(client, make_customer):
    customer = make_customer()
    invoice = _invoice(client, customer, 3000, pay=True)
    line = invoice.lines.data[0]

    note = client.v1.credit_notes.create(
        {
            "invoice": invoice.id,
            "lines": [{"type": "invoice_line_item", "invoice_line_item": line.id, "amount": 1000}],
        }
    )

    assert note.total == 1000
    assert note.lines.data[0].invoice_line_item == line.id


def test_voiding_a_credit_note_reverses_the_balance_credit(client, make_customer):
    customer = make_customer()
    invoice = _invoice(client, customer, 5000, pay=True)
    note = client.v1.credit_notes.create({"invoice": invoice.id, "credit_amount": 800})

    voided = client.v1.credit_notes.void_credit_note(note.id)

    assert voided.status == "void"
    assert voided.voided_at is not None
    assert client.v1.customers.retrieve(customer.id).balance == 0
    types = [e.type for e in client.v1.events.list({"type": "credit_note.*"}).data]
    assert types == ["credit_note.voided", "credit_note.created"]


def test_credit_notes_list_by_invoice(client, make_customer):
    customer = make_customer()
    invoice = _invoice(client, customer, 5000, pay=True)
    note = client.v1.credit_notes.create({"invoice": invoice.id, "credit_amount": 100})

    listed = client.v1.credit_notes.list({"invoice": invoice.id})

    assert [n.id for n in listed.data] == [note.id]

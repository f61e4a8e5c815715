"""Every object the emulator returns, in a full scenario, has the shape stripe-python declares.

One account lives through what the billing admin meets: a catalog, customers with cards that
pay and cards that decline, customer balance credits, a trial that ends, renewals with
prorations and a discount, a preview, refunds, credit notes, manual invoices paid, voided and
marked uncollectible, paused collection, a paused and resumed subscription, cancellations and
deletions. Then every object it holds (events and their payloads included, and what expansion
adds) is checked against the pinned stripe-python's resource classes: no declared field
missing (unless Stripe omits it when empty), none invented, none of the wrong type, no value
outside its ``Literal`` set, and no field Stripe omits when empty sent as ``null``.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.devtools.stripe_emulator import shapes

DAY = 86_400
JAN_1 = 1_767_225_600  # 2026-01-01T00:00:00Z


def _customer(client: stripe.StripeClient, card: str | None, email: str) -> Any:
    params: dict[str, Any] = {"email": email, "name": email.split("@")[0].title()}
    if card:
        params["payment_method"] = card
        params["invoice_settings"] = {"default_payment_method": card}
    return client.v1.customers.create(params)


def _full_scenario(client: stripe.StripeClient, emulator) -> list[dict[str, Any]]:
    """Everything the billing admin meets, in one account; returns extra API answers."""
    answers: list[dict[str, Any]] = []
    emulator.set_clock(JAN_1, frozen=True)
    product = client.v1.products.create({"name": "Team", "metadata": {"plan_code": "team"}})
    monthly = client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 1200,
            "currency": "usd",
            "recurring": {"interval": "month"},
            "lookup_key": "team_month_usd",
        }
    )
    client.v1.prices.create({"product": product.id, "unit_amount": 500, "currency": "usd"})
    coupon = client.v1.coupons.create(
        {"percent_off": 20, "duration": "repeating", "duration_in_months": 2, "name": "Launch"}
    )
    client.v1.coupons.create({"amount_off": 300, "currency": "usd", "duration": "once"})
    unused = client.v1.products.create({"name": "Retired"})
    client.v1.products.delete(unused.id)

    # A team on trial, with a discount and a credit, that converts and renews.
    ada = _customer(client, "pm_card_visa", "ada@example.com")
    client.v1.customers.balance_transactions.create(
        ada.id, {"amount": -500, "currency": "usd", "description": "Goodwill"}
    )
    trial = client.v1.subscriptions.create(
        {
            "customer": ada.id,
            "items": [{"price": monthly.id, "quantity": 2}],
            "trial_period_days": 14,
            "discounts": [{"coupon": coupon.id}],
            "metadata": {"team": "robotics"},
        }
    )
    emulator.advance_clock(15 * DAY)
    item = client.v1.subscriptions.retrieve(trial.id)["items"].data[0]
    answers.append(
        client.v1.invoices.create_preview(
            {
                "subscription": trial.id,
                "subscription_details": {"items": [{"id": item.id, "quantity": 5}]},
            }
        ).to_dict()
    )
    client.v1.subscriptions.update(
        trial.id,
        {"items": [{"id": item.id, "quantity": 5}], "proration_behavior": "create_prorations"},
    )
    emulator.advance_clock(31 * DAY)
    charge = client.v1.charges.list({"customer": ada.id}).data[0]
    refund = client.v1.refunds.create({"charge": charge.id, "amount": 300, "reason": "duplicate"})
    client.v1.refunds.update(refund.id, {"metadata": {"ticket": "ZD-1"}})
    paid = client.v1.invoices.list({"customer": ada.id, "status": "paid"}).data[0]
    client.v1.credit_notes.create({"invoice": paid.id, "amount": 200, "credit_amount": 200})
    client.v1.subscriptions.update(trial.id, {"pause_collection": {"behavior": "void"}})
    emulator.advance_clock(31 * DAY)
    client.v1.subscriptions.update(trial.id, {"pause_collection": ""})
    client.v1.subscriptions.pause(trial.id)
    client.v1.subscriptions.resume(trial.id, {"billing_cycle_anchor": {"type": "now"}})
    client.v1.subscriptions.update(trial.id, {"cancel_at_period_end": True})
    emulator.advance_clock(32 * DAY)

    # A card that declines at renewal: past due, retried, then canceled.
    grace = _customer(client, "pm_card_visa", "grace@example.com")
    client.v1.subscriptions.create({"customer": grace.id, "items": [{"price": monthly.id}]})
    client.v1.customers.update(
        grace.id, {"invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}}
    )
    emulator.advance_clock(32 * DAY)
    emulator.advance_clock(20 * DAY)

    # A first payment that declines: incomplete, then expired.
    linus = _customer(client, "pm_card_chargeCustomerFail", "linus@example.com")
    client.v1.subscriptions.create({"customer": linus.id, "items": [{"price": monthly.id}]})
    emulator.advance_clock(DAY)

    # Manual invoices: paid out of band, voided, uncollectible, deleted as a draft.
    for action in ("pay", "void", "mark_uncollectible", "delete"):
        client.v1.invoice_items.create(
            {"customer": grace.id, "amount": 4200, "currency": "usd", "description": "Setup"}
        )
        invoice = client.v1.invoices.create(
            {
                "customer": grace.id,
                "collection_method": "send_invoice",
                "days_until_due": 30,
                "pending_invoice_items_behavior": "include",
            }
        )
        if action == "delete":
            client.v1.invoices.delete(invoice.id)
            continue
        client.v1.invoices.finalize_invoice(invoice.id)
        if action == "pay":
            client.v1.invoices.pay(invoice.id, {"paid_out_of_band": True})
        elif action == "void":
            client.v1.invoices.void_invoice(invoice.id)
        else:
            client.v1.invoices.mark_uncollectible(invoice.id)

    # A one-off payment, and one that is declined.
    client.v1.payment_intents.create(
        {
            "amount": 2500,
            "currency": "usd",
            "customer": ada.id,
            "payment_method": "pm_card_mastercard",
            "confirm": True,
        }
    )
    with pytest.raises(stripe.CardError):
        client.v1.payment_intents.create(
            {
                "amount": 2500,
                "currency": "usd",
                "customer": linus.id,
                "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
                "confirm": True,
            }
        )

    # A subscription canceled at once with its pending prorations invoiced.
    now_sub = client.v1.subscriptions.create({"customer": ada.id, "items": [{"price": monthly.id}]})
    client.v1.subscriptions.cancel(now_sub.id, {"invoice_now": True, "prorate": True})
    departed = _customer(client, None, "departed@example.com")
    client.v1.customers.delete(departed.id)

    # What expansion adds: includable lists and expanded ids.
    answers.append(
        client.v1.charges.retrieve(
            charge.id, {"expand": ["refunds", "balance_transaction", "customer"]}
        ).to_dict()
    )
    answers.append(
        client.v1.invoices.retrieve(
            paid.id, {"expand": ["payments", "customer", "discounts"]}
        ).to_dict()
    )
    answers.append(client.v1.customers.retrieve(departed.id).to_dict())
    return answers


def _everything(emulator) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for kind, found in emulator.state().items():
        objects.extend(found)
        if kind == "event":
            objects.extend(event["data"]["object"] for event in found)
    return objects


def test_every_object_of_a_full_scenario_has_stripe_pythons_shape(client, emulator):
    answers = _full_scenario(client, emulator)
    objects = _everything(emulator) + answers
    walker = shapes.Walker()

    for obj in objects:
        shapes.problems(obj, walker)

    kinds = {obj["object"] for obj in objects}
    assert kinds >= {
        "balance_transaction",
        "charge",
        "coupon",
        "credit_note",
        "customer",
        "customer_balance_transaction",
        "discount",
        "event",
        "invoice",
        "invoice_payment",
        "invoiceitem",
        "payment_intent",
        "payment_method",
        "price",
        "product",
        "refund",
        "subscription",
        "subscription_item",
    }
    assert sorted(set(walker.problems)) == []


def test_the_shape_check_catches_missing_invented_mistyped_and_unlisted_fields(client):
    customer = _customer(client, "pm_card_visa", "ada@example.com").to_dict()
    del customer["balance"]
    customer["invented"] = 1
    customer["delinquent"] = "no"
    customer["tax_exempt"] = "sometimes"
    customer["invoice_settings"]["footer"] = 7

    problems = shapes.problems(customer)

    where = customer["id"]
    assert sorted(problems) == sorted(
        [
            f"customer {where}.balance: missing (Customer declares it)",
            f"customer {where}.invented: not a field of Customer",
            f"customer {where}.delinquent: string 'no', declared typing.Optional[bool]",
            f"customer {where}.tax_exempt: 'sometimes' is not one of ['exempt', 'none', 'reverse']",
            f"customer {where}.invoice_settings.footer: number 7, declared typing.Optional[str]",
        ]
    )

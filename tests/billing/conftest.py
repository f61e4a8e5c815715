"""Customers that exist in the Stripe emulator and in the mirror, for the money actions."""

from dataclasses import dataclass

import pytest

from billing.models import Customer, Invoice, Payment, Subscription
from billing.stripe import gateway
from billing.stripe.mirror import resync_customer
from tests import stripe_scenarios as scenario


@dataclass
class Account:
    customer: Customer
    subscription: Subscription
    payment: Payment

    def refresh(self) -> "Account":
        resync_customer(self.customer.stripe_customer_id, reason="test: mirror refreshed")
        self.customer.refresh_from_db()
        self.subscription.refresh_from_db()
        self.payment.refresh_from_db()
        return self


def mirrored_account(
    *,
    quantity: int = 10,
    unit_amount: int = 5000,
    trial_days=None,
    card: str = "pm_card_visa",
    per_seat: bool = True,
    currency: str = "usd",
) -> Account:
    """A team subscription at Stripe, paid (unless on trial), mirrored locally."""
    price = scenario.plan(unit_amount=unit_amount, per_seat=per_seat, currency=currency)
    buyer = scenario.customer(card=card, currency=currency)
    subscription = scenario.subscription(
        buyer.id, price.id, quantity=quantity, trial_days=trial_days
    )
    resync_customer(buyer.id, reason="test: mirror filled")
    customer = Customer.objects.get(stripe_customer_id=buyer.id)
    local_subscription = Subscription.objects.get(stripe_subscription_id=subscription.id)
    payment = Payment.objects.filter(customer=customer).first()
    return Account(customer, local_subscription, payment)


@pytest.fixture
def account(db, stripe_emulator) -> Account:
    """Paid $500.00 (10 seats at $50.00): a payment with $500.00 refundable."""
    return mirrored_account()


def stripe_refunds(charge_id: str) -> list[gateway.RefundData]:
    return gateway.list_refunds(charge_id)


def open_invoice(customer: Customer) -> Invoice:
    return Invoice.objects.get(customer=customer, status="open")

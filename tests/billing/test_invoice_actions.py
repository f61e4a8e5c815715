import pytest

from billing import actions
from billing.models import ActionState, Invoice
from billing.stripe import gateway
from devtools import stripe_client
from tests import stripe_scenarios as scenario
from tests.billing.conftest import mirrored_account


def invoice_action(actor, invoice, action, reason):
    return actions.request_invoice_action(
        actor=actor, invoice=invoice, action=action, reason=reason, ticket="ZD-321"
    )


@pytest.fixture
def unpaid(db, stripe_emulator):
    """A customer whose card was declined: the first invoice is open."""
    account = mirrored_account(card="pm_card_chargeDeclined")
    return Invoice.objects.get(customer=account.customer, status="open")


def test_voiding_an_open_invoice(unpaid, finance_user):
    preview = actions.preview_invoice_action(invoice=unpaid, action="void")
    action = invoice_action(finance_user, unpaid, "void", "billing_error")

    assert preview.lines[0].after == "Void"
    assert action.state == ActionState.SUCCEEDED
    assert gateway.retrieve_invoice(unpaid.stripe_invoice_id).status == "void"
    unpaid.refresh_from_db()
    assert unpaid.status == "void"


def test_marking_an_invoice_uncollectible(unpaid, finance_user):
    action = invoice_action(finance_user, unpaid, "mark_uncollectible", "unrecoverable")

    assert action.state == ActionState.SUCCEEDED
    unpaid.refresh_from_db()
    assert unpaid.status == "uncollectible"


def test_retrying_with_a_declining_card_fails_with_stripes_message(unpaid, finance_user):
    action = invoice_action(finance_user, unpaid, "retry_payment", "customer_request")

    assert action.state == ActionState.FAILED
    assert action.error_code == "card_declined"
    assert "declined" in action.error_message
    unpaid.refresh_from_db()
    assert unpaid.status == "open"


def test_retrying_after_the_card_was_updated_pays_the_invoice(unpaid, finance_user):
    customer = unpaid.customer
    stripe_client.update_customer(
        customer_id=customer.stripe_customer_id,
        # Stripe's customer update takes no `payment_method`: a test card token as the new
        # default is attached to the customer.
        params={"invoice_settings": {"default_payment_method": "pm_card_visa"}},
        idempotency_key=scenario.key("card"),
    )

    action = invoice_action(finance_user, unpaid, "retry_payment", "card_updated")

    assert action.state == ActionState.SUCCEEDED
    unpaid.refresh_from_db()
    assert unpaid.status == "paid"


def test_a_paid_invoice_cannot_be_voided(account, finance_user):
    paid = Invoice.objects.get(customer=account.customer, status="paid")

    with pytest.raises(actions.ActionConflict, match="does not apply"):
        invoice_action(finance_user, paid, "void", "billing_error")


def test_support_may_only_request_invoice_actions(unpaid, support_user):
    action = invoice_action(support_user, unpaid, "void", "billing_error")

    assert action.state == ActionState.PENDING_APPROVAL

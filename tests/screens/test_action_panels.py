"""The action panels of the customer page: form, review, confirm, outcome, for every kind;
the same without JavaScript; a double confirm never makes a second action."""

import datetime as dt
import re
import threading

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from accounts.roles import Role
from billing.forms import PANELS
from billing.models import Action, ActionState, Customer, Price, Subscription
from billing.stripe import gateway
from billing.stripe.mirror import Snapshot
from tests import stripe_scenarios as scenario
from tests.billing.conftest import mirrored_account
from tests.factories import make_staff

HTMX = {"HX-Request": "true"}


def panel_url(customer, panel, **target):
    query = "&".join(f"{key}={value}" for key, value in target.items())
    return f"/customers/{customer.pk}/act/{panel}/" + (f"?{query}" if query else "")


def review(client, customer, panel, data, **target):
    return client.post(
        panel_url(customer, panel), {**target, **data, "step": "review"}, headers=HTMX
    )


def confirm(client, customer, panel, reviewed, **target):
    """Post the review's own confirm form back, as the Confirm button does."""
    text = reviewed if isinstance(reviewed, str) else reviewed.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', text))
    fields.pop("csrfmiddlewaretoken", None)
    fields["step"] = "confirm"
    return client.post(panel_url(customer, panel), {**fields}, headers=HTMX)


@pytest.fixture
def support(client, support_user):
    client.force_login(support_user)
    return client


def test_a_refund_goes_through_form_review_and_confirm(support, account):
    customer, payment = account.customer, account.payment

    form = support.get(panel_url(customer, "refund", payment=payment.pk), headers=HTMX)
    reviewed = review(
        support,
        customer,
        "refund",
        {"amount": "20.00", "reason": "duplicate", "ticket": "zd-501"},
        payment=payment.pk,
    )
    assert not Action.objects.exists()  # reviewing changes nothing
    done = confirm(support, customer, "refund", reviewed, payment=payment.pk)

    assert 'name="amount"' in form.text
    assert "Review" in form.text
    assert "Refund $20.00 to Visa ···· 4242" in reviewed.text
    assert "$480.00" in reviewed.text  # refundable after
    assert "Runs now" in reviewed.text
    action = Action.objects.get()
    assert action.state == ActionState.SUCCEEDED
    assert action.amount == 2000
    assert action.ticket_ref == "ZD-501"
    assert done.headers["HX-Trigger"] == "billing-changed"
    assert "Succeeded" in done.text
    assert [r.amount for r in gateway.list_refunds(payment.stripe_charge_id)] == [2000]


def go_through(client, customer, panel, data, **target):
    reviewed = review(client, customer, panel, data, **target)
    assert reviewed.status_code == 200
    assert 'name="token"' in reviewed.text, reviewed.text
    return reviewed, confirm(client, customer, panel, reviewed, **target)


@pytest.fixture
def finance(client, finance_user):
    client.force_login(finance_user)
    return client


def test_every_subscription_change_goes_through_its_panel(finance, stripe_emulator):
    account = mirrored_account(quantity=5)
    customer, subscription = account.customer, account.subscription
    other = scenario.plan(code="business", unit_amount=9000)
    catalog = Snapshot(fetched_at=timezone.now())
    catalog.read_price_if_unknown(other.id)
    catalog.apply(reason="test: a new price in the catalog")
    new_price = Price.objects.get(stripe_price_id=other.id)
    why = {"ticket": "ZD-600"}
    steps = [
        ("seats", {"quantity": "8", "reason": "customer_request"}, "Proration on the next invoice"),
        ("price", {"price": str(new_price.pk), "reason": "customer_request"}, "Proration"),
        (
            "discount",
            {"percent_off": "20", "duration": "forever", "reason": "retention"},
            "20.00% off",
        ),
        ("pause", {"behavior": "void", "reason": "customer_request"}, "Pause collection"),
        ("resume", {"reason": "issue_resolved"}, "Resume collecting"),
        (
            "cancel",
            {"when": "period_end", "reason": "customer_request"},
            "at the end of the period",
        ),
        ("reactivate", {"reason": "customer_request"}, "Keep the subscription"),
    ]

    for panel, data, shown in steps:
        reviewed, done = go_through(
            finance, customer, panel, {**data, **why}, subscription=subscription.pk
        )
        assert shown in reviewed.text, panel
        assert "Succeeded" in done.text, (panel, done.text)

    assert Action.objects.filter(state=ActionState.SUCCEEDED).count() == len(steps)
    subscription.refresh_from_db()
    assert (subscription.quantity, subscription.price_id) == (8, new_price.pk)
    assert subscription.discount_coupon_id
    assert not subscription.cancel_at_period_end


def test_a_trial_is_extended_and_a_subscription_cancelled_now(finance, stripe_emulator):
    account = mirrored_account(trial_days=7)
    new_end = account.subscription.trial_end.date() + dt.timedelta(days=5)

    reviewed, done = go_through(
        finance,
        account.customer,
        "trial",
        {"trial_end": new_end.isoformat(), "reason": "evaluation_in_progress", "ticket": "ZD-601"},
        subscription=account.subscription.pk,
    )
    _, cancelled = go_through(
        finance,
        account.customer,
        "cancel",
        {"when": "now", "reason": "customer_request", "ticket": "ZD-601"},
        subscription=account.subscription.pk,
    )

    assert "Trial ends" in reviewed.text
    assert "Succeeded" in done.text
    assert "Succeeded" in cancelled.text
    assert Subscription.objects.get(pk=account.subscription.pk).status == "canceled"


def test_credits_reversals_overrides_and_invoice_actions_through_their_panels(
    finance, stripe_emulator
):
    account = mirrored_account()
    customer = account.customer
    _, credited = go_through(
        finance, customer, "credit", {"amount": "15.00", "reason": "goodwill", "ticket": "ZD-602"}
    )
    credit = customer.balance_transactions.get()
    _, reversed_ = go_through(
        finance,
        customer,
        "credit-reversal",
        {"amount": "5", "reason": "issued_in_error", "ticket": "ZD-602"},
        credit=credit.pk,
    )
    _, overridden = go_through(
        finance,
        customer,
        "entitlement",
        {
            "feature": "build_minutes",
            "value": "20000",
            "expires_at": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
            "reason": "service_issue",
            "ticket": "ZD-602",
        },
    )

    assert "Succeeded" in credited.text
    assert "Succeeded" in reversed_.text
    assert "Override an entitlement" not in overridden.text
    assert "Succeeded" in overridden.text
    assert customer.balance().amount == -1000

    declined = mirrored_account(card="pm_card_chargeDeclined")
    invoice = declined.customer.invoices.get(status="open")
    reviewed, voided = go_through(
        finance,
        declined.customer,
        "void",
        {"reason": "billing_error", "ticket": "ZD-603"},
        invoice=invoice.pk,
    )
    assert "no longer owes" in reviewed.text
    assert "Succeeded" in voided.text


def test_an_error_names_its_field_and_keeps_what_was_typed(support, account):
    reviewed = review(
        support,
        account.customer,
        "refund",
        {"amount": "12.345", "reason": "", "ticket": "not a ticket", "note": "kept"},
        payment=account.payment.pk,
    )

    assert reviewed.status_code == 200
    assert 'name="token"' not in reviewed.text
    assert "12.345" in reviewed.text
    assert "kept</textarea>" in reviewed.text
    amount_field = reviewed.text.split('name="amount"')[1].split("</div>")[0]
    assert "USD amounts have at most 2 decimals." in amount_field
    assert "Choose a reason" in reviewed.text
    assert not Action.objects.exists()


def test_a_service_error_lands_next_to_its_field(support, account):
    reviewed = review(
        support,
        account.customer,
        "refund",
        {"amount": "600.00", "reason": "duplicate", "ticket": "ZD-1"},
        payment=account.payment.pk,
    )

    field = reviewed.text.split('name="amount"')[1].split("</div>")[0]
    assert "At most $500.00 can still be refunded" in field


def test_over_the_limit_the_review_says_who_decides_and_the_confirm_asks(support, account):
    reviewed, done = go_through(
        support,
        account.customer,
        "refund",
        {"amount": "300.00", "reason": "requested_by_customer", "ticket": "ZD-604"},
        payment=account.payment.pk,
    )

    assert "Goes for approval" in reviewed.text
    assert "Above your limit of $100.00 per refund" in reviewed.text
    assert "admin or finance" in reviewed.text
    assert "Ask for approval" in reviewed.text
    assert "Waiting for approval" in done.text
    assert Action.objects.get().state == ActionState.PENDING_APPROVAL


def test_a_resubmitted_confirm_makes_no_second_action(support, account):
    reviewed = review(
        support,
        account.customer,
        "refund",
        {"amount": "10.00", "reason": "duplicate", "ticket": "ZD-605"},
        payment=account.payment.pk,
    )

    first = confirm(support, account.customer, "refund", reviewed, payment=account.payment.pk)
    again = confirm(support, account.customer, "refund", reviewed, payment=account.payment.pk)

    assert Action.objects.count() == 1
    assert f"#{Action.objects.get().pk}" in first.text
    assert f"#{Action.objects.get().pk}" in again.text
    assert len(gateway.list_refunds(account.payment.stripe_charge_id)) == 1


def test_a_double_click_at_once_makes_one_action(committed_db, stripe_emulator):
    account = mirrored_account()
    support_user = make_staff(Role.SUPPORT)
    first = Client()
    first.force_login(support_user)
    reviewed = review(
        first,
        account.customer,
        "refund",
        {"amount": "10.00", "reason": "duplicate", "ticket": "ZD-606"},
        payment=account.payment.pk,
    )
    barrier = threading.Barrier(2)
    answers = []

    def click():
        client = Client()
        client.force_login(support_user)
        barrier.wait()
        try:
            answers.append(
                confirm(client, account.customer, "refund", reviewed, payment=account.payment.pk)
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [answer.status_code for answer in answers] == [200, 200]
    assert Action.objects.count() == 1
    assert len(gateway.list_refunds(account.payment.stripe_charge_id)) == 1


def test_a_confirm_whose_values_were_changed_is_refused(support, account):
    reviewed = review(
        support,
        account.customer,
        "refund",
        {"amount": "10.00", "reason": "duplicate", "ticket": "ZD-607"},
        payment=account.payment.pk,
    )
    tampered = reviewed.text.replace('name="amount" value="10.00"', 'name="amount" value="99.00"')
    assert tampered != reviewed.text

    refused = confirm(support, account.customer, "refund", tampered)

    assert "not what you reviewed" in refused.text
    assert not Action.objects.exists()


def test_without_javascript_the_same_steps_are_pages(support, account):
    url = panel_url(account.customer, "refund", payment=account.payment.pk)
    page = support.get(url)
    reviewed = support.post(
        panel_url(account.customer, "refund"),
        {
            "payment": account.payment.pk,
            "amount": "5",
            "reason": "duplicate",
            "ticket": "ZD-608",
            "step": "review",
        },
    )
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', reviewed.text))
    fields["step"] = "confirm"
    done = support.post(panel_url(account.customer, "refund"), fields)

    assert "<html" in page.text
    assert "Refund" in page.text
    assert "<html" in reviewed.text
    assert "Runs now" in reviewed.text
    assert "<html" in done.text
    assert "Succeeded" in done.text
    assert Action.objects.get().amount == 500


def test_the_auditor_sees_no_action_control_and_a_forged_post_changes_nothing(
    client, auditor_user, account
):
    client.force_login(auditor_user)

    page = client.get(f"/customers/{account.customer.pk}/")
    opened = client.get(panel_url(account.customer, "refund", payment=account.payment.pk))
    forged = client.post(
        panel_url(account.customer, "refund"),
        {
            "payment": account.payment.pk,
            "amount": "5",
            "reason": "duplicate",
            "ticket": "ZD-9",
            "step": "confirm",
        },
    )

    assert page.status_code == 200
    assert "/act/" not in page.text
    assert "Resync from Stripe" not in page.text
    assert opened.status_code == 403
    assert forged.status_code == 403
    assert not Action.objects.exists()


def test_a_target_of_another_customer_is_not_found(support, account, stripe_emulator):
    other = Customer.objects.exclude(pk=account.customer.pk).first() or mirrored_account().customer

    response = support.get(panel_url(other, "refund", payment=account.payment.pk))

    assert response.status_code == 404


def test_every_panel_opens_for_its_target(finance, stripe_emulator):
    account = mirrored_account(trial_days=5)
    targets = {
        "payment": None,
        "subscription": account.subscription.pk,
        "credit": None,
        "invoice": None,
    }
    for panel, form_class in PANELS.items():
        param = form_class.target_param
        if param and targets.get(param) is None:
            continue
        target = {param: targets[param]} if param else {}
        response = finance.get(panel_url(account.customer, panel, **target), headers=HTMX)
        assert response.status_code == 200, panel
        assert form_class.title in response.text

"""Every kind of action through the API, each reaching Stripe (the emulator) through the same
verbs as the screens, with its dry run."""

import datetime as dt

import pytest
from django.utils import timezone

from billing.models import ActionKind, Invoice, Price, Subscription
from billing.stripe import gateway
from billing.stripe.mirror import read
from tests import stripe_scenarios as scenario
from tests.api.conftest import Api, field_errors, problem, token_for
from tests.billing.conftest import mirrored_account

WHY = {"ticket": "ZD-500", "note": ""}


def at_stripe(subscription: Subscription) -> gateway.SubscriptionData:
    return gateway.retrieve_subscription(subscription.stripe_subscription_id)


def change(api, token, subscription, **fields):
    fields.setdefault("reason", "customer_request")
    return api.post(token, f"/subscriptions/{subscription.pk}/changes", {**WHY, **fields})


def test_a_credit_changes_the_balance(client, account, finance_user):
    api = Api(client)
    finance = token_for(finance_user)
    body = {
        "customer_id": account.customer.pk,
        "amount": 1500,
        "currency": "usd",
        "reason": "service_outage",
        **WHY,
    }

    preview = api.post(finance, "/credits", {**body, "dry_run": True})
    credited = api.post(finance, "/credits", body)

    assert preview.json()["lines"] == [
        {"label": "Balance", "before": "none", "after": "$15.00 credit"}
    ]
    assert credited.status_code == 201
    assert credited.json()["state"] == "succeeded"
    customer = api.get(finance, f"/customers/{account.customer.pk}").json()
    assert customer["balance"] == {"amount": -1500, "currency": "usd"}
    [entry] = api.get(finance, f"/customers/{account.customer.pk}/balance-transactions").json()[
        "items"
    ]
    assert (entry["amount"], entry["reversible"], entry["action_id"]) == (
        -1500,
        1500,
        credited.json()["id"],
    )


def test_a_credit_in_another_currency_is_422(client, account, finance_user):
    response = Api(client).post(
        token_for(finance_user),
        "/credits",
        {
            "customer_id": account.customer.pk,
            "amount": 1500,
            "currency": "eur",
            "reason": "goodwill",
            **WHY,
        },
    )

    assert "credit in USD" in field_errors(response)["currency"]


def test_a_credit_is_reversed_in_part(client, account, finance_user):
    api = Api(client)
    finance = token_for(finance_user)
    api.post(
        finance,
        "/credits",
        {
            "customer_id": account.customer.pk,
            "amount": 2000,
            "currency": "usd",
            "reason": "goodwill",
            **WHY,
        },
    )
    [credit] = api.get(finance, f"/customers/{account.customer.pk}/balance-transactions").json()[
        "items"
    ]

    reversed_ = api.post(
        finance,
        f"/credits/{credit['id']}/reversals",
        {"amount": 500, "reason": "issued_in_error", **WHY},
    )
    too_much = api.post(
        finance,
        f"/credits/{credit['id']}/reversals",
        {"amount": 1600, "reason": "issued_in_error", **WHY, "dry_run": True},
    )

    assert reversed_.json()["state"] == "succeeded"
    assert reversed_.json()["kind"] == "credit_reversal"
    assert "At most $15.00" in field_errors(too_much)["amount"]
    assert (
        api.get(finance, f"/customers/{account.customer.pk}").json()["balance"]["amount"] == -1500
    )


def test_a_seat_change_previews_its_proration_then_applies(client, account, finance_user):
    api = Api(client)
    finance = token_for(finance_user)

    preview = change(api, finance, account.subscription, change="seats", quantity=15, dry_run=True)
    applied = change(api, finance, account.subscription, change="seats", quantity=15)

    seats, proration = preview.json()["lines"]
    assert (seats["before"], seats["after"]) == ("10", "15")
    assert proration["label"] == "Proration on the next invoice"
    assert proration["after"].startswith("$")
    assert proration["after"] != "$0.00"
    assert preview.json()["needs_approval"] is False
    assert applied.json()["state"] == "succeeded"
    assert at_stripe(account.subscription).quantity == 15
    detail = api.get(finance, f"/customers/{account.customer.pk}").json()
    assert detail["subscriptions"][0]["quantity"] == 15
    assert {"feature": "seats", "value": "15", "source": "Team plan, seats bought"} in detail[
        "entitlements"
    ]


def test_a_malformed_change_names_its_fields(client, account, finance_user):
    api = Api(client)
    finance = token_for(finance_user)

    assert "quantity" in field_errors(
        change(api, finance, account.subscription, change="seats", quantity=0)
    )
    assert "change" in field_errors(change(api, finance, account.subscription, change="teleport"))
    assert "quantity" in field_errors(change(api, finance, account.subscription, change="seats"))
    assert "percent_off" in field_errors(
        change(api, finance, account.subscription, change="discount", reason="retention")
    )
    assert "price_id" in field_errors(
        change(api, finance, account.subscription, change="price", price_id=999999)
    )
    assert "trial_end" in field_errors(
        change(
            api,
            finance,
            account.subscription,
            change="trial_end",
            trial_end="2030-01-01T00:00:00",  # no time zone
            reason="evaluation_in_progress",
        )
    )


def test_a_price_change_moves_the_subscription(client, account, finance_user):
    annual = scenario.plan(code="business", unit_amount=39000, interval="year")
    snapshot = gateway.retrieve_price(annual.id)
    read(lambda s: s.read_price_if_unknown(snapshot.id)).apply(reason="test: new price")
    new_price = Price.objects.get(stripe_price_id=annual.id)

    response = change(
        Api(client),
        token_for(finance_user),
        account.subscription,
        change="price",
        price_id=new_price.pk,
    )

    assert response.json()["state"] == "succeeded", response.content
    assert at_stripe(account.subscription).price == annual.id


def test_support_extends_a_trial_and_a_longer_extension_waits(
    client, db, stripe_emulator, support_user
):
    api = Api(client)
    support = token_for(support_user)
    trial = mirrored_account(trial_days=14).subscription
    new_end = trial.trial_end + dt.timedelta(days=10)

    preview = change(
        api,
        support,
        trial,
        change="trial_end",
        trial_end=new_end.isoformat(),
        reason="evaluation_in_progress",
        dry_run=True,
    )
    done = change(
        api,
        support,
        trial,
        change="trial_end",
        trial_end=new_end.isoformat(),
        reason="evaluation_in_progress",
    )
    longer = change(
        api,
        support,
        trial,
        change="trial_end",
        trial_end=(new_end + dt.timedelta(days=45)).isoformat(),
        reason="evaluation_in_progress",
        dry_run=True,
    )

    assert preview.json()["measure"] == 10
    assert preview.json()["needs_approval"] is False
    assert done.json()["state"] == "succeeded"
    assert at_stripe(trial).trial_end == new_end
    assert longer.json()["needs_approval"] is True
    assert "30 days" in longer.json()["why"]


def test_a_discount_pause_resume_cancel_and_reactivate(client, account, finance_user):
    api = Api(client)
    finance = token_for(finance_user)
    subscription = account.subscription

    discount = change(
        api,
        finance,
        subscription,
        change="discount",
        percent_off="12.50",
        duration="repeating",
        duration_in_months=3,
        reason="retention",
    )
    pause = change(api, finance, subscription, change="pause_collection", behavior="keep_as_draft")
    paused = at_stripe(subscription).pause_behavior
    resume = change(api, finance, subscription, change="resume_collection", reason="issue_resolved")
    cancel = change(api, finance, subscription, change="cancel", at_period_end=True)
    cancels = at_stripe(subscription).cancel_at_period_end
    reactivate = change(api, finance, subscription, change="reactivate")

    kinds = [r.json()["kind"] for r in (discount, pause, resume, cancel, reactivate)]
    assert kinds == [
        ActionKind.DISCOUNT,
        ActionKind.PAUSE_COLLECTION,
        ActionKind.RESUME_COLLECTION,
        ActionKind.CANCEL,
        ActionKind.REACTIVATE,
    ]
    assert {r.json()["state"] for r in (discount, pause, resume, cancel, reactivate)} == {
        "succeeded"
    }
    assert paused == "keep_as_draft"
    assert cancels is True
    final = at_stripe(subscription)
    assert final.pause_behavior is None or final.pause_behavior == ""
    assert final.cancel_at_period_end is False
    detail = api.get(finance, f"/customers/{account.customer.pk}").json()["subscriptions"][0]
    assert detail["discount"]["percent_off"] == "12.50"


def test_an_entitlement_override_shows_in_the_customers_entitlements(client, account, finance_user):
    api = Api(client)
    finance = token_for(finance_user)
    expires = (timezone.now() + dt.timedelta(days=14)).isoformat()

    response = api.post(
        finance,
        f"/customers/{account.customer.pk}/entitlement-overrides",
        {
            "feature": "build_minutes",
            "value": "25000",
            "expires_at": expires,
            "reason": "evaluation",
            **WHY,
        },
    )

    assert response.json()["state"] == "succeeded"
    entitlements = api.get(finance, f"/customers/{account.customer.pk}").json()["entitlements"]
    [minutes] = [e for e in entitlements if e["feature"] == "build_minutes"]
    assert minutes["value"] == "25000"
    assert minutes["source"].startswith("Override until")


def test_voiding_an_open_invoice(client, db, stripe_emulator, finance_user):
    api = Api(client)
    finance = token_for(finance_user)
    declined = mirrored_account(card="pm_card_chargeDeclined")
    invoice = Invoice.objects.get(customer=declined.customer, status="open")

    preview = api.post(
        finance,
        f"/invoices/{invoice.pk}/actions",
        {"action": "void", "reason": "billing_error", "dry_run": True, **WHY},
    )
    voided = api.post(
        finance,
        f"/invoices/{invoice.pk}/actions",
        {"action": "void", "reason": "billing_error", **WHY},
    )
    again = api.post(
        finance,
        f"/invoices/{invoice.pk}/actions",
        {"action": "void", "reason": "billing_error", **WHY},
    )

    assert preview.json()["lines"] == [{"label": "Status", "before": "Open", "after": "Void"}]
    assert voided.json()["state"] == "succeeded"
    assert gateway.retrieve_invoice(invoice.stripe_invoice_id).status == "void"
    [listed] = [
        i
        for i in api.get(finance, f"/customers/{declined.customer.pk}/invoices").json()["items"]
        if i["id"] == invoice.pk
    ]
    assert listed["status"] == "void"
    assert again.status_code == 409
    assert "void" in problem(again)["detail"]


@pytest.mark.parametrize("action", ["refund", "delete"])
def test_an_unknown_invoice_action_is_422(client, account, finance_user, action):
    invoice = Invoice.objects.filter(customer=account.customer).first()

    response = Api(client).post(
        token_for(finance_user),
        f"/invoices/{invoice.pk}/actions",
        {"action": action, "reason": "billing_error", **WHY},
    )

    assert "action" in field_errors(response)

"""The refund path through the API: within the limit it happens at Stripe at once; over it,
or asked by an agent, it waits for a person whose limit covers it, who approves it through
the API; a dry run says which, and creates nothing."""

import pytest

from accounts.roles import Role
from billing.models import Action, ActionState, ApprovalRequest, Refund
from tests.api.conftest import Api, field_errors, problem, token_for
from tests.billing.conftest import mirrored_account, stripe_refunds
from tests.factories import make_staff

REFUND = {"reason": "duplicate", "ticket": "ZD-48213", "note": ""}


def refund(api, token, payment, amount, *, key="new", **fields):
    body = {"payment_id": payment.pk, "amount": amount, **REFUND, **fields}
    return api.post(token, "/refunds", body, key=key)


def test_a_refund_within_the_limit_succeeds_and_moves_the_money_at_stripe(
    client, account, support_user
):
    api = Api(client)

    response = refund(api, token_for(support_user), account.payment, 2500, currency="usd")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "succeeded"
    assert (body["kind"], body["amount"], body["currency"]) == ("refund", 2500, "usd")
    assert body["actor"]["username"] == "sam"
    assert (body["reason"], body["ticket"]) == ("duplicate", "ZD-48213")
    assert body["approval"] is None
    assert body["error"] is None
    [at_stripe] = stripe_refunds(account.payment.stripe_charge_id)
    assert at_stripe.amount == 2500
    assert body["stripe_id"] == at_stripe.id
    assert at_stripe.metadata["action_id"] == str(body["id"])
    [payment] = api.get(
        token_for(support_user), f"/customers/{account.customer.pk}/payments"
    ).json()["items"]
    assert (payment["amount"], payment["amount_refunded"], payment["refundable"]) == (
        50000,
        2500,
        47500,
    )
    assert payment["refunds"][0]["stripe_id"] == at_stripe.id


def test_a_refund_over_the_limit_waits_and_is_approved_through_the_api(
    client, account, support_user, finance_user
):
    api = Api(client)
    support, finance = token_for(support_user), token_for(finance_user)

    asked = refund(api, support, account.payment, 30000)

    assert asked.status_code == 201
    action = asked.json()
    assert action["state"] == "pending_approval"
    assert "Above your limit of $100.00" in action["policy_note"]
    assert action["approval"]["state"] == "pending"
    assert action["approval"]["requested_by"]["username"] == "sam"
    assert stripe_refunds(account.payment.stripe_charge_id) == []
    [waiting] = api.get(finance, "/approvals", state="waiting").json()["items"]
    assert waiting["id"] == action["approval"]["id"]
    assert waiting["may_decide"]
    assert waiting["action"]["amount"] == 30000

    approved = api.post(finance, f"/approvals/{waiting['id']}/approve", {"note": "checked"})

    assert approved.status_code == 200, approved.content
    assert approved.json()["state"] == "succeeded"
    assert approved.json()["approval"]["decided_by"]["username"] == "fran"
    [at_stripe] = stripe_refunds(account.payment.stripe_charge_id)
    assert at_stripe.amount == 30000
    assert at_stripe.metadata["approved_by"] == "fran"
    assert api.get(support, f"/actions/{action['id']}").json()["state"] == "succeeded"
    assert api.get(finance, "/approvals", state="waiting").json()["items"] == []


def test_the_agents_small_refund_waits_for_a_persons_approval(
    client, account, agent_user, finance_user
):
    api = Api(client)
    agent = token_for(agent_user)

    asked = refund(api, agent, account.payment, 100)

    assert asked.status_code == 201
    assert asked.json()["state"] == "pending_approval"
    assert "approval of every refund" in asked.json()["policy_note"]
    assert stripe_refunds(account.payment.stripe_charge_id) == []
    assert not Refund.objects.exists()
    approval = asked.json()["approval"]["id"]
    assert api.get(agent, "/approvals", state="waiting").json()["items"] == []
    refused = api.post(agent, f"/approvals/{approval}/approve", {})
    assert refused.status_code == 403
    assert stripe_refunds(account.payment.stripe_charge_id) == []

    approved = api.post(token_for(finance_user), f"/approvals/{approval}/approve", {})

    assert approved.json()["state"] == "succeeded"
    assert [r.amount for r in stripe_refunds(account.payment.stripe_charge_id)] == [100]


def test_the_agent_asks_for_every_kind_and_each_waits(client, account, agent_user):
    api = Api(client)
    agent = token_for(agent_user)

    seats = api.post(
        agent,
        f"/subscriptions/{account.subscription.pk}/changes",
        {"change": "seats", "quantity": 12, "reason": "customer_request", "ticket": "ZD-1"},
    )
    credited = credit(api, agent, account.customer, 100)

    assert seats.json()["state"] == credited.json()["state"] == "pending_approval"
    account.refresh()
    assert account.subscription.quantity == 10
    assert account.customer.balance().amount == 0


def credit(api, token, customer, amount):
    return api.post(
        token,
        "/credits",
        {
            "customer_id": customer.pk,
            "amount": amount,
            "currency": "usd",
            "reason": "goodwill",
            "ticket": "ZD-48213",
        },
    )


def test_an_approvers_inbox_holds_only_what_they_may_decide(
    client, account, support_user, finance_user
):
    api = Api(client)
    support, finance = token_for(support_user), token_for(finance_user)
    admin = token_for(make_staff(Role.ADMIN))
    refund_asked = refund(api, support, account.payment, 20000).json()
    credit_asked = credit(api, finance, account.customer, 300000).json()  # over finance's $2,000

    def inbox(token, state="waiting"):
        return {
            item["action"]["id"]
            for item in api.get(token, "/approvals", state=state).json()["items"]
        }

    assert refund_asked["state"] == credit_asked["state"] == "pending_approval"
    assert inbox(finance) == {refund_asked["id"]}  # not their own request
    assert inbox(admin) == {refund_asked["id"], credit_asked["id"]}
    assert inbox(support) == set()  # support decides nothing
    assert inbox(support, "pending") == {refund_asked["id"], credit_asked["id"]}
    assert inbox(finance, "mine") == {credit_asked["id"]}
    pending = api.get(finance, "/approvals", state="pending").json()["items"]
    assert {item["action"]["id"]: item["may_decide"] for item in pending} == {
        refund_asked["id"]: True,
        credit_asked["id"]: False,
    }


def test_an_approver_whose_limit_does_not_cover_a_request_neither_sees_nor_approves_it(
    client, db, stripe_emulator, support_user, finance_user
):
    api = Api(client)
    big = mirrored_account(unit_amount=100_000)  # 10 seats at $1,000.00
    finance = token_for(finance_user)
    admin = token_for(make_staff(Role.ADMIN))
    asked = refund(api, token_for(support_user), big.payment, 600_000).json()  # $6,000.00
    approval = asked["approval"]["id"]

    assert api.get(finance, "/approvals").json()["items"] == []
    assert [item["id"] for item in api.get(admin, "/approvals").json()["items"]] == [approval]
    refused = api.post(finance, f"/approvals/{approval}/approve", {})
    assert refused.status_code == 403
    assert "limit does not cover" in problem(refused)["detail"]
    assert stripe_refunds(big.payment.stripe_charge_id) == []
    assert api.post(admin, f"/approvals/{approval}/approve", {}).json()["state"] == "succeeded"


def test_nobody_approves_their_own_request(client, account, finance_user):
    api = Api(client)
    finance = token_for(finance_user)
    asked = credit(api, finance, account.customer, 300000).json()
    assert asked["state"] == "pending_approval"

    response = api.post(finance, f"/approvals/{asked['approval']['id']}/approve", {})

    assert response.status_code == 403
    assert "own request" in problem(response)["detail"]


def test_a_rejection_needs_a_reason_and_a_rejected_request_moves_nothing(
    client, account, support_user, finance_user
):
    api = Api(client)
    finance = token_for(finance_user)
    approval = refund(api, token_for(support_user), account.payment, 30000).json()["approval"]

    without = api.post(finance, f"/approvals/{approval['id']}/reject", {"reason": ""})
    rejected = api.post(finance, f"/approvals/{approval['id']}/reject", {"reason": "duplicate ask"})
    again = api.post(finance, f"/approvals/{approval['id']}/approve", {})

    assert "reason" in field_errors(without)
    assert rejected.status_code == 200
    assert rejected.json()["state"] == "rejected"
    assert rejected.json()["approval"]["note"] == "duplicate ask"
    assert again.status_code == 409
    assert problem(again)["type"].endswith(":conflict")
    assert stripe_refunds(account.payment.stripe_charge_id) == []


def test_the_requester_withdraws_and_nobody_else_may(client, account, support_user, finance_user):
    api = Api(client)
    support = token_for(support_user)
    approval = refund(api, support, account.payment, 30000).json()["approval"]["id"]

    by_other = api.post(token_for(finance_user), f"/approvals/{approval}/withdraw")
    withdrawn = api.post(support, f"/approvals/{approval}/withdraw")

    assert by_other.status_code == 403
    assert withdrawn.status_code == 200
    assert withdrawn.json()["state"] == "withdrawn"
    assert ApprovalRequest.objects.get(pk=approval).decision == "withdrawn"


def test_a_dry_run_answers_the_preview_and_the_decision_and_creates_nothing(
    client, account, support_user
):
    api = Api(client)
    support = token_for(support_user)

    within = refund(api, support, account.payment, 2000, dry_run=True)
    over = refund(api, support, account.payment, 20000, dry_run=True)

    assert within.status_code == over.status_code == 200
    assert within.json() == {
        "dry_run": True,
        "kind": "refund",
        "summary": "Refund $20.00 to Visa ···· 4242",
        "lines": [
            {"label": "Refunded", "before": "$0.00", "after": "$20.00"},
            {"label": "Refundable remaining", "before": "$500.00", "after": "$480.00"},
        ],
        "currency": "usd",
        "measure": 2000,
        "needs_approval": False,
        "why": "",
    }
    assert over.json()["needs_approval"] is True
    assert "Above your limit of $100.00" in over.json()["why"]
    assert not Action.objects.exists()
    assert stripe_refunds(account.payment.stripe_charge_id) == []


def test_a_dry_run_checks_the_request_as_the_request_would(client, account, support_user):
    api = Api(client)

    response = refund(
        api,
        token_for(support_user),
        account.payment,
        60000,
        reason="nope",
        note="card 4242 4242 4242 4242",
        dry_run=True,
    )

    errors = field_errors(response)
    assert set(errors) == {"amount", "reason", "note"}
    assert "At most $500.00" in errors["amount"]
    assert not Action.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": 12.5}, "amount"),
        ({"amount": "100"}, "amount"),
        ({"amount": 60000}, "amount"),
        ({"reason": "because"}, "reason"),
        ({"ticket": ""}, "ticket"),
        ({"reason": "other", "note": ""}, "note"),
        ({"note": "card 4242 4242 4242 4242"}, "note"),
        ({"currency": "eur"}, "currency"),
        ({"amont": 100}, "amont"),
    ],
)
def test_an_invalid_refund_is_422_with_its_fields_and_changes_nothing(
    client, account, support_user, fields, field
):
    api = Api(client)

    response = refund(api, token_for(support_user), account.payment, **{"amount": 1000, **fields})

    assert field in field_errors(response)
    assert not Action.objects.exists()
    assert stripe_refunds(account.payment.stripe_charge_id) == []


def test_a_refund_of_an_unknown_payment_is_404(client, account, support_user):
    response = Api(client).post(
        token_for(support_user), "/refunds", {"payment_id": 999999, "amount": 100, **REFUND}
    )

    assert response.status_code == 404
    assert "payment 999999" in problem(response)["detail"]


def test_refunding_a_payment_with_nothing_left_is_a_409(client, account, finance_user):
    api = Api(client)
    finance = token_for(finance_user)
    assert refund(api, finance, account.payment, 50000).json()["state"] == "succeeded"

    response = refund(api, finance, account.payment, 100)

    assert response.status_code == 409
    assert "nothing left to refund" in problem(response)["detail"]
    assert Action.objects.filter(state=ActionState.SUCCEEDED).count() == 1

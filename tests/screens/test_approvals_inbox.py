"""The approvals inbox: what waits for me (only what I may decide), what I asked for, what was
decided; approve, reject (with a reason) and withdraw, each showing the outcome in place."""

import pytest

from billing import actions
from billing.models import Action, ActionState
from billing.stripe import gateway
from tests.billing.conftest import mirrored_account

HTMX = {"HX-Request": "true"}


def ask(actor, payment, amount):
    return actions.request_refund(
        actor=actor,
        payment=payment,
        amount=amount,
        reason="requested_by_customer",
        ticket="ZD-700",
        note="customer asked twice",
    )


@pytest.fixture
def request_(account, support_user):
    return ask(support_user, account.payment, 15_000).approval


def test_finance_sees_the_request_in_words_and_the_count_in_the_navigation(
    client, finance_user, request_
):
    client.force_login(finance_user)

    page = client.get("/approvals/")
    preview = client.get(f"/approvals/{request_.pk}/preview/", headers=HTMX)

    assert "Refund $150.00 of payment" in page.text
    assert "Sam" in page.text  # the requester
    assert "requested_by_customer" in page.text
    assert "ZD-700" in page.text
    assert "customer asked twice" in page.text
    assert "71 h" in page.text  # time left
    assert "Approve" in page.text
    assert "Reject" in page.text
    assert '<span class="badge" title="1 waiting for you">1</span>' in page.text
    assert "Refundable remaining" in preview.text


def test_approving_in_the_inbox_refunds_and_shows_the_outcome(
    client, finance_user, request_, account
):
    client.force_login(finance_user)

    card = client.post(f"/approvals/{request_.pk}/approve/", {"note": "ok"}, headers=HTMX)

    assert card.status_code == 200
    assert "Succeeded" in card.text
    assert ">Approve<" not in card.text  # no button to approve again
    assert Action.objects.get().state == ActionState.SUCCEEDED
    assert [r.amount for r in gateway.list_refunds(account.payment.stripe_charge_id)] == [15_000]


def test_a_rejection_needs_a_reason_and_says_so_in_the_card(client, finance_user, request_):
    client.force_login(finance_user)

    refused = client.post(f"/approvals/{request_.pk}/reject/", {"reason": " "}, headers=HTMX)
    rejected = client.post(f"/approvals/{request_.pk}/reject/", {"reason": "dup"}, headers=HTMX)

    assert "Say why the request is rejected." in refused.text
    assert "Rejected" in rejected.text
    assert Action.objects.get().state == ActionState.REJECTED


def test_the_requester_withdraws_from_requested_by_me(client, support_user, request_):
    client.force_login(support_user)

    mine = client.get("/approvals/?tab=mine")
    withdrawn = client.post(f"/approvals/{request_.pk}/withdraw/", headers=HTMX)

    assert "Withdraw" in mine.text
    assert "Approve" not in mine.text
    assert "Withdrawn" in withdrawn.text
    assert Action.objects.get().state == ActionState.WITHDRAWN


def test_without_javascript_a_decision_returns_to_the_inbox_with_a_message(
    client, finance_user, request_
):
    client.force_login(finance_user)

    response = client.post(f"/approvals/{request_.pk}/approve/", {"note": ""}, follow=True)

    assert response.redirect_chain[-1][0].startswith("/approvals/")
    assert "succeeded" in response.text


def test_support_may_not_decide_and_a_forged_decision_changes_nothing(
    client, support_user, request_
):
    other = mirrored_account()
    own = ask(support_user, other.payment, 15_000).approval
    client.force_login(support_user)

    assert client.post(f"/approvals/{request_.pk}/approve/").status_code == 403
    assert client.post(f"/approvals/{own.pk}/reject/", {"reason": "x"}).status_code == 403
    assert set(Action.objects.values_list("state", flat=True)) == {"pending_approval"}


def test_a_request_above_finances_limit_is_only_in_admins_inbox(
    client, stripe_emulator, support_user, finance_user, admin_user
):
    big = mirrored_account(quantity=200)
    request = ask(support_user, big.payment, 800_000).approval
    client.force_login(finance_user)
    finance_page = client.get("/approvals/")
    forged = client.post(f"/approvals/{request.pk}/approve/", headers=HTMX)
    client.force_login(admin_user)
    admin_page = client.get("/approvals/")

    assert f'id="approval-{request.pk}"' not in finance_page.text
    assert "limit does not cover" in forged.text
    assert f'id="approval-{request.pk}"' in admin_page.text

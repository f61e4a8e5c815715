"""Reading through the API: search as the search box, pages by cursor, payments with what is
refundable (the one definition, counting refunds in flight), actions by customer, ticket and
state; the number of queries of a page does not grow with its rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import actions
from tests.api.conftest import Api, token_for
from tests.factories import make_customer, make_invoice, make_payment, make_subscription

pytestmark = pytest.mark.django_db


def test_search_finds_as_the_search_box_does(client, support_user):
    api = Api(client)
    token = token_for(support_user)
    wanted = make_customer(name="Globex Corporation", billing_email="ap@globex.example")
    make_customer(name="Initech")

    by_email = api.get(token, "/customers", q="ap@globex").json()["items"]
    by_stripe_id = api.get(token, "/customers", q=wanted.stripe_customer_id).json()["items"]
    by_name = api.get(token, "/customers", q="globex").json()["items"]

    assert [c["id"] for c in by_email] == [c["id"] for c in by_stripe_id] == [wanted.pk]
    assert [c["name"] for c in by_name] == ["Globex Corporation"]
    assert by_name[0]["stripe_id"] == wanted.stripe_customer_id


def test_pages_follow_their_cursor_without_gaps_or_repeats(client, support_user):
    api = Api(client)
    token = token_for(support_user)
    made = sorted((make_customer(name=f"Page {n}") for n in range(5)), key=lambda c: c.name)

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, "q": "page"} | ({"cursor": cursor} if cursor else {})
        page = api.get(token, "/customers", **params).json()
        seen += [c["id"] for c in page["items"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break

    assert seen == [c.pk for c in made]
    assert pages == 3


def test_payments_show_what_is_refundable_counting_refunds_in_flight(
    client, account, finance_user, stripe_emulator
):
    stripe_emulator.add_fault("/v1/refunds", "500", method="POST", count=1)
    api = Api(client)
    token = token_for(finance_user)
    asked = api.post(
        token,
        "/refunds",
        {
            "payment_id": account.payment.pk,
            "amount": 7000,
            "reason": "duplicate",
            "ticket": "ZD-9",
        },
    ).json()

    [payment] = api.get(token, f"/customers/{account.customer.pk}/payments").json()["items"]
    action = api.get(token, f"/actions/{asked['id']}").json()

    assert asked["state"] == action["state"] == "executing"
    assert "Stripe did not answer" in asked["error"]["message"]
    assert "Stripe did not answer" in action["error"]["message"]
    assert (payment["amount"], payment["amount_refunded"], payment["refundable"]) == (
        50000,
        0,
        43000,
    )


def test_actions_are_found_by_customer_ticket_state_and_kind(client, support_user, finance_user):
    api = Api(client)
    token = token_for(support_user)
    customer, other = make_customer(currency="chf"), make_customer(currency="chf")
    waiting = actions.request_refund(
        actor=support_user,
        payment=make_payment(customer),
        amount=100,
        reason="duplicate",
        ticket="ZD-77",
    )
    actions.request_refund(
        actor=support_user,
        payment=make_payment(other),
        amount=100,
        reason="duplicate",
        ticket="ZD-78",
    )

    def ids(**filters):
        return [a["id"] for a in api.get(token, "/actions", **filters).json()["items"]]

    assert ids(customer=customer.pk) == [waiting.pk]
    assert ids(ticket="zd-77") == [waiting.pk]
    assert len(ids(state="pending_approval", kind="refund")) == 2
    assert ids(state="succeeded") == []


@pytest.mark.parametrize(
    ("path", "rows"),
    [
        ("/customers", lambda customer, n: [make_customer() for _ in range(n)]),
        (
            "/customers/{id}/payments",
            lambda customer, n: [make_payment(customer) for _ in range(n)],
        ),
        (
            "/customers/{id}/invoices",
            lambda customer, n: [make_invoice(customer) for _ in range(n)],
        ),
        (
            "/actions",
            lambda customer, n: [
                actions.request_refund(
                    actor=customer.requester,
                    payment=make_payment(customer),
                    amount=100,
                    reason="duplicate",
                    ticket="ZD-5",
                )
                for _ in range(n)
            ],
        ),
        (
            "/approvals?state=pending",
            lambda customer, n: [
                actions.request_refund(
                    actor=customer.requester,
                    payment=make_payment(customer),
                    amount=100,
                    reason="duplicate",
                    ticket="ZD-5",
                )
                for _ in range(n)
            ],
        ),
    ],
)
def test_a_pages_queries_do_not_grow_with_its_rows(client, support_user, path, rows):
    api = Api(client)
    token = token_for(support_user)
    customer = make_customer(currency="chf")  # every refund in CHF waits for an approval
    customer.requester = support_user
    make_subscription(customer)

    def queries(count):
        rows(customer, count)
        with CaptureQueriesContext(connection) as captured:
            response = api.get(token, path.format(id=customer.pk))
        assert response.status_code == 200
        return len(captured)

    assert queries(2) == queries(20)

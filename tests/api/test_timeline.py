"""A customer's timeline through the API: the same entries as on their page (support/timeline),
newest first, keyset paginated, filterable by kind."""

import pytest

from tests.api.conftest import Api, field_errors, problem, token_for

pytestmark = pytest.mark.django_db

REFUND = {"reason": "duplicate", "ticket": "ZD-48213", "note": ""}


def test_a_refund_shows_on_the_timeline_with_its_actor_reason_and_ticket(
    client, account, support_user, auditor_user
):
    api = Api(client)
    done = api.post(
        token_for(support_user),
        "/refunds",
        {"payment_id": account.payment.pk, "amount": 2000, **REFUND},
        key="timeline-refund",
    )
    assert done.status_code == 201, done.content

    answer = api.get(
        token_for(auditor_user), f"/customers/{account.customer.pk}/timeline", kind="action"
    )

    assert answer.status_code == 200, answer.content
    [entry, *_] = answer.json()["items"]
    assert entry["kind"] == "action"
    assert entry["actor"] == "sam"
    assert entry["actor_id"] == support_user.pk
    assert entry["ticket"] == "ZD-48213"
    assert entry["object_type"] == "billing.action"
    assert entry["object_id"] == done.json()["id"]
    assert {item["kind"] for item in answer.json()["items"]} == {"action"}


def test_the_timeline_pages_with_its_cursor_and_refuses_one_it_did_not_give(
    client, account, support_user
):
    api = Api(client)
    token = token_for(support_user)
    path = f"/customers/{account.customer.pk}/timeline"
    everything = api.get(token, path, limit=100).json()["items"]
    assert len(everything) >= 3

    first = api.get(token, path, limit=2).json()
    second = api.get(token, path, limit=2, cursor=first["next"]).json()

    assert [e["cursor"] for e in first["items"] + second["items"]] == [
        e["cursor"] for e in everything[:4]
    ]
    bad = api.get(token, path, cursor="not-a-cursor")
    assert "cursor" in field_errors(bad)
    missing = api.get(token, "/customers/999999/timeline")
    assert missing.status_code == 404
    assert problem(missing)["type"].endswith("not-found")

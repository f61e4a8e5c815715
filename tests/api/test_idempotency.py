"""Idempotency-Key on every write: the first answer replayed for the same key and body, 409
for the same key and another request, keys per token, kept past 24 hours, and one action for
two requests racing with one key."""

import datetime as dt
import json
import threading

import pytest
import time_machine
from django.db import connections
from django.test import Client, RequestFactory
from django.utils import timezone

from accounts.models import ApiToken
from billing.api.idempotency import fingerprint
from billing.models import Action, IdempotencyKey, IdempotentResponse
from tests.api.conftest import BASE, Api, field_errors, problem, token_for
from tests.billing.conftest import mirrored_account, stripe_refunds

REFUND = {"reason": "duplicate", "ticket": "ZD-48213", "note": ""}


def body(account, amount=2500, **fields):
    return {"payment_id": account.payment.pk, "amount": amount, **REFUND, **fields}


def test_the_same_key_and_body_get_the_first_answer_again_and_refund_once(
    client, account, support_user
):
    api = Api(client)
    token = token_for(support_user)

    first = api.post(token, "/refunds", body(account), key="refund-ZD-48213-1")
    again = api.post(token, "/refunds", body(account), key="refund-ZD-48213-1")

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Action.objects.count() == 1
    assert len(stripe_refunds(account.payment.stripe_charge_id)) == 1


def test_the_same_body_written_differently_is_the_same_request(client, account, support_user):
    api = Api(client)
    token = token_for(support_user)
    first = api.post(token, "/refunds", body(account), key="k")

    reordered = json.dumps(dict(reversed(list(body(account).items()))), indent=4)
    again = client.post(
        "/api/v1/refunds",
        reordered,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k"},
    )

    assert again.status_code == 201
    assert again.content == first.content


def test_an_error_is_kept_and_replayed_too(client, account, support_user):
    api = Api(client)
    token = token_for(support_user)

    first = api.post(token, "/refunds", body(account, amount=60000), key="too-much")
    again = api.post(token, "/refunds", body(account, amount=60000), key="too-much")

    assert first.status_code == again.status_code == 422
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"] == "application/problem+json"


def test_the_same_key_with_another_body_is_409_and_runs_nothing(client, account, support_user):
    api = Api(client)
    token = token_for(support_user)
    api.post(token, "/refunds", body(account, amount=2500), key="reused")

    response = api.post(token, "/refunds", body(account, amount=3000), key="reused")

    assert response.status_code == 409
    assert problem(response)["type"].endswith(":idempotency-key-reused")
    assert Action.objects.count() == 1
    assert [r.amount for r in stripe_refunds(account.payment.stripe_charge_id)] == [2500]


def test_the_same_key_on_another_endpoint_is_409(client, account, support_user):
    api = Api(client)
    token = token_for(support_user)
    api.post(token, "/refunds", body(account), key="reused")

    response = api.post(
        token,
        "/tickets",
        {"external_ref": "ZD-1", "subject": "x", "requester_email": "a@example.com"},
        key="reused",
    )

    assert response.status_code == 409
    assert problem(response)["type"].endswith(":idempotency-key-reused")


def test_keys_belong_to_a_token(client, account, support_user, finance_user):
    api = Api(client)

    mine = api.post(token_for(support_user), "/refunds", body(account), key="shared")
    theirs = api.post(token_for(finance_user), "/refunds", body(account), key="shared")

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert len(stripe_refunds(account.payment.stripe_charge_id)) == 2


def test_a_key_is_still_honoured_after_24_hours(client, account, support_user):
    api = Api(client)
    token = token_for(support_user)
    first = api.post(token, "/refunds", body(account), key="yesterday")

    with time_machine.travel(timezone.now() + dt.timedelta(hours=25)):
        again = api.post(token, "/refunds", body(account), key="yesterday")

    assert again.status_code == 201
    assert again.content == first.content
    assert Action.objects.count() == 1


@pytest.mark.parametrize("key", [None, "", "has space", "ü", "x" * 256])
def test_a_write_without_a_good_key_is_422_and_runs_nothing(client, account, support_user, key):
    response = Api(client).post(
        token_for(support_user), "/refunds", body(account), key=None, headers=_header(key)
    )

    assert "Idempotency-Key" in field_errors(response)
    assert not Action.objects.exists()
    assert not IdempotencyKey.objects.exists()


def _header(key):
    return {} if key is None else {"Idempotency-Key": key}


def test_a_dry_run_leaves_its_key_unused(client, account, support_user):
    api = Api(client)
    token = token_for(support_user)

    dry = api.post(token, "/refunds", body(account, dry_run=True), key="later")
    real = api.post(token, "/refunds", body(account), key="later")

    assert dry.status_code == 200
    assert real.status_code == 201
    assert IdempotencyKey.objects.count() == 1


def test_a_refused_request_does_not_use_up_its_key(client, account, auditor_user, support_user):
    api = Api(client)

    refused = api.post(token_for(auditor_user), "/refunds", body(account), key="k1")

    assert refused.status_code == 403
    assert not IdempotencyKey.objects.exists()


def test_two_requests_racing_with_one_key_make_one_action_and_get_one_answer(
    committed_db, stripe_emulator, support_user
):
    account = mirrored_account()
    token = token_for(support_user)
    answers = []
    barrier = threading.Barrier(2)

    def send():
        barrier.wait()
        try:
            answers.append(Api(Client()).post(token, "/refunds", body(account), key="race"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [answer.status_code for answer in answers] == [201, 201]
    assert answers[0].content == answers[1].content
    assert sorted(answer.get("Idempotent-Replayed", "") for answer in answers) == ["", "true"]
    assert Action.objects.count() == 1
    assert len(stripe_refunds(account.payment.stripe_charge_id)) == 1
    assert IdempotencyKey.objects.count() == IdempotentResponse.objects.count() == 1


def test_a_request_whose_first_is_still_running_is_told_to_retry(
    client, account, support_user, settings
):
    settings.API_IDEMPOTENCY_WAIT_SECONDS = 0.1
    api = Api(client)
    token = token_for(support_user)
    sent = RequestFactory().post(
        f"{BASE}/refunds", json.dumps(body(account)), content_type="application/json"
    )
    # The first request claimed the key and has not answered yet.
    IdempotencyKey.objects.create(
        token=ApiToken.objects.get(),
        key="running",
        fingerprint=fingerprint(sent),
        method="POST",
        path=f"{BASE}/refunds",
        created_at=timezone.now(),
    )

    response = api.post(token, "/refunds", body(account), key="running")

    assert response.status_code == 409
    assert problem(response)["type"].endswith(":idempotency-key-in-use")
    assert response["Retry-After"] == "1"
    assert not Action.objects.exists()

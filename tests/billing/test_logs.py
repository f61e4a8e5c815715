"""Structured logs: the JSON lines a refund leaves, the request id carried into the tasks it
enqueues, and nothing personal in any of them."""

import io
import json
import logging

import pytest

from billing.models import Action, ActionState
from billing.observability import JsonFormatter, scrub, sentry_before_send
from tests.screens.test_action_panels import HTMX, confirm, panel_url, review
from tests.tasks import run_due_tasks


@pytest.fixture
def log_lines():
    """Every log line written during the test, as the production formatter writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def refund_through_the_panel(client, account, amount: str, request_id: str):
    customer, payment = account.customer, account.payment
    reviewed = review(
        client,
        customer,
        "refund",
        {"amount": amount, "reason": "duplicate", "ticket": "ZD-501"},
        payment=payment.pk,
    )
    text = reviewed.text
    client.defaults["HTTP_X_REQUEST_ID"] = request_id
    try:
        return confirm(client, customer, "refund", text, payment=payment.pk)
    finally:
        del client.defaults["HTTP_X_REQUEST_ID"]


def test_a_refund_leaves_a_request_line_and_a_money_line_per_state(
    client, account, support_user, log_lines
):
    client.force_login(support_user)

    done = refund_through_the_panel(client, account, "20.00", "lb-7f3a-0001")

    action = Action.objects.get()
    assert action.state == ActionState.SUCCEEDED
    assert done["X-Request-ID"] == "lb-7f3a-0001"
    lines = [line for line in log_lines() if line.get("request_id") == "lb-7f3a-0001"]
    [request] = [line for line in lines if line.get("event") == "request"]
    assert request["method"] == "POST"
    assert request["path"] == panel_url(account.customer, "refund")
    assert request["status"] == 200
    assert request["staff_user_id"] == support_user.pk
    assert request["duration_ms"] > 0
    money = [line for line in lines if line.get("event") == "money"]
    assert [line["state"] for line in money] == ["executing", "succeeded"]
    for line in money:
        assert line["action_id"] == action.pk
        assert line["kind"] == "refund"
        assert line["actor_id"] == support_user.pk
        assert line["customer_id"] == account.customer.pk
        assert (line["amount"], line["currency"]) == (2000, "usd")
    assert money[-1]["stripe_request_id"].startswith("req_")
    assert money[-1]["stripe_request_id"] == action.attempt_log.get().stripe_request_id


def test_no_line_names_a_person_an_email_or_a_card(client, account, support_user, log_lines):
    client.force_login(support_user)
    client.get(f"/customers/?q={account.customer.billing_email}", headers=HTMX)

    refund_through_the_panel(client, account, "20.00", "lb-7f3a-0002")

    text = "\n".join(json.dumps(line) for line in log_lines())
    assert text
    for private in (
        account.customer.billing_email,
        account.customer.name,
        support_user.email,
        support_user.username,
        "4242",
    ):
        assert private not in text


def test_the_request_id_follows_into_the_tasks_the_request_enqueued(
    client, account, finance_user, stripe_emulator, clock, log_lines
):
    client.force_login(finance_user)
    stripe_emulator.add_fault("/v1/refunds", "500", method="POST", count=1)

    refund_through_the_panel(client, account, "20.00", "lb-7f3a-0003")
    action = Action.objects.get()
    assert action.state == ActionState.EXECUTING
    run_due_tasks(clock)

    action.refresh_from_db()
    assert action.state == ActionState.SUCCEEDED
    money = [line for line in log_lines() if line.get("event") == "money"]
    assert [(line["state"], line.get("request_id")) for line in money] == [
        ("executing", "lb-7f3a-0003"),
        ("succeeded", "lb-7f3a-0003"),  # in the retry task, run by the worker
    ]


def test_scrubbing_masks_emails_and_card_numbers():
    assert scrub("refund for ada@example.com card 4242 4242 4242 4242") == (
        "refund for [email] card [card?]"
    )


def test_sentry_gets_only_the_user_id_and_scrubbed_text():
    event = {
        "user": {"id": 7, "email": "fran@example.com", "username": "fran"},
        "request": {
            "url": "https://billing.example.com/customers/",
            "query_string": "q=ada@example.com",
            "data": {"note": "card 4242424242424242"},
            "cookies": {"sessionid": "secret"},
            "headers": {"Cookie": "sessionid=secret", "Authorization": "Bearer bat_x", "X": "1"},
        },
        "exception": {"values": [{"value": "No customer ada@example.com"}]},
    }

    sent = sentry_before_send(event, {})

    assert sent["user"] == {"id": 7}
    assert set(sent["request"]) == {"url", "headers"}
    assert sent["request"]["headers"] == {"X": "1"}
    assert sent["exception"]["values"][0]["value"] == "No customer [email]"

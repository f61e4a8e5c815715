"""`manage.py demo`: seeds the Stripe emulator, mirrors it, and keeps both across restarts.

The command starts its own emulator on a free port (`--stripe-port 0`) and saves its state in a
file of the test's own; to compare the mirror with that Stripe afterwards, a test starts an
emulator from the saved file.
"""

import contextlib
import datetime as dt
import re
import threading
import time
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import User
from billing.models import (
    Action,
    ActionState,
    BalanceTransaction,
    Customer,
    Invoice,
    Payment,
    PaymentStatus,
    Refund,
    Subscription,
)
from billing.stripe.sync import drift
from devtools import stripe_client
from devtools.demo.catalog import customer_profiles
from devtools.demo.support_data import DEMO_PASSWORD
from devtools.stripe_emulator import start_emulator
from support.models import Ticket
from tests.factories import make_customer

pytestmark = pytest.mark.django_db

ROLES = ("support", "finance", "admin", "auditor")


def run_demo(state_path, *args: str) -> None:
    call_command(
        "demo", "--no-serve", "--stripe-port", "0", "--stripe-state", str(state_path), *args
    )


@contextlib.contextmanager
def stripe_from(state_path, settings):
    """The Stripe the demo left behind: an emulator loaded from its saved state."""
    handle = start_emulator(port=0, state_path=state_path)
    settings.STRIPE_API_BASE = handle.url
    settings.STRIPE_API_KEY = "sk_test_emulator"
    try:
        yield handle
    finally:
        stripe_client.close_connections()
        handle.stop()


def threads_left_behind(before: set[threading.Thread]) -> list[threading.Thread]:
    deadline = time.monotonic() + 3
    while True:
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def test_demo_refuses_to_run_outside_debug(settings, tmp_path):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG=1"):
        run_demo(tmp_path / "stripe.pickle")

    assert not (tmp_path / "stripe.pickle").exists()


def test_demo_seeds_varied_data_into_stripe_and_mirrors_it(settings, capsys, tmp_path, client):
    settings.DEBUG = True
    state = tmp_path / "stripe.pickle"
    threads_before = set(threading.enumerate())

    run_demo(state, "--customers", "60")

    output = capsys.readouterr().out
    assert threads_left_behind(threads_before) == []
    assert state.exists()
    assert "Seeded 60 customers" in output
    assert Customer.objects.count() == 60
    plans = Counter(Subscription.objects.values_list("price__plan__code", flat=True))
    assert set(plans) == {"free", "personal", "team", "business"}
    assert set(Subscription.objects.values_list("price__interval", flat=True)) == {"month", "year"}
    statuses = set(Subscription.objects.values_list("status", flat=True))
    assert {"active", "trialing", "past_due", "canceled"} <= statuses
    assert set(Customer.objects.values_list("currency", flat=True)) >= {"usd", "eur", "gbp"}
    assert Invoice.objects.count() > 300
    assert Payment.objects.filter(status=PaymentStatus.FAILED).exists()
    assert Refund.objects.filter(amount__gt=0).exists()
    assert BalanceTransaction.objects.filter(type="adjustment", amount__lt=0).exists()
    assert Ticket.objects.count() > 10
    assert Ticket.objects.filter(assignee__isnull=True).exists()
    # Every local object is a Stripe object, under an id of the right kind.
    for model, column, prefix in [
        (Customer, "stripe_customer_id", "cus_"),
        (Subscription, "stripe_subscription_id", "sub_"),
        (Invoice, "stripe_invoice_id", "in_"),
        (Payment, "stripe_charge_id", "ch_"),
        (Payment, "stripe_payment_intent_id", "pi_"),
        (Refund, "stripe_refund_id", "re_"),
        (BalanceTransaction, "stripe_balance_transaction_id", "cbtxn_"),
    ]:
        ids = list(model.objects.values_list(column, flat=True))
        assert ids
        assert all(value.startswith(prefix) for value in ids), column
    for payment in Payment.objects.filter(amount_refunded__gt=0):
        assert payment.refunds.net_amount() == payment.amount_refunded
    # Staff actions taken through the money path: done directly, and waiting for approval.
    assert Action.objects.filter(state=ActionState.SUCCEEDED, kind="refund").exists()
    assert Action.objects.filter(state=ActionState.PENDING_APPROVAL).exists()
    assert Refund.objects.filter(action__isnull=False).exists()
    with stripe_from(state, settings):
        assert drift() == []
    password = re.search(r"password (\S+):", output).group(1)
    assert password == DEMO_PASSWORD
    for role in ROLES:
        assert f"  {role}" in output
        assert list(User.objects.get(username=role).groups.values_list("name", flat=True)) == [role]
        response = client.post("/login/", {"username": role, "password": password})
        assert (response.status_code, response["Location"]) == (302, "/"), role
        client.post("/logout/")
    # The agent works through the API, with the token printed at start, and cannot sign in.
    agent = User.objects.get(username="agent")
    assert list(agent.groups.values_list("name", flat=True)) == ["agent"]
    assert not agent.has_usable_password()
    token = agent_token_in(output)
    response = client.get("/api/v1/customers", {"q": "a"}, headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["items"]


def agent_token_in(output: str) -> str:
    return re.search(r"^  agent +(bat_\S+)$", output, re.M).group(1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_second_run_loads_the_saved_stripe_state_and_keeps_the_data(
    settings, capsys, tmp_path, client
):
    settings.DEBUG = True
    state = tmp_path / "stripe.pickle"
    run_demo(state, "--customers", "20")
    first_token = agent_token_in(capsys.readouterr().out)
    seeded = set(Customer.objects.values_list("stripe_customer_id", flat=True))

    run_demo(state)

    output = capsys.readouterr().out
    # A new agent token at each start; the previous one no longer works.
    assert (
        client.get("/api/v1/reason-codes", headers=bearer(agent_token_in(output))).status_code
        == 200
    )
    assert client.get("/api/v1/reason-codes", headers=bearer(first_token)).status_code == 401
    assert "already present (20 customers)" in output
    assert f"Stripe state loaded from {state}" in output
    assert set(Customer.objects.values_list("stripe_customer_id", flat=True)) == seeded
    assert User.objects.get(username="finance").check_password(DEMO_PASSWORD)
    with stripe_from(state, settings):
        assert drift() == []


def test_data_without_its_saved_stripe_state_is_refused_on_a_configured_database(
    settings, tmp_path
):
    settings.DEBUG = True
    make_customer()

    with pytest.raises(CommandError, match=r"saved state \(.*\) is missing"):
        run_demo(tmp_path / "stripe.pickle")


def test_a_saved_state_without_data_is_discarded(settings, capsys, tmp_path):
    settings.DEBUG = True
    state = tmp_path / "stripe.pickle"
    state.write_bytes(b"left over from another database")

    run_demo(state, "--customers", "3")

    assert "Discarding the saved Stripe state" in capsys.readouterr().out
    assert Customer.objects.count() == 3
    with stripe_from(state, settings) as stripe:
        assert len(stripe.state("customer")["customer"]) == 3


def test_profiles_are_deterministic_for_a_seed():
    now = timezone.now()

    first = customer_profiles(50, seed=7, now=now)
    second = customer_profiles(50, seed=7, now=now)

    assert [(p.handle, p.plan_code, len(p.invoices)) for p in first] == [
        (p.handle, p.plan_code, len(p.invoices)) for p in second
    ]
    assert len({p.handle for p in first}) == 50
    assert all(p.created < now + dt.timedelta(seconds=1) for p in first)


def test_who_is_on_which_plan_does_not_depend_on_the_date():
    def shape(now):
        return [
            (p.handle, p.plan_code, p.interval, p.subscription_status, p.coupon)
            for p in customer_profiles(80, seed=7, now=now)
        ]

    assert shape(dt.datetime(2026, 1, 31, tzinfo=dt.UTC)) == shape(
        dt.datetime(2027, 7, 4, tzinfo=dt.UTC)
    )

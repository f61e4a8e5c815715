"""The Celery task backend end to end: a real Celery worker (`celery -A billing worker`)
against the local Redis, processing a Stripe webhook and retrying an action, with the same
call sites as the database queue."""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.db import connection

from billing import actions
from billing.models import Action, ActionState, Customer, StripeEvent
from tests import stripe_scenarios as scenario
from tests.billing.test_stripe_webhooks import deliver
from tests.test_settings import PRODUCTION, TEST_ONLY

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url():
    """The local Redis on 127.0.0.1:6379, or, where none runs, a throwaway redis-server."""
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
        yield "redis://127.0.0.1:6379/0"
        return
    except redis.RedisError:
        pass
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("Redis is needed for the Celery test: apt-get install redis-server")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(50):
        try:
            client.ping()
            break
        except redis.RedisError:
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def celery_worker(committed_db, redis_url, stripe_emulator, settings):
    """This test process enqueues through Celery, and a Celery worker runs the tasks, on this
    test's database and Stripe emulator, from a queue of its own."""
    queue = f"billing-test-{uuid.uuid4().hex[:8]}"
    settings.TASKS = {
        "default": {
            "BACKEND": "billing.task_backends.CeleryBackend",
            "OPTIONS": {"CELERY_APP": "billing.celery.app"},
        }
    }
    from billing.celery import app

    app.conf.broker_url = redis_url
    app.conf.task_default_queue = queue
    app.conf.task_serializer = "json"
    app.conf.task_ignore_result = True
    database = connection.settings_dict["NAME"]
    env = {name: value for name, value in os.environ.items() if name not in TEST_ONLY}
    env.update(PRODUCTION)
    env.update(
        DATABASE_URL=PRODUCTION["DATABASE_URL"].rsplit("/", 1)[0] + f"/{database}",
        TASK_BACKEND="celery",
        CELERY_BROKER_URL=redis_url,
        CELERY_QUEUE=queue,
        STRIPE_API_BASE=stripe_emulator.url,
        STRIPE_API_KEY="sk_test_emulator",
        STRIPE_WEBHOOK_SECRET=settings.STRIPE_WEBHOOK_SECRET,
        STRIPE_TIMEOUT_SECONDS="5",
        DEVTOOLS="0",
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "billing",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield worker
    worker.terminate()
    worker.communicate(timeout=30)


def wait_for(condition, *, seconds: float, worker) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        assert worker.poll() is None, "the Celery worker stopped"
        time.sleep(0.5)
    raise AssertionError(f"not done within {seconds} s")


def test_a_celery_worker_processes_a_webhook(client, celery_worker, stripe_emulator):
    scenario.customer(name="Initech", handle="initech")
    [created] = [d for d in stripe_emulator.drain_webhooks() if d["type"] == "customer.created"]

    assert deliver(client, created).status_code == 200

    event = StripeEvent.objects.get(type="customer.created")
    wait_for(
        lambda: StripeEvent.objects.filter(pk=event.pk, processed_at__isnull=False).exists(),
        seconds=60,
        worker=celery_worker,
    )
    assert Customer.objects.filter(handle="initech").exists()
    assert StripeEvent.objects.get(pk=event.pk).error == ""


def test_a_celery_worker_retries_an_action_stripe_did_not_answer(
    celery_worker, account, finance_user, stripe_emulator
):
    stripe_emulator.add_fault("/v1/refunds", "500", method="POST", count=1)

    action = actions.request_refund(
        actor=finance_user,
        payment=account.payment,
        amount=7000,
        reason="duplicate",
        ticket="ZD-48213",
        note="",
    )
    assert action.state == ActionState.EXECUTING

    # The retry task runs 30 s later (the first back-off), in the worker.
    wait_for(
        lambda: Action.objects.get(pk=action.pk).state == ActionState.SUCCEEDED,
        seconds=90,
        worker=celery_worker,
    )
    action.refresh_from_db()
    assert action.attempts == 2
    assert [refund.amount for refund in stripe_emulator_refunds(account)] == [7000]


def stripe_emulator_refunds(account):
    from billing.stripe import gateway

    return gateway.list_refunds(account.payment.stripe_charge_id)

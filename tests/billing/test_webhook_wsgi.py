"""Stripe's webhook through the WSGI application as gunicorn calls it (billing/wsgi.py): a
lean handler answers exactly POST /stripe/webhook/, with the same answers, headers and log
line as the whole middleware stack; every other request goes through the whole stack."""

import json
import logging
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory
from django_tasks_db.models import DBTaskResult

from accounts import chain
from billing.models import StripeEvent
from billing.wsgi import application
from devtools.benchmark import measure

# Different in every answer (the request id, the CSP nonce); all other headers are the same.
PER_ANSWER = {"X-Request-ID", "Content-Security-Policy"}
# Only the whole stack says its answer varies by cookie: its session limits look at the
# session, of which a webhook has none (and the answer depends on none).
WHOLE_STACK_ONLY = {"Vary"}


@contextmanager
def in_the_tests_transaction():
    """What Django's test client does around a request: a request's start and end would
    otherwise close the connection that holds the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def call(app, environ: dict) -> tuple[int, dict[str, str], bytes]:
    """One request through a WSGI app as a WSGI server makes it: status, headers, body."""
    started = []
    with in_the_tests_transaction():
        result = app(environ, lambda status, headers, exc_info=None: started.append(status))
        try:
            body = b"".join(result)
        finally:
            result.close()  # the request's end (request_finished), as the server calls it
    return int(started[0].split()[0]), dict(result.items()), body


def signed_event() -> tuple[str, str]:
    """A customer.updated event as Stripe sends it, and its Stripe-Signature header."""
    return measure.signed_event("cus_wsgi")


def post(body: str, signature: str, *, path: str = "/stripe/webhook/", **headers: str) -> dict:
    """The WSGI environ of a delivery (new each time: its body is read once)."""
    request = RequestFactory().post(
        path,
        data=body,
        content_type="application/json",
        secure=True,
        headers={"Stripe-Signature": signature, **headers},
    )
    return request.environ


def assert_same_headers(lean: dict[str, str], whole: dict[str, str]) -> None:
    assert set(lean) == set(whole) - WHOLE_STACK_ONLY
    assert {k: v for k, v in lean.items() if k not in PER_ANSWER} == {
        k: v for k, v in whole.items() if k not in PER_ANSWER | WHOLE_STACK_ONLY
    }


@pytest.fixture
def whole_stack():
    """Django's own handler: every request through the whole of MIDDLEWARE."""
    return WSGIHandler()


@pytest.mark.django_db
def test_an_event_is_stored_once_and_answered_as_the_whole_stack_answers(whole_stack):
    body, signature = signed_event()

    first = call(application, post(body, signature))
    repeated_lean = call(application, post(body, signature))
    repeated_whole = call(whole_stack, post(body, signature))

    event_id = json.loads(body)["id"]
    assert first[0] == 200
    assert json.loads(first[2]) == {"received": event_id, "duplicate": False}
    assert repeated_lean[0] == repeated_whole[0] == 200
    assert repeated_lean[2] == repeated_whole[2]
    assert json.loads(repeated_lean[2]) == {"received": event_id, "duplicate": True}
    assert_same_headers(repeated_lean[1], repeated_whole[1])
    assert first[1]["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "camera=()" in first[1]["Permissions-Policy"]
    assert first[1]["X-Content-Type-Options"] == "nosniff"
    assert StripeEvent.objects.filter(stripe_event_id=event_id).count() == 1
    assert DBTaskResult.objects.count() == 1
    event = StripeEvent.objects.get()
    receipts = StripeEvent.history.filter(id=event.pk, history_type="+")
    assert receipts.count() == 1
    assert chain.unsealed(StripeEvent.history.model).filter(pk__in=receipts.values("pk")).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "signature",
    [
        pytest.param("t=1,v1=" + "0" * 64, id="forged"),
        pytest.param("", id="unsigned"),
    ],
)
def test_a_delivery_not_signed_by_stripe_is_refused_as_by_the_whole_stack(whole_stack, signature):
    body, _ = signed_event()

    lean = call(application, post(body, signature))
    whole = call(whole_stack, post(body, signature))

    assert lean[0] == whole[0] == 400
    assert lean[2] == whole[2]
    assert_same_headers(lean[1], whole[1])
    assert not StripeEvent.objects.exists()
    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db
def test_a_delivery_to_a_host_not_allowed_is_refused_by_the_lean_handler():
    body, signature = signed_event()

    status, _, _ = call(application, post(body, signature, Host="billing.evil.example"))

    assert status == 400
    assert not StripeEvent.objects.exists()


@pytest.mark.django_db
def test_the_lean_handler_logs_the_request_with_its_id(caplog):
    body, signature = signed_event()

    with caplog.at_level(logging.INFO, logger="billing.requests"):
        _, headers, _ = call(application, post(body, signature, **{"X-Request-ID": "lb-wh-1"}))

    assert headers["X-Request-ID"] == "lb-wh-1"
    [line] = [r for r in caplog.records if r.name == "billing.requests"]
    assert line.fields["path"] == "/stripe/webhook/"
    assert line.fields["status"] == 200
    assert line.fields["method"] == "POST"


@pytest.mark.parametrize(
    ("method", "path", "lean"),
    [
        ("POST", "/stripe/webhook/", True),
        ("GET", "/stripe/webhook/", False),
        ("PUT", "/stripe/webhook/", False),
        ("post", "/stripe/webhook/", False),
        ("POST", "/stripe/webhook", False),
        ("POST", "/stripe/webhook/x", False),
        ("POST", "//stripe/webhook/", False),
        ("POST", "/stripe/webhook/.", False),
        ("POST", "/login/", False),
        ("POST", "/api/v1/refunds", False),
    ],
)
def test_only_a_post_to_the_webhook_path_takes_the_lean_handler(method, path, lean):
    handler = application.handler_for({"REQUEST_METHOD": method, "PATH_INFO": path})

    assert (handler is application.lean) is lean
    assert (handler is application.full) is not lean


@pytest.mark.django_db
def test_any_other_request_goes_through_the_whole_stack():
    login = RequestFactory().post("/login/", {"username": "x", "password": "y"}, secure=True)

    status, _, _ = call(application, login.environ)

    assert status == 403  # the CSRF check, which the lean handler does not run


def test_the_webhook_middleware_is_a_part_of_the_stack_in_its_order():
    order = [settings.MIDDLEWARE.index(name) for name in settings.WEBHOOK_MIDDLEWARE]

    assert order == sorted(order)
    assert settings.WEBHOOK_MIDDLEWARE[0] == "billing.observability.RequestLogMiddleware"
    assert "django.middleware.common.CommonMiddleware" in settings.WEBHOOK_MIDDLEWARE
    assert "django.middleware.security.SecurityMiddleware" in settings.WEBHOOK_MIDDLEWARE

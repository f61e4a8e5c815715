"""Errors are application/problem+json with SPEC §7's codes, whatever the input: never an
HTML page, never a traceback."""

import json

import pytest
from django.http import HttpResponseServerError
from django.test import RequestFactory

from billing.api import problems
from billing.models import Action
from tests.api.conftest import BASE, PROBLEM, Api, field_errors, problem, token_for
from tests.factories import make_customer, make_payment

pytestmark = pytest.mark.django_db

REFUND = {"reason": "duplicate", "ticket": "ZD-48213", "note": ""}


@pytest.fixture
def token(support_user):
    return token_for(support_user)


def send(client, method, path, token, body=b"", content_type="application/json", **headers):
    return client.generic(
        method,
        BASE + path,
        body,
        content_type=content_type,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k", **headers},
    )


def test_401_without_a_token(client):
    response = client.get(f"{BASE}/customers")

    body = problem(response)
    assert response.status_code == 401
    assert body["type"] == "urn:billing-admin:problem:unauthenticated"
    assert body["title"] == "Not authenticated"
    assert body["instance"] == f"{BASE}/customers"


def test_403_for_a_role(client, auditor_user):
    response = Api(client).post(token_for(auditor_user), "/refunds", {})

    assert response.status_code == 403
    assert "billing.request_action" in problem(response)["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/customers/999999",
        "/customers/999999/payments",
        "/actions/999999",
        "/approvals/999999",
        "/tickets/999999",
        "/customers/9223372036854775807",
    ],
)
def test_404_for_an_object_that_is_not_there(client, token, path):
    response = Api(client).get(token, path)

    assert response.status_code == 404
    assert problem(response)["type"].endswith(":not-found")


@pytest.mark.parametrize(
    "path",
    ["/nothing", "/customers/", "/customers/1/payments/", "/", "/v2/customers", "/api/v1/x"],
)
def test_404_for_an_address_that_is_not_there(client, token, path):
    response = Api(client).get(token, path)

    assert response.status_code == 404
    assert problem(response)["type"].endswith(":not-found")


def test_405_for_a_method_the_address_does_not_take(client, token):
    response = send(client, "DELETE", "/customers", token)

    assert response.status_code == 405
    assert problem(response)["type"].endswith(":method-not-allowed")
    assert response["Allow"] == "GET"


def test_409_for_a_state_conflict(client, token):
    payment = make_payment(make_customer(), amount=5000, amount_refunded=5000)

    response = Api(client).post(
        token, "/refunds", {"payment_id": payment.pk, "amount": 100, **REFUND}
    )

    assert response.status_code == 409
    assert problem(response)["type"].endswith(":conflict")


def test_422_lists_every_field_error(client, token):
    response = Api(client).post(token, "/refunds", {"amount": -1, "extra": 1})

    assert set(field_errors(response)) == {"payment_id", "amount", "reason", "ticket", "extra"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"amount": NaN}', 400),
        (b"\xff\xfe", 400),
        (b"[1, 2]", 422),
        (b'"text"', 422),
        (b"null", 422),
        (b"[" * 5000 + b"]" * 5000, 400),
        (json.dumps({"payment_id": 1, "amount": 1, "reason": "a\x00", "ticket": "ZD-1"}), 422),
        (b'{"payment_id": 1, "amount": 1, "reason": "\\ud800", "ticket": "ZD-1"}', 422),
        (json.dumps({"payment_id": 10**30, "amount": 10**30, **REFUND}), 422),
    ],
)
def test_a_body_that_cannot_be_read_gets_a_problem(client, token, body, status):
    response = send(client, "POST", "/refunds", token, body)

    assert response.status_code == status, response.content
    problem(response)
    assert not Action.objects.exists()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_415_for_a_body_that_is_not_json(client, token, content_type):
    response = send(client, "POST", "/refunds", token, b"payment_id=1", content_type=content_type)

    assert response.status_code == 415
    assert problem(response)["type"].endswith(":unsupported-media-type")


def test_413_for_a_body_too_large(client, token, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = send(client, "POST", "/refunds", token, json.dumps({"note": "x" * 2000}))

    assert response.status_code == 413
    problem(response)


@pytest.mark.parametrize(
    "query",
    [
        {"q": "a\x00b"},
        {"cursor": "garbage"},
        {"cursor": "WzEsMl0"},
        {"cursor": "W1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW10"},
        {"limit": "0"},
        {"limit": "1000"},
        {"limit": "x"},
    ],
)
def test_a_bad_query_is_422(client, token, query):
    response = Api(client).get(token, "/customers", **query)

    assert response.status_code == 422, response.content
    problem(response)


def test_a_refused_host_is_a_problem_too(client, token):
    response = client.get(
        f"{BASE}/customers", headers={"Authorization": f"Bearer {token}"}, HTTP_HOST="evil.example"
    )

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert "<html" not in response.content.decode().lower()


def test_an_unknown_path_outside_the_api_is_still_a_page(client):
    response = client.get("/nothing-here/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_crash_is_a_500_problem_without_its_traceback(caplog):
    request = RequestFactory().post(f"{BASE}/refunds")

    response = problems.response_for(request, RuntimeError("secret internals"))

    assert response.status_code == 500
    body = problem(response)
    assert body["type"].endswith(":server-error")
    assert "secret internals" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert "secret internals" in caplog.text  # logged, for us


def test_the_net_turns_any_other_error_page_under_the_api_into_a_problem():
    page = HttpResponseServerError("<html><body>Server Error (500)</body></html>")
    middleware = problems.ApiProblemMiddleware(lambda request: page)

    under_api = middleware(RequestFactory().get(f"{BASE}/customers"))
    elsewhere = middleware(RequestFactory().get("/customers/"))

    assert under_api.status_code == 500
    assert under_api["Content-Type"] == PROBLEM
    assert elsewhere is page

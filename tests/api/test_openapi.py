"""The OpenAPI document describes every endpoint, its schemas, its error responses and the
bearer scheme; /api/v1/docs renders it in Chromium from our own assets, within the CSP."""

import re

import pytest
from django.db import connections
from django.urls import get_resolver
from playwright.sync_api import expect, sync_playwright

from accounts.access import access_rule
from tests.api.conftest import BASE, token_for
from tests.browser import CHROMIUM_ARGS, SCREENSHOTS, chromium_executable
from tests.test_conventions import all_patterns


@pytest.fixture
def document(client, db):
    response = client.get(f"{BASE}/openapi.json")
    assert response.status_code == 200
    return response.json()


def api_operations() -> set[str]:
    """Every endpoint the URLconf serves, as OpenAPI writes its path."""
    found = set()
    for route, pattern in all_patterns(get_resolver()):
        if (access_rule(pattern.callback) or "").startswith("api: ") and route != "api/v1/":
            found.add("/" + re.sub(r"<([^>]+)>", r"{\1}", route))
    return found


def test_every_endpoint_is_in_the_document(document):
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == api_operations()
    methods = {
        (path, method) for path, operations in document["paths"].items() for method in operations
    }
    assert len(methods) == 24
    assert ("/api/v1/tickets", "post") in methods
    assert ("/api/v1/approvals/{approval_id}/withdraw", "post") in methods


def test_every_operation_needs_the_bearer_token_and_describes_its_errors(document):
    scheme = document["components"]["securitySchemes"]["BearerToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    problem = {"$ref": "#/components/schemas/ProblemOut"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method} {path}"
            assert operation["security"] == [{"BearerToken": []}], where
            assert operation["operationId"], where
            assert operation["summary"], where
            responses = operation["responses"]
            for status in ("401", "403", "422", "429"):
                assert responses[status]["content"]["application/problem+json"]["schema"] == (
                    problem
                ), where
            assert responses["429"]["headers"]["Retry-After"]["required"] is True
            success = [s for s in responses if s.startswith("2")]
            assert success, where
            for status in success:
                assert "application/json" in responses[status]["content"], where
            if method == "post":
                assert {"400", "404", "409", "415"} <= set(responses), where
                header = next(p for p in operation["parameters"] if p["in"] == "header")
                assert header["name"] == "Idempotency-Key", where
                assert "Idempotent-Replayed" in responses[success[0]]["headers"], where


def test_the_schemas_are_explicit(document):
    schemas = document["components"]["schemas"]
    problem = schemas["ProblemOut"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "instance"}
    assert "errors" in problem["properties"]
    payment = schemas["PaymentOut"]["properties"]
    for money in ("amount", "amount_refunded", "refundable"):
        assert payment[money]["type"] == "integer"
    assert payment["currency"]["type"] == "string"
    assert "stripe_id" in payment
    refund_in = schemas["RefundIn"]
    assert refund_in["additionalProperties"] is False
    assert refund_in["properties"]["amount"]["minimum"] == 1
    change = document["paths"]["/api/v1/subscriptions/{subscription_id}/changes"]["post"]
    body = change["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["discriminator"]["mapping"]) == {
        "price",
        "seats",
        "trial_end",
        "discount",
        "pause_collection",
        "resume_collection",
        "cancel",
        "reactivate",
    }


def test_the_document_and_the_docs_need_no_token(client, db):
    assert client.get(f"{BASE}/openapi.json").status_code == 200
    docs = client.get(f"{BASE}/docs")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "//cdn" not in page
    assert "https://" not in page
    assert "/static/ninja/swagger-ui-bundle" in page


@pytest.mark.usefixtures("committed_db")
def test_the_docs_render_in_chromium_from_our_assets_within_the_csp(live_server, support_user):
    token = token_for(support_user)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable(), args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            problems: list[str] = []
            requested: list[str] = []
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("request", lambda r: requested.append(r.url))

            page.goto(f"{live_server.url}{BASE}/docs")
            expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
            expect(page.get_by_text("Billing admin API")).to_be_visible()
            operations = page.locator(".opblock").count()
            # Try one endpoint from the page, with a token, as a developer would.
            page.locator(".auth-wrapper").get_by_role("button", name="Authorize").click()
            dialog = page.locator(".dialog-ux")
            dialog.get_by_label("auth-bearer-value").fill(token)
            dialog.get_by_role("button", name="Apply credentials").click()
            dialog.locator(".btn-done").click()
            page.locator("#operations-customers-search_customers").click()
            page.get_by_role("button", name="Try it out").click()
            page.get_by_role("button", name="Execute").click()
            expect(
                page.locator(".live-responses-table tr.response .response-col_status")
            ).to_have_text("200", timeout=15_000)
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=SCREENSHOTS / "api-docs.png", full_page=False)
        finally:
            connections.close_all()
            browser.close()

    assert operations == 24
    assert problems == []  # no CSP violation, no script error
    foreign = [url for url in requested if not url.startswith((live_server.url, "data:"))]
    assert foreign == []

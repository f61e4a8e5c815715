"""Project-wide rules, checked over every URL and module."""

import ast
import re
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.access import access_rule

ROOT = Path(__file__).resolve().parent.parent
APP_PACKAGES = ("accounts", "billing", "support")


def all_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from all_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


PUBLIC = {
    "login/",
    "healthz",
    "readyz",
    "stripe/webhook/",
    "api/v1/openapi.json",
    "api/v1/docs",
    # Single sign-on's round trip and the second factor asked during it (allauth).
    "accounts/oidc/^(?P<provider_id>[^/]+)/login/",
    "accounts/oidc/^(?P<provider_id>[^/]+)/login/callback/",
    "accounts/2fa/authenticate/",
    "accounts/social/login/cancelled/",
    "accounts/social/login/error/",
    "accounts/social/signup/",
}


def test_every_view_states_who_may_open_it():
    missing = [route for route, pattern in all_patterns() if access_rule(pattern.callback) is None]

    assert missing == [], f"Views without @staff_view(...) or @login_not_required: {missing}"


def test_only_the_intended_views_are_public():
    public = {
        route for route, pattern in all_patterns() if access_rule(pattern.callback) == "public"
    }

    assert public == PUBLIC


def sample_path(route: str) -> str:
    """The route with every parameter filled: ints with 1, slugs with a real one."""
    return "/" + re.sub(r"<[^>]+>", "1", re.sub(r"<slug:\w+>", "refund", route))


def api_route(pattern) -> bool:
    return (access_rule(pattern.callback) or "").startswith("api: ")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "route",
    [route for route, pattern in all_patterns() if route not in PUBLIC and not api_route(pattern)],
)
def test_anonymous_users_are_sent_to_login(client, route):
    response = client.get(sample_path(route))

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "route", sorted({route for route, pattern in all_patterns() if api_route(pattern)})
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_the_api_answers_anonymous_requests_401_in_json(client, route, method):
    response = getattr(client, method)(sample_path(route))

    assert response.status_code in (401, 404, 405), response.content
    assert response["Content-Type"] == "application/problem+json"
    if response.status_code != 401:  # the API's root, or a method the route does not take
        assert route == "api/v1/" or response.status_code == 405


@pytest.mark.django_db
def test_an_htmx_request_of_an_expired_session_redirects_the_whole_page(client):
    response = client.get(
        "/customers/?q=acme",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/customers/?q=ac"},
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login/?next=%2Fcustomers%2F%3Fq%3Dac"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def app_modules():
    for package in APP_PACKAGES:
        yield from (ROOT / package).rglob("*.py")


def test_only_the_gateway_imports_stripe():
    importers = [
        str(path.relative_to(ROOT))
        for path in app_modules()
        if "stripe" in imports_of(path)
        and path.relative_to(ROOT) != Path("billing/stripe/gateway.py")
    ]

    assert importers == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("accounts", {"billing", "support"}), ("billing", {"support"})],
)
def test_imports_run_one_way(package, forbidden):
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and imports_of(path) & forbidden
    ]

    assert offenders == []


def test_row_locks_with_joins_lock_only_their_own_rows():
    """SELECT … FOR UPDATE with select_related locks every joined row too (the actor, the
    customer), out of the order the pipeline takes locks in: a deadlock under load. Such
    queries say `of=("self",)`."""
    chained = re.compile(r"select_for_update\((?P<args>[^)]*)\)\s*\.select_related\(", re.S)
    offenders = [
        f"{path.relative_to(ROOT)}: select_for_update({match['args']})"
        for path in app_modules()
        for match in chained.finditer(path.read_text())
        if "of=" not in match["args"]
    ]

    assert offenders == []

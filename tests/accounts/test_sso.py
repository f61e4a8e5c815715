"""Single sign-on end to end: the sign-in page, a real OpenID Connect provider on loopback
(npm `oidc-provider`, tests/oidc/provider.mjs), its sign-in and consent pages in Chromium,
and back, signed in as the staff member with that verified email."""

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from allauth.socialaccount.models import SocialAccount
from playwright.sync_api import expect

from accounts.models import User
from accounts.roles import Role
from tests.factories import make_staff

pytestmark = pytest.mark.usefixtures("committed_db")

HERE = Path(__file__).resolve().parent.parent / "oidc"
CLIENT_ID, CLIENT_SECRET = "billing-admin", "test-only-client-secret"
ACCOUNTS = {
    "olivia.idp": {"email": "Olivia@Example.com", "email_verified": True, "name": "Olivia"},
    "stranger": {"email": "stranger@example.com", "email_verified": True},
    "unverified": {"email": "olivia@example.com", "email_verified": False},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def oidc_provider(live_server):
    """oidc-provider on a free loopback port, installed from tests/oidc/package-lock.json."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("Node.js is needed for the SSO test: apt-get install nodejs npm")
    if not (HERE / "node_modules" / "oidc-provider").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300)
    port = free_port()
    redirect = f"{live_server.url}/accounts/oidc/company/login/callback/"
    server = subprocess.Popen(
        [node, "provider.mjs", str(port), CLIENT_ID, CLIENT_SECRET, redirect, json.dumps(ACCOUNTS)],
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail(f"oidc-provider did not start: {server.stdout.read()}")
            time.sleep(0.2)
    yield issuer
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def sso(oidc_provider, settings, page):
    """The app configured for the provider, as OIDC_ISSUER/OIDC_CLIENT_ID/SECRET would; the
    browser reaches nothing but this machine."""
    settings.OIDC_ISSUER = oidc_provider
    settings.OIDC_NAME = "Company SSO"
    settings.SECURE_CSP = {**settings.SECURE_CSP, "form-action": ["'self'", oidc_provider]}
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [
                {
                    "provider_id": "company",
                    "name": "Company SSO",
                    "client_id": CLIENT_ID,
                    "secret": CLIENT_SECRET,
                    "settings": {
                        "server_url": oidc_provider,
                        "token_auth_method": "client_secret_basic",
                    },
                }
            ],
        }
    }
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost")
            else route.abort()
        ),
    )
    return oidc_provider


def sign_in_at_the_provider(page, live_server, login: str) -> None:
    page.goto(f"{live_server.url}/")
    page.click("#sso")
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")
    consent = page.locator("button[autofocus]")
    if consent.count():
        consent.click()


def test_a_staff_member_signs_in_through_the_company_provider(live_server, page, sso):
    olivia = make_staff(Role.FINANCE, username="olivia")
    staff_before = User.objects.count()

    sign_in_at_the_provider(page, live_server, "olivia.idp")

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("body")).to_contain_text("Hello, Olivia")
    link = SocialAccount.objects.get(uid="olivia.idp")
    assert link.user == olivia
    assert link.provider == "company"
    assert User.objects.count() == staff_before  # nobody made on the fly


@pytest.mark.parametrize(
    ("login", "why"),
    [
        ("stranger", "No staff account here has your email address"),
        ("unverified", "The identity provider did not vouch for your email address"),
    ],
)
def test_nobody_without_a_matching_verified_staff_email_gets_in(live_server, page, sso, login, why):
    make_staff(Role.FINANCE, username="olivia")
    staff_before = User.objects.count()

    sign_in_at_the_provider(page, live_server, login)

    expect(page.locator("body")).to_contain_text(f"Single sign-on refused: {why}")
    assert page.url.startswith(f"{live_server.url}/login/")
    assert User.objects.count() == staff_before
    assert not SocialAccount.objects.exists()


def test_password_sign_in_can_be_switched_off(client, settings, sso):
    make_staff(Role.ADMIN, username="breakglass")
    settings.PASSWORD_SIGN_IN = False

    page_html = client.get("/login/").text
    refused = client.post("/login/", {"username": "breakglass", "password": "x"})

    assert "Sign in with Company SSO" in page_html
    assert 'name="password"' not in page_html
    assert "Password sign-in is turned off" in refused.text
    assert "_auth_user_id" not in client.session

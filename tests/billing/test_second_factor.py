"""Second factors for people who move money, and a recent sign-in to decide or edit policy."""

import re
import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal import auth as totp

from accounts import signin
from billing.models import Action, ActionState
from tests.factories import PASSWORD
from tests.screens.test_action_panels import confirm, review
from tests.screens.test_approvals_inbox import ask


@pytest.fixture(autouse=True)
def mfa_for_finance_and_admin(settings):
    settings.MFA_REQUIRED_ROLES = ["finance", "admin"]


def sign_in(client, username):
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content


def current_code(secret: str) -> str:
    counter = int(time.time()) // 30
    return totp.format_hotp_value(totp.hotp_value(secret, counter))


def enroll_totp(client) -> str:
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200, page
    secret = client.session[totp.SECRET_SESSION_KEY]
    done = client.post("/accounts/2fa/totp/activate/", {"code": current_code(secret)})
    assert done.status_code == 302, done.content
    return secret


def refund(client, account):
    customer, payment = account.customer, account.payment
    data = {"amount": "20.00", "reason": "duplicate", "ticket": "ZD-501"}
    reviewed = review(client, customer, "refund", data, payment=payment.pk)
    if reviewed.status_code != 200 or "HX-Redirect" in reviewed.headers:
        return reviewed
    return confirm(client, customer, "refund", reviewed, payment=payment.pk)


def test_a_finance_user_without_a_second_factor_is_refused_a_money_action_until_enrolled(
    client, account, finance_user, clock
):
    sign_in(client, "fran")

    refused = refund(client, account)

    assert refused.headers["HX-Redirect"].startswith("/accounts/2fa/?next=")
    assert not Action.objects.exists()
    assert "set up a second factor" in client.get("/accounts/2fa/").text

    secret = enroll_totp(client)
    assert Authenticator.objects.filter(user=finance_user, type="totp").exists()
    asked = refund(client, account)
    assert asked.headers["HX-Redirect"].startswith("/accounts/2fa/reauthenticate/?next=")
    assert not Action.objects.exists()

    clock.shift(31)  # a code is good once: the next one
    proved = client.post("/accounts/2fa/reauthenticate/", {"code": current_code(secret)})
    assert proved.status_code == 302
    done = refund(client, account)

    assert done.status_code == 200
    assert Action.objects.get().state == ActionState.SUCCEEDED


def test_support_needs_no_second_factor_unless_everyone_must(
    client, account, support_user, settings
):
    sign_in(client, "sam")
    assert refund(client, account).status_code == 200
    assert Action.objects.count() == 1

    settings.MFA_REQUIRED_FOR_EVERYONE = True
    refused = refund(client, account)

    assert refused.headers["HX-Redirect"].startswith("/accounts/2fa/")
    assert Action.objects.count() == 1


def test_a_decision_after_fifteen_minutes_asks_for_the_password_then_goes_on(
    client, account, support_user, admin_user, settings
):
    settings.MFA_REQUIRED_ROLES = []
    waiting = ask(support_user, account.payment, 15_000).approval
    sign_in(client, admin_user.username)
    session = client.session
    for record in session["account_authentication_methods"]:
        record["at"] -= 16 * 60
    session[signin.AUTHENTICATED_AT] -= 16 * 60
    session.save()

    asked = client.post(f"/approvals/{waiting.pk}/approve/", {"note": "ok"})
    assert asked.status_code == 302
    assert asked["Location"].startswith("/accounts/reauthenticate/?next=")
    waiting.refresh_from_db()
    assert waiting.decided_at is None
    form = client.get(asked["Location"])
    assert 'name="password"' in form.text
    resumed = client.post(asked["Location"], {"password": PASSWORD})

    assert resumed.status_code in (200, 302)
    assert Action.objects.get().state == ActionState.SUCCEEDED


def test_the_staff_page_links_the_second_factor_pages(client, admin_user):
    sign_in(client, admin_user.username)

    page = client.get("/").text

    assert re.search(r'href="/accounts/2fa/"', page)


@pytest.mark.parametrize(
    "path",
    ["/accounts/2fa/", "/accounts/2fa/webauthn/add/", "/accounts/2fa/totp/activate/"],
)
def test_the_second_factor_pages_open_in_the_app_under_its_policy(client, admin_user, path):
    sign_in(client, admin_user.username)

    response = client.get(path)

    assert response.status_code == 200
    assert "Content-Security-Policy" in response
    html = response.text
    assert '<nav aria-label="Sections">' in html  # our layout
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)
    assert inline == []  # no inline script the CSP would block

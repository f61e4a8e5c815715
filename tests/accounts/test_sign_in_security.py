"""Sign-in limits (per account and per address), session limits and the security headers."""

import datetime as dt
import time

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from accounts import signin
from accounts.audit import audited
from accounts.models import User
from accounts.roles import Role
from tests.factories import PASSWORD, make_staff

pytestmark = pytest.mark.django_db


def sign_in(client: Client, username: str, password: str = PASSWORD, ip: str = "203.0.113.7"):
    return client.post(
        "/login/", {"username": username, "password": password}, REMOTE_ADDR=ip, follow=True
    )


def test_twenty_wrong_passwords_lock_the_account_even_for_the_right_one(client, support_user):
    for _ in range(19):
        response = sign_in(client, "sam", "wrong")
        assert b"Please enter a correct username and password" in response.content

    twentieth = sign_in(client, "sam", "wrong")
    right = sign_in(client, "sam")

    assert b"This account is locked after 20 wrong passwords in a row" in twentieth.content
    assert b"This account is locked after 20 wrong passwords in a row" in right.content
    assert "_auth_user_id" not in client.session
    support_user.refresh_from_db()
    lock = support_user.history.first()
    assert lock.locked_until == support_user.locked_until
    assert "locked for 30 minutes after 20 wrong passwords" in lock.history_change_reason
    assert lock.history_user is None  # the system locked it, nobody signed in


def test_the_lock_ends_after_its_time(client, support_user, settings):
    settings.LOGIN_LOCKOUT_FAILURES = 2
    sign_in(client, "sam", "wrong")
    sign_in(client, "sam", "wrong")
    assert b"This account is locked" in sign_in(client, "sam").content

    user = User.objects.get(username="sam")
    with audited(actor=None, reason="test: the lock's time passed"):
        user.locked_until = user.locked_until - dt.timedelta(minutes=31)
        user.save()
    response = sign_in(client, "sam")

    assert response.redirect_chain == [("/", 302)]


def test_a_right_password_resets_the_count_of_wrong_ones(client, support_user, settings):
    settings.LOGIN_LOCKOUT_FAILURES = 3
    sign_in(client, "sam", "wrong")
    sign_in(client, "sam", "wrong")
    sign_in(client, "sam")
    client.post("/logout/")

    sign_in(client, "sam", "wrong")
    sign_in(client, "sam", "wrong")
    response = sign_in(client, "sam")

    assert response.redirect_chain == [("/", 302)]
    assert User.objects.get(username="sam").locked_until is None


def test_one_address_trying_many_names_is_stopped_for_everyone_from_there(client, settings):
    settings.LOGIN_IP_FAILURES = 5
    make_staff(Role.FINANCE, username="fran")
    for number in range(5):
        sign_in(client, f"guess{number}", "wrong", ip="198.51.100.9")

    from_there = sign_in(client, "fran", ip="198.51.100.9")
    elsewhere = sign_in(Client(), "fran", ip="192.0.2.44")

    assert b"Too many failed sign-ins from your network" in from_there.content
    assert elsewhere.redirect_chain == [("/", 302)]


def test_the_address_behind_trusted_proxies_is_the_one_counted(rf, settings):
    settings.TRUSTED_PROXIES = 1
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.9")

    assert signin.client_ip(request) == "198.51.100.9"


def _age_session(client: Client, **seconds_ago: float) -> None:
    session = client.session
    now = time.time()
    for key, ago in seconds_ago.items():
        session[getattr(signin, key)] = now - ago
    session.save()


def test_a_session_ends_after_thirty_idle_minutes_on_the_server(client, support_user):
    sign_in(client, "sam")
    assert client.get("/").status_code == 200
    key = client.session.session_key

    _age_session(client, LAST_SEEN=31 * 60)
    response = client.get("/", follow=True)

    assert response.redirect_chain[-1][0] == "/login/?next=/"
    assert b"signed out after 30 minutes without activity" in response.content
    assert not Session.objects.filter(session_key=key).exists()


def test_an_active_session_still_ends_twelve_hours_after_signing_in(client, support_user):
    sign_in(client, "sam")
    client.get("/")

    _age_session(client, SIGNED_IN_AT=12 * 3600 + 60, LAST_SEEN=60)
    response = client.get("/", follow=True)

    assert response.redirect_chain[-1][0] == "/login/?next=/"
    assert b"a session lasts at most 12 hours" in response.content


def test_signing_out_ends_the_session_on_the_server(support_user):
    browser = Client()
    sign_in(browser, "sam")
    cookie = browser.cookies["sessionid"].value

    browser.post("/logout/")
    replayed = Client()
    replayed.cookies["sessionid"] = cookie

    assert not Session.objects.filter(session_key=cookie).exists()
    assert replayed.get("/").status_code == 302


def test_pages_carry_the_security_headers(client, support_user):
    login_page = client.get("/login/", secure=True)
    response = sign_in(client, "sam")
    page = client.get("/", secure=True)

    for answer in (login_page, page):
        assert answer["Referrer-Policy"] == "same-origin"
        assert answer["X-Content-Type-Options"] == "nosniff"
        assert answer["X-Frame-Options"] == "DENY"
        assert "camera=()" in answer["Permissions-Policy"]
        assert "script-src 'self' 'nonce-" in answer["Content-Security-Policy"]
        assert answer["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains; preload"
        )
    session_cookie = response.client.cookies["sessionid"]
    assert session_cookie["secure"] is True
    assert session_cookie["httponly"] is True
    assert session_cookie["samesite"] == "Lax"
    csrf_cookie = login_page.cookies["csrftoken"]
    assert csrf_cookie["secure"] is True
    assert csrf_cookie["samesite"] == "Lax"

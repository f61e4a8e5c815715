import re

import pytest
from django.test import Client

from accounts.roles import Role
from tests.factories import PASSWORD, make_staff

pytestmark = pytest.mark.django_db


def test_login_page_renders_for_anonymous_users(client):
    response = client.get("/login/")

    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b"csrfmiddlewaretoken" in response.content


def test_signing_in_lands_on_the_start_page(client, support_user):
    response = client.post("/login/", {"username": "sam", "password": PASSWORD}, follow=True)

    assert response.redirect_chain == [("/", 302)]
    assert b"Hello, Sam" in response.content


def test_a_wrong_password_says_so_and_signs_nobody_in(client, support_user):
    response = client.post("/login/", {"username": "sam", "password": "nope"})

    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_signing_out_takes_a_post(client, support_user):
    client.force_login(support_user)

    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_a_deactivated_user_cannot_sign_in(client):
    from accounts.audit import audited

    user = make_staff(Role.SUPPORT, username="gone")
    with audited(actor=None, reason="left the company"):
        user.is_active = False
        user.save()

    client.post("/login/", {"username": "gone", "password": PASSWORD})

    assert "_auth_user_id" not in client.session


def test_base_layout_loads_htmx_with_the_csp_nonce(client, support_user):
    client.force_login(support_user)

    response = client.get("/")

    policy = response["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert "script-src 'self' 'nonce-" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert re.search(
        rf'<script src="/static/django_htmx/htmx-2[^"]*" defer nonce="{nonce}"></script>',
        response.content.decode(),
    )


def test_the_csrf_token_on_body_lets_htmx_post():
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_staff(Role.SUPPORT))
    html = client.get("/").content.decode()
    token = re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'>", html).group(1)

    refused = client.post("/logout/")
    accepted = client.post("/logout/", headers={"X-CSRFToken": token})

    assert refused.status_code == 403
    assert accepted.status_code == 302


def test_each_request_gets_a_new_nonce(client, support_user):
    client.force_login(support_user)

    first = client.get("/")["Content-Security-Policy"]
    second = client.get("/")["Content-Security-Policy"]

    assert first != second


NAV = ["Customers", "Tickets", "Approvals", "Audit log", "Policy", "Staff", "API tokens"]


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        (Role.SUPPORT, ["Customers", "Tickets", "Approvals", "Policy"]),
        (Role.FINANCE, ["Customers", "Tickets", "Approvals", "Audit log", "Policy"]),
        (Role.ADMIN, NAV),
        (Role.AUDITOR, ["Customers", "Tickets", "Approvals", "Audit log", "Policy", "Staff"]),
    ],
)
def test_navigation_shows_what_the_roles_may_open(client, role, visible):
    client.force_login(make_staff(role))

    html = client.get("/").content.decode()

    nav = re.search(r'<nav aria-label="Sections">(.*?)</nav>', html, re.S).group(1)
    shown = re.findall(r">([^<]+)</a>", nav)
    assert shown == visible


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        (Role.SUPPORT, "/audit/", 403),
        (Role.SUPPORT, "/staff/", 403),
        (Role.FINANCE, "/staff/", 403),
        (Role.AUDITOR, "/staff/", 200),
        (Role.AUDITOR, "/audit/", 200),
        (Role.ADMIN, "/staff/", 200),
    ],
)
def test_hidden_sections_are_refused_on_the_server(client, role, path, status):
    client.force_login(make_staff(role))

    assert client.get(path).status_code == status


def test_a_user_without_a_role_sees_a_clear_refusal(client):
    client.force_login(make_staff())

    response = client.get("/")

    assert response.status_code == 403
    assert b"ask an admin" in response.content

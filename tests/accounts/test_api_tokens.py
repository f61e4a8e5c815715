"""API tokens: made by the command or the admin screen, shown once, stored hashed, revoked,
expiring, and acting as their staff member."""

import datetime as dt
import hashlib
import re
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import ApiToken
from accounts.roles import Role
from tests.api.conftest import Api, problem, token_for
from tests.factories import PASSWORD, make_staff

pytestmark = pytest.mark.django_db


def create_token(*args: str) -> list[str]:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_the_command_prints_the_token_as_its_last_line_and_stores_only_its_hash(support_user):
    lines = create_token("sam")

    token = lines[-1]
    assert token.startswith("bat_")
    assert len(token) == 44
    row = ApiToken.objects.get()
    assert row.user == support_user
    assert row.digest == hashlib.sha256(token.encode()).hexdigest()
    assert row.prefix == token[:12]
    assert token not in {str(value) for value in vars(row).values()}
    assert not row.read_only
    assert row.expires_at is None
    assert "shown only now" in lines[0]


def test_the_command_makes_read_only_and_expiring_tokens(support_user):
    create_token("sam", "--read-only", "--expires", "30")

    row = ApiToken.objects.get()
    assert row.read_only
    assert row.expires_at - row.created_at == dt.timedelta(days=30)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody"], "No staff member is called 'nobody'"),
        (["sam", "--expires", "0"], "1 to 3650 days"),
    ],
)
def test_the_command_refuses_in_one_line(support_user, args, message):
    with pytest.raises(CommandError, match=message):
        create_token(*args)

    assert not ApiToken.objects.exists()


def test_a_deactivated_staff_member_gets_no_token(support_user):
    support_user.is_active = False
    support_user.save_without_historical_record()

    with pytest.raises(CommandError, match="deactivated"):
        create_token("sam")


def test_issuing_a_token_is_in_its_history(support_user):
    create_token("sam")

    created = ApiToken.objects.get().history.get()
    assert created.history_type == "+"
    assert "create_api_token" in created.history_change_reason


def test_a_token_acts_as_its_staff_member(client, support_user):
    token = token_for(support_user)

    response = Api(client).get(token, "/approvals", state="mine")

    assert response.status_code == 200
    row = ApiToken.objects.get()
    assert row.last_used_at is not None
    assert row.history.count() == 1  # using a token is bookkeeping, not a change


def test_a_read_only_token_reads_but_gets_403_on_every_write(client, support_user, settings):
    settings.API_RATE_PER_SECOND = 1000
    api = Api(client)
    token = token_for(support_user, read_only=True)
    document = client.get("/api/v1/openapi.json").json()
    writes = [
        re.sub(r"{[^}]+}", "1", path).removeprefix("/api/v1")
        for path, operations in document["paths"].items()
        if "post" in operations
    ]

    assert api.get(token, "/customers").status_code == 200
    assert len(writes) == 11
    for path in writes:
        response = api.post(token, path, {"dry_run": True})
        assert response.status_code == 403, path
        assert problem(response)["type"].endswith("read-only-token")


def test_a_revoked_token_gets_401(client, support_user, admin_user):
    api = Api(client)
    token = token_for(support_user)
    from accounts.tokens import revoke_token

    revoke_token(
        actor=admin_user, token=ApiToken.objects.get(), reason="leaked", now=timezone.now()
    )
    response = api.get(token, "/customers")

    assert response.status_code == 401
    assert "revoked" in problem(response)["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_token_gets_401(client, support_user):
    api = Api(client)
    token = token_for(support_user, expires_in_days=1)

    with time_machine.travel(timezone.now() + dt.timedelta(days=1, seconds=1)):
        response = api.get(token, "/customers")

    assert response.status_code == 401
    assert "expired" in problem(response)["detail"]


def test_a_token_of_a_deactivated_staff_member_gets_401(client, support_user):
    api = Api(client)
    token = token_for(support_user)
    support_user.is_active = False
    support_user.save_without_historical_record()

    response = api.get(token, "/customers")

    assert response.status_code == 401
    assert "deactivated" in problem(response)["detail"]


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer bat_unknown", "Bearer not-ours"],
)
def test_no_token_or_a_wrong_one_gets_401(client, support_user, header):
    token_for(support_user)
    headers = {"Authorization": header} if header else {}

    response = client.get("/api/v1/customers", headers=headers)

    assert response.status_code == 401
    problem(response)


# The admin screen ------------------------------------------------------------------------------


def signed_in(client, user):
    client.login(username=user.username, password=PASSWORD)
    return client


def test_the_admin_screen_creates_a_token_and_shows_it_once(client, admin_user, support_user):
    signed_in(client, admin_user)

    created = client.post(
        "/api-tokens/",
        {"user": support_user.pk, "name": "refund bot", "read_only": "on", "expires_in_days": 7},
    )
    listed = client.get("/api-tokens/")

    row = ApiToken.objects.get()
    value = created.context["issued"]["value"]
    assert row.digest == hashlib.sha256(value.encode()).hexdigest()
    assert value in created.content.decode()
    assert created["Cache-Control"].startswith("max-age=0")
    page = listed.content.decode()
    assert value not in page
    assert row.prefix in page
    assert "refund bot" in page
    assert "read-only" in page
    assert "never" in page
    assert row.created_by == admin_user
    assert row.read_only
    assert Api(client).get(value, "/customers").status_code == 200


def test_the_admin_screen_revokes_a_token_with_a_reason(client, admin_user, support_user):
    token = token_for(support_user)
    signed_in(client, admin_user)
    row = ApiToken.objects.get()

    client.post(f"/api-tokens/{row.pk}/revoke/", {"reason": "the script is retired"})

    row.refresh_from_db()
    assert row.revoked_at is not None
    assert row.revoked_by == admin_user
    assert "the script is retired" in row.history.first().history_change_reason
    assert Api(client).get(token, "/customers").status_code == 401
    assert "revoked" in client.get("/api-tokens/").content.decode()


def test_a_revocation_without_a_reason_changes_nothing(client, admin_user, support_user):
    token_for(support_user)
    signed_in(client, admin_user)
    row = ApiToken.objects.get()

    client.post(f"/api-tokens/{row.pk}/revoke/", {"reason": ""})

    row.refresh_from_db()
    assert row.revoked_at is None


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.FINANCE, Role.AUDITOR])
def test_only_admins_open_the_api_tokens_screen(client, role):
    user = make_staff(role)
    signed_in(client, user)

    assert client.get("/api-tokens/").status_code == 403
    assert client.post("/api-tokens/", {"user": user.pk, "name": "mine"}).status_code == 403
    assert not ApiToken.objects.exists()

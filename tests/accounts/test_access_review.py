"""The periodic access review: auditors read the staff list, admins and auditors export who
holds which role, when they last signed in and whether they use a second factor."""

import csv
import io

import pytest
from allauth.mfa.models import Authenticator
from django.utils import timezone

from accounts.roles import Role
from tests.factories import make_staff

pytestmark = pytest.mark.django_db


def rows_of(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("reviewer", [Role.ADMIN, Role.AUDITOR])
def test_admins_and_auditors_export_staff_roles_sign_ins_and_second_factors(client, reviewer):
    fran = make_staff(Role.FINANCE, Role.SUPPORT, username="fran")
    Authenticator.objects.create(user=fran, type=Authenticator.Type.TOTP, data={"secret": "x"})
    fran.last_login = timezone.now()
    fran.save(update_fields=["last_login"])
    make_staff(Role.SUPPORT, username="sam")
    client.force_login(make_staff(reviewer, username="reviewer"))

    response = client.get("/staff/export.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="staff-access-')
    rows = {row["username"]: row for row in rows_of(response)}
    assert set(rows) >= {"fran", "sam", "reviewer"}
    assert rows["fran"]["roles"] == "finance support"
    assert rows["fran"]["second_factor"] == "yes"
    assert rows["fran"]["second_factor_types"] == "totp"
    assert rows["fran"]["last_sign_in"].startswith(str(timezone.now().year))
    assert rows["sam"]["second_factor"] == "no"
    assert rows["sam"]["last_sign_in"] == "never"
    assert rows["sam"]["password_sign_in"] == "yes"


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.FINANCE, Role.AGENT])
def test_others_may_neither_read_nor_export_the_staff_list(client, role):
    client.force_login(make_staff(role))

    assert client.get("/staff/").status_code == 403
    assert client.get("/staff/export.csv").status_code == 403


def test_the_auditor_reads_the_staff_list_and_changes_nothing(client):
    make_staff(Role.FINANCE, username="fran")
    client.force_login(make_staff(Role.AUDITOR, username="audrey"))

    page = client.get("/staff/")

    assert page.status_code == 200
    assert "fran" in page.text
    assert 'href="/staff/export.csv"' in page.text
    assert client.post("/staff/").status_code == 405

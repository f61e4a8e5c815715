"""The staff backend's rights are ModelBackend's, read in one query with the roles."""

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.audit import audited
from accounts.backends import StaffBackend, role_names
from accounts.models import User
from accounts.roles import Role
from tests.factories import make_staff

pytestmark = pytest.mark.django_db


def fresh(user: User) -> User:
    """The user as a new request loads it: nothing read yet."""
    return User.objects.get(pk=user.pk)


def model_backend_rights(user: User) -> tuple[set[str], set[str], set[str]]:
    user = fresh(user)
    backend = ModelBackend()
    return (
        backend.get_user_permissions(user),
        backend.get_group_permissions(user),
        backend.get_all_permissions(user),
    )


def staff_backend_rights(user: User) -> tuple[set[str], set[str], set[str]]:
    user = fresh(user)
    backend = StaffBackend()
    # The one query first, then the other two sets without one.
    everything = backend.get_all_permissions(user)
    return backend.get_user_permissions(user), backend.get_group_permissions(user), everything


@pytest.mark.parametrize(
    "roles",
    [(), *[(role,) for role in Role], (Role.SUPPORT, Role.FINANCE), (Role.AUDITOR, Role.ADMIN)],
)
def test_the_rights_are_model_backends_for_every_role(roles):
    user = make_staff(*roles)
    assert staff_backend_rights(user) == model_backend_rights(user)
    assert role_names(fresh(user)) == sorted(role.value for role in roles)


def test_a_permission_given_to_the_user_and_a_role_without_permissions_count():
    user = make_staff(Role.AUDITOR)
    with audited(actor=None, reason="Backend test"):
        user.user_permissions.add(Permission.objects.get(codename="approve_action"))
        user.groups.add(Group.objects.create(name="reviewers"))
    own, from_roles, everything = staff_backend_rights(user)
    assert own == {"billing.approve_action"}
    assert "billing.approve_action" not in from_roles
    assert (own, from_roles, everything) == model_backend_rights(user)
    assert role_names(fresh(user)) == ["auditor", "reviewers"]
    assert fresh(user).has_perm("billing.approve_action")


def test_an_inactive_user_holds_nothing_and_a_superuser_everything():
    inactive = make_staff(Role.ADMIN)
    User.objects.filter(pk=inactive.pk).update(is_active=False)
    assert staff_backend_rights(inactive) == (set(), set(), set())
    assert not fresh(inactive).has_perm("billing.view_customer")

    superuser = make_staff()
    User.objects.filter(pk=superuser.pk).update(is_superuser=True)
    assert staff_backend_rights(superuser) == model_backend_rights(superuser)
    assert len(staff_backend_rights(superuser)[2]) == Permission.objects.count()


def test_roles_and_every_check_of_a_request_cost_one_query():
    user = fresh(make_staff(Role.SUPPORT, Role.FINANCE))
    with CaptureQueriesContext(connection) as queries:
        assert user.has_perm("billing.approve_action")
        assert user.has_perm("support.add_note")
        assert not user.has_perm("billing.manage_policy")
        assert user.has_perms(["billing.view_customer", "billing.export_data"])
        assert role_names(user) == ["finance", "support"]
    assert len(queries) == 1


def test_a_role_taken_away_counts_from_the_next_request():
    user = make_staff(Role.FINANCE)
    assert fresh(user).has_perm("billing.approve_action")
    with audited(actor=None, reason="Backend test"):
        user.groups.set([Group.objects.get(name=Role.SUPPORT)])
    assert not fresh(user).has_perm("billing.approve_action")
    assert role_names(fresh(user)) == ["support"]


def test_the_bar_shows_the_roles(client):
    user = make_staff(Role.SUPPORT, Role.AUDITOR)
    client.force_login(user)
    page = client.get("/").content.decode()
    assert 'title="Roles: auditor, support"' in page


def test_anonymous_object_level_and_module_checks_are_model_backends():
    from django.contrib.auth.models import AnonymousUser

    staff, model = StaffBackend(), ModelBackend()
    anonymous = AnonymousUser()
    assert staff.get_all_permissions(anonymous) == model.get_all_permissions(anonymous) == set()
    user = make_staff(Role.FINANCE)
    assert staff.get_all_permissions(fresh(user), obj=user) == set()
    assert not fresh(user).has_perm("billing.approve_action", obj=user)
    for app in ("billing", "support", "accounts", "auth"):
        assert staff.has_module_perms(fresh(user), app) == model.has_module_perms(fresh(user), app)
    # The sets read one by one, before everything: each equal to ModelBackend's.
    first = fresh(user)
    assert staff.get_group_permissions(first) == model.get_group_permissions(fresh(user))
    assert staff.get_user_permissions(first) == model.get_user_permissions(fresh(user))

"""Writes to staff accounts. Each takes the acting user and owns its transaction."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction

from accounts.audit import audited
from accounts.models import User
from accounts.roles import Role


def create_staff_user(
    *,
    actor: User | None,
    username: str,
    email: str,
    first_name: str = "",
    last_name: str = "",
    roles: list[Role],
    password: str | None,
    reason: str,
) -> User:
    """Create a staff member holding `roles`. `password=None` leaves them unable to sign in."""
    with transaction.atomic(durable=True), audited(actor=actor, reason=reason):
        user = User(username=username, email=email, first_name=first_name, last_name=last_name)
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.save()
        user.groups.set(Group.objects.filter(name__in=[role.value for role in roles]))
    return user

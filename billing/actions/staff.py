"""Changes to a staff member that the money path must hear of (SPEC §3): someone deactivated,
or no longer holding a role that may ask for changes, has their pending requests withdrawn,
each with its history; approvals they gave that have not run yet are checked again before
they run (the pipeline asks whether the approver may still approve).

Requests waiting for *their* decision stay where they are: anyone else who may decide them
still sees them in their inbox.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from accounts.audit import audited
from accounts.models import User
from accounts.roles import Role
from billing.actions import policy
from billing.actions.errors import InvalidAction, NotAllowed
from billing.actions.pipeline import withdraw_requests_of

MANAGE_STAFF = "accounts.manage_staff"


def _check_manager(actor: User, user: User, reason: str) -> str:
    if not actor.is_active or not actor.has_perm(MANAGE_STAFF):
        raise NotAllowed("Your roles do not allow this.")
    if not (reason or "").strip():
        raise InvalidAction({"reason": "Say why (it goes in the history)."})
    return reason.strip()


def _after_change(user: User, *, actor: User, why: str, now: dt.datetime) -> int:
    """Inside the staff change's transaction: withdraw what the user may no longer ask for."""
    fresh = User.objects.get(pk=user.pk)  # permissions as they are now, not cached
    if policy.may_request(fresh):
        return 0
    return withdraw_requests_of(fresh, actor=actor, why=why, now=now)


def set_active(
    *, actor: User, user: User, active: bool, reason: str, now: dt.datetime | None = None
) -> int:
    """Deactivate (or reactivate) a staff member; returns how many requests were withdrawn."""
    now = now or timezone.now()
    reason = _check_manager(actor, user, reason)
    if actor.pk == user.pk and not active:
        raise NotAllowed("You cannot deactivate yourself; ask another admin.")
    verb = "Reactivated" if active else "Deactivated"
    with (
        transaction.atomic(durable=True),
        audited(actor=actor, reason=f"{verb} {user.username}: {reason}"),
    ):
        locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        locked.is_active = active
        locked.save()
        return _after_change(
            locked, actor=actor, why=f"{user.username} was deactivated: {reason}", now=now
        )


def set_roles(
    *,
    actor: User,
    user: User,
    roles: Iterable[Role],
    reason: str,
    now: dt.datetime | None = None,
) -> int:
    """Give a staff member exactly these roles; returns how many requests were withdrawn."""
    now = now or timezone.now()
    reason = _check_manager(actor, user, reason)
    wanted = sorted({Role(role).value for role in roles})
    if actor.pk == user.pk and Role.ADMIN.value not in wanted:
        raise NotAllowed("You cannot take your own admin role away; ask another admin.")
    with (
        transaction.atomic(durable=True),
        audited(
            actor=actor, reason=f"Roles of {user.username}: {', '.join(wanted) or 'none'}. {reason}"
        ),
    ):
        locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        locked.groups.set(Group.objects.filter(name__in=wanted))
        return _after_change(
            locked,
            actor=actor,
            why=f"{user.username} no longer holds a role that may ask for this: {reason}",
            now=now,
        )

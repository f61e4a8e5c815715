"""API tokens: issued to a staff member, shown once, stored as a hash, revoked, never deleted.

A token acts as its staff user, with that user's roles and limits (SPEC §7). `authenticate`
turns the bearer value of a request into its token, or says in words why it does not count;
`admit` records the use and applies the per-token request rate, under the token's lock, so the
count holds across every process serving the API.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
from dataclasses import dataclass

from django.db import transaction

from accounts.audit import audited
from accounts.models import ApiToken, User

PREFIX = "bat_"  # "billing admin token": recognisable in a leaked file or a secret scanner
SHOWN = 12  # the characters of a token kept in clear to name it: "bat_" and 8 more
NAME_MAX = 100
MAX_DAYS = 3650


class TokenError(ValueError):
    """A token cannot be issued or revoked as asked; the message says why, for a person."""


class InvalidToken(Exception):
    """The bearer value does not authenticate: unknown, revoked, expired, or its owner was
    deactivated. The message says which, for the person running the script."""


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    # 30 random bytes: 240 bits, 40 URL-safe characters.
    return PREFIX + secrets.token_urlsafe(30)


def issue_token(
    *,
    actor: User | None,
    user: User,
    name: str,
    read_only: bool,
    expires_in_days: int | None,
    now: dt.datetime,
    reason: str = "",
) -> tuple[ApiToken, str]:
    """A new token for `user`; returns the row and the token itself, which is never stored
    and so is shown only now. `actor` is None when an operator runs the management command."""
    name = (name or "").strip()
    if not name:
        raise TokenError("Say what the token is for (its name).")
    if len(name) > NAME_MAX:
        raise TokenError(f"Keep the name under {NAME_MAX} characters.")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_DAYS:
        raise TokenError(f"A token expires after 1 to {MAX_DAYS} days (or never).")
    token = _new_token()
    with (
        transaction.atomic(durable=True),
        audited(
            actor=actor,
            reason=reason or f"API token {token[:SHOWN]}… issued to {user.username}: {name}",
        ),
    ):
        owner = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        if not owner.is_active:
            raise TokenError(f"{owner.username} is deactivated; a token of theirs would not work.")
        row = ApiToken.objects.create(
            user=owner,
            name=name,
            prefix=token[:SHOWN],
            digest=digest_of(token),
            read_only=read_only,
            created_at=now,
            created_by=actor,
            expires_at=now + dt.timedelta(days=expires_in_days) if expires_in_days else None,
        )
    return row, token


def revoke_token(*, actor: User | None, token: ApiToken, reason: str, now: dt.datetime) -> ApiToken:
    reason = (reason or "").strip()
    if not reason:
        raise TokenError("Say why the token is revoked.")
    with (
        transaction.atomic(durable=True),
        audited(actor=actor, reason=f"API token {token.prefix}… revoked: {reason}"),
    ):
        locked = ApiToken.objects.select_for_update(no_key=True).get(pk=token.pk)
        if locked.revoked_at is not None:
            raise TokenError(f"The token {locked.prefix}… was already revoked.")
        locked.revoked_at = now
        locked.revoked_by = actor
        locked.save()
    return locked


def authenticate(value: str, *, now: dt.datetime) -> ApiToken:
    """The token whose bearer value this is, if it may be used now."""
    value = value.strip()
    if not value.startswith(PREFIX) or len(value) > 200:
        raise InvalidToken("This is not an API token of this app (they start with “bat_”).")
    token = ApiToken.objects.select_related("user").filter(digest=digest_of(value)).first()
    if token is None:
        raise InvalidToken("This API token is not recognised.")
    if token.revoked_at is not None:
        raise InvalidToken(f"This API token was revoked on {token.revoked_at:%Y-%m-%d %H:%M} UTC.")
    if token.expires_at is not None and token.expires_at <= now:
        raise InvalidToken(f"This API token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC.")
    if not token.user.is_active:
        raise InvalidToken("The staff member this API token belongs to is deactivated.")
    return token


@dataclass(frozen=True)
class Admission:
    allowed: bool
    retry_after: int = 0  # whole seconds to wait when refused (RFC 9110 Retry-After)


def admit(token: ApiToken, *, rate: float, now: dt.datetime) -> Admission:
    """Count one request of `token` against `rate` requests per second, and record its use.

    The limit is GCRA (a leaky bucket as one timestamp): a burst of up to `rate` requests,
    then one every 1/rate seconds. The timestamp is read and written under the token's row
    lock, so concurrent requests of one token, in any process, are counted one after the other.
    """
    interval = dt.timedelta(seconds=1 / rate)
    tolerance = interval * (max(1, math.floor(rate)) - 1)
    with transaction.atomic(durable=True):
        locked = ApiToken.objects.select_for_update(no_key=True).get(pk=token.pk)
        arrival = max(locked.throttled_until or now, now)
        if arrival - now > tolerance:
            wait = (arrival - now - tolerance).total_seconds()
            return Admission(False, max(1, math.ceil(wait)))
        locked.throttled_until = arrival + interval
        locked.last_used_at = now
        # Bookkeeping fields only: no history row (AuditedHistory skips excluded fields).
        locked.save(update_fields=["throttled_until", "last_used_at"])
    return Admission(True)

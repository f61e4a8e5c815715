"""Sign-in security: the rate limit per client address, the lockout per account, and the
limits of a signed-in session.

- Per account: `LOGIN_LOCKOUT_FAILURES` (20) wrong passwords in a row lock it for
  `LOGIN_LOCKOUT_MINUTES`, even for the right password; the lock is a change of the user,
  so it is in their history (actor: the system).
- Per address: `LOGIN_IP_FAILURES` refused sign-ins from one address within
  `LOGIN_IP_WINDOW_MINUTES` refuse any further try from there until the window moves on, so
  one client cannot walk through many accounts below the per-account limit.
- Sessions end after `SESSION_IDLE_MINUTES` without a request and `SESSION_MAX_HOURS` after
  signing in (`SessionLimitsMiddleware`).

Failures are counted in the database, so every app process and server sees the same count.
"""

from __future__ import annotations

import datetime as dt
import time

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest

from accounts.audit import audited
from accounts.models import SignInFailure, User

# Session keys: when the user last proved who they are (signing in, or again for a
# sensitive step), and when the session last served a request (epoch seconds).
AUTHENTICATED_AT = "accounts.authenticated_at"
SIGNED_IN_AT = "accounts.signed_in_at"
LAST_SEEN = "accounts.last_seen"


class SignInRefused(Exception):
    """Sign-in is refused before the password is even checked; the message says why."""


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or with `TRUSTED_PROXIES` proxies in front of the
    app, the address the outermost of them saw (the entry that many from the end of
    X-Forwarded-For, which a client cannot forge past its own hop)."""
    proxies = settings.TRUSTED_PROXIES
    if proxies:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [hop for hop in hops if hop]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR") or None


def _lock_message(until: dt.datetime) -> str:
    return (
        f"This account is locked after {settings.LOGIN_LOCKOUT_FAILURES} wrong passwords in a "
        f"row. Try again after {until:%H:%M} UTC, or ask an admin to check what happened."
    )


def check_allowed(*, username: str, ip: str | None, now: dt.datetime) -> None:
    """Raise SignInRefused if this address is over its limit or this account is locked."""
    if ip is not None:
        since = now - dt.timedelta(minutes=settings.LOGIN_IP_WINDOW_MINUTES)
        failures = SignInFailure.objects.filter(ip=ip, at__gt=since).count()
        if failures >= settings.LOGIN_IP_FAILURES:
            raise SignInRefused(
                "Too many failed sign-ins from your network. Wait "
                f"{settings.LOGIN_IP_WINDOW_MINUTES} minutes and try again."
            )
    locked_until = (
        User.objects.filter(username=username).values_list("locked_until", flat=True).first()
    )
    if locked_until is not None and locked_until > now:
        raise SignInRefused(_lock_message(locked_until))


def record_failure(*, username: str, ip: str | None, now: dt.datetime) -> str | None:
    """Count a wrong password (or an unknown name); lock the account at the limit. Returns
    the lock's message when this failure locked it."""
    with transaction.atomic(durable=True):
        SignInFailure.objects.create(username=username.lower()[:150], ip=ip, at=now)
        user = User.objects.select_for_update().filter(username=username).first()
        if user is None:
            return None
        user.failed_sign_ins += 1
        if user.failed_sign_ins < settings.LOGIN_LOCKOUT_FAILURES:
            user.save(update_fields=["failed_sign_ins"])
            return None
        user.failed_sign_ins = 0
        user.locked_until = now + dt.timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
        reason = (
            f"Sign-in locked for {settings.LOGIN_LOCKOUT_MINUTES} minutes after "
            f"{settings.LOGIN_LOCKOUT_FAILURES} wrong passwords in a row (last from {ip})"
        )
        with audited(actor=None, reason=reason):
            user.save(update_fields=["failed_sign_ins", "locked_until"])
        return _lock_message(user.locked_until)


def record_success(user: User) -> None:
    """A right password ends the count of wrong ones."""
    if user.failed_sign_ins:
        user.failed_sign_ins = 0
        user.save(update_fields=["failed_sign_ins"])  # bookkeeping: no history row


def stamp_session(sender: object, request: HttpRequest, user: User, **kwargs: object) -> None:
    """On signing in: the session starts now, and the user just proved who they are."""
    now = time.time()
    request.session[SIGNED_IN_AT] = request.session[LAST_SEEN] = now
    request.session[AUTHENTICATED_AT] = now


def session_ended(session: dict, *, now: float) -> str | None:
    """Why a signed-in session is over (idle too long, or open too long), or None. Stamps a
    session seen for the first time."""
    started = session.get(SIGNED_IN_AT)
    seen = session.get(LAST_SEEN)
    if started is None or seen is None:
        session[SIGNED_IN_AT] = session[LAST_SEEN] = now
        session.setdefault(AUTHENTICATED_AT, now)
        return None
    if now - seen > settings.SESSION_IDLE_MINUTES * 60:
        return (
            f"You were signed out after {settings.SESSION_IDLE_MINUTES} minutes without "
            "activity. Sign in again."
        )
    if now - started > settings.SESSION_MAX_HOURS * 3600:
        return (
            f"You were signed out: a session lasts at most {settings.SESSION_MAX_HOURS} hours. "
            "Sign in again."
        )
    if now - seen > 30:  # a write per request would be wasted; idle time is in minutes
        session[LAST_SEEN] = now
    return None

"""Who is asking: the bearer token of each request, its request rate, and the permissions the
endpoint needs (SPEC §7). A token acts as its staff user, with that user's roles and limits.

The checks run before the request is read, in this order: the token (401), its rate (429),
read-only tokens on a write (403), the endpoint's permissions (403), and query parameters the
endpoint does not take (422: a misspelt filter must not quietly list everything).
"""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from accounts import tokens
from accounts.models import ApiToken, User
from billing.api.problems import Problem

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
QUERY_NAMES = "_api_query_names"  # set on the request by base._declare_query_names


class BearerToken(HttpBearer):
    """`Authorization: Bearer <token>`, with a token made by `manage.py create_api_token` or
    on the API tokens page. `permissions`: what the endpoint needs of the token's owner."""

    openapi_bearerFormat = "bat_…"
    openapi_description = (
        "An API token (`bat_…`) of a staff member, from `manage.py create_api_token <username>` "
        "or the API tokens page. It acts with its owner's roles and limits; a read-only token "
        "may only read. Each token may send API_RATE_PER_SECOND requests a second (10 unless "
        "configured), in bursts of as many; beyond that the answer is 429 with Retry-After."
    )

    def __init__(self, *permissions: str) -> None:
        super().__init__()
        self.permissions = permissions

    def __call__(self, request: HttpRequest) -> ApiToken:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if not header:
            raise unauthenticated("Send an API token as “Authorization: Bearer <token>”.")
        if scheme.lower() != "bearer" or not value.strip():
            raise unauthenticated("The Authorization header must be “Bearer <token>”.")
        return self.authenticate(request, value)

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        now = timezone.now()
        try:
            found = tokens.authenticate(token, now=now)
        except tokens.InvalidToken as error:
            raise unauthenticated(str(error)) from None
        admission = tokens.admit(found, rate=settings.API_RATE_PER_SECOND, now=now)
        if not admission.allowed:
            raise Problem(
                "rate-limited",
                f"This token sent more than {settings.API_RATE_PER_SECOND:g} requests a second; "
                f"wait {admission.retry_after} s.",
                headers={"Retry-After": str(admission.retry_after)},
            )
        if found.read_only and request.method not in READ_METHODS:
            raise Problem("read-only-token", f"The token {found.prefix}… is read-only.")
        user = found.user
        if not user.has_perms(self.permissions):
            roles = ", ".join(sorted(group.name for group in user.groups.all())) or "none"
            raise Problem(
                "forbidden",
                f"{user.username}'s roles ({roles}) do not allow this "
                f"(it needs {', '.join(self.permissions)}).",
            )
        known: frozenset[str] = getattr(request, QUERY_NAMES, frozenset())
        unknown = [name for name in request.GET if name not in known]
        if unknown:
            raise Problem(
                "validation-error",
                "Some parameters are not valid; see errors.",
                errors={name[:100]: "Not a parameter of this endpoint." for name in unknown},
            )
        request.user = user
        return found


def unauthenticated(detail: str) -> Problem:
    return Problem(
        "unauthenticated", detail, headers={"WWW-Authenticate": 'Bearer realm="billing-admin"'}
    )


def staff(*permissions: str) -> BearerToken:
    """The auth of an endpoint: a valid token whose owner holds `permissions`."""
    return BearerToken(*permissions)


def token_of(request: HttpRequest) -> ApiToken:
    return cast(ApiToken, request.auth)  # type: ignore[attr-defined]


def actor_of(request: HttpRequest) -> User:
    return token_of(request).user

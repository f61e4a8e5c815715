"""Errors of the API as `application/problem+json` (RFC 9457), for every input (SPEC §7).

Each error an endpoint can meet is turned into a problem here: a failed sign-in (401), a role
or a read-only token (403), a missing object (404), a state or idempotency conflict (409),
invalid input with its field list (422), too many requests (429). `ApiProblemMiddleware` is
the net below them: whatever else answers an error under the API's path (Django's 404 for an
unknown path, a 405, a 500, a host or size check in another middleware) is answered as a
problem of the same status, so no HTML page and no traceback ever reaches an API client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.core.exceptions import (
    ObjectDoesNotExist,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from billing.actions import ActionConflict, InvalidAction, NotAllowed
from billing.actions.subscriptions import CHANGES

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:billing-admin:problem:"

# The problem types, each with its status and title (a short, fixed summary; the detail says
# what happened this time).
TYPES: dict[str, tuple[int, str]] = {
    "malformed-request": (400, "The request could not be read"),
    "unauthenticated": (401, "Not authenticated"),
    "forbidden": (403, "Not allowed"),
    "read-only-token": (403, "This token may only read"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflict with the current state"),
    "idempotency-key-reused": (409, "Idempotency-Key already used for another request"),
    "idempotency-key-in-use": (409, "A request with this Idempotency-Key is in progress"),
    "request-too-large": (413, "Request too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "validation-error": (422, "The request is not valid"),
    "rate-limited": (429, "Too many requests"),
    "server-error": (500, "Internal server error"),
}
_BY_STATUS = {status: slug for slug, (status, _) in reversed(TYPES.items())}


class FieldError(Schema):
    field: str
    message: str


class ProblemOut(Schema):
    """An error (RFC 9457). `type` identifies the kind of problem; `errors` lists each field
    that is not valid (422 only)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError] | None = None


class Problem(Exception):
    """Raise to answer with a problem; `headers` are added to the response."""

    def __init__(
        self,
        slug: str,
        detail: str,
        *,
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.slug = slug
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def not_found(what: str) -> Problem:
    return Problem("not-found", f"No {what}.")


def render(
    request: HttpRequest,
    slug: str | None,
    detail: str,
    *,
    status: int | None = None,
    errors: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """The problem response. `slug` None: a plain HTTP status, typed "about:blank"."""
    if slug is not None:
        status, title = TYPES[slug]
        kind = TYPE_PREFIX + slug
    else:
        assert status is not None
        kind = "about:blank"
        title = _phrase(status)
    body: dict[str, Any] = {
        "type": kind,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if errors is not None:
        body["errors"] = [{"field": name, "message": text} for name, text in errors.items()]
    response = HttpResponse(json.dumps(body), status=status, content_type=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# Input errors -----------------------------------------------------------------------------

# Field names of the money path (InvalidAction.errors) that the API calls otherwise.
API_FIELD_NAMES = {"price": "price_id"}


def action_errors(errors: dict[str, str]) -> dict[str, str]:
    return {API_FIELD_NAMES.get(name, name): text for name, text in errors.items()}


def _field_of(item: dict[str, Any]) -> str:
    """A person's name for where a parsing error is: the field, header or parameter itself
    (ninja's location starts with the source and, for a body, the parameter's name; a tagged
    union, the kinds of subscription change, adds the tag)."""
    parts = [str(part) for part in item.get("loc", ())]
    source, rest = (parts[0], parts[1:]) if parts else ("body", [])
    if source == "body" and rest:
        rest = rest[1:]  # the endpoint's parameter name, not the client's
    context = item.get("ctx") or {}
    if item.get("type", "").startswith("union_tag_") and "discriminator" in context:
        return str(context["discriminator"]).strip("'")
    if len(rest) > 1 and rest[0] in CHANGES:
        rest = rest[1:]
    return ".".join(rest) or source


def _validation_errors(error: ValidationError) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in error.errors:
        found.setdefault(_field_of(item), str(item.get("msg", "Not valid.")))
    return found


# Handlers -------------------------------------------------------------------------------------


def _problem(request: HttpRequest, exc: Problem) -> HttpResponse:
    return render(request, exc.slug, exc.detail, errors=exc.errors, headers=exc.headers)


def _invalid_action(request: HttpRequest, exc: InvalidAction) -> HttpResponse:
    return render(
        request,
        "validation-error",
        "Some fields are not valid; see errors.",
        errors=action_errors(exc.errors),
    )


def _invalid_input(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return render(
        request,
        "validation-error",
        "Some fields are not valid; see errors.",
        errors=_validation_errors(exc),
    )


def _invalid_fields(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    """A service's field errors (Django's ValidationError, as forms report them)."""
    if hasattr(exc, "error_dict"):
        errors = {field: messages[0] for field, messages in exc.message_dict.items()}
    else:
        errors = {"body": exc.messages[0]}
    return render(
        request, "validation-error", "Some fields are not valid; see errors.", errors=errors
    )


def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return render(
        request,
        "unauthenticated",
        "Send an API token as “Authorization: Bearer <token>”.",
        headers={"WWW-Authenticate": 'Bearer realm="billing-admin"'},
    )


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, Problem):  # raised by the parser, which ninja wraps
        return _problem(request, exc.__cause__)
    if exc.status_code == 400:
        return render(request, "malformed-request", "The body is not valid JSON.")
    slug = _BY_STATUS.get(exc.status_code)
    return render(request, slug, str(exc), status=exc.status_code)


def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.error("API %s %s failed", request.method, request.path, exc_info=exc)
    return render(
        request,
        "server-error",
        "Something went wrong on our side; it has been logged. Look up the outcome before "
        "asking again (GET /actions?ticket=…).",
    )


# Each exception an endpoint may raise, and its problem; the most specific class wins.
HANDLERS: dict[type[Exception], Callable[[HttpRequest, Any], HttpResponse]] = {
    Problem: _problem,
    InvalidAction: _invalid_action,
    ActionConflict: lambda request, exc: render(request, "conflict", exc.message),
    NotAllowed: lambda request, exc: render(request, "forbidden", exc.message),
    ValidationError: _invalid_input,
    DjangoValidationError: _invalid_fields,
    AuthenticationError: _unauthenticated,
    HttpError: _http_error,
    Http404: lambda request, exc: render(request, "not-found", "No such object."),
    ObjectDoesNotExist: lambda request, exc: render(request, "not-found", "No such object."),
    RequestDataTooBig: lambda request, exc: render(
        request, "request-too-large", "The body is too large."
    ),
    SuspiciousOperation: lambda request, exc: render(
        request, "malformed-request", "The request was refused."
    ),
    Exception: _server_error,
}


def response_for(request: HttpRequest, exc: Exception) -> HttpResponse:
    """The problem answering `exc` (as the API's exception handlers answer it)."""
    for cls in type(exc).__mro__:
        if cls in HANDLERS:
            return HANDLERS[cls](request, exc)
    return _server_error(request, exc)


def install(api: NinjaAPI) -> None:
    for exc_class, handler in HANDLERS.items():
        api.add_exception_handler(exc_class, handler)


# The net --------------------------------------------------------------------------------------


class ApiProblemMiddleware:
    """Under the API's path, an error answered by anything but the API itself (an unknown
    path, a method the path does not take, another middleware's refusal, a crash) is answered
    as a problem of the same status; its Allow and Retry-After headers are kept."""

    prefix = "/api/"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(self.prefix) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith(MEDIA_TYPE):
            return response
        status = response.status_code
        slug = _BY_STATUS.get(status)
        detail = {
            404: "There is nothing at this address; see /api/v1/docs for the endpoints.",
            405: f"{request.method} is not one of the methods this address takes.",
        }.get(status, _phrase(status) + ".")
        problem = render(request, slug, detail, status=status)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                problem[header] = response[header]
        return problem

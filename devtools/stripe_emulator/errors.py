"""Stripe's error responses.

Every error body is ``{"error": {"type", "code", "param", "message", "doc_url", ...}}`` with
Stripe's HTTP status codes: 400 invalid request, 401 authentication, 402 card errors, 404 missing
resources and unknown URLs, 409 idempotency key in use, 429 rate limit, 5xx ``api_error``.

``replayable`` says whether an idempotency key records the response. Stripe saves a result only
once an endpoint has started executing: a request that fails parameter validation, or names an
object that does not exist, leaves no record, so the same key can be retried with corrected
parameters. Business errors (a declined card, refunding more than is left) are saved and
replayed like successes.
"""

from __future__ import annotations

from typing import Any

DOC_BASE = "https://stripe.com/docs/error-codes"


class StripeError(Exception):
    """An error answer with Stripe's status code and body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
        replayable: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.replayable = replayable
        self.headers = headers or {}

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"{DOC_BASE}/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        if self.decline_code:
            error["decline_code"] = self.decline_code
        error.update(self.extra)
        if request_id:
            error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}?t=0"
        return {"error": error}


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None, replayable: bool = True
) -> StripeError:
    """A 400 ``invalid_request_error`` about the state of objects (saved for replay)."""
    return StripeError(400, message, param=param, code=code, replayable=replayable)


def invalid_param(
    message: str, *, param: str, code: str = "parameter_invalid_string"
) -> StripeError:
    """A 400 about a malformed parameter; not saved for idempotent replay."""
    return StripeError(400, message, param=param, code=code, replayable=False)


def missing_param(param: str) -> StripeError:
    return StripeError(
        400,
        f"Missing required param: {param}.",
        param=param,
        code="parameter_missing",
        replayable=False,
    )


def unknown_param(param: str) -> StripeError:
    return StripeError(
        400,
        f"Received unknown parameter: {param}",
        param=param,
        code="parameter_unknown",
        replayable=False,
    )


def resource_missing(noun: str, object_id: str, *, param: str | None = "id") -> StripeError:
    """404 ``resource_missing`` with Stripe's wording: ``No such customer: 'cus_x'``."""
    return StripeError(
        404,
        f"No such {noun}: '{object_id}'",
        param=param,
        code="resource_missing",
        replayable=False,
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
        replayable=False,
    )


def authentication(message: str) -> StripeError:
    return StripeError(401, message, replayable=False)


def rate_limited() -> StripeError:
    return StripeError(
        429,
        "Request rate limit exceeded. Learn more about rate limits here "
        "https://stripe.com/docs/rate-limits.",
        code="rate_limit",
        replayable=False,
    )


def api_error(status: int) -> StripeError:
    return StripeError(
        status,
        "An unknown error occurred. Please try again later.",
        type="api_error",
        replayable=False,
    )


def idempotency_mismatch(key: str) -> StripeError:
    return StripeError(
        400,
        "Keys for idempotent requests can only be used with the same parameters they were "
        f"first used with. Try using a key other than '{key}' if you meant to execute a "
        "different request.",
        type="idempotency_error",
        replayable=False,
    )


def idempotency_key_length(key: str) -> StripeError:
    return StripeError(
        400,
        f"Idempotent key length is {len(key)}, which is outside accepted lengths. Idempotent "
        "Keys must be 1-255 characters long. If you're looking for a decent generator, try "
        "using a UUID defined by IETF RFC 4122.",
        replayable=False,
    )


def idempotency_in_use(key: str) -> StripeError:
    return StripeError(
        409,
        "There is currently another in-progress request using this Idempotent Key (that "
        "probably means you submitted twice, and the other request is still going through): "
        f"{key}. Please try again later.",
        code="idempotency_key_in_use",
        replayable=False,
        headers={"Stripe-Should-Retry": "true"},
    )

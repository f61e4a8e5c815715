"""Structured logs: one JSON line per request and per money event, a request id that follows
the work into the background tasks it enqueues, and the scrubbing every line (and every error
report to Sentry) goes through.

Logs name people and customers by id only: no card data, no emails, no names. Messages are
scrubbed on the way out anyway (emails and card-like digit runs are masked), in case a
third-party library's message carries one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.tasks import Task

_request_id: ContextVar[str] = ContextVar("request_id", default="")

request_logger = logging.getLogger("billing.requests")
money_logger = logging.getLogger("billing.money")

# An incoming X-Request-ID is kept only if it looks like an id (a proxy's or a client's), so a
# header cannot inject anything into the logs.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")


def current_request_id() -> str:
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def scrub(text: str) -> str:
    """Mask email addresses and card-number-like digit runs."""
    return _CARD.sub("[card?]", _EMAIL.sub("[email]", text))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the request id, the record's
    `fields` (structured data given as `extra={"fields": {...}}`) and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        request_id = current_request_id()
        if request_id:
            line["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


class RequestLogMiddleware:
    """The request id (the caller's X-Request-ID if it is one, else a new one), on the answer
    as X-Request-ID and on every log line written while the request runs; then one line for
    the request: method, path (never the query, which may hold a searched email), status,
    duration and the staff user's id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else new_request_id()
        token = _request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            user = getattr(request, "user", None)
            request_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "fields": {
                        "event": "request",
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                        "staff_user_id": user.pk
                        if user is not None and user.is_authenticated
                        else None,
                    }
                },
            )
            return response
        finally:
            _request_id.reset(token)


def log_money_event(
    *,
    action_id: int | None,
    kind: str,
    state: str,
    actor_id: int | None,
    customer_id: int | None,
    amount: int | None,
    currency: str,
    stripe_request_id: str = "",
) -> None:
    """One line for a money action's change of state (billing/actions/pipeline.py `_move`)."""
    money_logger.info(
        "Action #%s (%s) is %s",
        action_id,
        kind,
        state,
        extra={
            "fields": {
                "event": "money",
                "action_id": action_id,
                "kind": kind,
                "state": state,
                "actor_id": actor_id,
                "customer_id": customer_id,
                "amount": amount,
                "currency": currency,
                "stripe_request_id": stripe_request_id or None,
            }
        },
    )


class TracedTask(Task):
    """A task that carries the request id of whoever enqueued it into its run: the id is
    added to the task's keyword arguments at enqueue (as `request_id`) and set again while it
    runs, whichever backend carries it (database queue or Celery)."""

    def enqueue(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("request_id", current_request_id())
        return super().enqueue(*args, **kwargs)

    async def aenqueue(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("request_id", current_request_id())
        return await super().aenqueue(*args, **kwargs)


def task(**options: Any) -> Callable[[Callable[..., Any]], TracedTask]:
    """`django.tasks.task`, carrying the enqueuer's request id (see TracedTask). Call sites
    enqueue exactly as before."""

    def decorator(func: Callable[..., Any]) -> TracedTask:
        @wraps(func)
        def run(*args: Any, request_id: str = "", **kwargs: Any) -> Any:
            token = _request_id.set(request_id or new_request_id())
            try:
                return func(*args, **kwargs)
            finally:
                _request_id.reset(token)

        return TracedTask(func=run, **options)

    return decorator


def sentry_before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry gets what the logs get: no user but the id, no request body or cookies, and
    every string scrubbed."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return scrub(value)
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    user = event.get("user") or {}
    event["user"] = {"id": user["id"]} if "id" in user else {}
    request = event.get("request")
    if isinstance(request, dict):
        for private in ("data", "cookies", "query_string"):
            request.pop(private, None)
        headers = request.get("headers") or {}
        request["headers"] = {
            name: value
            for name, value in headers.items()
            if name.lower() not in ("cookie", "authorization", "x-csrftoken")
        }
    request_id = current_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return clean(event)


def init_sentry(dsn: str, *, environment: str) -> None:
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        send_default_pii=False,
        before_send=sentry_before_send,  # type: ignore[arg-type]
        traces_sample_rate=0,
    )

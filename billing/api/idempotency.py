"""Idempotency-Key on every write (SPEC §7): the same key and body get the first answer again
(same status, same body); the same key with another request is refused (409). Keys belong to
a token, and are kept for good (models/api.py).

Two requests racing with one key run the write once: the key is claimed by an insert committed
before anything else happens, and the unique constraint lets only one claim in. The other
request never runs the write: it waits for the first one's answer and gives it back, or, if
that takes too long, answers 409 and asks to be retried.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Schema
from ninja.responses import NinjaJSONEncoder

from accounts.models import ApiToken
from billing.api import problems
from billing.api.auth import token_of
from billing.api.problems import Problem
from billing.models import IdempotencyKey, IdempotentResponse

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
KEY_PATTERN = r"^[!-~]{1,255}$"  # visible ASCII, as Stripe's keys
REPLAYED = "Idempotent-Replayed"
# A claim this old without an answer belongs to a request that died midway: its outcome is in
# its action, and the write is never run again.
ABANDONED_AFTER = dt.timedelta(minutes=10)

type Answer = tuple[int, Schema]


def json_response(status: int, payload: Schema) -> HttpResponse:
    """A schema as the API renders it (the same encoder ninja uses for every answer)."""
    return HttpResponse(
        json.dumps(payload.model_dump(), cls=NinjaJSONEncoder),
        status=status,
        content_type="application/json; charset=utf-8",
    )


def fingerprint(request: HttpRequest) -> str:
    """What makes two requests the same: method, path and the JSON body, canonically written
    (so key order and spacing do not matter)."""
    body = json.loads(request.body) if request.body else None
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = f"{request.method} {request.path}\n{canonical}"
    return hashlib.sha256(text.encode()).hexdigest()


def idempotent(request: HttpRequest, key: str, write: Callable[[], Answer]) -> HttpResponse:
    """Run `write` once for this token and key, and keep its answer for any retry."""
    token = token_of(request)
    print_ = fingerprint(request)
    try:
        with transaction.atomic(durable=True):
            claim = IdempotencyKey.objects.create(
                token=token,
                key=key,
                fingerprint=print_,
                method=request.method or "",
                path=request.path[:500],
                created_at=timezone.now(),
            )
    except IntegrityError:
        return _replay(token, key, print_)
    try:
        status, payload = write()
        response = json_response(status, payload)
    except Exception as error:  # every answer is kept, errors too, as Stripe keeps them
        response = problems.response_for(request, error)
    IdempotentResponse.objects.create(
        request=claim,
        status=response.status_code,
        content_type=response["Content-Type"],
        body=response.content.decode(),
        created_at=timezone.now(),
    )
    # Who wrote what through the API, by which token: the claim and its answer are kept too.
    logger.info(
        "API write %s %s by staff #%s with token %s…: %s (idempotency key #%s)",
        request.method,
        request.path,
        token.user_id,
        token.prefix,
        response.status_code,
        claim.pk,
    )
    return response


def _replay(token: ApiToken, key: str, print_: str) -> HttpResponse:
    claim = IdempotencyKey.objects.get(token=token, key=key)
    if claim.fingerprint != print_:
        raise Problem(
            "idempotency-key-reused",
            f"This Idempotency-Key was first used on {claim.created_at:%Y-%m-%d %H:%M:%S} UTC "
            f"for {claim.method} {claim.path} with another body. A new request needs a new key.",
        )
    deadline = time.monotonic() + settings.API_IDEMPOTENCY_WAIT_SECONDS
    pause = 0.02
    while True:
        answer = IdempotentResponse.objects.filter(request=claim).first()
        if answer is not None:
            response = HttpResponse(
                answer.body, status=answer.status, content_type=answer.content_type
            )
            response[REPLAYED] = "true"
            return response
        if time.monotonic() >= deadline:
            break
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    if claim.created_at < timezone.now() - ABANDONED_AFTER:
        raise Problem(
            "idempotency-key-in-use",
            "The first request with this Idempotency-Key did not finish, so its answer is "
            "unknown and it will not be run again. Look for its action (GET /actions?ticket=…) "
            "before asking again with a new key.",
        )
    raise Problem(
        "idempotency-key-in-use",
        "The first request with this Idempotency-Key is still running; ask again in a moment "
        "for its answer.",
        headers={"Retry-After": "1"},
    )

"""One API request, from headers and body to Stripe's answer, independent of the socket.

The order mirrors Stripe's: authenticate (401 without an ``sk_test_`` key), then injected faults
(which may answer before anything runs), then routing (404 for an unknown URL), then the
``Idempotency-Key`` check (a key over 255 characters is refused; replay, 400 mismatch, 409 in
use), then the parameters against the route's declaration (see :mod:`.schema`), then the
handler under the store lock, then ``expand[]``. Every answer has a ``Request-Id: req_...``
header.
"""

from __future__ import annotations

import base64
import binascii
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import errors, expansion, ids, lifecycle
from .clock import Clock
from .context import Context, Settings
from .control import ControlApi
from .encoding import FormDecodeError, decode_form, encode_json
from .events import API_VERSION, EventLog, current_request
from .faults import FaultPlan
from .idempotency import IdempotencyCache, SavedResponse
from .params import Params
from .resources import api_routes
from .routing import Route
from .store import Store
from .webhooks import WebhookDispatcher

CONTROL_PREFIX = "/_emulator"
MAX_IDEMPOTENCY_KEY = 255


@dataclass
class Response:
    """What to send back. ``disposition`` ``drop`` closes the socket without an answer;
    ``hang`` holds it for ``hang_seconds`` first."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    disposition: str = "respond"
    hang_seconds: float = 0.0


class Emulator:
    def __init__(
        self,
        *,
        settings: Settings | None = None,
        webhook_max_attempts: int = 4,
        webhook_backoff_seconds: tuple[float, ...] = (0.2, 0.5, 1.0),
        webhook_timeout_seconds: float = 5.0,
        timeout_fault_seconds: float = 5.0,
    ) -> None:
        self.store = Store()
        self.clock = Clock()
        self.webhooks = WebhookDispatcher(
            max_attempts=webhook_max_attempts,
            backoff_seconds=webhook_backoff_seconds,
            timeout_seconds=webhook_timeout_seconds,
        )
        self.events = EventLog(self.store, self.clock, self.webhooks)
        self.ctx = Context(self.store, self.clock, self.events, settings or Settings())
        self.faults = FaultPlan(timeout_fault_seconds)
        self.idempotency = IdempotencyCache()
        self.router = api_routes()
        self.control = ControlApi(self)

    # Control helpers used by the control API and the Python handle ----------------------------

    def reset(self) -> None:
        """Forget every object, event, idempotency key, fault and queued webhook; real time."""
        with self.store.lock:
            self.store.reset()
            self.idempotency.reset()
            self.faults.clear()
            self.webhooks.reset()
            self.webhooks.resume()
            self.clock.reset()

    def advance_to(self, target: int) -> int:
        with self.store.lock:
            token = current_request.set((None, None))
            try:
                return lifecycle.advance_to(self.ctx, target)
            finally:
                current_request.reset(token)

    # Requests --------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        request_id = ids.request_id()
        parts = urlsplit(target)
        path = parts.path
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            status, payload = self.control.handle(method, path, body)
            return Response(status, encode_json(payload), self._headers(request_id, headers))
        try:
            return self._handle_api(method, path, parts.query, headers, body, request_id)
        except errors.StripeError as error:
            return self._error(error, request_id, headers)

    def _handle_api(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        request_id: str,
    ) -> Response:
        api_key = _api_key(headers)
        try:
            data = decode_form(body.decode("utf-8") if method == "POST" else query)
        except (FormDecodeError, UnicodeDecodeError) as exc:
            raise errors.invalid_request(str(exc), replayable=False) from None
        fault = self.faults.take(method, path)
        if fault is not None and fault.fault in ("500", "502", "503", "504", "429"):
            if fault.fault == "429":
                raise errors.rate_limited()
            raise errors.api_error(int(fault.fault))
        if fault is not None and fault.fault == "timeout" and not fault.apply:
            return Response(0, b"", disposition="hang", hang_seconds=fault.seconds)
        resolved = self.router.resolve(method, path)
        if resolved is None:
            raise errors.unrecognized_url(method, path)
        route, args = resolved
        key = headers.get("idempotency-key") if method == "POST" else None
        if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
            raise errors.idempotency_key_length(key)
        if key:
            saved = self.idempotency.begin(api_key, key, method, path, data)
            if saved is not None:
                replay_headers = dict(saved.headers)
                replay_headers["Idempotent-Replayed"] = "true"
                return self._disposed(Response(saved.status, saved.body, replay_headers), fault)
        if fault is not None and fault.fault == "delay":
            time.sleep(fault.seconds)
        response, replayable = self._execute(route, args, data, request_id, key, headers)
        if key:
            self.idempotency.finish(
                api_key,
                key,
                SavedResponse(response.status, response.body, dict(response.headers))
                if replayable
                else None,
            )
        return self._disposed(response, fault)

    def _execute(
        self,
        route: Route,
        args: dict[str, str],
        data: dict[str, Any],
        request_id: str,
        key: str | None,
        headers: Mapping[str, str],
    ) -> tuple[Response, bool]:
        params = Params(data)
        with self.store.lock:
            token = current_request.set((request_id, key))
            try:
                route.declaration.validate(data)
                result = route.handler(self.ctx, params, **args)
                expansion.expand(self.store, result, params.expand())
            except errors.StripeError as error:
                return self._error(error, request_id, headers, key), error.replayable
            except Exception:
                # An emulator bug must not leave the idempotency key claimed forever: answer
                # Stripe's 500 and release it.
                traceback.print_exc()
                return self._error(errors.api_error(500), request_id, headers, key), False
            finally:
                current_request.reset(token)
        return Response(200, encode_json(result), self._headers(request_id, headers, key)), True

    @staticmethod
    def _disposed(response: Response, fault: Any) -> Response:
        if fault is None:
            return response
        if fault.fault == "drop_after_apply":
            response.disposition = "drop"
        elif fault.fault == "timeout":
            response.disposition = "hang"
            response.hang_seconds = fault.seconds
        return response

    def _headers(
        self, request_id: str, headers: Mapping[str, str], key: str | None = None
    ) -> dict[str, str]:
        result = {
            "Content-Type": "application/json",
            "Request-Id": request_id,
            "Stripe-Version": headers.get("stripe-version") or API_VERSION,
            "Cache-Control": "no-cache, no-store",
        }
        if key:
            result["Idempotency-Key"] = key
        return result

    def _error(
        self,
        error: errors.StripeError,
        request_id: str,
        headers: Mapping[str, str],
        key: str | None = None,
    ) -> Response:
        response_headers = self._headers(request_id, headers, key)
        response_headers.update(error.headers)
        if error.status == 401:
            response_headers["WWW-Authenticate"] = 'Basic realm="Stripe"'
        return Response(error.status, encode_json(error.body(request_id)), response_headers)


def _mask(key: str) -> str:
    if len(key) <= 12:
        return key
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


def _api_key(headers: Mapping[str, str]) -> str:
    """The secret key from ``Authorization`` (Bearer, or Basic with the key as user name)."""
    authorization = (headers.get("authorization") or "").strip()
    if not authorization:
        raise errors.authentication(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or "
            "we can help at https://support.stripe.com/."
        )
    scheme, _, value = authorization.partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = value.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(value.strip()).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if not key.startswith("sk_test_") or len(key) <= len("sk_test_"):
        raise errors.authentication(f"Invalid API Key provided: {_mask(key)}")
    return key

"""The emulator's own control API under ``/_emulator`` (JSON in, JSON out; no API key).

- ``POST /_emulator/reset``: forget all objects, events, idempotency keys, faults and queued
  webhooks; the clock goes back to real time (webhook endpoints stay configured).
- ``GET /_emulator/clock``: ``{"now", "frozen", "offset"}``.
- ``POST /_emulator/clock``: ``{"set": ts}`` jumps (past or future) without running anything;
  ``{"advance": seconds}``, ``{"advance_days": n}`` or ``{"advance_to": ts}`` move forward and
  run the renewals, trial ends and retries that fall due; ``{"freeze": true|false}``. Keys apply
  in the order freeze, set, advance.
- ``GET|POST|DELETE /_emulator/faults``: list, add (``{"method", "path", "fault", "count",
  "seconds", "apply"}`` or a list of them, see :mod:`.faults`), clear.
- ``GET /_emulator/state`` and ``/_emulator/state/<kind>``: every object as the API shows it.
- ``GET|POST /_emulator/settings``: ``final_failure_action``, ``retry_schedule_days``,
  ``trial_will_end_days``.
- ``GET /_emulator/webhooks``: ``{"endpoints", "paused", "pending", "log"}``;
  ``POST`` ``{"url", "secret"}`` adds an endpoint; ``DELETE`` removes them all.
- ``POST /_emulator/webhooks/pause`` and ``/resume``: hold or release deliveries.
- ``POST /_emulator/webhooks/flush`` (``{"timeout": s}``): deliver everything queued now.
- ``POST /_emulator/webhooks/drain``: take the queued deliveries out, already signed, for the
  caller to send itself (in any order).
- ``GET /_emulator/webhooks/pending``: queued deliveries with their payloads.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .faults import FaultSpecError
from .periods import DAY

if TYPE_CHECKING:
    from .app import Emulator


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ControlError(400, "The body must be JSON.") from None


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ControlError(400, f"{name} must be a number")
    return int(value)


class ControlApi:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        try:
            return 200, self._dispatch(method, path.rstrip("/"), _json(body))
        except ControlError as error:
            return error.status, {
                "error": {"type": "invalid_request_error", "message": error.message}
            }

    def _dispatch(self, method: str, path: str, payload: Any) -> Any:
        emulator = self.emulator
        route = path.removeprefix("/_emulator")
        if (method, route) == ("POST", "/reset"):
            emulator.reset()
            return {"reset": True}
        if route == "/clock":
            if method == "POST":
                self._clock(payload)
            if method in ("GET", "POST"):
                return emulator.clock.describe()
        if route == "/faults":
            return self._faults(method, payload)
        if method == "GET" and (route == "/state" or route.startswith("/state/")):
            kind = route.removeprefix("/state").strip("/") or None
            with emulator.store.lock:
                return emulator.store.dump(kind)
        if route == "/settings":
            return self._settings(method, payload)
        if route == "/webhooks" or route.startswith("/webhooks/"):
            return self._webhooks(method, route.removeprefix("/webhooks"), payload)
        raise ControlError(404, f"Unrecognized emulator control URL ({method}: {path})")

    def _clock(self, payload: dict[str, Any]) -> None:
        emulator = self.emulator
        if not isinstance(payload, dict):
            raise ControlError(400, "Expected a JSON object.")
        if "freeze" in payload:
            emulator.clock.freeze(bool(payload["freeze"]))
        if "set" in payload:
            with emulator.store.lock:
                emulator.clock.set(_int(payload["set"], "set"))
        target = None
        if "advance" in payload:
            target = emulator.clock.now() + _int(payload["advance"], "advance")
        if "advance_days" in payload:
            target = emulator.clock.now() + _int(payload["advance_days"], "advance_days") * DAY
        if "advance_to" in payload:
            target = _int(payload["advance_to"], "advance_to")
        if target is not None:
            if target < emulator.clock.now():
                raise ControlError(400, "The clock only advances forward; use 'set' to go back.")
            emulator.advance_to(target)

    def _faults(self, method: str, payload: Any) -> Any:
        faults = self.emulator.faults
        if method == "GET":
            return {"faults": faults.describe()}
        if method == "DELETE":
            faults.clear()
            return {"faults": []}
        if method == "POST":
            specs = payload if isinstance(payload, list) else [payload]
            try:
                for spec in specs:
                    faults.add(spec)
            except FaultSpecError as error:
                raise ControlError(400, str(error)) from None
            return {"faults": faults.describe()}
        raise ControlError(405, "Use GET, POST or DELETE.")

    def _settings(self, method: str, payload: Any) -> Any:
        settings = self.emulator.ctx.settings
        if method == "POST":
            if "final_failure_action" in payload:
                action = payload["final_failure_action"]
                if action not in ("cancel", "unpaid", "past_due"):
                    raise ControlError(400, "final_failure_action: cancel, unpaid or past_due")
                settings.final_failure_action = action
            if "retry_schedule_days" in payload:
                settings.retry_schedule_days = tuple(
                    _int(day, "retry_schedule_days") for day in payload["retry_schedule_days"]
                )
            if "trial_will_end_days" in payload:
                settings.trial_will_end_days = _int(
                    payload["trial_will_end_days"], "trial_will_end_days"
                )
        return {
            "final_failure_action": settings.final_failure_action,
            "retry_schedule_days": list(settings.retry_schedule_days),
            "trial_will_end_days": settings.trial_will_end_days,
        }

    def _webhooks(self, method: str, action: str, payload: Any) -> Any:
        webhooks = self.emulator.webhooks
        if action == "" and method == "POST":
            url, secret = payload.get("url"), payload.get("secret")
            if not isinstance(url, str) or not isinstance(secret, str) or not secret:
                raise ControlError(400, 'Pass {"url": ..., "secret": "whsec_..."}.')
            return webhooks.add_endpoint(url, secret).describe()
        if action == "" and method == "DELETE":
            webhooks.clear_endpoints()
            return {"endpoints": []}
        if action == "" and method == "GET":
            return {
                "endpoints": [endpoint.describe() for endpoint in webhooks.endpoints()],
                "paused": webhooks.paused,
                "pending": len(webhooks.pending()),
                "log": webhooks.log(),
            }
        if action == "/pending" and method == "GET":
            return {"pending": webhooks.pending()}
        if method == "POST" and action == "/pause":
            webhooks.pause()
            return {"paused": True}
        if method == "POST" and action == "/resume":
            webhooks.resume()
            return {"paused": False}
        if method == "POST" and action == "/flush":
            timeout = payload.get("timeout", 10) if isinstance(payload, dict) else 10
            return {"flushed": webhooks.flush(float(timeout))}
        if method == "POST" and action == "/drain":
            return {"deliveries": webhooks.drain()}
        raise ControlError(
            404, f"Unrecognized emulator control URL ({method}: /_emulator/webhooks{action})"
        )

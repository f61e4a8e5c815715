"""Injected failures for the next matching requests.

A fault matches on method (or any method) and a path prefix, and is consumed by each matching
request until its ``count`` runs out. Kinds:

- ``"500"``, ``"502"``, ``"503"``, ``"504"``: Stripe's ``api_error`` body with that status; the
  request is not executed and nothing is recorded under its idempotency key, so a retry with the
  same key executes it for the first time.
- ``"429"``: Stripe's ``rate_limit`` error, not executed.
- ``"timeout"``: the response is held for ``seconds`` (longer than the client's timeout), then
  the connection is closed without an answer. With ``apply: false`` (the default) the request is
  not executed; with ``apply: true`` it is executed and its result recorded for idempotent
  replay before the hang, like a Stripe response lost on the way back.
- ``"drop_after_apply"``: the request is executed (and recorded for replay), then the socket is
  closed without a response.
- ``"delay"``: the request waits ``seconds`` after claiming its idempotency key and before
  executing, then answers normally: a slow Stripe (a second request with the same key meanwhile
  gets 409).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("500", "502", "503", "504", "429", "timeout", "drop_after_apply", "delay")


class FaultSpecError(ValueError):
    pass


@dataclass
class Fault:
    path: str
    fault: str
    method: str | None = None
    count: int = 1
    seconds: float = 5.0
    apply: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and path.startswith(self.path)


class FaultPlan:
    def __init__(self, default_timeout_seconds: float = 5.0) -> None:
        self.default_timeout_seconds = default_timeout_seconds
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, spec: dict[str, Any]) -> Fault:
        kind = str(spec.get("fault", ""))
        if kind not in KINDS:
            raise FaultSpecError(f"fault must be one of {', '.join(KINDS)}")
        path = spec.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise FaultSpecError("path must be a path prefix starting with '/'")
        method = spec.get("method")
        count = spec.get("count", 1)
        if not isinstance(count, int) or count < 1:
            raise FaultSpecError("count must be a positive integer")
        seconds = spec.get("seconds", self.default_timeout_seconds)
        if not isinstance(seconds, (int, float)) or seconds < 0:
            raise FaultSpecError("seconds must be a non-negative number")
        fault = Fault(
            path=path,
            fault=kind,
            method=str(method).upper() if method else None,
            count=count,
            seconds=float(seconds),
            apply=bool(spec.get("apply", False)),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, with one use consumed."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(fault) for fault in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults = []

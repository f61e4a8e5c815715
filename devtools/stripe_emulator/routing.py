"""Route table: ``(method, "/v1/customers/{customer}")`` to a handler.

A handler is called as ``handler(ctx, params, **path_args)`` and returns the JSON body (a dict)
of a 200 answer, or raises :class:`~.errors.StripeError`. A request that matches no route is
Stripe's 404 "Unrecognized request URL", never a made-up success.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    segments: tuple[str, ...]
    handler: Handler

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        if method != self.method or len(segments) != len(self.segments):
            return None
        args: dict[str, str] = {}
        for pattern, actual in zip(self.segments, segments, strict=True):
            if pattern.startswith("{") and pattern.endswith("}"):
                if not actual:
                    return None
                args[pattern[1:-1]] = actual
            elif pattern != actual:
                return None
        return args


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def include(self, other: Router) -> None:
        self._routes.extend(other._routes)

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append(Route(method.upper(), tuple(pattern.strip("/").split("/")), handler))

    def get(self, pattern: str) -> Callable[[Handler], Handler]:
        return self._decorator("GET", pattern)

    def post(self, pattern: str) -> Callable[[Handler], Handler]:
        return self._decorator("POST", pattern)

    def delete(self, pattern: str) -> Callable[[Handler], Handler]:
        return self._decorator("DELETE", pattern)

    def _decorator(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler)
            return handler

        return register

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        """The handler and path arguments; literal routes win over ``{placeholders}``."""
        segments = path.strip("/").split("/")
        candidates = []
        for route in self._routes:
            args = route.match(method, segments)
            if args is not None:
                candidates.append((len(args), route.handler, args))
        if not candidates:
            return None
        candidates.sort(key=lambda candidate: candidate[0])
        _, handler, args = candidates[0]
        return handler, args

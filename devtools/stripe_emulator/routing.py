"""Route table: ``(method, "/v1/customers/{customer}")`` to a handler and what it accepts.

A handler is called as ``handler(ctx, params, **path_args)`` and returns the JSON body (a dict)
of a 200 answer, or raises :class:`~.errors.StripeError`. Every route is registered with the
:class:`~.schema.Declaration` of the parameters it accepts, which is checked before the handler
runs. A request that matches no route is Stripe's 404 "Unrecognized request URL", never a
made-up success.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .schema import Declaration

Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    segments: tuple[str, ...]
    handler: Handler
    declaration: Declaration

    @property
    def path(self) -> str:
        return "/" + "/".join(self.segments)

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

    def routes(self) -> list[Route]:
        return list(self._routes)

    def add(self, method: str, pattern: str, handler: Handler, declaration: Declaration) -> None:
        segments = tuple(pattern.strip("/").split("/"))
        self._routes.append(Route(method.upper(), segments, handler, declaration))

    def get(self, pattern: str, declaration: Declaration) -> Callable[[Handler], Handler]:
        return self._decorator("GET", pattern, declaration)

    def post(self, pattern: str, declaration: Declaration) -> Callable[[Handler], Handler]:
        return self._decorator("POST", pattern, declaration)

    def delete(self, pattern: str, declaration: Declaration) -> Callable[[Handler], Handler]:
        return self._decorator("DELETE", pattern, declaration)

    def _decorator(
        self, method: str, pattern: str, declaration: Declaration
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler, declaration)
            return handler

        return register

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route and path arguments; literal routes win over ``{placeholders}``."""
        segments = path.strip("/").split("/")
        candidates = []
        for route in self._routes:
            args = route.match(method, segments)
            if args is not None:
                candidates.append((len(args), route, args))
        if not candidates:
            return None
        candidates.sort(key=lambda candidate: candidate[0])
        _, route, args = candidates[0]
        return route, args

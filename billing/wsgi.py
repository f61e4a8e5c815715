"""The WSGI application: Django's handler with the whole middleware stack for every request
but one, Stripe's webhook, which a lean handler serves (settings.WEBHOOK_MIDDLEWARE).

Stripe may deliver hundreds of events a second, and each needs nothing of the stack that
serves staff (sessions, CSRF, sign-in, messages, htmx, history's request user). The lean
handler is chosen for exactly `POST` to the webhook's path; any other method or path, however
close, goes through the whole stack. Both resolve the same URLconf, so the same view answers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.utils.module_loading import import_string

from billing.startup import configuration_errors_in_one_line

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class LeanHandler(WSGIHandler):
    """Django's WSGI handler with a middleware list of its own instead of MIDDLEWARE's.

    Built as BaseHandler.load_middleware builds its chain, for synchronous middleware only
    (all of WEBHOOK_MIDDLEWARE is)."""

    def __init__(self, middleware: list[str]) -> None:
        self.middleware = middleware
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        if is_async:
            raise NotImplementedError("LeanHandler serves WSGI (synchronous) requests only.")
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        # BaseHandler's own view step (URL resolution, the view, its exceptions): not in the stubs.
        handler = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]
        for path in reversed(self.middleware):
            middleware = import_string(path)
            if not getattr(middleware, "sync_capable", True):
                raise RuntimeError(f"{path} cannot run synchronously.")
            try:
                instance = middleware(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler


class WebhookDispatch:
    """`lean` for a POST to exactly `path`, `full` for everything else."""

    def __init__(self, *, full: WsgiApp, lean: WsgiApp, path: str) -> None:
        self.full = full
        self.lean = lean
        self.path = path

    def handler_for(self, environ: dict[str, Any]) -> WsgiApp:
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == self.path:
            return self.lean
        return self.full

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self.handler_for(environ)(environ, start_response)


def build_application() -> WebhookDispatch:
    full = get_wsgi_application()  # sets Django up first
    from django.conf import settings
    from django.urls import get_script_prefix, reverse

    # The path as PATH_INFO gives it: below the script prefix the app may be mounted at.
    path = "/" + reverse("stripe_webhook").removeprefix(get_script_prefix())
    return WebhookDispatch(full=full, lean=LeanHandler(settings.WEBHOOK_MIDDLEWARE), path=path)


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing.settings")
with configuration_errors_in_one_line():
    application = build_application()

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect

from accounts import signin


class StaffLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Django's LoginRequiredMiddleware, with a full-page redirect for htmx requests.

    Without it, a session that expired mid-search would swap the login page into the results.
    """

    # django-htmx's client redirect is not a redirect response type, hence the override.
    def handle_no_permission(self, request, view_func) -> HttpResponse:  # type: ignore[override]
        if getattr(request, "htmx", False):
            page = request.htmx.current_url_abs_path or "/"
            login_url = resolve_url(settings.LOGIN_URL)
            return HttpResponseClientRedirect(f"{login_url}?{urlencode({'next': page})}")
        return super().handle_no_permission(request, view_func)


class SessionLimitsMiddleware:
    """Ends a staff session after SESSION_IDLE_MINUTES without a request or SESSION_MAX_HOURS
    in all: the session is flushed on the server (not just forgotten by the browser), and the
    next middleware sends the now anonymous request to the login page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            why = signin.session_ended(request.session, now=time.time())
            if why is not None:
                logout(request)
                messages.info(request, why)
        return self.get_response(request)


class SecurityHeadersMiddleware:
    """The headers Django has no setting for: no browser feature the app does not use."""

    PERMISSIONS_POLICY = (
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
        "interest-cohort=(), browsing-topics=()"
    )

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", self.PERMISSIONS_POLICY)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response

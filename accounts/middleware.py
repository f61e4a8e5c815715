from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpResponse
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect


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

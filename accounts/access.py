"""Who may open which view. Every view states its rule explicitly (a convention test checks):

- `@staff_view("app.permission", ...)`: a signed-in staff user holding every listed permission
  (`@staff_view()` with none: any signed-in user, e.g. to sign out);
- Django's `@login_not_required`: public (the login page, `/healthz`, Stripe's webhook).

Anonymous users never reach a `staff_view`: `LoginRequiredMiddleware` sends them to the login
page first. The check runs on the server for every request; hiding a link is not a check.
"""

import time
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from allauth.account.internal.flows.reauthentication import suspend_request
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from accounts import identity
from accounts.models import User

View = Callable[..., HttpResponseBase]


class StaffRequest(HttpRequest):
    """What a view behind `@staff_view` receives: a signed-in staff member's request, with
    django-htmx's details."""

    user: User  # type: ignore[assignment]
    htmx: HtmxDetails


SCREENS = "accounts.use_screens"


def staff_view(*permissions: str) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
            user = request.user
            if not user.is_authenticated or not user.is_active:
                raise PermissionDenied
            if not user.has_perms(permissions):
                raise PermissionDenied
            if permissions and not user.has_perm(SCREENS):
                # An automation's account (the agent role) reads and asks through the API only.
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.staff_permissions = permissions  # type: ignore[attr-defined]
        return wrapped

    return decorator


def _step_up(request: HttpRequest, url_name: str, why: str) -> HttpResponse:
    """Send the user to prove who they are (or to set up a second factor), then back. A
    plain form's POST is kept and carried out after (allauth's suspended request); an htmx
    request reloads the page it came from afterwards, where the user clicks again."""
    messages.info(request, why)
    target = reverse(url_name)
    htmx = getattr(request, "htmx", None)
    if htmx:
        back = htmx.current_url_abs_path or "/"
        return HttpResponseClientRedirect(f"{target}?{urlencode({'next': back})}")
    if url_name == "mfa_index":
        return redirect(target)
    return suspend_request(request, target)


def requires_recent_auth(view: View) -> View:
    """A POST to `view` needs the user to have signed in or re-authenticated within
    RECENT_AUTH_MINUTES (15); otherwise they confirm their password (or second factor, or
    sign in with SSO again) and the POST goes on. For deciding approvals and editing policy."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        if request.method == "POST":
            age = time.time() - identity.last_authenticated_at(request)
            if age > settings.RECENT_AUTH_MINUTES * 60:
                return _step_up(
                    request,
                    "account_reauthenticate",
                    f"You signed in more than {settings.RECENT_AUTH_MINUTES} minutes ago: "
                    "confirm it is you to go on.",
                )
        return view(request, *args, **kwargs)

    wrapped.requires_recent_auth = True  # type: ignore[attr-defined]
    return wrapped


def requires_mfa(view: View) -> View:
    """A POST to `view` by someone who must use a second factor (identity.mfa_required:
    finance and admin, or everyone by setting) needs one set up and proved in this session;
    otherwise they are sent to set one up, or to prove it, first. For every money action
    and decision."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        user = request.user
        if request.method == "POST" and user.is_authenticated:
            assert isinstance(user, User)
            if identity.mfa_required(user):
                if not identity.mfa_enrolled(user):
                    return _step_up(
                        request,
                        "mfa_index",
                        "Your role moves money: set up a second factor (an authenticator app "
                        "or a security key) before you act or decide.",
                    )
                if not identity.mfa_used(request):
                    return _step_up(
                        request,
                        "mfa_reauthenticate",
                        "Prove your second factor to move money or decide.",
                    )
        return view(request, *args, **kwargs)

    wrapped.requires_mfa = True  # type: ignore[attr-defined]
    return wrapped


def access_rule(view: Callable) -> str | None:
    """How a view is protected, for the convention test; None if it states no rule.

    The JSON API's endpoints take an API token instead of a session (billing/api/auth.py)
    and say so with `api_access`."""
    api = getattr(view, "api_access", None)
    if api is not None:
        return f"api: {api}"
    if getattr(view, "login_required", True) is False:
        return "public"
    permissions = getattr(view, "staff_permissions", None)
    if permissions is not None:
        return "staff: " + (", ".join(permissions) or "signed in")
    return None

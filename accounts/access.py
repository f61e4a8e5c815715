"""Who may open which view. Every view states its rule explicitly (a convention test checks):

- `@staff_view("app.permission", ...)`: a signed-in staff user holding every listed permission
  (`@staff_view()` with none: any signed-in user, e.g. to sign out);
- Django's `@login_not_required`: public (the login page, `/healthz`, Stripe's webhook).

Anonymous users never reach a `staff_view`: `LoginRequiredMiddleware` sends them to the login
page first. The check runs on the server for every request; hiding a link is not a check.
"""

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django_htmx.middleware import HtmxDetails

from accounts.models import User

View = Callable[..., HttpResponseBase]


class StaffRequest(HttpRequest):
    """What a view behind `@staff_view` receives: a signed-in staff member's request, with
    django-htmx's details."""

    user: User  # type: ignore[assignment]
    htmx: HtmxDetails


def staff_view(*permissions: str) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
            user = request.user
            if not user.is_authenticated or not user.is_active:
                raise PermissionDenied
            if not user.has_perms(permissions):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.staff_permissions = permissions  # type: ignore[attr-defined]
        return wrapped

    return decorator


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

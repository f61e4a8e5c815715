from allauth.account import views as allauth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, include, path

from accounts import views
from accounts.access import staff_view

# Pages of allauth reached before anyone is signed in: the SSO round trip, and the second
# factor asked during an SSO sign-in. Every other allauth page is for a signed-in user.
_PUBLIC_ALLAUTH = {
    "openid_connect_login",
    "openid_connect_callback",
    "mfa_authenticate",
    "socialaccount_login_cancelled",
    "socialaccount_login_error",
    "socialaccount_signup",  # closed: it only says so
}


def _stated(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    """allauth's URL patterns, each view stating who may open it (tests/test_conventions.py)."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            _stated(entry.url_patterns)
        elif entry.name in _PUBLIC_ALLAUTH:
            entry.callback = login_not_required(entry.callback)
        else:
            entry.callback = staff_view()(entry.callback)
    return patterns


def _allauth(module: str) -> list[URLPattern | URLResolver]:
    from importlib import import_module

    return _stated(list(import_module(module).urlpatterns))


urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    # The same pages under the names allauth's own pages link to.
    path("login/", views.login, name="account_login"),
    path("logout/", views.logout, name="account_logout"),
    path("staff/", views.staff, name="staff"),
    path("staff/export.csv", views.staff_export, name="staff_export"),
    path("api-tokens/", views.api_tokens, name="api_tokens"),
    path(
        "api-tokens/<int:token_id>/revoke/",
        views.api_token_revoke,
        name="api_token_revoke",
    ),
    # allauth: re-authentication, second factors, and the OpenID Connect round trip.
    path(
        "accounts/reauthenticate/",
        staff_view()(allauth_views.reauthenticate),
        name="account_reauthenticate",
    ),
    path("accounts/2fa/", include(_allauth("allauth.mfa.urls"))),
    path(
        "accounts/",  # under oidc/<provider>/ (allauth's prefix)
        include(_allauth("allauth.socialaccount.providers.openid_connect.urls")),
    ),
    path("accounts/social/", include(_allauth("allauth.socialaccount.urls"))),
]

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import StaffRequest, staff_view
from accounts.forms import ApiTokenForm, RevokeTokenForm, StaffAuthenticationForm
from accounts.models import ApiToken, User
from accounts.review import write_access_review
from accounts.roles import Role
from accounts.tokens import TokenError, issue_token, revoke_token


class LoginView(auth_views.LoginView):
    """The sign-in page: single sign-on with the company's provider when configured, and the
    local password form (rate-limited, with lockout) unless PASSWORD_SIGN_IN=0."""

    template_name = "accounts/login.html"
    authentication_form = StaffAuthenticationForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "password_sign_in": settings.PASSWORD_SIGN_IN,
            "sso_name": settings.OIDC_NAME if settings.OIDC_ISSUER else "",
        }


login = LoginView.as_view()
logout = staff_view()(auth_views.LogoutView.as_view())


@staff_view("accounts.review_access")
@require_GET
def staff(request: StaffRequest) -> TemplateResponse:
    """Every staff member and their roles: admins manage them, auditors read them."""
    users = User.objects.prefetch_related("groups").order_by("-is_active", "username")
    return TemplateResponse(
        request,
        "accounts/staff.html",
        {
            "users": users,
            "roles": [role.value for role in Role],
            "may_manage": request.user.has_perm("accounts.manage_staff"),
        },
    )


@staff_view("accounts.review_access")
@require_GET
def staff_export(request: StaffRequest) -> HttpResponse:
    """The access review (SOC 2): staff × roles × last sign-in × second factor, as CSV."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y-%m-%d")
    response["Content-Disposition"] = f'attachment; filename="staff-access-{stamp}.csv"'
    write_access_review(response, now=timezone.now())
    return response


@staff_view("accounts.manage_staff")
@require_http_methods(["GET", "POST"])
@never_cache
def api_tokens(request: StaffRequest) -> TemplateResponse:
    """Every API token (owner, scope, created, last used, expiry), and a form for a new one,
    which is shown once, on the answer to the form, and never again (it is stored hashed)."""
    now = timezone.now()
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    issued = None
    if form.is_valid():
        try:
            token, value = issue_token(
                actor=request.user,
                user=form.cleaned_data["user"],
                name=form.cleaned_data["name"],
                read_only=form.cleaned_data["read_only"],
                expires_in_days=form.cleaned_data["expires_in_days"],
                now=now,
            )
        except TokenError as error:
            form.add_error(None, str(error))
        else:
            issued = {"token": token, "value": value}
            form = ApiTokenForm()
    return TemplateResponse(
        request,
        "accounts/api_tokens.html",
        {
            "form": form,
            "issued": issued,
            "tokens": [
                (token, token.state(now))
                for token in ApiToken.objects.select_related("user", "created_by", "revoked_by")
            ],
        },
        status=400 if request.method == "POST" and issued is None else 200,
    )


@staff_view("accounts.manage_staff")
@require_POST
def api_token_revoke(request: StaffRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id)
    form = RevokeTokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the token is revoked.")
        return redirect("api_tokens")
    try:
        revoke_token(
            actor=request.user, token=token, reason=form.cleaned_data["reason"], now=timezone.now()
        )
    except TokenError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Revoked {token.prefix}…: it no longer works.")
    return redirect("api_tokens")

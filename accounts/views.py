from django.contrib.auth import views as auth_views
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from accounts.access import StaffRequest, staff_view
from accounts.models import User

login = auth_views.LoginView.as_view(
    template_name="accounts/login.html", redirect_authenticated_user=True
)
logout = staff_view()(auth_views.LogoutView.as_view())


@staff_view("accounts.manage_staff")
@require_GET
def staff(request: StaffRequest) -> TemplateResponse:
    users = User.objects.prefetch_related("groups").order_by("-is_active", "username")
    return TemplateResponse(request, "accounts/staff.html", {"users": users})

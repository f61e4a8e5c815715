"""The navigation bar: the sections the signed-in user's roles may open, and nothing else."""

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from accounts.backends import role_names
from billing.actions import policy


@dataclass(frozen=True)
class Section:
    label: str
    url_name: str
    permission: str


SECTIONS = [
    Section("Customers", "customers", "billing.view_customer"),
    Section("Tickets", "tickets", "support.view_ticket"),
    Section("Approvals", "approvals", "billing.view_approvalrequest"),
    Section("Audit log", "audit_log", "billing.view_audit_log"),
    Section("Policy", "policy", "billing.view_policylimit"),
    Section("Staff", "staff", "accounts.review_access"),
    Section("API tokens", "api_tokens", "accounts.manage_staff"),
]


def navigation(request: HttpRequest) -> dict:
    """Lazily: only a page that draws the bar reads it (an htmx section, a partial, does not),
    and the approvals badge's count is the one query it costs."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_sections": []}
    return {
        "nav_sections": SimpleLazyObject(lambda: _sections(request, user)),
        "user_roles": SimpleLazyObject(lambda: role_names(user)),
    }


def _sections(request: HttpRequest, user) -> list[dict]:
    current = request.path
    sections = []
    for section in SECTIONS:
        if user.has_perm(section.permission):
            url = reverse(section.url_name)
            count = 0
            if section.url_name == "approvals":
                count = policy.waiting_count(user, timezone.now())
            sections.append(
                {
                    "label": section.label,
                    "url": url,
                    "active": current.startswith(url),
                    "count": count,
                }
            )
    return sections

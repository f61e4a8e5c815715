from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.access import StaffRequest, staff_view
from billing import audit_log as audit
from billing.actions import policy as limits
from billing.models import ActionKind, ApprovalRequest, PolicyLimit, ReasonCode


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when the database answers; 503 otherwise (for the load balancer)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "database unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


APPROVAL_TABS = {
    "waiting": "Waiting for me",
    "mine": "Requested by me",
    "decided": "Decided",
}


@staff_view("billing.view_approvalrequest")
@require_GET
def approvals(request: StaffRequest) -> TemplateResponse:
    now = timezone.now()
    tab = request.GET.get("tab", "waiting")
    if tab not in APPROVAL_TABS:
        tab = "waiting"
    requests = ApprovalRequest.objects.select_related(
        "action__customer", "action__actor", "decided_by"
    )
    if tab == "waiting":
        requests = requests.filter(
            pk__in=limits.decidable_by(request.user, now).values("pk")
        ).order_by("expires_at")
    elif tab == "mine":
        requests = requests.filter(requested_by=request.user)
    else:
        requests = requests.decided().order_by("-decided_at")
    return TemplateResponse(
        request,
        "billing/approvals.html",
        {"tab": tab, "tabs": APPROVAL_TABS, "requests": requests[:100], "now": now},
    )


@staff_view("billing.view_audit_log")
@require_GET
def audit_log(request: StaffRequest) -> TemplateResponse:
    filters = audit.AuditFilters.from_query(request.GET)
    page = audit.page(filters, size=50)
    template = "billing/audit_log.html"
    if request.htmx:
        template += "#entries"
    return TemplateResponse(
        request,
        template,
        {
            "filters": filters,
            "page": page,
            "errors": filters.errors,
            "model_choices": audit.model_choices(),
        },
    )


@staff_view("billing.view_policylimit", "billing.view_reasoncode")
@require_GET
def policy(request: StaffRequest) -> TemplateResponse:
    limits = PolicyLimit.objects.select_related("role").order_by("role__name", "kind", "currency")
    reasons = ReasonCode.objects.filter(active=True).order_by("kind", "position")
    reasons_by_kind: dict[str, list[ReasonCode]] = {}
    for reason in reasons:
        reasons_by_kind.setdefault(reason.kind, []).append(reason)
    return TemplateResponse(
        request,
        "billing/policy.html",
        {
            "limits": limits,
            "reasons_by_kind": [
                (ActionKind(kind).label, codes) for kind, codes in reasons_by_kind.items()
            ],
        },
    )

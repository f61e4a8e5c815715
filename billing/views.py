from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import chain
from accounts.access import StaffRequest, requires_mfa, requires_recent_auth, staff_view
from accounts.models import User
from accounts.roles import Role
from billing import actions, admin_forms, diffs, health, paging
from billing import audit_log as audit
from billing import forms as billing_forms
from billing.actions import policy as limits
from billing.actions import policy_admin, review
from billing.actions import staff as staff_changes
from billing.models import (
    MONEY_KINDS,
    Action,
    ActionKind,
    ActionState,
    ApprovalRequest,
    AuditExport,
    Customer,
    PolicyLimit,
    ReasonCode,
)
from billing.money import format_amount


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


@login_not_required
@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when this process may take traffic (billing/health.py); 503 with what is not
    ready. Costlier than /healthz: for a deployment's readiness gate, not a liveness probe."""
    checks = health.readiness(now=timezone.now())
    ready = all(finding == "ok" for finding in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "not ready", **checks}, status=200 if ready else 503
    )


APPROVAL_TABS = {
    "waiting": "Waiting for me",
    "mine": "Requested by me",
    "decided": "Decided",
}


APPROVALS_PAGE = 25  # cards a page; each pending one loads its preview as it stands now
# Each tab's order, as (moment, ascending): the key its pages follow. Cards are decided and
# withdrawn in place, so a page starts after the last card shown, not at an offset that
# those would shift.
APPROVAL_ORDER = {
    "waiting": ("expires_at", True),
    "mine": ("created_at", False),
    "decided": ("decided_at", False),
}


def _approval_rows(
    request: StaffRequest, tab: str, now: dt.datetime, after: tuple[dt.datetime, int] | None
) -> list[ApprovalRequest]:
    """The tab's page after `after` (from its start if None), and one row more if there is."""
    moment, ascending = APPROVAL_ORDER[tab]
    order = (moment, "pk") if ascending else (f"-{moment}", "-pk")
    rows = ApprovalRequest.objects.select_related(
        "action__customer", "action__actor", "requested_by", "decided_by"
    )
    if tab == "waiting":
        listed = limits.decidable_by(request.user, now)
    elif tab == "mine":
        listed = rows.filter(requested_by=request.user)
    else:
        listed = rows.decided()
    if after is not None:
        beyond = "gt" if ascending else "lt"
        listed = listed.filter(
            Q(**{f"{moment}__{beyond}": after[0]})
            | Q(**{moment: after[0], f"pk__{beyond}": after[1]})
        )
    listed = listed.order_by(*order)
    if tab == "waiting":
        # The page's ids first (the pending-requests index serves them), then their rows: as
        # one query PostgreSQL joined every request of the table to its action before keeping
        # the few the user may decide.
        page = list(listed.values_list("pk", flat=True)[: APPROVALS_PAGE + 1])
        return list(rows.filter(pk__in=page).order_by(*order))
    return list(listed[: APPROVALS_PAGE + 1])


def _left(delta: dt.timedelta) -> str:
    hours, seconds = divmod(int(delta.total_seconds()), 3600)
    return f"{hours} h {seconds // 60} min" if hours else f"{seconds // 60} min"


@staff_view("billing.view_approvalrequest")
@require_GET
def approvals(request: StaffRequest) -> TemplateResponse:
    now = timezone.now()
    tab = request.GET.get("tab", "waiting")
    if tab not in APPROVAL_TABS:
        tab = "waiting"
    after = paging.parse_keyset(request.GET.get("after", ""))
    rows = _approval_rows(request, tab, now, after)
    more, rows = len(rows) > APPROVALS_PAGE, rows[:APPROVALS_PAGE]
    moment = APPROVAL_ORDER[tab][0]
    next_after = paging.keyset_cursor(getattr(rows[-1], moment), rows[-1].pk) if more else ""
    page = [row.pk for row in rows]
    decidable = (
        set(page)  # the tab lists just those
        if tab == "waiting"
        else set(
            limits.decidable_by(request.user, now).filter(pk__in=page).values_list("pk", flat=True)
        )
    )
    cards = [
        {
            "approval": row,
            "action": row.action,
            "change": review.describe(row.action),
            "may_decide": row.pk in decidable,
            "may_withdraw": row.requested_by_id == request.user.pk and row.is_pending(now),
            "time_left": _left(row.expires_at - now) if row.is_pending(now) else "",
        }
        for row in rows
    ]
    return TemplateResponse(
        request,
        "billing/approvals.html",
        {
            "tab": tab,
            "tabs": APPROVAL_TABS,
            "cards": cards,
            "now": now,
            "after": after,
            "next_after": next_after,
        },
    )


@staff_view("billing.view_approvalrequest")
@require_GET
def approval_preview(request: StaffRequest, approval_id: int) -> TemplateResponse:
    """The request's preview as things stand now (loaded into its card by htmx)."""
    approval = get_object_or_404(
        ApprovalRequest.objects.select_related(
            "action__customer",
            "action__payment",
            "action__subscription__price__plan",
            "action__subscription__customer",
            "action__invoice",
            "action__balance_transaction__customer",
        ),
        pk=approval_id,
    )
    preview = problem = None
    try:
        preview = review.preview_action(approval.action)
    except actions.ActionError as error:
        problem = error.message
    return TemplateResponse(
        request,
        "billing/approvals.html#preview",
        {"approval": approval, "preview": preview, "problem": problem},
    )


def _decided(request: StaffRequest, approval: ApprovalRequest, action: Action | None, error: str):
    """After approve, reject or withdraw: the card again (htmx) or the inbox (a plain post)."""
    if not request.htmx:
        if error:
            messages.error(request, error)
        elif action is not None:
            messages.success(request, f"{action}: {action.get_state_display().lower()}.")
        return redirect(f"{reverse('approvals')}?tab={request.POST.get('tab', 'waiting')}")
    approval = ApprovalRequest.objects.select_related(
        "action__customer", "action__actor", "requested_by", "decided_by"
    ).get(pk=approval.pk)
    now = timezone.now()
    card = {
        "approval": approval,
        "action": approval.action,
        "change": review.describe(approval.action),
        "may_decide": limits.decidable_by(request.user, now).filter(pk=approval.pk).exists(),
        "may_withdraw": approval.requested_by_id == request.user.pk and approval.is_pending(now),
        "time_left": _left(approval.expires_at - now) if approval.is_pending(now) else "",
        "error": error,
    }
    return TemplateResponse(request, "billing/approvals.html#card", {"card": card, "now": now})


@staff_view("billing.approve_action")
@require_POST
@requires_mfa
@requires_recent_auth
def approval_approve(request: StaffRequest, approval_id: int) -> HttpResponse:
    approval = get_object_or_404(ApprovalRequest, pk=approval_id)
    try:
        action = actions.approve(
            approval_pk=approval.pk, approver=request.user, note=request.POST.get("note", "")
        )
    except actions.ActionError as error:
        return _decided(request, approval, None, error.message)
    return _decided(request, approval, action, "")


@staff_view("billing.approve_action")
@require_POST
@requires_mfa
@requires_recent_auth
def approval_reject(request: StaffRequest, approval_id: int) -> HttpResponse:
    approval = get_object_or_404(ApprovalRequest, pk=approval_id)
    try:
        action = actions.reject(
            approval_pk=approval.pk, approver=request.user, reason=request.POST.get("reason", "")
        )
    except actions.ActionError as error:
        return _decided(request, approval, None, error.message)
    return _decided(request, approval, action, "")


@staff_view("billing.request_action")
@require_POST
def approval_withdraw(request: StaffRequest, approval_id: int) -> HttpResponse:
    approval = get_object_or_404(ApprovalRequest, pk=approval_id)
    try:
        action = actions.withdraw(approval_pk=approval.pk, requester=request.user)
    except actions.ActionError as error:
        return _decided(request, approval, None, error.message)
    return _decided(request, approval, action, "")


# Action panels ----------------------------------------------------------------------------------


def _panel_response(
    request: StaffRequest, step: str, context: dict[str, object], *, changed: bool = False
) -> TemplateResponse:
    template = "billing/action_panel.html"
    if request.htmx:
        template += f"#{step}"
    response = TemplateResponse(request, template, {**context, "step": step})
    if changed:
        response.headers["HX-Trigger"] = "billing-changed"
    return response


@staff_view("billing.view_customer", "billing.request_action")
@require_http_methods(["GET", "POST"])
@requires_mfa
def action_panel(request: StaffRequest, customer_id: int, panel: str) -> HttpResponse:
    """One action of the customer page in three steps: the form, the review (the service's
    preview and what policy will do), the confirmation; then the outcome."""
    form_class = billing_forms.PANELS.get(panel)
    if form_class is None:
        raise Http404("No such action.")
    customer = get_object_or_404(Customer, pk=customer_id)
    source = request.POST if request.method == "POST" else request.GET
    try:
        target = billing_forms.target_of(
            form_class, customer, source.get(form_class.target_param, "")
        )
    except LookupError as error:
        raise Http404(str(error)) from None
    context: dict[str, object] = {
        "customer": customer,
        "panel": panel,
        "target": target,
        "title": form_class.title,
        "target_param": form_class.target_param,
    }
    if request.method == "GET":
        initial = {"ticket": request.GET.get("ticket", "")[:64]}
        form = form_class(customer=customer, target=target, initial=initial)
        return _panel_response(request, "form", {**context, "form": form})
    form = form_class(request.POST, customer=customer, target=target)
    step = request.POST.get("step", "review")
    if step == "edit" or not form.is_valid():
        return _panel_response(request, "form", {**context, "form": form})
    now = timezone.now()
    if step == "confirm":
        expected = billing_forms.Review.of(user=request.user, panel=panel, form=form)
        try:
            request_key = billing_forms.check_confirm(request.POST.get("token", ""), expected)
        except billing_forms.ReviewExpired as error:
            form.add_error(None, str(error))
            return _panel_response(request, "form", {**context, "form": form})
        try:
            action = form.submit(actor=request.user, request_key=request_key)
        except actions.InvalidAction as error:
            form.absorb(error)
            return _panel_response(request, "form", {**context, "form": form})
        except actions.ActionError as error:
            form.add_error(None, error.message)
            return _panel_response(request, "form", {**context, "form": form})
        return _panel_response(request, "outcome", {**context, **_outcome(action)}, changed=True)
    try:
        preview = form.preview()
    except actions.InvalidAction as error:
        form.absorb(error)
        return _panel_response(request, "form", {**context, "form": form})
    except actions.ActionError as error:
        form.add_error(None, error.message)
        return _panel_response(request, "form", {**context, "form": form})
    decision = limits.decide(
        user=request.user,
        kind=preview.kind,
        currency=preview.currency,
        measure=preview.measure,
        now=now,
    )
    deciders = (
        []
        if decision.direct
        else limits.roles_that_may_decide(
            kind=preview.kind, currency=preview.currency, measure=preview.measure
        )
    )
    token = billing_forms.Review.of(user=request.user, panel=panel, form=form).token()
    return _panel_response(
        request,
        "review",
        {
            **context,
            "form": form,
            "preview": preview,
            "decision": decision,
            "deciders": deciders,
            "token": token,
        },
    )


def _outcome(action: Action) -> dict[str, object]:
    return {"action": action, "attempt": action.last_attempt(), "change": review.describe(action)}


@staff_view("billing.view_action")
@require_GET
def action_status(request: StaffRequest, action_id: int) -> TemplateResponse:
    """An action's state as it is now (the outcome panel polls it while Stripe is asked)."""
    action = get_object_or_404(Action.objects.select_related("customer", "actor"), pk=action_id)
    terminal = action.state != ActionState.EXECUTING
    template = "billing/action_panel.html" + ("#outcome" if request.htmx else "")
    context = {"customer": action.customer, "step": "outcome", **_outcome(action)}
    response = TemplateResponse(request, template, context)
    if terminal and request.htmx:
        response.headers["HX-Trigger"] = "billing-changed"
    return response


@staff_view("billing.view_audit_log")
@require_GET
def audit_log(request: StaffRequest) -> TemplateResponse:
    filters = audit.AuditFilters.from_query(request.GET)
    page = audit.page(filters, size=50)
    template = "billing/audit_log.html"
    if request.htmx:
        template += "#entries"
    full_page = not request.htmx
    return TemplateResponse(
        request,
        template,
        {
            "filters": filters,
            "filter_query": urlencode(filters.as_query()),
            "page": page,
            "errors": filters.errors,
            "model_choices": audit.model_choices(),
            "kind_choices": ActionKind.choices,
            "may_export": request.user.has_perm("billing.export_data"),
            "chain_heads": chain.heads() if full_page else [],
            "exports": AuditExport.objects.select_related("exported_by")[:10] if full_page else [],
        },
    )


def _cap_text(limit: PolicyLimit, value: int | None) -> str:
    """A cap as the edit form shows it (and parse_cap reads it back)."""
    if value is None:
        return ""
    if limit.kind in MONEY_KINDS and value:
        return format_amount(value, limit.currency)
    return str(value)


POLICY_HISTORY_SHOWN = 20


def _policy_page(
    request: StaffRequest, bound: tuple[str, int, object] | None = None, status: int = 200
) -> TemplateResponse:
    """The policy page; for an admin every row with its edit form, `bound` being the one
    just posted with its errors."""
    limits = list(
        PolicyLimit.objects.select_related("role").order_by("role__name", "kind", "currency")
    )
    may_manage = request.user.has_perm(policy_admin.MANAGE_POLICY)
    reasons = ReasonCode.objects.order_by("kind", "position")
    if not may_manage:
        reasons = reasons.filter(active=True)

    def form_for(key: str, pk: int, make):
        if bound is not None and bound[0] == key and bound[1] == pk:
            return bound[2]
        return make() if may_manage else None

    limit_rows = [
        (
            limit,
            form_for(
                "limit",
                limit.pk,
                lambda limit=limit: admin_forms.CapsForm(
                    kind=limit.kind,
                    currency=limit.currency,
                    initial={
                        "per_action": _cap_text(limit, limit.per_action),
                        "per_day": _cap_text(limit, limit.per_day),
                    },
                    prefix=f"limit-{limit.pk}",
                ),
            ),
        )
        for limit in limits
    ]
    reasons_by_kind: dict[str, list[tuple[ReasonCode, object]]] = {}
    for reason in reasons:
        form = form_for(
            "reason",
            reason.pk,
            lambda reason=reason: admin_forms.ReasonChangeForm(
                initial={"active": reason.active, "requires_note": reason.requires_note},
                prefix=f"reason-{reason.pk}",
            ),
        )
        reasons_by_kind.setdefault(reason.kind, []).append((reason, form))
    context: dict[str, object] = {
        "limit_rows": limit_rows,
        "reasons_by_kind": [
            (ActionKind(kind).label, rows) for kind, rows in reasons_by_kind.items()
        ],
        "may_manage": may_manage,
    }
    if may_manage:
        context["new_limit_form"] = form_for("new_limit", 0, admin_forms.NewLimitForm)
        context["new_reason_form"] = form_for("new_reason", 0, admin_forms.NewReasonForm)
    if request.user.has_perm("billing.view_audit_log") or may_manage:
        changes = [
            *PolicyLimit.history.select_related("history_user").order_by("-history_date")[
                :POLICY_HISTORY_SHOWN
            ],
            *ReasonCode.history.select_related("history_user").order_by("-history_date")[
                :POLICY_HISTORY_SHOWN
            ],
        ]
        changes.sort(key=lambda row: row.history_date, reverse=True)
        context["changes"] = changes[:POLICY_HISTORY_SHOWN]
    return TemplateResponse(request, "billing/policy.html", context, status=status)


@staff_view("billing.view_audit_log", "billing.export_data")
@require_GET
def audit_export(request: StaffRequest) -> HttpResponse | StreamingHttpResponse:
    """The filtered log as CSV, streamed as it is read; the export itself goes on record."""
    filters = audit.AuditFilters.from_query(request.GET)
    if filters.errors:
        return HttpResponse(" ".join(filters.errors), status=400, content_type="text/plain")
    audit.record_export(actor=request.user, filters=filters)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(audit.export_csv(filters), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    return response


@staff_view("billing.view_policylimit", "billing.view_reasoncode")
@require_GET
def policy(request: StaffRequest) -> TemplateResponse:
    """Limits per role, kind and currency, and reason codes; admins edit them here."""
    return _policy_page(request)


def _policy_write(request: StaffRequest, key: str, pk: int, form, write) -> HttpResponse:
    """Validate `form`, run `write(cleaned_data)` (a policy_admin service); on success back
    to the policy page with what changed, else the page with the errors by field."""
    if form.is_valid():
        try:
            done = write(form.cleaned_data)
        except actions.InvalidAction as error:
            form.absorb(error.errors)
        except actions.ActionError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, done)
            return redirect("policy")
    return _policy_page(request, (key, pk, form), status=400)


@staff_view("billing.view_policylimit", "billing.manage_policy")
@require_POST
@requires_mfa
@requires_recent_auth  # a change of policy or staff asks for a recent sign-in
def policy_limit(request: StaffRequest, limit_id: int) -> HttpResponse:
    limit = get_object_or_404(PolicyLimit.objects.select_related("role"), pk=limit_id)
    form = admin_forms.CapsForm(
        request.POST, kind=limit.kind, currency=limit.currency, prefix=f"limit-{limit.pk}"
    )

    def write(data: dict) -> str:
        changed = policy_admin.set_limit(
            actor=request.user,
            limit=limit,
            per_action=data["per_action"],
            per_day=data["per_day"],
            reason=data["reason"],
        )
        name = policy_admin.limit_name(changed.role, changed.kind, changed.currency)
        return f"Limit of {name} changed; it applies to the next action."

    return _policy_write(request, "limit", limit.pk, form, write)


@staff_view("billing.view_policylimit", "billing.manage_policy")
@require_POST
@requires_mfa
@requires_recent_auth  # a change of policy or staff asks for a recent sign-in
def policy_limit_new(request: StaffRequest) -> HttpResponse:
    form = admin_forms.NewLimitForm(request.POST)

    def write(data: dict) -> str:
        added = policy_admin.add_limit(
            actor=request.user,
            role=data["role"],
            kind=data["kind"],
            currency=data.get("currency") or "",
            per_action=data["per_action"],
            per_day=data["per_day"],
            reason=data["reason"],
        )
        name = policy_admin.limit_name(added.role, added.kind, added.currency)
        return f"Limit of {name} added."

    return _policy_write(request, "new_limit", 0, form, write)


@staff_view("billing.view_reasoncode", "billing.manage_policy")
@require_POST
@requires_mfa
@requires_recent_auth  # a change of policy or staff asks for a recent sign-in
def policy_reason_new(request: StaffRequest) -> HttpResponse:
    form = admin_forms.NewReasonForm(request.POST)

    def write(data: dict) -> str:
        added = policy_admin.add_reason_code(
            actor=request.user,
            kind=data["kind"],
            code=data["code"],
            label=data["label"],
            requires_note=data["requires_note"],
            reason=data["reason"],
        )
        return f"Reason {added.code} added for {added.get_kind_display().lower()}."

    return _policy_write(request, "new_reason", 0, form, write)


@staff_view("billing.view_reasoncode", "billing.manage_policy")
@require_POST
@requires_mfa
@requires_recent_auth  # a change of policy or staff asks for a recent sign-in
def policy_reason(request: StaffRequest, reason_id: int) -> HttpResponse:
    reason_code = get_object_or_404(ReasonCode, pk=reason_id)
    form = admin_forms.ReasonChangeForm(request.POST, prefix=f"reason-{reason_code.pk}")

    def write(data: dict) -> str:
        changed = policy_admin.change_reason_code(
            actor=request.user,
            reason_code=reason_code,
            active=data["active"],
            requires_note=data["requires_note"],
            reason=data["reason"],
        )
        state = "offered" if changed.active else "no longer offered"
        return f"Reason {changed.code} for {changed.get_kind_display().lower()}: {state}."

    return _policy_write(request, "reason", reason_code.pk, form, write)


# Staff (the list is accounts' page; these writes reach the money path, so they live here) ---


def _staff_write(request: StaffRequest, form, write) -> HttpResponse:
    if form.is_valid():
        try:
            messages.success(request, write(form.cleaned_data))
        except actions.ActionError as error:
            messages.error(request, error.message)
    else:
        problems = " ".join(str(m) for errors in form.errors.values() for m in errors)
        messages.error(request, f"Nothing changed: {problems}")
    return redirect("staff")


def _withdrawn(count: int) -> str:
    if not count:
        return ""
    return f" {count} pending request{'s' if count != 1 else ''} of theirs withdrawn."


@staff_view("accounts.manage_staff")
@require_POST
@requires_mfa
@requires_recent_auth  # a change of policy or staff asks for a recent sign-in
def staff_roles(request: StaffRequest, user_id: int) -> HttpResponse:
    member = get_object_or_404(User, pk=user_id)
    form = admin_forms.RolesForm(request.POST)

    def write(data: dict) -> str:
        withdrawn = staff_changes.set_roles(
            actor=request.user,
            user=member,
            roles=[Role(role) for role in data["roles"]],
            reason=data["reason"],
        )
        roles = ", ".join(sorted(data["roles"])) or "no role"
        return f"{member.username} now holds {roles}.{_withdrawn(withdrawn)}"

    return _staff_write(request, form, write)


@staff_view("accounts.manage_staff")
@require_POST
@requires_mfa
@requires_recent_auth  # a change of policy or staff asks for a recent sign-in
def staff_active(request: StaffRequest, user_id: int) -> HttpResponse:
    member = get_object_or_404(User, pk=user_id)
    form = admin_forms.ActiveForm(request.POST)

    def write(data: dict) -> str:
        withdrawn = staff_changes.set_active(
            actor=request.user, user=member, active=data["active"], reason=data["reason"]
        )
        verb = "reactivated" if data["active"] else "deactivated"
        return f"{member.username} {verb}.{_withdrawn(withdrawn)}"

    return _staff_write(request, form, write)


@staff_view("billing.view_customer")
@require_GET
def object_history(request: StaffRequest, model: str, pk: int) -> TemplateResponse:
    """One record's history as changes (field: old → new, who, when, reason, ticket)."""
    historied = {m._meta.label_lower: m for m in audit.historied_models()}
    record_model = historied.get(model)
    if record_model is None:
        raise Http404("No such kind of record.")
    if not request.user.has_perm(
        f"{record_model._meta.app_label}.view_{record_model._meta.model_name}"
    ):
        raise PermissionDenied
    history = diffs.object_history(record_model, pk)
    if not history:
        raise Http404("This record has no history.")
    current = record_model._base_manager.filter(pk=pk).first()
    return TemplateResponse(
        request,
        "billing/object_history.html",
        {
            "model_name": str(record_model._meta.verbose_name).capitalize(),
            "record": current,
            "record_id": pk,
            "history": history,
            "customer_id": getattr(current, "customer_id", None)
            or (current.pk if isinstance(current, Customer) else None),
        },
    )

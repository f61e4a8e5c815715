from __future__ import annotations

import unicodedata
from urllib.parse import quote

from django.contrib import messages
from django.db.models import Count, Prefetch, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.access import StaffRequest, staff_view
from billing import as_of
from billing.actions import pipeline, policy
from billing.entitlements import effective_entitlements
from billing.models import (
    Action,
    ApprovalRequest,
    BalanceTransaction,
    Customer,
    Payment,
    Refund,
    StripeReadKind,
    clean_ticket_ref,
)
from billing.stripe import budget
from billing.stripe import gateway as stripe_gateway
from billing.stripe import sync as stripe_sync
from support import timeline
from support.models import Ticket, TicketStatus

SEARCH_LIMIT = 50


@staff_view("billing.view_customer")
@require_GET
def home(request: StaffRequest) -> TemplateResponse:
    user = request.user
    now = timezone.now()
    context: dict[str, object] = {"now": now}
    if user.has_perm("support.work_ticket"):
        context["my_tickets"] = (
            Ticket.objects.unsolved().assigned_to(user).select_related("customer")[:10]
        )
        context["unassigned_count"] = Ticket.objects.unsolved().unassigned().count()
    if user.has_perm("billing.approve_action"):
        context["waiting_count"] = policy.decidable_by(user, now).count()
    if user.has_perm("billing.request_action"):
        context["my_pending_count"] = (
            ApprovalRequest.objects.pending(now).filter(requested_by=user).count()
        )
    if user.has_perm("billing.view_audit_log"):
        context["recent_actions"] = Action.objects.select_related("customer", "actor")[:10]
    return TemplateResponse(request, "support/home.html", context)


@staff_view("billing.view_customer")
@require_GET
def customers(request: StaffRequest) -> TemplateResponse:
    query = request.GET.get("q", "").strip()[:200]
    template = "support/customers.html"
    if request.htmx:
        template += "#results"
    if not searchable(query):
        context = {"query": "", "results": [], "more": False, "error": UNSEARCHABLE}
        return TemplateResponse(request, template, context, status=400)
    results = (
        list(Customer.objects.search(query).order_by("name", "id")[: SEARCH_LIMIT + 1])
        if query
        else []
    )
    return TemplateResponse(
        request,
        template,
        {
            "query": query,
            "results": results[:SEARCH_LIMIT],
            "more": len(results) > SEARCH_LIMIT,
        },
    )


UNSEARCHABLE = "The search cannot contain control characters; type or paste plain text."


def searchable(text: str) -> bool:
    """Text the search can look for: no control characters (a NUL cannot even reach
    PostgreSQL) and no lone surrogates."""
    return not any(unicodedata.category(char) in ("Cc", "Cs") for char in text)


@staff_view("billing.view_customer")
@require_GET
def customer(request: StaffRequest, customer_id: int) -> TemplateResponse:
    """Everything about a customer's billing on one page, every action opening from it.

    `?partial=<section>` renders one section alone: htmx reloads the sections an action
    changed (they listen for the `billing-changed` event its outcome sends)."""
    customer = get_object_or_404(Customer.objects.with_balance(), pk=customer_id)
    if request.GET.get("as_of"):
        return _customer_as_of(request, customer, request.GET["as_of"])
    partial = request.GET.get("partial", "")
    if partial not in CUSTOMER_SECTIONS:
        partial = ""
    now = timezone.now()
    payments = (
        Payment.objects.filter(customer=customer)
        .with_refundable()
        .select_related("invoice")
        .prefetch_related(Prefetch("refunds", queryset=Refund.objects.order_by("-created")))
        .order_by("-created")[:50]
    )
    ticket = clean_ticket_ref(request.GET.get("ticket", "")) or ""
    context = {
        "customer": customer,
        "now": now,
        "ticket": ticket,
        "ticket_query": f"&ticket={ticket}" if ticket else "",
        "may_act": request.user.has_perm("billing.request_action"),
        "subscriptions": customer.subscriptions.select_related("price__plan").order_by("-created"),
        "entitlements": effective_entitlements(customer, at=now),
        "invoices": customer.invoices.order_by("-created")[:50],
        "payments": payments,
        "balance_transactions": BalanceTransaction.objects.filter(customer=customer)
        .with_reversible()
        .order_by("-created", "-id")[:50],
        "tickets": customer.tickets.select_related("assignee")[:20],
        "notes": customer.notes.select_related("author", "ticket")[:20],
        "actions": customer.actions.select_related("actor", "approval")[:20],
        "sync_problems": customer.sync_problems.open()[:10],
    }
    # The timeline (a fixed ~30 queries) loads after the page, by itself: the page's own
    # budget stays that of its sections.
    context.update(_timeline_context(request, customer, load=partial == "timeline"))
    template = "support/customer.html" + (f"#{partial}" if partial else "")
    return TemplateResponse(request, template, context)


def _customer_as_of(request: StaffRequest, customer: Customer, raw: str) -> TemplateResponse:
    """The customer page at a past moment, from the history: read-only, marked as past."""
    now = timezone.now()
    try:
        moment = as_of.parse_moment(raw[:40], now=now)
    except as_of.InvalidMoment as invalid:
        context = {"customer": customer, "past": None, "as_of_error": str(invalid), "raw": raw[:40]}
        return TemplateResponse(request, "support/customer_as_of.html", context, status=400)
    past = as_of.customer_as_of(customer, moment)
    return TemplateResponse(
        request,
        "support/customer_as_of.html",
        {"customer": customer, "past": past, "moment": moment, "now": now},
    )


def _timeline_context(
    request: StaffRequest, customer: Customer, *, load: bool
) -> dict[str, object]:
    kinds = [kind for kind in request.GET.getlist("kind") if kind in timeline.KINDS]
    before = request.GET.get("before", "")[:200]
    query = "".join(f"&kind={kind}" for kind in kinds)
    if not load:
        where = f"&before={quote(before)}" if before else ""
        return {"timeline": None, "timeline_query": query, "timeline_where": where}
    try:
        page = timeline.timeline(customer, before=before or None, kinds=kinds, size=30)
        error = ""
    except timeline.InvalidCursor as invalid:
        page, error = timeline.Page([], None), str(invalid)
    return {
        "timeline": page,
        "timeline_error": error,
        "timeline_kinds": [(key, label, key in kinds) for key, label in timeline.KINDS.items()],
        "timeline_query": query,
    }


# Sections of the customer page that can be rendered alone (and the empty action panel).
CUSTOMER_SECTIONS = {
    "subscriptions",
    "entitlements",
    "balance",
    "invoices",
    "payments",
    "notes",
    "actions",
    "timeline",
    "no_panel",
}


@staff_view("billing.request_action")
@require_POST
def customer_resync(request: StaffRequest, customer_id: int) -> HttpResponse:
    """Re-read the customer's billing from Stripe ("resync from Stripe")."""
    customer = get_object_or_404(Customer, pk=customer_id)
    if not customer.stripe_customer_id:
        messages.error(request, "This customer has no Stripe account to resync from.")
        return redirect("customer", customer_id=customer.pk)
    try:
        budget.spend(user=request.user, customer=customer, kind=StripeReadKind.RESYNC)
    except budget.OverBudget as refused:
        messages.error(request, refused.message)
        return redirect("customer", customer_id=customer.pk)
    try:
        pipeline.resync(
            customer.stripe_customer_id, reason="Resync from Stripe", actor=request.user
        )
    except stripe_gateway.StripeGatewayError as error:
        messages.error(request, f"Stripe did not answer ({error.message}); try again shortly.")
    else:
        messages.success(request, "Resynced from Stripe: this page shows Stripe's state now.")
    return redirect("customer", customer_id=customer.pk)


@staff_view("billing.view_customer")
@require_GET
def customer_drift(request: StaffRequest, customer_id: int) -> TemplateResponse:
    """Every difference between the mirror and Stripe for one customer (htmx fragment)."""
    customer = get_object_or_404(Customer, pk=customer_id)
    error = ""
    differences: list = []
    try:
        budget.spend(user=request.user, customer=customer, kind=StripeReadKind.COMPARE)
        differences = stripe_sync.drift(customer=customer)
    except budget.OverBudget as refused:
        error = refused.message
    except stripe_gateway.StripeGatewayError as failure:
        error = f"Stripe did not answer ({failure.message}); try again shortly."
    return TemplateResponse(
        request,
        "support/customer.html#drift",
        {"customer": customer, "differences": differences, "drift_error": error, "checked": True},
    )


TICKET_VIEWS = {
    "mine": "Mine",
    "unassigned": "Unassigned",
    "all": "All open",
    "solved": "Solved",
}


@staff_view("support.view_ticket")
@require_GET
def tickets(request: StaffRequest) -> TemplateResponse:
    view = request.GET.get("view", "mine")
    if view not in TICKET_VIEWS:
        view = "mine"
    status = request.GET.get("status", "")
    rows = Ticket.objects.select_related("customer", "assignee")
    if view == "mine":
        rows = rows.unsolved().assigned_to(request.user)
    elif view == "unassigned":
        rows = rows.unsolved().unassigned()
    elif view == "all":
        rows = rows.unsolved()
    else:
        rows = rows.filter(status=TicketStatus.SOLVED)
    if status in TicketStatus.values:
        rows = rows.filter(status=status)
    counts = Ticket.objects.aggregate(
        mine=Count("id", filter=~Q(status=TicketStatus.SOLVED) & Q(assignee=request.user)),
        unassigned=Count("id", filter=~Q(status=TicketStatus.SOLVED) & Q(assignee__isnull=True)),
        all=Count("id", filter=~Q(status=TicketStatus.SOLVED)),
        solved=Count("id", filter=Q(status=TicketStatus.SOLVED)),
    )
    return TemplateResponse(
        request,
        "support/tickets.html",
        {
            "view": view,
            "views": [(key, label, counts[key]) for key, label in TICKET_VIEWS.items()],
            "status": status,
            "statuses": TicketStatus.choices,
            "tickets": rows[:100],
        },
    )


@staff_view("support.view_ticket")
@require_GET
def ticket(request: StaffRequest, ticket_id: int) -> TemplateResponse:
    ticket = get_object_or_404(Ticket.objects.select_related("customer", "assignee"), pk=ticket_id)
    return TemplateResponse(
        request,
        "support/ticket.html",
        {
            "ticket": ticket,
            "notes": ticket.notes.select_related("author"),
            "actions": Action.objects.for_ticket(ticket.external_ref).select_related(
                "customer", "actor"
            ),
        },
    )

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import get_template
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import StaffRequest, staff_view
from billing import as_of, page_revisions
from billing.actions import pipeline, policy
from billing.entitlements import effective_entitlements_until
from billing.models import (
    Action,
    ApprovalRequest,
    Customer,
    Invoice,
    Payment,
    Refund,
    StripeReadKind,
    Subscription,
    SyncProblem,
    clean_ticket_ref,
    customers_with_balance,
    ledger_with_reversible,
)
from billing.models.prebuilt import CompiledOnce
from billing.paging import page_number
from billing.stripe import budget
from billing.stripe import gateway as stripe_gateway
from billing.stripe import sync as stripe_sync
from support import page_cache, services, timeline
from support.forms import AssignForm, CustomerNoteForm, NoteForm, StatusForm, TicketForm
from support.models import Note, Ticket, TicketStatus

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
        context["waiting_count"] = policy.waiting_count(user, now)
    if user.has_perm("billing.request_action"):
        context["my_pending_count"] = (
            ApprovalRequest.objects.pending(now).filter(requested_by=user).count()
        )
    if user.has_perm("billing.view_audit_log"):
        context["recent_actions"] = Action.objects.select_related("customer", "actor")[:10]
    return TemplateResponse(request, "support/home.html", context)


@staff_view("billing.view_customer")
@require_GET
def customers(request: StaffRequest) -> HttpResponse:
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
    exact = [customer for customer in results if customer.exact_match]
    if len(exact) == 1 and not request.htmx:
        # A search submitted (Enter) for one customer's Stripe id, billing email or invoice
        # number opens that customer; as-you-type (htmx) results never navigate away.
        return redirect("customer", customer_id=exact[0].pk)
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
def customer(request: StaffRequest, customer_id: int) -> HttpResponse:
    """Everything about a customer's billing on one page, every action opening from it.

    `?partial=<section>` renders one section alone: htmx reloads the sections an action
    changed (they listen for the `billing-changed` event its outcome sends). The content is
    kept by the revision of what it shows (support.page_cache): the bar around it is drawn for
    each request."""
    if request.GET.get("as_of"):
        customer = get_object_or_404(customers_with_balance(), pk=customer_id)
        return _customer_as_of(request, customer, request.GET["as_of"])
    view = CustomerView.of(request)
    try:
        # Before anything it covers is read, so what is kept under it is never older.
        revision = page_revisions.current(customer_id)
    except page_revisions.NoSuchCustomer:
        raise Http404("No such customer.") from None
    if view.partial == "timeline":
        revision = None  # the history it reads is not covered by the revision
    shown = page_cache.rendered(
        request, customer_id, revision, view, lambda: _render_customer(customer_id, view)
    )
    if view.partial:
        return HttpResponse(shown.html)
    return TemplateResponse(
        request, "support/customer.html", {"title": shown.title, "body": mark_safe(shown.html)}
    )


@dataclass(frozen=True)
class CustomerView:
    """Everything but the customer's rows that the customer page's content depends on: the
    section asked for, page numbers, the ticket worked under, the timeline's filter, and what
    the viewer may do. Two requests with the same view of the same revision see the same HTML."""

    partial: str
    pages: tuple[int, ...]
    ticket: str
    timeline_kinds: tuple[str, ...]
    timeline_before: str
    may_act: bool
    may_note: bool
    may_open_ticket: bool

    @classmethod
    def of(cls, request: StaffRequest) -> CustomerView:
        partial = request.GET.get("partial", "")
        partial = partial if partial in CUSTOMER_SECTIONS else ""
        # The timeline's filter shows in the whole page (its placeholder) and the timeline.
        with_timeline = partial in ("", "timeline")
        user = request.user
        return cls(
            partial=partial,
            pages=tuple(
                page_number(request.GET.get(f"{name}_page", "")) for name in PAGED_SECTIONS
            ),
            ticket=clean_ticket_ref(request.GET.get("ticket", "")) or "",
            timeline_kinds=tuple(
                kind for kind in request.GET.getlist("kind") if kind in timeline.KINDS
            )
            if with_timeline
            else (),
            timeline_before=request.GET.get("before", "")[:200] if with_timeline else "",
            may_act=user.has_perm("billing.request_action"),
            may_note=user.has_perm("support.add_note"),
            may_open_ticket=user.has_perm("support.work_ticket"),
        )

    def page(self, section: str) -> int:
        return self.pages[PAGED_SECTIONS.index(section)]


def _render_customer(customer_id: int, view: CustomerView) -> page_cache.Rendered:
    customer = next(iter(_customer_row(customer=customer_id)), None)
    if customer is None:
        raise Http404("No such customer.")
    now = timezone.now()
    ticket = view.ticket
    # Overrides start and run out with nothing written: what shows them is right until then.
    shown_entitlements, until = (
        effective_entitlements_until(customer, at=now)
        if view.partial in ("", "entitlements")
        else ([], None)
    )
    # Every section is built when the template first reads it, not before: htmx reloads one
    # section at a time (`?partial=`, several after each action), and each pays for its own
    # queries only.
    tickets = cast(  # a list to its readers, read at the first of them
        "list[Ticket]",
        SimpleLazyObject(lambda: list(_tickets(customer=customer.pk))),
    )
    context = {
        "customer": customer,
        "customer_url": customer.get_absolute_url(),
        "ticket": ticket,
        "ticket_query": f"&ticket={ticket}" if ticket else "",
        "may_act": view.may_act,
        "may_open_ticket": view.may_open_ticket,
        "csrf_token": page_cache.CSRF_PLACEHOLDER,
        "panel": PanelUrls(customer.pk),
        "subscriptions": _subscriptions(customer=customer.pk),
        "entitlements": shown_entitlements,
        "invoices": SectionPage(_invoices, customer, view.page("invoices")),
        "payments": PaymentsPage(_payments, customer, view.page("payments")),
        "balance_transactions": SectionPage(_ledger, customer, view.page("balance")),
        "tickets": tickets,
        "notes": _notes(customer=customer.pk),
        "actions": _actions(customer=customer.pk),
        "sync_problems": _sync_problems(customer=customer.pk),
        "may_note": view.may_note,
        "note_form": SimpleLazyObject(
            lambda: CustomerNoteForm(
                customer=customer,
                tickets=tickets,
                initial={"ticket": next((t.pk for t in tickets if t.external_ref == ticket), None)},
            )
        )
        if view.may_note
        else None,
    }
    # The timeline (a few queries of its own) loads after the page, by itself: the page's own
    # budget stays that of its sections.
    context.update(_timeline_context(customer, view, load=view.partial == "timeline"))
    template = "support/customer_sections.html" + (f"#{view.partial}" if view.partial else "")
    html = get_template(template).render(context)
    return page_cache.Rendered(customer.name, html, until)


# The customer page's queries, each compiled to SQL once per process (and page number):
# compiling them anew was a third of a first view's time (billing/models/prebuilt.py).
_customer_row = CompiledOnce(
    lambda *, customer: customers_with_balance().filter(pk=customer), customer=int
)
_subscriptions = CompiledOnce(
    lambda *, customer: (
        Subscription.objects.filter(customer=customer)
        .select_related("price__plan")
        .order_by("-created")
    ),
    customer=int,
)
# The tickets the customer page lists and a note from it may be kept under: the newest 20.
_tickets = CompiledOnce(
    lambda *, customer: Ticket.objects.filter(customer=customer).select_related("assignee")[:20],
    customer=int,
)
_notes = CompiledOnce(
    lambda *, customer: Note.objects.filter(customer=customer).select_related("author", "ticket")[
        :20
    ],
    customer=int,
)
_actions = CompiledOnce(
    lambda *, customer: Action.objects.filter(customer=customer).select_related(
        "actor", "approval"
    )[:20],
    customer=int,
)
_sync_problems = CompiledOnce(
    lambda *, customer: SyncProblem.objects.filter(customer=customer).open()[:10], customer=int
)


# The customer page's long sections show this many rows a page (newest first), so a customer
# with 5,000 invoices costs the page what one with 5 does: the same queries, the same rows.
SECTION_ROWS = 20
PAGED_SECTIONS = ("invoices", "payments", "balance")


def _rows_of(page: int) -> slice:
    """A section's rows on `page`, and one more: whether older ones exist (nothing counted)."""
    start = (page - 1) * SECTION_ROWS
    return slice(start, start + SECTION_ROWS + 1)


_invoices = CompiledOnce(
    lambda page, *, customer: Invoice.objects.filter(customer=customer).order_by("-created", "-id")[
        _rows_of(page)
    ],
    customer=int,
)
_payments = CompiledOnce(
    lambda page, *, customer: Payment.objects.filter(customer=customer).latest_with_refundable(
        SECTION_ROWS + 1, offset=_rows_of(page).start
    ),
    customer=int,
)
# The refunds of a page of payments: those of the customer's payments made from the page's
# oldest to its newest, which holds every payment on the page (and, at a moment the page's
# first or last shares, maybe one off it, whose refunds go unused). A prefetch would compile
# its query of the page's ids anew on every view.
_refunds_made_between = CompiledOnce(
    lambda *, customer, oldest, newest: Refund.objects.filter(
        payment__customer=customer, payment__created__gte=oldest, payment__created__lte=newest
    ).order_by("-created", "-id"),
    customer=int,
    oldest=dt.datetime,
    newest=dt.datetime,
)
_ledger = CompiledOnce(
    lambda page, *, customer: (
        ledger_with_reversible()
        .filter(customer=customer)
        .order_by("-created", "-id")[_rows_of(page)]
    ),
    customer=int,
)


class SectionPage:
    """One page of a customer page's section: its rows (read once, when the template first
    asks) and whether older ones exist (one row more is read; nothing is counted)."""

    def __init__(self, rows: CompiledOnce, customer: Customer, number: int):
        self._query, self._customer, self.number = rows, customer, number
        self._rows: list | None = None

    def _read(self) -> list:
        if self._rows is None:
            self._rows = list(self._query(self.number, customer=self._customer.pk))
        return self._rows

    def __iter__(self):
        return iter(self._read()[:SECTION_ROWS])

    def __len__(self) -> int:
        return len(self._read()[:SECTION_ROWS])

    @property
    def has_next(self) -> bool:
        return len(self._read()) > SECTION_ROWS

    @property
    def next_number(self) -> int:
        return self.number + 1

    @property
    def previous_number(self) -> int:
        return self.number - 1


class PaymentsPage(SectionPage):
    """A page of payments, each with its refunds, newest first (`payment.page_refunds`)."""

    def _read(self) -> list:
        if self._rows is not None:
            return self._rows
        payments = super()._read()
        shown = payments[:SECTION_ROWS]
        refunds: dict[int, list[Refund]] = {}
        if shown:
            made = _refunds_made_between(
                customer=self._customer.pk, oldest=shown[-1].created, newest=shown[0].created
            )
            for refund in made:
                refunds.setdefault(refund.payment_id, []).append(refund)
        for payment in payments:
            payment.page_refunds = refunds.get(payment.pk, [])
        return payments


class PanelUrls(dict):
    """The customer's action panel urls by panel (`panel.retry_payment` in a template), each
    reversed once a page however many rows link to it."""

    def __init__(self, customer_id: int):
        super().__init__()
        self.customer_id = customer_id

    def __missing__(self, key: str) -> str:
        url = self[key] = reverse("action_panel", args=[self.customer_id, key.replace("_", "-")])
        return url


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


def _timeline_context(customer: Customer, view: CustomerView, *, load: bool) -> dict[str, object]:
    kinds, before = view.timeline_kinds, view.timeline_before
    query = "".join(f"&kind={kind}" for kind in kinds)
    if not load:
        where = f"&before={quote(before)}" if before else ""
        return {"timeline": None, "timeline_query": query, "timeline_where": where}
    try:
        page = timeline.timeline(customer, before=before or None, kinds=list(kinds), size=30)
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
        "support/customer_sections.html#drift",
        {"customer": customer, "differences": differences, "drift_error": error, "checked": True},
    )


TICKET_VIEWS = {
    "mine": "Mine",
    "unassigned": "Unassigned",
    "all": "All open",
    TicketStatus.NEW.value: "New",
    TicketStatus.OPEN.value: "Open",
    TicketStatus.PENDING.value: "Pending",
    TicketStatus.SOLVED.value: "Solved",
}
QUEUE_LIMIT = 100
COUNT_CAP = 50  # tab counts stop at "50+": counting a whole helpdesk costs a scan


def _queue(view: str, user) -> QuerySet[Ticket]:
    rows = Ticket.objects.all()
    if view == "mine":
        return rows.unsolved().assigned_to(user)
    if view == "unassigned":
        return rows.unsolved().unassigned()
    if view == "all":
        return rows.unsolved()
    return rows.filter(status=view)


def capped_count(rows: QuerySet) -> str:
    found = len(rows.order_by().values_list("pk", flat=True)[: COUNT_CAP + 1])
    return f"{COUNT_CAP}+" if found > COUNT_CAP else str(found)


@staff_view("support.view_ticket")
@require_GET
def tickets(request: StaffRequest) -> TemplateResponse:
    """The queue: mine, unassigned, all open, or one status; newest first."""
    view = request.GET.get("view", "mine")
    if view not in TICKET_VIEWS:
        view = "mine"
    status = request.GET.get("status", "")
    rows = _queue(view, request.user).select_related("customer", "assignee")
    if status in TicketStatus.values:
        rows = rows.filter(status=status)
    found = list(rows[: QUEUE_LIMIT + 1])
    return TemplateResponse(
        request,
        "support/tickets.html",
        {
            "view": view,
            "views": [
                (key, label, capped_count(_queue(key, request.user)))
                for key, label in TICKET_VIEWS.items()
            ],
            "status": status,
            "statuses": TicketStatus.choices,
            "tickets": found[:QUEUE_LIMIT],
            "more": len(found) > QUEUE_LIMIT,
        },
    )


@staff_view("support.view_ticket", "support.work_ticket")
@require_http_methods(["GET", "POST"])
def ticket_new(request: StaffRequest) -> HttpResponse:
    """Open a ticket as the helpdesk names it; `?customer=<id>` fills the customer in."""
    if request.method == "GET":
        initial: dict[str, object] = {"assignee": request.user.pk}
        customer_id = request.GET.get("customer", "")
        if customer_id.isdigit():
            customer = Customer.objects.filter(pk=int(customer_id)).first()
            if customer is not None:
                initial |= {"customer": str(customer.pk), "requester_email": customer.billing_email}
        form = TicketForm(initial=initial)
        return TemplateResponse(request, "support/ticket_new.html", {"form": form})
    form = TicketForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            ticket = services.create_ticket(
                actor=request.user,
                external_ref=data["external_ref"],
                subject=data["subject"],
                requester_email=data["requester_email"],
                customer=data["customer"],
                assignee=data["assignee"],
                now=timezone.now(),
            )
        except ValidationError as error:
            form.absorb(error)
        else:
            messages.success(request, f"Ticket {ticket.external_ref} opened.")
            return redirect("ticket", ticket_id=ticket.pk)
    return TemplateResponse(request, "support/ticket_new.html", {"form": form}, status=400)


TICKET_ACTIONS_SHOWN = 200


def _ticket_page(
    request: StaffRequest, ticket: Ticket, status: int = 200, **forms
) -> TemplateResponse:
    may_work = services.may_work_tickets(request.user)
    context: dict[str, object] = {
        "ticket": ticket,
        "notes": ticket.notes.select_related("author").order_by("-created_at", "-id"),
        "actions": Action.objects.for_ticket(ticket.external_ref)
        .select_related("customer", "actor")
        .order_by("-created_at", "-id")[:TICKET_ACTIONS_SHOWN],
        "may_work": may_work,
        "may_note": request.user.has_perm("support.add_note") and ticket.customer_id is not None,
        "may_act": request.user.has_perm("billing.request_action") and ticket.customer_id,
    }
    if may_work:
        context["assign_form"] = forms.get("assign_form") or AssignForm(
            initial={"assignee": ticket.assignee_id}
        )
        context["status_form"] = forms.get("status_form") or StatusForm(
            initial={"status": ticket.status}
        )
    if context["may_note"]:
        context["note_form"] = forms.get("note_form") or NoteForm()
    return TemplateResponse(request, "support/ticket.html", context, status=status)


def _ticket_or_404(ticket_id: int) -> Ticket:
    return get_object_or_404(Ticket.objects.select_related("customer", "assignee"), pk=ticket_id)


@staff_view("support.view_ticket")
@require_GET
def ticket(request: StaffRequest, ticket_id: int) -> TemplateResponse:
    """A ticket: its customer, its notes, every action taken under its reference."""
    return _ticket_page(request, _ticket_or_404(ticket_id))


@staff_view("support.view_ticket", "support.work_ticket")
@require_POST
def ticket_assign(request: StaffRequest, ticket_id: int) -> HttpResponse:
    ticket = _ticket_or_404(ticket_id)
    data = request.POST.copy()
    if data.get("me"):
        data["assignee"] = str(request.user.pk)
    form = AssignForm(data)
    if form.is_valid():
        try:
            ticket = services.assign_ticket(
                actor=request.user,
                ticket=ticket,
                assignee=form.cleaned_data["assignee"],
                now=timezone.now(),
            )
        except ValidationError as error:
            form.add_error("assignee", error.message_dict.get("assignee", [str(error)])[0])
        else:
            who = ticket.assignee.username if ticket.assignee else "nobody"
            messages.success(request, f"{ticket.external_ref} is assigned to {who}.")
            return redirect("ticket", ticket_id=ticket.pk)
    return _ticket_page(request, ticket, 400, assign_form=form)


@staff_view("support.view_ticket", "support.work_ticket")
@require_POST
def ticket_status(request: StaffRequest, ticket_id: int) -> HttpResponse:
    ticket = _ticket_or_404(ticket_id)
    form = StatusForm(request.POST)
    if form.is_valid():
        ticket = services.set_ticket_status(
            actor=request.user,
            ticket=ticket,
            status=form.cleaned_data["status"],
            now=timezone.now(),
        )
        messages.success(
            request, f"{ticket.external_ref} is {ticket.get_status_display().lower()}."
        )
        return redirect("ticket", ticket_id=ticket.pk)
    return _ticket_page(request, ticket, 400, status_form=form)


@staff_view("support.view_ticket", "support.add_note")
@require_POST
def ticket_note(request: StaffRequest, ticket_id: int) -> HttpResponse:
    ticket = _ticket_or_404(ticket_id)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            services.add_note(
                actor=request.user,
                ticket=ticket,
                body=form.cleaned_data["body"],
                now=timezone.now(),
            )
        except ValidationError as error:
            form.add_error("body", error.message_dict.get("body", [str(error)])[0])
        except services.TicketWithoutCustomer as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Note added under {ticket.external_ref}.")
            return redirect("ticket", ticket_id=ticket.pk)
    return _ticket_page(request, ticket, 400, note_form=form)


@staff_view("billing.view_customer", "support.add_note")
@require_POST
def customer_note(request: StaffRequest, customer_id: int) -> HttpResponse:
    """A note from the customer page, under one of the customer's tickets. With htmx the notes
    section comes back (with the form, its errors next to the fields); else the page."""
    customer = get_object_or_404(Customer, pk=customer_id)
    tickets = list(_tickets(customer=customer.pk))
    form = CustomerNoteForm(request.POST, customer=customer, tickets=tickets)
    saved = ""
    if form.is_valid():
        ticket = form.cleaned_data["ticket"]
        try:
            services.add_note(
                actor=request.user,
                ticket=ticket,
                body=form.cleaned_data["body"],
                now=timezone.now(),
            )
        except ValidationError as error:
            form.add_error("body", error.message_dict.get("body", [str(error)])[0])
        else:
            if not request.htmx:
                messages.success(request, f"Note added under {ticket.external_ref}.")
                return redirect("customer", customer_id=customer.pk)
            saved = ticket.external_ref
            form = CustomerNoteForm(customer=customer, tickets=tickets)
    if not request.htmx:
        problems = " ".join(str(m) for field in form.errors.values() for m in field)
        messages.error(request, f"The note was not added: {problems}")
        return redirect("customer", customer_id=customer.pk)
    context = {
        "customer": customer,
        "customer_url": customer.get_absolute_url(),
        "notes": _notes(customer=customer.pk),
        "note_form": form,
        "note_saved": saved,
        "may_note": True,
    }
    # 200 either way: htmx swaps the section, errors shown next to their fields.
    return TemplateResponse(request, "support/customer_sections.html#notes", context)

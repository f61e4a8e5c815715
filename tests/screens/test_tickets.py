"""The ticket screens: the queue, opening a ticket, assigning it, its status, notes on it and
on the customer page, and the actions taken under its reference."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.audit import audited
from accounts.roles import Role
from support.models import Note, Ticket, TicketStatus
from tests.factories import make_customer, make_payment, make_staff, make_ticket
from tests.screens.test_query_budgets import pending_request

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def support(client, support_user):
    client.force_login(support_user)
    return client


def test_a_ticket_is_opened_from_the_form_with_its_customer_and_history(support, support_user):
    customer = make_customer(billing_email="ap@globex.example")

    response = support.post(
        "/tickets/new/",
        {
            "external_ref": "zd-48213",
            "subject": "Charged twice",
            "requester_email": "ap@globex.example",
            "customer": "AP@globex.example",
            "assignee": "",
        },
    )

    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/tickets/{ticket.pk}/"
    assert ticket.external_ref == "ZD-48213"
    assert ticket.customer == customer
    assert ticket.status == TicketStatus.NEW
    assert ticket.history.get().history_user == support_user


def test_the_new_ticket_form_names_each_bad_field_and_keeps_what_was_typed(support):
    make_ticket(None, ref="ZD-1")

    response = support.post(
        "/tickets/new/",
        {
            "external_ref": "ZD-1",
            "subject": "",
            "requester_email": "not an email",
            "customer": "nobody@nowhere.example",
        },
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert "There is a ticket ZD-1 already." in html or "This field is required." in html
    assert "No customer is “nobody@nowhere.example”." in html
    assert 'value="not an email"' in html
    assert Ticket.objects.count() == 1


def test_the_service_errors_reach_their_fields(support):
    make_ticket(None, ref="ZD-1")

    response = support.post(
        "/tickets/new/",
        {"external_ref": "ZD-1", "subject": "Card 4242 4242 4242 4242", "requester_email": "a@b.c"},
    )

    form = response.context["form"]
    assert response.status_code == 400
    assert form.errors["external_ref"] == ["There is a ticket ZD-1 already."]
    assert "subject" in form.errors


def test_the_new_ticket_form_is_prefilled_from_the_customer_page(support):
    customer = make_customer(billing_email="ap@initech.example")

    html = support.get(f"/tickets/new/?customer={customer.pk}").content.decode()

    assert f'value="{customer.pk}"' in html
    assert 'value="ap@initech.example"' in html


def test_assigning_a_new_ticket_opens_it_and_is_in_the_history(support, support_user):
    ticket = make_ticket(make_customer(), status="new")

    response = support.post(f"/tickets/{ticket.pk}/assign/", {"me": "1"})

    ticket.refresh_from_db()
    assert response.status_code == 302
    assert ticket.assignee == support_user
    assert ticket.status == TicketStatus.OPEN
    last = ticket.history.latest("history_date")
    assert last.history_user == support_user
    assert last.history_change_reason == f"Ticket {ticket.external_ref} assigned to sam"
    assert last.history_ticket == ticket.external_ref


def test_a_ticket_is_not_assigned_to_someone_who_does_not_work_tickets(support, auditor_user):
    ticket = make_ticket(make_customer())

    response = support.post(f"/tickets/{ticket.pk}/assign/", {"assignee": auditor_user.pk})

    ticket.refresh_from_db()
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert ticket.assignee is None


def test_solving_a_ticket_records_when_and_reopening_clears_it(support):
    ticket = make_ticket(make_customer())

    support.post(f"/tickets/{ticket.pk}/status/", {"status": "solved"})
    ticket.refresh_from_db()
    solved_at = ticket.solved_at
    support.post(f"/tickets/{ticket.pk}/status/", {"status": "pending"})
    ticket.refresh_from_db()

    assert solved_at is not None
    assert ticket.status == TicketStatus.PENDING
    assert ticket.solved_at is None
    reasons = list(ticket.history.values_list("history_change_reason", flat=True))
    assert f"Ticket {ticket.external_ref}: solved" in reasons


def test_a_bad_status_changes_nothing(support):
    ticket = make_ticket(make_customer())

    response = support.post(f"/tickets/{ticket.pk}/status/", {"status": "closed"})

    ticket.refresh_from_db()
    assert response.status_code == 400
    assert ticket.status == "open"


def test_a_note_is_added_on_the_ticket_page(support, support_user):
    ticket = make_ticket(make_customer())

    support.post(f"/tickets/{ticket.pk}/notes/", {"body": "Sent the duplicate back."})
    html = support.get(f"/tickets/{ticket.pk}/").content.decode()

    note = Note.objects.get()
    assert note.ticket == ticket
    assert note.author == support_user
    assert "Sent the duplicate back." in html


def test_an_empty_note_is_refused_next_to_its_field(support):
    ticket = make_ticket(make_customer())

    response = support.post(f"/tickets/{ticket.pk}/notes/", {"body": "  "})

    assert response.status_code == 400
    assert response.context["note_form"].errors["body"]
    assert not Note.objects.exists()


def test_the_ticket_page_links_to_the_customer_with_the_reference_for_the_panels(support):
    customer = make_customer()
    ticket = make_ticket(customer, ref="ZD-48213")

    html = support.get(f"/tickets/{ticket.pk}/").content.decode()
    customer_page = support.get(f"/customers/{customer.pk}/?ticket=ZD-48213").content.decode()
    panel = support.get(f"/customers/{customer.pk}/act/credit/?ticket=ZD-48213").content.decode()

    assert f'href="/customers/{customer.pk}/?ticket=ZD-48213"' in html
    assert "Working under ticket <strong>ZD-48213</strong>" in customer_page
    assert f"/customers/{customer.pk}/act/credit/?ticket=ZD-48213" in customer_page
    assert 'name="ticket" value="ZD-48213"' in panel


def test_the_ticket_page_lists_every_action_under_its_reference(support, support_user):
    customer = make_customer()
    ticket = make_ticket(customer, ref="ZD-1")
    with audited(actor=None, reason="test"):
        pending_request(customer, support_user, make_payment(customer))

    html = support.get(f"/tickets/{ticket.pk}/").content.decode()

    assert "Refund $1.00" in html
    assert "Waiting for approval" in html or "Pending approval" in html


def test_a_note_from_the_customer_page_goes_under_a_picked_ticket(support):
    customer = make_customer()
    ticket = make_ticket(customer, ref="ZD-7")

    response = support.post(
        f"/customers/{customer.pk}/notes/",
        {"ticket": ticket.pk, "body": "Called back."},
        headers=HTMX,
    )

    assert response.status_code == 200
    assert "Note added under ZD-7." in response.content.decode()
    assert "Called back." in response.content.decode()
    assert Note.objects.get().ticket == ticket


def test_a_note_from_the_customer_page_goes_under_a_typed_reference(support):
    customer = make_customer()
    ticket = make_ticket(customer, ref="ZD-8")

    support.post(f"/customers/{customer.pk}/notes/", {"ticket_ref": "zd-8", "body": "Typed."})

    assert Note.objects.get().ticket == ticket


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({}, "ticket", "A note is kept under a ticket"),
        ({"ticket_ref": "ZD-9"}, "ticket_ref", "ZD-9 is not a ticket of this customer"),
        ({"ticket_ref": "nonsense"}, "ticket_ref", "looks like ZD-48213"),
    ],
)
def test_a_note_without_a_ticket_of_the_customer_is_refused(support, fields, field, message):
    customer = make_customer()
    make_ticket(make_customer(), ref="ZD-9")  # another customer's

    response = support.post(
        f"/customers/{customer.pk}/notes/", {**fields, "body": "Lost."}, headers=HTMX
    )

    assert message in " ".join(response.context["note_form"].errors[field])
    assert not Note.objects.exists()


def test_the_queue_has_tabs_by_status_and_caps_its_counts(support, support_user, monkeypatch):
    from support import views

    monkeypatch.setattr(views, "COUNT_CAP", 3)
    customer = make_customer()
    for _ in range(4):
        make_ticket(customer, status="pending")
    make_ticket(customer, status="new")

    response = support.get("/tickets/", {"view": "pending"})

    views_ = {key: count for key, _, count in response.context["views"]}
    assert views_["pending"] == "3+"
    assert views_["new"] == "1"
    assert views_["mine"] == "0"
    assert len(response.context["tickets"]) == 4


def test_the_auditor_sees_tickets_but_no_form(client, auditor_user):
    ticket = make_ticket(make_customer())
    client.force_login(auditor_user)

    html = client.get(f"/tickets/{ticket.pk}/").content.decode()
    queue = client.get("/tickets/").content.decode()

    assert ticket.external_ref in html
    assert '<form method="post" action="/tickets/' not in html
    assert "New ticket" not in queue


TICKET_PAGE_QUERIES = 9


def ticket_queries(client, ticket) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/tickets/{ticket.pk}/")
    assert response.status_code == 200
    return len(captured.captured_queries)


def ticket_with(rows: int, staff) -> Ticket:
    customer = make_customer()
    ticket = make_ticket(customer)
    now = timezone.now()
    with audited(actor=None, reason="test: a ticket with many rows"):
        for _ in range(rows):
            Note.objects.create(
                customer=customer, ticket=ticket, author=staff, body="noted", created_at=now
            )
            pending_request(customer, staff, make_payment(customer), ref=ticket.external_ref)
    return ticket


@pytest.mark.parametrize("viewer", ["support_user", "auditor_user"])
def test_the_ticket_page_costs_the_same_for_5_and_50_notes_and_actions(
    client, support_user, request, viewer
):
    small, big = ticket_with(5, support_user), ticket_with(50, support_user)
    make_staff(Role.FINANCE)  # someone more in the assignee list
    client.force_login(request.getfixturevalue(viewer))
    client.get(f"/tickets/{small.pk}/")  # warm the session and caches

    counts = [ticket_queries(client, ticket) for ticket in (small, big)]

    assert counts[0] == counts[1], counts
    assert counts[0] <= TICKET_PAGE_QUERIES, counts


def test_the_ticket_services_refuse_someone_who_does_not_work_tickets(auditor_user):
    from django.core.exceptions import PermissionDenied

    from support import services

    ticket = make_ticket(make_customer())

    with pytest.raises(PermissionDenied):
        services.assign_ticket(actor=auditor_user, ticket=ticket, assignee=None, now=timezone.now())
    with pytest.raises(PermissionDenied):
        services.set_ticket_status(
            actor=auditor_user, ticket=ticket, status="solved", now=timezone.now()
        )

    ticket.refresh_from_db()
    assert ticket.status == "open"

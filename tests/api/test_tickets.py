"""Tickets through the API: the queue, opening a ticket, adding a note, each in the history."""

import pytest

from support.models import Note, Ticket
from tests.api.conftest import Api, field_errors, problem, token_for
from tests.factories import make_customer, make_ticket

pytestmark = pytest.mark.django_db


def test_a_ticket_is_opened_and_a_note_added_with_their_history(client, support_user):
    api = Api(client)
    token = token_for(support_user)
    customer = make_customer()

    opened = api.post(
        token,
        "/tickets",
        {
            "external_ref": "zd-48213",
            "subject": "Charged twice",
            "requester_email": "ap@acme.example",
            "customer_id": customer.pk,
            "assignee_id": support_user.pk,
        },
    )
    noted = api.post(
        token, f"/tickets/{opened.json()['id']}/notes", {"body": "Refund of the duplicate sent."}
    )
    detail = api.get(token, f"/tickets/{opened.json()['id']}").json()

    assert opened.status_code == 201
    assert opened.json()["external_ref"] == "ZD-48213"
    assert opened.json()["status"] == "open"
    assert opened.json()["assignee"]["username"] == "sam"
    assert noted.status_code == 201
    assert noted.json()["customer_id"] == customer.pk
    assert [note["body"] for note in detail["notes"]] == ["Refund of the duplicate sent."]
    ticket = Ticket.objects.get()
    assert ticket.history.get().history_user == support_user
    assert Note.objects.get().history.get().history_ticket == "ZD-48213"


def test_the_queue_filters_by_status_assignee_customer_and_reference(client, support_user):
    api = Api(client)
    token = token_for(support_user)
    customer = make_customer()
    mine = make_ticket(customer, assignee=support_user, ref="ZD-1")
    make_ticket(None, ref="ZD-2", status="new")
    make_ticket(customer, ref="ZD-3", status="solved")

    def refs(**filters):
        return [t["external_ref"] for t in api.get(token, "/tickets", **filters).json()["items"]]

    assert refs(assigned="me") == [mine.external_ref]
    assert refs(assigned="unassigned", status="new") == ["ZD-2"]
    assert sorted(refs(customer=customer.pk)) == ["ZD-1", "ZD-3"]
    assert refs(ref="zd-3") == ["ZD-3"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"external_ref": "not a ref"}, "external_ref"),
        ({"external_ref": "ZD-1"}, "external_ref"),  # exists already
        ({"subject": ""}, "subject"),
        ({"requester_email": "nobody"}, "requester_email"),
        ({"customer_id": 999999}, "customer_id"),
        ({"assignee_id": 999999}, "assignee_id"),
        ({"subject": "card 4111 1111 1111 1111"}, "subject"),
    ],
)
def test_an_invalid_ticket_is_422_by_field(client, support_user, fields, field):
    make_ticket(None, ref="ZD-1")
    body = {"external_ref": "ZD-2", "subject": "Hi", "requester_email": "a@example.com", **fields}

    response = Api(client).post(token_for(support_user), "/tickets", body)

    assert field in field_errors(response)
    assert Ticket.objects.count() == 1


def test_a_note_with_a_card_number_is_refused(client, support_user):
    ticket = make_ticket(make_customer())

    response = Api(client).post(
        token_for(support_user), f"/tickets/{ticket.pk}/notes", {"body": "card 4111111111111111"}
    )

    assert "card number" in field_errors(response)["body"]
    assert not Note.objects.exists()


def test_a_note_on_a_ticket_without_a_customer_is_a_409(client, support_user):
    ticket = make_ticket(None)

    response = Api(client).post(
        token_for(support_user), f"/tickets/{ticket.pk}/notes", {"body": "x"}
    )

    assert response.status_code == 409
    assert "no customer" in problem(response)["detail"]

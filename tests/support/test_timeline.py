"""The customer timeline: one list of everything that happened to a customer, newest first,
keyset paginated, by kind, at a fixed number of queries."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audited
from billing.models import (
    StripeEvent,
    Subscription,
)
from support import services, timeline
from tests.factories import (
    make_customer,
    make_payment,
    make_price,
    make_subscription,
    make_ticket,
)
from tests.screens.test_query_budgets import pending_request

pytestmark = pytest.mark.django_db


def change_seats(subscription: Subscription, seats: int, *, actor, ticket: str = "") -> None:
    with audited(actor=actor, reason=f"Seats to {seats}", ticket=ticket):
        subscription.quantity = seats
        subscription.save()


def test_a_staff_change_shows_with_actor_reason_ticket_and_the_diff(support_user):
    customer = make_customer()
    subscription = make_subscription(customer, quantity=5)

    change_seats(subscription, 8, actor=support_user, ticket="ZD-123")

    latest = timeline.timeline(customer).entries[0]
    assert latest.kind == "change"
    assert latest.actor == support_user.username
    assert latest.reason == "Seats to 8"
    assert latest.ticket == "ZD-123"
    assert [(c.field, c.old, c.new) for c in latest.changes] == [("Seats", "5", "8")]


def test_entries_merge_every_source_newest_first_and_name_the_actor(support_user):
    customer = make_customer()
    make_payment(customer, amount=1234)
    ticket = make_ticket(customer, ref="ZD-777")
    services.add_note(actor=support_user, ticket=ticket, body="Called back", now=timezone.now())

    entries = timeline.timeline(customer).entries

    kinds = [entry.kind for entry in entries]
    assert kinds[0] == "note"
    assert {"change", "ticket", "note"} <= set(kinds)
    assert [entry.at for entry in entries] == sorted((entry.at for entry in entries), reverse=True)
    note = entries[0]
    assert note.actor == support_user.username
    assert note.title == "Note: Called back"
    assert all(entry.actor == "system" for entry in entries if entry.kind != "note")
    payment = next(entry for entry in entries if entry.object_type == "billing.payment")
    assert ("Amount", "", "$12.34") in [(c.field, c.old, c.new) for c in payment.changes]


def test_pages_follow_the_cursor_without_gaps_or_repeats(support_user):
    customer = make_customer()
    subscription = make_subscription(customer)
    for seats in range(6, 13):
        change_seats(subscription, seats, actor=support_user)
    everything = timeline.timeline(customer, size=200).entries

    seen, before = [], None
    while True:
        page = timeline.timeline(customer, before=before, size=3)
        seen.extend(page.entries)
        if page.next_cursor is None:
            break
        before = page.next_cursor

    assert [entry.cursor for entry in seen] == [entry.cursor for entry in everything]
    assert len(seen) == 9  # customer created, subscription created, 7 seat changes


def test_entries_at_the_same_moment_are_not_lost_between_pages(support_user):
    customer = make_customer()
    subscription = make_subscription(customer)
    moment = timezone.now()
    for seats in (6, 7, 8):
        with audited(actor=support_user, reason="same moment"):
            subscription.quantity = seats
            subscription._history_date = moment
            subscription.save()

    first = timeline.timeline(customer, size=2)
    second = timeline.timeline(customer, before=first.next_cursor, size=2)

    cursors = [e.cursor for e in first.entries + second.entries]
    assert len(cursors) == len(set(cursors)) == 4


def test_the_kind_filter_keeps_only_those_kinds(support_user):
    customer = make_customer()
    make_ticket(customer)
    make_subscription(customer)

    entries = timeline.timeline(customer, kinds=["ticket"]).entries

    assert [entry.kind for entry in entries] == ["ticket"]


def test_a_bad_cursor_or_kind_is_a_clear_error():
    customer = make_customer()

    with pytest.raises(timeline.InvalidCursor):
        timeline.timeline(customer, before="yesterday")
    with pytest.raises(ValueError, match="Unknown timeline kinds: gossip"):
        timeline.timeline(customer, kinds=["gossip"])


def test_entries_are_plain_data_for_the_api(support_user):
    customer = make_customer()
    change_seats(make_subscription(customer), 9, actor=support_user, ticket="ZD-5")

    data = timeline.timeline(customer).entries[0].as_dict()

    assert data["at"].endswith("+00:00")
    assert data["changes"] == [{"field": "Seats", "old": "5", "new": "9"}]
    assert data["actor"] == support_user.username


def _history_rows(customer, subscription, count: int, actor) -> None:
    start = timezone.now() - dt.timedelta(days=1)
    for n in range(count):
        with audited(actor=actor, reason="load"):
            subscription.quantity = 10 + n
            subscription._history_date = start + dt.timedelta(seconds=n)
            subscription.save()


def _first_page_queries(client, customer) -> int:
    with CaptureQueriesContext(connection) as queries:
        timeline.timeline(customer)
    return len(queries)


def test_the_first_page_costs_the_same_queries_with_5_or_500_history_rows(support_user):
    small, large = make_customer(), make_customer()
    price = make_price()
    _history_rows(small, make_subscription(small, price=price), 5, support_user)
    _history_rows(large, make_subscription(large, price=price), 500, support_user)

    assert _first_page_queries(None, small) == _first_page_queries(None, large)


def test_the_customer_page_shows_the_timeline(client, support_user):
    customer = make_customer()
    change_seats(make_subscription(customer, quantity=5), 8, actor=support_user, ticket="ZD-9")
    client.force_login(support_user)

    page = client.get(reverse("customer", args=[customer.pk]))
    response = client.get(reverse("customer", args=[customer.pk]), {"partial": "timeline"})

    assert 'hx-trigger="load, ' in page.content.decode()  # loads after the page
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="timeline"' in body
    assert "Seats: 5 → 8" in body
    assert "ZD-9" in body


def test_a_bad_cursor_on_the_customer_page_is_an_error_not_a_500(client, support_user):
    customer = make_customer()
    client.force_login(support_user)

    response = client.get(
        reverse("customer", args=[customer.pk]), {"partial": "timeline", "before": "nonsense"}
    )

    assert response.status_code == 200
    assert "is not a timeline cursor" in response.content.decode()


def test_entries_of_several_sources_at_one_moment_page_without_gaps_or_repeats(support_user):
    customer = make_customer()
    subscription = make_subscription(customer)
    ticket = make_ticket(customer)
    moment = timezone.now()
    with audited(actor=support_user, reason="same moment, three tables"):
        for record, field, value in (
            (customer, "name", "Renamed Ltd"),
            (subscription, "quantity", 9),
            (ticket, "subject", "Still charged twice"),
            (subscription, "quantity", 10),
        ):
            setattr(record, field, value)
            record._history_date = moment
            record.save()
    everything = timeline.timeline(customer, size=200).entries

    seen, before = [], None
    while True:
        page = timeline.timeline(customer, before=before, size=1)
        seen.extend(page.entries)
        if page.next_cursor is None:
            break
        before = page.next_cursor

    assert [entry.cursor for entry in seen] == [entry.cursor for entry in everything]
    at_the_moment = [entry.object_type for entry in everything if entry.at == moment]
    # The tie-break: source label descending, then the newest row first.
    assert at_the_moment == [
        "support.ticket",
        "billing.subscription",
        "billing.subscription",
        "billing.customer",
    ]


def test_stripe_events_merge_with_the_history(support_user):
    customer = make_customer()
    with audited(actor=None, reason="Stripe webhook: test"):
        event = StripeEvent.objects.create(
            stripe_event_id="evt_timeline1",
            type="invoice.paid",
            created=timezone.now() + dt.timedelta(minutes=1),
            customer=customer,
            raw_body="{}",
            payload={},
            error="no such invoice",
        )

    entries = timeline.timeline(customer).entries

    assert entries[0].kind == "stripe"
    assert entries[0].object_id == event.pk
    assert entries[0].title == (
        "Stripe event invoice.paid (evt_timeline1): not applied, no such invoice"
    )
    assert entries[1].object_type == "billing.customer"
    assert [entry.kind for entry in timeline.timeline(customer, kinds=["stripe"]).entries] == [
        "stripe"
    ]


def _seat_changes(subscription, count: int, actor, *, start: dt.datetime) -> None:
    for n in range(count):
        with audited(actor=actor, reason="load"):
            subscription.quantity = 10 + n
            subscription._history_date = start + dt.timedelta(seconds=n)
            subscription.save()


def test_a_page_reads_the_merged_keys_then_only_its_own_rows(
    support_user, django_assert_num_queries
):
    customer = make_customer()
    for _ in range(30):
        make_payment(customer)
    start = timezone.now()
    _seat_changes(make_subscription(customer), 200, support_user, start=start)
    deep = f"{start.isoformat()}|billing.customer|0"  # before the subscription: payments

    # One query merges the sources' keys; one reads the page's rows with their previous
    # versions. Nothing is read per entry, nor from a source with no entry on the page, and
    # the customer is named without a query.
    with django_assert_num_queries(2):
        first = timeline.timeline(customer, size=5)
    with django_assert_num_queries(2):
        older = timeline.timeline(customer, before=deep, size=5)

    assert [c.field for c in first.entries[0].changes] == ["Seats"]
    assert {entry.object_type for entry in first.entries} == {"billing.subscription"}
    assert {entry.object_type for entry in older.entries} == {"billing.payment"}


def test_approvals_of_the_customers_actions_show_with_their_decider(support_user, finance_user):
    customer, someone_else = make_customer(), make_customer()
    with audited(actor=support_user, reason="test: over the requester's limit"):
        approval = pending_request(customer, support_user, make_payment(customer))
        pending_request(someone_else, support_user, make_payment(someone_else))
    with audited(actor=finance_user, reason="Approved: duplicate confirmed"):
        approval.decision = "approved"
        approval.decided_by = finance_user
        approval.decided_at = timezone.now()
        approval.save()

    entries = timeline.timeline(customer, kinds=["approval"]).entries
    first = timeline.timeline(customer, kinds=["approval"], size=1)
    second = timeline.timeline(customer, kinds=["approval"], before=first.next_cursor, size=1)

    assert [entry.title for entry in entries] == [
        f"Approval request approved by {finance_user.username}",
        "Approval requested",
    ]
    assert {entry.object_id for entry in entries} == {approval.pk}
    assert ("Decision", "—", "Approved") in [(c.field, c.old, c.new) for c in entries[0].changes]
    assert [e.cursor for e in first.entries + second.entries] == [e.cursor for e in entries]
    assert second.next_cursor is None

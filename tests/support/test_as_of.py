"""The customer page at a past moment, built from the history: seats, trial, discount,
entitlements and balance as they were, read-only and marked as a past view."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audited
from billing import as_of
from billing.models import Feature
from tests.factories import make_customer, make_subscription

pytestmark = pytest.mark.django_db


def test_before_a_seat_change_the_past_view_shows_the_old_seats(client, support_user):
    customer = make_customer()
    subscription = make_subscription(customer, quantity=5)
    before_change = timezone.now()
    with audited(actor=support_user, reason="More seats", ticket="ZD-4"):
        subscription.quantity = 12
        subscription.save()
    client.force_login(support_user)

    past = as_of.customer_as_of(customer, before_change)
    response = client.get(
        reverse("customer", args=[customer.pk]), {"as_of": before_change.isoformat()}
    )

    assert past is not None
    assert [s.row.quantity for s in past.subscriptions] == [5]
    seats = {e.feature: e.value for e in past.entitlements}.get(Feature.SEATS)
    assert seats == "5"
    body = response.content.decode()
    assert response.status_code == 200
    assert "Past view, read-only" in body
    assert "5 seats" in body
    assert "12 seats" not in body
    assert "act/" not in body  # no action controls
    assert "12 seats" in client.get(reverse("customer", args=[customer.pk])).content.decode()


def test_before_the_customer_existed_there_is_nothing_to_show(client, support_user):
    customer = make_customer()
    client.force_login(support_user)

    long_ago = (timezone.now() - dt.timedelta(days=3650)).strftime("%Y-%m-%dT%H:%M")
    response = client.get(reverse("customer", args=[customer.pk]), {"as_of": long_ago})

    assert response.status_code == 200
    assert "was not a customer yet" in response.content.decode()


@pytest.mark.parametrize("raw", ["yesterday", "2999-01-01T00:00", "2026-13-45"])
def test_a_bad_or_future_moment_is_a_clear_error(client, support_user, raw):
    customer = make_customer()
    client.force_login(support_user)

    response = client.get(reverse("customer", args=[customer.pk]), {"as_of": raw})

    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()

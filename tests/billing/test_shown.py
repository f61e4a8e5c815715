"""The row filters give exactly what the Django tags and filters they stand in for give."""

import datetime as dt
import zoneinfo

import pytest
from django.template import engines
from django.test import override_settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from billing.templatetags.shown import (
    day,
    history_url,
    history_url_of,
    minute,
    second,
    url_to,
)
from tests.factories import make_customer, make_invoice

MOMENTS = [
    dt.datetime(2026, 12, 2, 14, 5, 9, tzinfo=dt.UTC),
    dt.datetime(2026, 7, 1, 23, 59, 59, 999999, tzinfo=dt.UTC),  # a summer day, at midnight
    dt.datetime(2027, 1, 1, 0, 0, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
    dt.datetime(2025, 3, 30, 1, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
]


def django_date(value, format_: str) -> str:
    template = engines["django"].from_string("{{ value|date:format_ }}")
    return template.render({"value": value, "format_": format_})


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "Asia/Kolkata"])
@pytest.mark.parametrize("moment", MOMENTS)
def test_the_date_filters_show_what_djangos_date_filter_shows(zone, moment):
    with override_settings(TIME_ZONE=zone), timezone.override(zone):
        assert day(moment) == django_date(moment, "Y-m-d")
        assert minute(moment) == django_date(moment, "Y-m-d H:i T")
        assert second(moment) == django_date(moment, "Y-m-d H:i:s T")


def test_a_date_and_nothing_show_as_djangos_date_filter_shows_them():
    assert day(dt.date(2026, 2, 28)) == django_date(dt.date(2026, 2, 28), "Y-m-d") == "2026-02-28"
    for nothing in (None, ""):
        assert day(nothing) == minute(nothing) == second(nothing) == ""
        assert django_date(nothing, "Y-m-d") == ""


@pytest.mark.django_db
def test_history_url_is_the_object_history_url():
    customer = make_customer()
    invoice = make_invoice(customer)

    assert history_url(invoice) == reverse("object_history", args=["billing.invoice", invoice.pk])
    assert history_url(customer) == reverse(
        "object_history", args=["billing.customer", customer.pk]
    )
    assert history_url(None) == ""


def test_the_url_tags_give_what_url_gives():
    assert history_url_of("billing.payment", 42) == reverse(
        "object_history", args=["billing.payment", 42]
    )
    assert url_to("customer", 7) == reverse("customer", args=[7])
    assert url_to("approval_approve", 12) == reverse("approval_approve", args=[12])
    # Arguments that are not the URL's last parts, or not integers, are reversed.
    assert url_to("action_panel", 7, "refund") == reverse("action_panel", args=[7, "refund"])
    assert url_to("customer", "7") == reverse("customer", args=["7"])
    with pytest.raises(NoReverseMatch):  # as {% url %}: no customer URL for a negative key
        url_to("customer", -7)
    assert url_to("approvals") == reverse("approvals")  # no arguments: no prefix to join
    assert history_url_of(None, 3) == reverse("object_history", args=[None, 3])
    assert history_url_of("Billing.Payment", 3) == reverse(
        "object_history", args=["Billing.Payment", 3]
    )


@pytest.mark.parametrize("prefix", ["/", "/billing-admin/"])
def test_the_url_tags_follow_the_script_prefix(prefix):
    from django.urls import get_script_prefix, set_script_prefix

    before = get_script_prefix()
    set_script_prefix(prefix)
    try:
        assert url_to("customer", 7) == reverse("customer", args=[7])
        assert history_url_of("billing.invoice", 3) == reverse(
            "object_history", args=["billing.invoice", 3]
        )
        assert reverse("customer", args=[7]).startswith(prefix)
    finally:
        set_script_prefix(before)

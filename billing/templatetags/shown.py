"""Filters for what a page's rows show, cheap enough for a page of a hundred rows: Django's
`date` filter and `{% url %}` tag cost 20–30 µs a call, more than the rest of a row's cells
together. Each gives what its Django counterpart gives (tests/billing/test_shown.py compares
them)."""

import datetime as dt
import functools

from django import template
from django.urls import get_script_prefix, reverse
from django.utils import timezone

register = template.Library()


def _local(value):
    """An aware datetime in the current time zone; a date (or anything else) as it is."""
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        return timezone.localtime(value)
    return value


@register.filter
def day(value) -> str:
    """As |date:"Y-m-d": "2026-12-02"."""
    if not isinstance(value, dt.date):
        return ""
    return _local(value).strftime("%Y-%m-%d")


@register.filter
def minute(value) -> str:
    """As |date:"Y-m-d H:i T": "2026-12-02 14:05 UTC"."""
    if not isinstance(value, dt.datetime):
        return ""
    return _local(value).strftime("%Y-%m-%d %H:%M %Z")


@register.filter
def second(value) -> str:
    """As |date:"Y-m-d H:i:s T": "2026-12-02 14:05:09 UTC"."""
    if not isinstance(value, dt.datetime):
        return ""
    return _local(value).strftime("%Y-%m-%d %H:%M:%S %Z")


@functools.cache
def _history_prefix(script_prefix: str) -> str:
    """The object history URL up to the record's label (reversed once per script prefix)."""
    url = reverse("object_history", args=["label", 0])
    suffix = "label/0/"
    assert url.endswith(suffix), url  # the label and key are the URL's last two parts
    return url[: -len(suffix)]


@register.filter
def history_url(record) -> str:
    """As {% url 'object_history' '<app.model>' record.pk %}: the record's history page."""
    if record is None:
        return ""
    return f"{_history_prefix(get_script_prefix())}{record._meta.label_lower}/{record.pk}/"

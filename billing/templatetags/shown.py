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


def _shown(value, pattern: str, kinds: type | tuple[type, ...]) -> str:
    """`value` as `pattern` (strftime's), in the current time zone if it is an aware datetime;
    "" if it is not one of `kinds` (as Django's date filter shows nothing)."""
    if not isinstance(value, kinds):
        return ""
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.strftime(pattern)


@register.filter
def day(value) -> str:
    """As |date:"Y-m-d": "2026-12-02"."""
    return _shown(value, "%Y-%m-%d", dt.date)


@register.filter
def minute(value) -> str:
    """As |date:"Y-m-d H:i T": "2026-12-02 14:05 UTC"."""
    return _shown(value, "%Y-%m-%d %H:%M %Z", dt.datetime)


@register.filter
def second(value) -> str:
    """As |date:"Y-m-d H:i:s T": "2026-12-02 14:05:09 UTC"."""
    return _shown(value, "%Y-%m-%d %H:%M:%S %Z", dt.datetime)


@functools.cache
def _prefix(script_prefix: str, name: str, *sample: str | int) -> str:
    """The named URL up to its arguments, its last parts (reversed once per script prefix)."""
    url = reverse(name, args=sample)
    suffix = "".join(f"{part}/" for part in sample)
    assert url.endswith(suffix), url
    return url[: -len(suffix)]


@register.filter
def history_url(record) -> str:
    """As {% url 'object_history' '<app.model>' record.pk %}: the record's history page."""
    if record is None:
        return ""
    return history_url_of(record._meta.label_lower, record.pk)


@register.simple_tag
def history_url_of(label: str, pk: int) -> str:
    """As {% url 'object_history' label pk %}, for a model's label (`app.model`) and a key."""
    return f"{_prefix(get_script_prefix(), 'object_history', 'label', 0)}{label}/{int(pk)}/"


@register.simple_tag
def customer_url_of(pk: int) -> str:
    """As {% url 'customer' pk %}."""
    return f"{_prefix(get_script_prefix(), 'customer', 0)}{int(pk)}/"

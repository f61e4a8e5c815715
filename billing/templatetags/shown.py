"""Filters for what a page's rows show, cheap enough for a page of a hundred rows: Django's
`date` filter and `{% url %}` tag cost 20–30 µs a call, more than the rest of a row's cells
together. Each gives what its Django counterpart gives (tests/billing/test_shown.py compares
them)."""

import datetime as dt
import functools
import re

from django import template
from django.urls import NoReverseMatch, get_script_prefix, reverse
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
def _prefix(script_prefix: str, name: str, arity: int) -> str | None:
    """The named URL up to its `arity` arguments, if they are its last parts (reversed once
    per script prefix); None if they are not."""
    sample = [9_000_001 + position for position in range(arity)]
    try:
        url = reverse(name, args=sample)
    except NoReverseMatch:  # its arguments are not integers
        return None
    suffix = "".join(f"{part}/" for part in sample)
    return url[: -len(suffix)] if url.endswith(suffix) else None


# A model's label (`app_label.model_name`): nothing a URL would quote.
_LABEL = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\Z")


@register.simple_tag
def url_to(name: str, *args: int) -> str:
    """As {% url name args %}, for a URL whose arguments, keys, are its last parts: the
    prefix is reversed once, then joined to the row's keys (a page of rows with a link each
    would reverse each). Anything else is reversed."""
    prefix = _prefix(get_script_prefix(), name, len(args)) if args else None
    if prefix is None or not all(type(arg) is int and arg >= 0 for arg in args):
        return reverse(name, args=args)
    return prefix + "".join(f"{arg}/" for arg in args)


@register.filter
def history_url(record) -> str:
    """As {% url 'object_history' '<app.model>' record.pk %}: the record's history page."""
    if record is None:
        return ""
    return history_url_of(record._meta.label_lower, record.pk)


@register.simple_tag
def history_url_of(label: str, pk: int) -> str:
    """As {% url 'object_history' label pk %}, for a model's label (`app.model`) and key."""
    prefix = _prefix(get_script_prefix(), "object_history", 2)
    plain = type(pk) is int and pk >= 0 and isinstance(label, str) and _LABEL.match(label)
    if prefix is None or not plain:
        return reverse("object_history", args=[label, pk])
    return f"{prefix}{label}/{pk}/"

"""Stripe's list object and cursor pagination.

``{"object": "list", "data": [...], "has_more": bool, "url": "/v1/..."}``, newest first.
``limit`` is 1..100 (default 10); ``starting_after`` returns the objects after the given id in
that order, ``ending_before`` the ones before it. ``created`` filters by an exact timestamp or
with ``created[gt|gte|lt|lte]``.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .params import Params
from .store import NOUNS, render

_BOUNDS = {
    "gt": lambda value, bound: value > bound,
    "gte": lambda value, bound: value >= bound,
    "lt": lambda value, bound: value < bound,
    "lte": lambda value, bound: value <= bound,
}


def filter_created(
    objects: list[dict[str, Any]], params: Params, field: str = "created"
) -> list[dict[str, Any]]:
    """Apply ``created=`` / ``created[gte]=`` style filters to ``field``."""
    if field not in params:
        return objects
    raw = params.raw(field)
    if isinstance(raw, str):
        exact = params.int(field)
        return [obj for obj in objects if obj.get(field) == exact]
    bounds = params.sub(field)
    if bounds is None:
        return objects
    result = objects
    for name, test in _BOUNDS.items():
        bound = bounds.int(name)
        if bound is not None:
            result = [obj for obj in result if test(obj.get(field) or 0, bound)]
    return result


def list_object(data: list[Any], url: str, has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def page(objects: list[dict[str, Any]], params: Params, url: str) -> dict[str, Any]:
    """One page of ``objects`` (already filtered, newest first) as a rendered list object."""
    limit = params.int("limit")
    if limit is None:
        limit = 10
    if limit < 1 or limit > 100:
        raise errors.invalid_param(
            "This value must be greater than or equal to 1 and less than or equal to 100.",
            param="limit",
            code="parameter_invalid_integer",
        )
    position = {obj["id"]: index for index, obj in enumerate(objects)}
    kind = objects[0]["object"] if objects else None
    noun = NOUNS.get(kind or "", "object")
    starting_after = params.str("starting_after")
    ending_before = params.str("ending_before")
    if starting_after:
        if starting_after not in position:
            raise errors.resource_missing(noun, starting_after, param="starting_after")
        start = position[starting_after] + 1
        chosen = objects[start : start + limit]
        has_more = start + limit < len(objects)
    elif ending_before:
        if ending_before not in position:
            raise errors.resource_missing(noun, ending_before, param="ending_before")
        end = position[ending_before]
        begin = max(0, end - limit)
        chosen = objects[begin:end]
        has_more = begin > 0
    else:
        chosen = objects[:limit]
        has_more = len(objects) > limit
    return list_object([render(obj) for obj in chosen], url, has_more)

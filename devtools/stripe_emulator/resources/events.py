"""``GET /v1/events`` and ``GET /v1/events/:id``.

The list is newest first and filters by ``type`` (``*`` wildcards, as in ``invoice.*``),
``types[]`` (any of several exact types) and ``created``.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from ..context import Context
from ..listing import filter_created, page
from ..params import Params
from ..routing import Router
from ..schema import Array, String, accepts, listing
from ..store import render

routes = Router()


@routes.get("/v1/events/{event}", accepts("EventRetrieveParams"))
def retrieve(ctx: Context, params: Params, event: str) -> dict[str, Any]:
    return render(ctx.store.require("event", event))


@routes.get("/v1/events", listing("EventListParams", type=String(), types=Array(String())))
def list_events(ctx: Context, params: Params) -> dict[str, Any]:
    events = filter_created(ctx.store.all("event"), params)
    pattern = params.str("type")
    if pattern:
        events = [event for event in events if fnmatchcase(event["type"], pattern)]
    types = params.str_list("types")
    if types:
        events = [event for event in events if event["type"] in types]
    return page(events, params, "/v1/events")

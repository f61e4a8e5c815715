"""The API's frame: the NinjaAPI with a JSON-only parser, its error responses described in
OpenAPI, and its URLs stating their access rule (an API token; the schema and docs public)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Annotated, Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest
from django.urls import URLPattern, URLResolver
from django.utils.datastructures import MultiValueDict
from ninja import NinjaAPI, Path, Query
from ninja.openapi.docs import Swagger
from ninja.openapi.schema import REF_TEMPLATE, OpenAPISchema
from ninja.parser import Parser
from ninja.schema import NinjaGenerateJsonSchema

from billing.api import problems
from billing.api.auth import QUERY_NAMES
from billing.api.pagination import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT
from billing.api.problems import MEDIA_TYPE, TYPES, Problem, ProblemOut

# Parameters every list and object endpoint shares.
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
Cursor = Annotated[
    str | None,
    Query(None, max_length=500, description="The `next` of the previous page."),
]
Limit = Annotated[int, Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size.")]

ACCESS = "API token (Authorization: Bearer), permissions per endpoint"


def _text_problems(value: Any, path: str, found: dict[str, str]) -> None:
    """Text PostgreSQL cannot store (NUL) or UTF-8 cannot write (lone surrogates)."""
    if isinstance(value, str):
        if "\x00" in value:
            found[path or "body"] = "Remove the NUL character."
        else:
            try:
                value.encode()
            except UnicodeEncodeError:
                found[path or "body"] = "Not valid Unicode text."
    elif isinstance(value, dict):
        for key, item in value.items():
            _text_problems(key, path or "body", found)
            _text_problems(item, f"{path}.{key}" if path else str(key), found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _text_problems(item, f"{path}.{index}" if path else str(index), found)


def _declare_query_names(run: Callable[..., Any]) -> Callable[..., Any]:
    """A view decorator of every operation: note on the request which query parameters the
    operation takes, for the check of auth.py (which sees the request, not the operation)."""
    operation = run.__self__  # type: ignore[attr-defined]
    names: set[str] = set()
    for model in operation.models:
        if model.__ninja_param_source__ == "query":
            for name, field in model.model_fields.items():
                names.add(field.alias or name)
            names.update(getattr(model, "__ninja_flatten_map__", {}))

    @wraps(run)
    def declared(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        setattr(request, QUERY_NAMES, frozenset(names))
        return run(request, *args, **kwargs)

    return declared


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class JSONParser(Parser):
    """Bodies are JSON objects sent as such; text anywhere must be storable."""

    def parse_body(self, request: HttpRequest) -> Any:
        content_type = request.content_type or ""
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise Problem(
                "unsupported-media-type",
                "Send the body as JSON, with “Content-Type: application/json”.",
            )
        data = json.loads(request.body, parse_constant=_no_constant)
        found: dict[str, str] = {}
        _text_problems(data, "", found)
        if found:
            raise Problem(
                "validation-error", "Some fields are not valid; see errors.", errors=found
            )
        return data

    def parse_querydict(
        self, data: MultiValueDict, list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        found: dict[str, str] = {}
        for key, values in data.lists():
            _text_problems([key, *values], key, found)
        if found:
            raise Problem(
                "validation-error",
                "Some parameters are not valid; see errors.",
                errors={key.split(".")[0]: text for key, text in found.items()},
            )
        return super().parse_querydict(data, list_fields, request)


# Error responses, as OpenAPI describes them ----------------------------------------------------

_WHEN = {
    400: "The body is not valid JSON.",
    401: "No token, or one that is unknown, revoked or expired.",
    403: "The token's owner may not do this, or the token is read-only.",
    404: "No such object.",
    409: "The object's state does not allow it (e.g. already refunded, already decided), or the "
    "Idempotency-Key was used for another request or its first request is still running.",
    413: "The body is too large.",
    415: "The body is not sent as application/json.",
    422: "Some fields are not valid; `errors` lists each with what is wrong.",
    429: "Too many requests from this token; wait Retry-After seconds.",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
    409: {"Retry-After": {"schema": {"type": "integer"}}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "required": True}},
}
READ_ERRORS = (401, 403, 422, 429)
OBJECT_ERRORS = (401, 403, 404, 422, 429)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 429)


def documented(*statuses: int, replayed: bool = False) -> dict[str, Any]:
    """openapi_extra of an operation: its error responses (problems) and, for writes, the
    Idempotent-Replayed header of an answer given again."""
    responses: dict[int, Any] = {}
    for status in statuses:
        slugs = [slug for slug, (code, _) in TYPES.items() if code == status]
        responses[status] = {
            "description": _WHEN[status] + " Problem types: " + ", ".join(slugs) + ".",
            "content": {MEDIA_TYPE: {"schema": {"$ref": REF_TEMPLATE.format(model="ProblemOut")}}},
        }
        if status in _HEADERS:
            responses[status]["headers"] = _HEADERS[status]
    extra: dict[str, Any] = {"responses": responses}
    if replayed:
        extra["x-idempotent"] = True
    return extra


class BillingAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> OpenAPISchema:
        schema = super().get_openapi_schema(**kwargs)
        definition = ProblemOut.model_json_schema(
            ref_template=REF_TEMPLATE, schema_generator=NinjaGenerateJsonSchema
        )
        schema["components"]["schemas"].update(definition.pop("$defs", {}))
        schema["components"]["schemas"]["ProblemOut"] = definition
        for path in schema["paths"].values():
            for operation in path.values():
                for parameter in operation.get("parameters", []):
                    _not_null(parameter)
                if operation.pop("x-idempotent", False):
                    for status, response in operation["responses"].items():
                        if int(status) < 300:
                            response["headers"] = {
                                "Idempotent-Replayed": {
                                    "description": "“true” on an answer given again.",
                                    "schema": {"type": "string", "enum": ["true"]},
                                }
                            }
        return schema

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        """Every URL states its access rule (tests/test_conventions.py reads it): the schema
        and its docs are public; every endpoint takes an API token and answers 401 itself (so
        the staff login middleware must not redirect to the login page)."""
        patterns = super()._get_urls()
        for pattern in _patterns(patterns):
            if pattern.name in ("openapi-json", "openapi-view"):
                login_not_required(pattern.callback)
            else:
                pattern.callback.login_required = False  # type: ignore[attr-defined]
                pattern.callback.api_access = ACCESS  # type: ignore[attr-defined]
        return patterns


def _not_null(parameter: dict[str, Any]) -> None:
    """An optional parameter is left out, never sent as null: its schema is the value's."""
    options = parameter["schema"].get("anyOf")
    if options and {"type": "null"} in options and len(options) == 2:
        (value,) = [option for option in options if option != {"type": "null"}]
        rest = {k: v for k, v in parameter["schema"].items() if k != "anyOf"}
        parameter["schema"] = {**value, **rest}


def _patterns(entries: Iterable[URLResolver | URLPattern]) -> Iterable[URLPattern]:
    for entry in entries:
        if isinstance(entry, URLPattern):
            yield entry


DESCRIPTION = """\
The billing admin's JSON API, for scripts, services and AI agents. It acts through the same
money path as the staff screens, under the same rules: every change carries a reason and a
ticket, runs within the limits of the token's owner, and over them waits for a person's
approval.

* **Tokens**: `Authorization: Bearer bat_…`, made by `manage.py create_api_token <username>` or
  on the API tokens page. A token acts as its staff member, with their roles and limits; a
  read-only token may only `GET`.
* **Amounts** are integers in the currency's minor unit (USD 12.34 is `1234`, JPY has no minor
  unit), always next to their `currency`. Ids are ours; objects also show their `stripe_id`.
* **Writes** need an `Idempotency-Key` header (up to 255 visible ASCII characters; a UUID is a
  good one). Sending the same key with the same body again gives the first answer again,
  status and body (marked `Idempotent-Replayed: true`); the same key with another request is
  refused with 409. Keys belong to a token and are kept for good.
* **Dry runs**: every action accepts `"dry_run": true` and answers what it would do and whether
  it would need an approval, creating nothing (its Idempotency-Key is left unused).
* **Errors** are `application/problem+json` (RFC 9457): `type`, `title`, `status`, `detail`,
  and for 422 `errors`, one entry per field.
* **Rate**: each token may send 10 requests a second (a setting), in bursts of as many; more
  are answered 429 with `Retry-After`.
* **Lists** are pages of `{"items": [...], "next": cursor}`; pass `next` as `cursor`.
"""


def make_api() -> BillingAPI:
    api = BillingAPI(
        title="Billing admin API",
        version="1",
        description=DESCRIPTION,
        urls_namespace="api",
        parser=JSONParser(),
        docs=Swagger(settings={"validatorUrl": None, "persistAuthorization": False}),
        openapi_extra={"info": {"contact": {"name": "Billing admin team"}}},
    )
    problems.install(api)
    api.add_decorator(_declare_query_names, mode="view")
    return api

"""What the emulator accepts and expands, checked against stripe-python's own types.

The emulator refuses what its declarations do not list, so a declaration must never list
what Stripe does not take: each declared parameter must exist in the pinned stripe-python's
``*Params`` TypedDict of that endpoint (nested hashes included), with a compatible type, enum
values Stripe lists, and "unset with ``''``" only where Stripe allows it; and every parameter
the TypedDict requires must be required here. A parameter the app sends that Stripe does not
know therefore fails in the tests as it would in production.
"""

from __future__ import annotations

import decimal
import typing
from typing import Any, get_args, get_origin

import pytest

from devtools.stripe_emulator import expansion, schema
from devtools.stripe_emulator.resources import api_routes
from tests.devtools.stripe_emulator import shapes, stripe_types

ROUTES = api_routes().routes()


def _route_id(route: Any) -> str:
    return f"{route.method} {route.path}"


def _dict_like(member: Any) -> bool:
    origin = get_origin(member) or member
    return origin is dict or getattr(origin, "__name__", "") == ("UntypedStripeObject")


def _problems(spec: schema.Spec, annotation: Any, name: str) -> list[str]:
    """Why ``spec`` would accept something ``annotation`` does not (empty when compatible)."""
    members = stripe_types.members(annotation)
    literals = stripe_types.literal_values(annotation)
    found: list[str] = []
    if spec.unset and "" not in literals:
        found.append(f"{name}: declared unsettable with '', which Stripe does not take")
    if isinstance(spec, schema.OneOf):
        for option in spec.options:
            found.extend(_problems(option, annotation, name))
        return found
    if isinstance(spec, schema.Enum):
        # Stripe's enumeration, where it lists one (stripe-python adds `| str` to every enum
        # for values newer than itself); a bare `str` takes any value.
        if literals - {""}:
            extra = set(spec.choices) - literals
            if extra:
                found.append(f"{name}: values {sorted(extra)} are not among Stripe's")
        elif str not in members:
            found.append(f"{name}: Stripe takes no string here ({annotation})")
        return found
    if isinstance(spec, schema.String | schema.Currency):
        if str not in members:
            found.append(f"{name}: Stripe takes no free string here ({annotation})")
        return found
    if isinstance(spec, schema.Integer):
        if int not in members:
            found.append(f"{name}: Stripe takes no integer here ({annotation})")
        return found
    if isinstance(spec, schema.Boolean):
        if bool not in members:
            found.append(f"{name}: Stripe takes no boolean here ({annotation})")
        return found
    if isinstance(spec, schema.DecimalText):
        if not {float, decimal.Decimal, str} & set(members) and not any(
            getattr(member, "__name__", "") == "Decimal" for member in members
        ):
            found.append(f"{name}: Stripe takes no decimal here ({annotation})")
        return found
    if isinstance(spec, schema.Metadata):
        if not any(_dict_like(member) for member in members):
            found.append(f"{name}: Stripe takes no hash of strings here ({annotation})")
        return found
    if isinstance(spec, schema.Hash):
        typed = [member for member in members if stripe_types.is_typeddict(member)]
        if not typed:
            found.append(f"{name}: Stripe takes no hash here ({annotation})")
            return found
        found.extend(_compare(spec.fields, stripe_types.params_type(typed[0]), name))
        return found
    if isinstance(spec, schema.Array):
        lists = [member for member in members if get_origin(member) is list]
        if not lists:
            found.append(f"{name}: Stripe takes no array here ({annotation})")
            return found
        found.extend(_problems(spec.item, get_args(lists[0])[0], f"{name}[]"))
        return found
    found.append(f"{name}: no rule to compare {type(spec).__name__}")
    return found


def _compare(
    fields: typing.Mapping[str, schema.Spec], stripe_type: stripe_types.ParamType, prefix: str
) -> list[str]:
    found: list[str] = []
    for key, spec in fields.items():
        name = f"{prefix}[{key}]" if prefix else key
        if key not in stripe_type.keys:
            found.append(f"{name}: not a parameter of {stripe_type.name}")
            continue
        found.extend(_problems(spec, stripe_type.keys[key], name))
    for key in sorted(stripe_type.required):
        spec = fields.get(key)
        if spec is not None and not spec.required:
            name = f"{prefix}[{key}]" if prefix else key
            found.append(f"{name}: required by {stripe_type.name}, optional here")
    return found


def test_every_endpoint_declares_what_it_accepts():
    assert ROUTES
    assert all(isinstance(route.declaration, schema.Declaration) for route in ROUTES)


@pytest.mark.parametrize("route", ROUTES, ids=_route_id)
def test_declaration_names_the_params_type_stripe_python_sends_to_that_endpoint(route):
    assert stripe_types.endpoint_params(route.method, route.path) == (
        route.declaration.stripe_params
    )


@pytest.mark.parametrize("route", ROUTES, ids=_route_id)
def test_declared_parameters_are_parameters_stripe_takes(route):
    declaration = route.declaration
    stripe_type = stripe_types.params_type(stripe_types.params_class(declaration.stripe_params))

    assert _compare(declaration.fields, stripe_type, "") == []


def test_the_comparison_catches_a_parameter_stripe_does_not_know():
    stripe_type = stripe_types.params_type(stripe_types.params_class("RefundCreateParams"))

    problems = _compare({"description": schema.String()}, stripe_type, "")

    assert problems == ["description: not a parameter of RefundCreateParams"]


def test_the_comparison_catches_wrong_types_values_and_requirements():
    stripe_type = stripe_types.params_type(stripe_types.params_class("InvoicePaymentListParams"))

    problems = _compare(
        {
            "limit": schema.String(),
            "status": schema.Enum("paid", "refunded"),
            "invoice": schema.String(unset=True),
            "payment": schema.Hash(
                {"type": schema.Enum("payment_intent"), "bogus": schema.String()}
            ),
        },
        stripe_type,
        "",
    )

    assert problems == [
        "limit: Stripe takes no free string here (<class 'int'>)",
        "status: values ['refunded'] are not among Stripe's",
        "invoice: declared unsettable with '', which Stripe does not take",
        "payment[bogus]: not a parameter of InvoicePaymentListParamsPayment",
        "payment[type]: required by InvoicePaymentListParamsPayment, optional here",
    ]


@pytest.mark.parametrize("kind", sorted(expansion.EXPANDABLE))
def test_what_the_emulator_expands_stripe_python_declares_expandable(kind):
    declared = stripe_types.expandable_paths(shapes.class_for({"object": kind}))

    assert expansion.EXPANDABLE[kind] <= declared


@pytest.mark.parametrize(
    ("kind", "field"),
    sorted({(kind, field) for kind, fields in expansion.EMBEDDED.items() for field in fields}),
)
def test_what_the_emulator_walks_through_is_an_embedded_object_in_stripe_python(kind, field):
    embedded, is_list = expansion.EMBEDDED[kind][field]
    annotation = stripe_types.declared_fields(shapes.class_for({"object": kind}))[field]
    classes = stripe_types.members(annotation)
    if is_list:
        (listed,) = typing.get_args(classes[0])
        classes = stripe_types.members(listed)

    assert shapes.class_for({"object": embedded}) in classes

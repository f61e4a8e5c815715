"""What each endpoint accepts: one declaration per endpoint, checked before its handler runs.

Every route is registered with a :class:`Declaration` naming the stripe-python request type it
mirrors (``RefundCreateParams``) and every parameter the endpoint takes, nested hashes and
arrays of hashes included, with its type and limits. The request is validated against it before
the handler sees it, with Stripe's errors (400 ``invalid_request_error``, never saved for
idempotent replay, so a corrected request may reuse the key):

- a parameter the endpoint does not take, at any depth (``subscription_details[bogus]``,
  ``items[0][bogus]``): ``parameter_unknown``, ``param`` naming it in bracket notation;
- a required one missing (``payment[type]`` when ``payment`` is given): ``parameter_missing``;
- a value of the wrong type: ``parameter_invalid_integer``, ``parameter_invalid_boolean``,
  ``parameter_invalid_string``, ``parameter_invalid_object``, ``parameter_invalid_array``;
- an empty value for a parameter that cannot be unset: ``parameter_invalid_empty``;
- a value outside an enumeration, or a currency Stripe does not support (param ``currency``);
- an amount above eight digits of minor units: ``amount_too_large``;
- metadata over Stripe's limits: 50 keys, keys of at most 40 characters, values of at most
  500 characters.

Stripe treats an empty value (``param=``) as "unset", which only some parameters allow:
exactly those whose stripe-python type includes ``Literal['']``; here they are declared with
``unset=True``. A test compares every declaration with stripe-python's TypedDicts, so that a
parameter Stripe does not know, a type it does not take or an enumeration value it does not
list cannot be declared here, and every parameter stripe-python requires is required here.

Handlers still read values through :class:`~.params.Params`; the declaration decides what may
reach them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal as _Decimal
from decimal import InvalidOperation
from typing import Any

from . import currencies, errors

METADATA_MAX_KEYS = 50
METADATA_KEY_LENGTH = 40
METADATA_VALUE_LENGTH = 500


def _empty_error(name: str) -> errors.StripeError:
    return errors.invalid_param(
        f"You passed an empty string for '{name}'. We assume empty values are an attempt to "
        f"unset a parameter; however '{name}' cannot be unset. You should remove '{name}' from "
        "your request or supply a non-empty value.",
        param=name,
        code="parameter_invalid_empty",
    )


@dataclass(frozen=True)
class Spec:
    """One parameter: ``required`` (at its level), ``unset`` (``""`` accepted to unset it)."""

    required: bool = field(default=False, kw_only=True)
    unset: bool = field(default=False, kw_only=True)

    def check(self, value: Any, name: str) -> None:
        """Raise Stripe's error if ``value`` (as decoded from the form) is not acceptable."""
        if value == "":
            if not self.unset:
                raise _empty_error(name)
            return
        self.check_value(value, name)

    def check_value(self, value: Any, name: str) -> None:
        raise NotImplementedError


def _require_text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise errors.invalid_param(f"Invalid string: {value!r}", param=name)
    return value


@dataclass(frozen=True)
class String(Spec):
    max_length: int = 5000

    def check_value(self, value: Any, name: str) -> None:
        text = _require_text(value, name)
        if len(text) > self.max_length:
            raise errors.invalid_param(
                f"Invalid string: {text[:50]}...; must be at most {self.max_length} characters",
                param=name,
            )


@dataclass(frozen=True)
class Enum(Spec):
    choices: tuple[str, ...] = ()

    def __init__(self, *choices: str, required: bool = False, unset: bool = False) -> None:
        object.__setattr__(self, "choices", choices)
        object.__setattr__(self, "required", required)
        object.__setattr__(self, "unset", unset)

    def check_value(self, value: Any, name: str) -> None:
        text = _require_text(value, name)
        if text not in self.choices:
            if len(self.choices) == 1:
                options = self.choices[0]
            else:
                options = ", ".join(self.choices[:-1]) + f", or {self.choices[-1]}"
            raise errors.invalid_param(f"Invalid {name}: must be one of {options}", param=name)


@dataclass(frozen=True)
class Integer(Spec):
    minimum: int | None = None
    maximum: int | None = None

    def number(self, value: Any, name: str) -> int:
        try:
            number = int(value, 10) if isinstance(value, str) else None
        except ValueError:
            number = None
        if number is None:
            raise errors.invalid_param(
                f"Invalid integer: {value}", param=name, code="parameter_invalid_integer"
            )
        return number

    def check_value(self, value: Any, name: str) -> None:
        number = self.number(value, name)
        low, high = self.minimum, self.maximum
        if (low is not None and number < low) or (high is not None and number > high):
            if low is not None and high is not None:
                message = (
                    f"This value must be greater than or equal to {low} and less than or equal "
                    f"to {high}."
                )
            elif low is not None:
                message = f"This value must be greater than or equal to {low}."
            else:
                message = f"This value must be less than or equal to {high}."
            raise errors.invalid_param(message, param=name, code="parameter_invalid_integer")


@dataclass(frozen=True)
class Amount(Integer):
    """An amount in minor units; at most eight digits (``amount_too_large`` beyond)."""

    minimum: int | None = 0

    def check_value(self, value: Any, name: str) -> None:
        super().check_value(value, name)
        number = self.number(value, name)
        if abs(number) > currencies.MAXIMUM_AMOUNT:
            raise errors.invalid_request(
                "Amount must be no more than $999,999.99",
                param=name,
                code="amount_too_large",
                replayable=False,
            )


@dataclass(frozen=True)
class Timestamp(Integer):
    """A Unix timestamp in seconds."""

    minimum: int | None = 0


@dataclass(frozen=True)
class Boolean(Spec):
    def check_value(self, value: Any, name: str) -> None:
        if value not in ("true", "false"):
            raise errors.invalid_param(
                f"Invalid boolean: {value}", param=name, code="parameter_invalid_boolean"
            )


@dataclass(frozen=True)
class DecimalText(Spec):
    """A decimal number (``percent_off=12.5``, ``unit_amount_decimal=1250.5``)."""

    def check_value(self, value: Any, name: str) -> None:
        text = _require_text(value, name)
        try:
            number = _Decimal(text)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise errors.invalid_param(
                f"Invalid decimal: {text}", param=name, code="parameter_invalid_decimal"
            )


@dataclass(frozen=True)
class Currency(Spec):
    """A three-letter ISO code among the currencies Stripe supports (lower or upper case)."""

    def check_value(self, value: Any, name: str) -> None:
        code = _require_text(value, name)
        if not currencies.is_supported(code.lower()):
            raise errors.invalid_param(
                f"Invalid currency: {code.lower()}. Stripe currently supports these "
                f"currencies: {', '.join(currencies.SUPPORTED)}",
                param=name,
                code="",
            )


@dataclass(frozen=True)
class Metadata(Spec):
    """Key-value strings, within Stripe's limits; ``metadata[key]=`` deletes one key."""

    def check_value(self, value: Any, name: str) -> None:
        if not isinstance(value, dict):
            raise errors.invalid_param("Invalid hash", param=name, code="parameter_invalid_object")
        check_metadata_size(len(value), name)
        for key, item in value.items():
            if len(key) > METADATA_KEY_LENGTH:
                raise errors.invalid_param(
                    f"Invalid key: {key} must be a string under {METADATA_KEY_LENGTH} characters",
                    param=name,
                    code="",
                )
            if not isinstance(item, str) or len(item) > METADATA_VALUE_LENGTH:
                raise errors.invalid_param(
                    f"Invalid val: {item} must be a string under {METADATA_VALUE_LENGTH} "
                    "characters",
                    param=name,
                    code="",
                )


def check_metadata_size(count: int, name: str = "metadata") -> None:
    """Stripe's limit on the keys an object's metadata may hold (after an update too)."""
    if count > METADATA_MAX_KEYS:
        raise errors.invalid_param(
            f"Metadata can have up to {METADATA_MAX_KEYS} keys, but you've set {count}.",
            param=name,
            code="",
        )


@dataclass(frozen=True)
class Hash(Spec):
    """A nested object whose keys are declared like an endpoint's."""

    fields: Mapping[str, Spec] = field(default_factory=dict)

    def __init__(
        self, fields: Mapping[str, Spec], *, required: bool = False, unset: bool = False
    ) -> None:
        object.__setattr__(self, "fields", dict(fields))
        object.__setattr__(self, "required", required)
        object.__setattr__(self, "unset", unset)

    def check_value(self, value: Any, name: str) -> None:
        if not isinstance(value, dict):
            raise errors.invalid_param(
                f"Invalid object: {name}", param=name, code="parameter_invalid_object"
            )
        check_fields(self.fields, value, name)


@dataclass(frozen=True)
class Array(Spec):
    """A list (``expand[0]=a``) of strings or of hashes."""

    item: Spec = field(default_factory=String)

    def __init__(self, item: Spec, *, required: bool = False, unset: bool = False) -> None:
        object.__setattr__(self, "item", item)
        object.__setattr__(self, "required", required)
        object.__setattr__(self, "unset", unset)

    def check_value(self, value: Any, name: str) -> None:
        if isinstance(value, dict) and not value:
            return
        # A lone value (`expand=customer`) is not an array: Stripe answers "Invalid array".
        if not isinstance(value, list):
            raise errors.invalid_param(
                f"Invalid array: {name}", param=name, code="parameter_invalid_array"
            )
        for index, entry in enumerate(value):
            self.item.check(entry, f"{name}[{index}]")


@dataclass(frozen=True)
class OneOf(Spec):
    """One of several shapes (``created=1700000000`` or ``created[gte]=...``)."""

    options: tuple[Spec, ...] = ()

    def __init__(self, *options: Spec, required: bool = False) -> None:
        object.__setattr__(self, "options", options)
        object.__setattr__(self, "required", required)
        object.__setattr__(self, "unset", any(option.unset for option in options))

    def check_value(self, value: Any, name: str) -> None:
        last: errors.StripeError | None = None
        for option in self.options:
            try:
                option.check(value, name)
            except errors.StripeError as error:
                last = error
            else:
                return
        assert last is not None
        raise last


def check_fields(fields: Mapping[str, Spec], data: Mapping[str, Any], prefix: str = "") -> None:
    for key in data:
        if key not in fields:
            raise errors.unknown_param(f"{prefix}[{key}]" if prefix else key)
    for key, spec in fields.items():
        name = f"{prefix}[{key}]" if prefix else key
        if key not in data:
            if spec.required:
                raise errors.missing_param(name)
            continue
        spec.check(data[key], name)


# Building blocks many endpoints share ---------------------------------------------------------

RANGE = Hash({"gt": Integer(), "gte": Integer(), "lt": Integer(), "lte": Integer()})


def time_filter() -> OneOf:
    """``created=<timestamp>`` or ``created[gte]=...`` (also ``due_date`` and the like)."""
    return OneOf(Integer(), RANGE)


LIST: dict[str, Spec] = {
    "created": time_filter(),
    "ending_before": String(),
    "limit": Integer(minimum=1, maximum=100),
    "starting_after": String(),
}

PAGE: dict[str, Spec] = {key: spec for key, spec in LIST.items() if key != "created"}


@dataclass(frozen=True)
class Declaration:
    """What one endpoint accepts; ``stripe_params`` names the stripe-python type it mirrors."""

    stripe_params: str
    fields: Mapping[str, Spec]

    def validate(self, data: Mapping[str, Any]) -> None:
        check_fields(self.fields, data)


def _declaration(stripe_params: str, fields: Mapping[str, Spec], *, expand: bool) -> Declaration:
    accepted = dict(fields)
    if expand:
        accepted["expand"] = Array(String())
    return Declaration(stripe_params, dict(sorted(accepted.items())))


def accepts(stripe_params: str, *, expand: bool = True, **fields: Spec) -> Declaration:
    """The declaration of an endpoint; every endpoint but a DELETE also takes ``expand[]``."""
    return _declaration(stripe_params, fields, expand=expand)


def listing(stripe_params: str, *, created: bool = True, **fields: Spec) -> Declaration:
    """A list endpoint: ``limit``, the cursors and (usually) ``created``, plus its filters."""
    return _declaration(stripe_params, {**(LIST if created else PAGE), **fields}, expand=True)

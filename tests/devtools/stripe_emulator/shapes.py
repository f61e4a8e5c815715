"""Validating an emulator object against the pinned stripe-python's resource class.

``problems(obj)`` walks an object as the API returned it (JSON), and everything nested in it,
against the class stripe-python has for its ``object`` type (``stripe.Charge``,
``stripe.Charge.PaymentMethodDetails.Card``, ...) and reports, by dotted path:

- a declared field that is missing, unless Stripe omits it when empty (:mod:`.stripe_omitted`);
- a field Stripe omits when empty sent as ``null`` instead;
- a field the class does not declare (an invented one);
- a value of the wrong type: a string where an integer is declared, ``null`` where the field is
  not nullable, a hash where a list is declared;
- a value outside the field's ``Literal`` set (stripe-python widens every enum with ``| str``
  for values newer than itself; the emulator must use the listed ones).
"""

from __future__ import annotations

import decimal
from typing import Any, ForwardRef, Literal, get_args, get_origin

import stripe
from stripe._list_object import ListObject
from stripe._stripe_object import UntypedStripeObject

from tests.devtools.stripe_emulator import stripe_omitted, stripe_types

# Objects whose class is not named by their ``object`` value.
_CLASS_OF_OBJECT = {"line_item": stripe.InvoiceLineItem}


def class_for(obj: dict[str, Any]) -> type | None:
    kind = obj.get("object")
    if not isinstance(kind, str) or kind == "list":
        return None
    if obj.get("deleted") is True:
        return None  # a deleted stub: id, object, deleted
    if kind in _CLASS_OF_OBJECT:
        return _CLASS_OF_OBJECT[kind]
    try:
        return stripe_types.resource_class(kind)
    except KeyError:
        return None


def _qualname(cls: type) -> str:
    return cls.__qualname__


def _is_resource(member: Any) -> bool:
    return isinstance(member, type) and hasattr(member, "OBJECT_NAME")


def _is_nested(member: Any) -> bool:
    return (
        isinstance(member, type)
        and issubclass(member, stripe.StripeObject)
        and not hasattr(member, "OBJECT_NAME")
        and member is not UntypedStripeObject
        and not issubclass(member, ListObject)
    )


class Walker:
    """Collects problems, and the classes it checked (to know what was covered)."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.visited: set[str] = set()

    def check_object(self, obj: dict[str, Any], cls: type, path: str) -> None:
        name = _qualname(cls)
        self.visited.add(name)
        declared = stripe_types.declared_fields(cls)
        omitted = stripe_omitted.OMITTED.get(name, {})
        for field, annotation in declared.items():
            where = f"{path}.{field}" if path else field
            if field not in obj:
                if field not in omitted:
                    self.problems.append(f"{where}: missing ({name} declares it)")
                continue
            value = obj[field]
            if value is None and field in omitted and not omitted[field]:
                self.problems.append(f"{where}: null, but Stripe omits it when empty")
                continue
            self.check_value(value, annotation, where)
        for field in obj:
            if field not in declared:
                where = f"{path}.{field}" if path else field
                self.problems.append(f"{where}: not a field of {name}")

    def check_value(self, value: Any, annotation: Any, path: str) -> None:
        members = stripe_types.members(annotation)
        nullable = type(None) in get_args(stripe_types.strip_required(annotation))
        if value is None:
            if not nullable and annotation is not Any:
                self.problems.append(f"{path}: null, but not nullable ({annotation})")
            return
        if annotation is Any or any(member is Any for member in members):
            return
        literals = stripe_types.literal_values(annotation)
        if isinstance(value, bool):
            if bool not in members and not (literals and value in literals):
                self.problems.append(f"{path}: boolean {value}, declared {annotation}")
            return
        if isinstance(value, int | float):
            numeric = {int, float} if isinstance(value, int) else {float}
            if not numeric & set(members):
                self.problems.append(f"{path}: number {value!r}, declared {annotation}")
            return
        if isinstance(value, str | decimal.Decimal) and decimal.Decimal in members:
            return  # a decimal travels as a string (`"1250.5"`)
        if isinstance(value, str):
            self._check_text(value, members, literals, annotation, path)
            return
        if isinstance(value, list):
            lists = [m for m in members if get_origin(m) is list]
            if not lists:
                self.problems.append(f"{path}: a list, declared {annotation}")
                return
            (item,) = get_args(lists[0])
            for index, entry in enumerate(value):
                self.check_value(entry, item, f"{path}[{index}]")
            return
        if isinstance(value, dict):
            self._check_hash(value, members, annotation, path)
            return
        self.problems.append(f"{path}: unexpected {type(value).__name__}")

    def _check_text(
        self, value: str, members: list[Any], literals: set[Any], annotation: Any, path: str
    ) -> None:
        string_literals = {literal for literal in literals if isinstance(literal, str)}
        if string_literals:
            # `Literal[...] | str`: stripe-python's forward-compatible enum; only the listed
            # values are Stripe's today. An expandable id (`str | Customer`) is not an enum.
            if value not in string_literals:
                self.problems.append(f"{path}: {value!r} is not one of {sorted(string_literals)}")
            return
        if str not in members:
            self.problems.append(f"{path}: string {value!r}, declared {annotation}")

    def _check_hash(
        self, value: dict[str, Any], members: list[Any], annotation: Any, path: str
    ) -> None:
        for member in members:
            origin = get_origin(member) or member
            if origin is ListObject or (
                isinstance(origin, type) and issubclass(origin, ListObject)
            ):
                if value.get("object") != "list":
                    self.problems.append(f"{path}: not a list object")
                    return
                (item,) = get_args(member) or (Any,)
                for index, entry in enumerate(value.get("data", [])):
                    self.check_value(entry, item, f"{path}.data[{index}]")
                return
        resources = [m for m in members if _is_resource(m) or isinstance(m, ForwardRef)]
        if resources:
            cls = class_for(value)
            if cls is None and value.get("deleted") is True:
                return
            if cls is None:
                self.problems.append(f"{path}: an object of unknown type {value.get('object')}")
                return
            self.check_object(value, cls, path)
            return
        nested = [m for m in members if _is_nested(m)]
        if nested:
            self.check_object(value, nested[0], path)
            return
        untyped = [
            m
            for m in members
            if (get_origin(m) or m) is dict or (get_origin(m) or m) is UntypedStripeObject
        ]
        if untyped:
            arguments = get_args(untyped[0])
            item = arguments[-1] if arguments else Any
            for key, entry in value.items():
                self.check_value(entry, item, f"{path}[{key}]")
            return
        if any(get_origin(m) is Literal for m in members):
            self.problems.append(f"{path}: a hash, declared {annotation}")
            return
        self.problems.append(f"{path}: a hash, declared {annotation}")


def problems(obj: dict[str, Any], walker: Walker | None = None) -> list[str]:
    """Every way ``obj`` departs from its stripe-python class (see the module docstring)."""
    walker = walker or Walker()
    cls = class_for(obj)
    if cls is None:
        return [f"{obj.get('object')}: no stripe-python class"]
    before = len(walker.problems)
    walker.check_object(obj, cls, f"{obj.get('object')} {obj.get('id', '')}".strip())
    return walker.problems[before:]

"""Reading the pinned stripe-python's own types: request parameter TypedDicts, the endpoints
its services call, and the declared fields of its resource classes.

stripe-python's annotations name many classes as forward references imported only for type
checkers (``ExpandableField["BalanceTransaction"]``); they are resolved here against the
module's globals and the ``stripe`` package.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import pathlib
import re
import sys
import types
import typing
from dataclasses import dataclass
from typing import Any, ForwardRef, Literal, Union, get_args, get_origin

import stripe
import stripe.params
import typing_extensions
from stripe._object_classes import OBJECT_CLASSES
from stripe._request_options import RequestOptions

# Keys of every *Params TypedDict that are options of the request, not parameters.
REQUEST_OPTIONS = frozenset(RequestOptions.__annotations__)


@functools.cache
def _namespace(module_name: str) -> dict[str, Any]:
    """The module's globals plus what it imports only for type checkers."""
    module = sys.modules[module_name]
    namespace = dict(vars(module))
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stripe"):
            for alias in node.names:
                if (alias.asname or alias.name) not in namespace:
                    source = importlib.import_module(node.module or "")
                    namespace[alias.asname or alias.name] = getattr(source, alias.name)
    return namespace


def _evaluate(annotation: Any, module_name: str) -> Any:
    if isinstance(annotation, str):
        annotation = ForwardRef(annotation)
    namespace = _namespace(module_name)
    return typing._eval_type(annotation, namespace, namespace, type_params=())  # type: ignore[attr-defined]


def strip_required(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin in (typing_extensions.NotRequired, typing_extensions.Required):
        return strip_required(get_args(annotation)[0])
    return annotation


def members(annotation: Any) -> list[Any]:
    """The alternatives of a union (the annotation itself otherwise), ``None`` left out."""
    annotation = strip_required(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        found: list[Any] = []
        for argument in get_args(annotation):
            found.extend(members(argument))
        return found
    if annotation is type(None):
        return []
    return [annotation]


def literal_values(annotation: Any) -> set[Any]:
    values: set[Any] = set()
    for member in members(annotation):
        if get_origin(member) is Literal:
            values.update(get_args(member))
    return values


def is_typeddict(annotation: Any) -> bool:
    return isinstance(annotation, type) and typing_extensions.is_typeddict(annotation)


# Request parameters -------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamType:
    """One TypedDict: each key's (resolved) annotation and the keys it requires."""

    name: str
    keys: dict[str, Any]
    required: frozenset[str]


@functools.cache
def params_type(cls: type) -> ParamType:
    keys = {
        key: strip_required(_evaluate(annotation, cls.__module__))
        for key, annotation in cls.__annotations__.items()
        if key not in REQUEST_OPTIONS
    }
    return ParamType(cls.__name__, keys, frozenset(cls.__required_keys__) - REQUEST_OPTIONS)


def params_class(name: str) -> type:
    return getattr(stripe.params, name)


_REQUEST = re.compile(
    r'self\._request\(\s*"(get|post|delete)",\s*"([^"]+)"', re.MULTILINE | re.DOTALL
)
_PARAMS = re.compile(r'params: (?:Optional\[)?"(\w+Params)"')


def _normalized(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


@functools.cache
def service_endpoints() -> dict[tuple[str, str], str]:
    """Every endpoint stripe-python's services call: (method, path) → its *Params type."""
    found: dict[tuple[str, str], str] = {}
    directory = pathlib.Path(inspect.getfile(stripe)).parent
    for path in sorted(directory.glob("_*_service.py")):
        for method in re.split(r"\n    (?:async )?def ", path.read_text()):
            request = _REQUEST.search(method)
            params = _PARAMS.search(method)
            if request is not None and params is not None:
                key = (request.group(1).upper(), _normalized(request.group(2)))
                found.setdefault(key, params.group(1))
    return found


def endpoint_params(method: str, path: str) -> str | None:
    return service_endpoints().get((method, _normalized(path)))


# Resource classes ---------------------------------------------------------------------------


def resource_class(object_name: str) -> type:
    module_name, class_name = OBJECT_CLASSES[object_name]
    return getattr(importlib.import_module(module_name), class_name)


@functools.cache
def declared_fields(cls: type) -> dict[str, Any]:
    """A stripe-python class's declared fields and their resolved annotations."""
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, stripe.StripeObject, dict) or not issubclass(
            klass, stripe.StripeObject
        ):
            continue
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            if name.startswith("_") or name.isupper():
                continue
            found[name] = _evaluate(annotation, klass.__module__)
    return found


def _items(annotation: Any) -> list[Any]:
    """The alternatives of a field, or of its list's items."""
    found: list[Any] = []
    for member in members(annotation):
        if get_origin(member) is list:
            found.extend(members(get_args(member)[0]))
        else:
            found.append(member)
    return found


def _expands(annotation: Any) -> bool:
    """`ExpandableField[X]` is `str | X`: an id or the object it names."""
    found = _items(annotation)
    return str in found and any(hasattr(member, "OBJECT_NAME") for member in found)


def _nested_classes(annotation: Any) -> list[type]:
    found = _items(annotation)
    return [
        member
        for member in found
        if isinstance(member, type)
        and issubclass(member, stripe.StripeObject)
        and not hasattr(member, "OBJECT_NAME")
        and member.__module__.startswith("stripe")
        and "." in member.__qualname__
    ]


@functools.cache
def expandable_paths(cls: type, depth: int = 0) -> frozenset[str]:
    """The dotted paths, inside objects of ``cls``, of the properties that can be expanded."""
    found: set[str] = set()
    for name, annotation in declared_fields(cls).items():
        if _expands(annotation):
            found.add(name)
        if depth < 4:
            for nested in _nested_classes(annotation):
                found.update(f"{name}.{path}" for path in expandable_paths(nested, depth + 1))
    return frozenset(found)

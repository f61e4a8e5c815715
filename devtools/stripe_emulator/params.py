"""Typed reading of request parameters, with Stripe's validation errors.

Decoded form values are strings (or nested dicts and lists of strings). What may reach a handler
is decided first by the endpoint's declaration (:mod:`.schema`: unknown, missing and malformed
parameters are refused there); handlers then read values through :class:`Params`, which
converts them, with the messages and codes Stripe uses (``parameter_missing``,
``parameter_invalid_integer``, ``parameter_invalid_empty``) for the rules a declaration cannot
state. Names in errors use Stripe's bracket notation (``items[0][price]``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import errors, schema

# The accessor methods are named after the types they return (str, int, list...), which
# shadows those names inside the class; annotations use these aliases.
Text = str
Integer = int
Boolean = bool
List = list


class Params:
    """A view over one level of the decoded parameters; ``prefix`` names it in errors."""

    def __init__(self, data: dict[Text, Any] | None, prefix: Text = "") -> None:
        self.data: dict[str, Any] = data or {}
        self.prefix = prefix

    def name(self, key: Text) -> Text:
        return f"{self.prefix}[{key}]" if self.prefix else key

    def __contains__(self, key: Text) -> Boolean:
        return key in self.data

    def raw(self, key: Text) -> Any:
        return self.data.get(key)

    def str(
        self, key: Text, *, required: Boolean = False, choices: Iterable[Text] | None = None
    ) -> Text | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise errors.missing_param(self.name(key))
            return None
        if not isinstance(value, str):
            raise errors.invalid_param(f"Invalid string: {value!r}", param=self.name(key))
        if choices is not None and value not in set(choices):
            options = ", ".join(f"`{choice}`" for choice in choices)
            raise errors.invalid_param(
                f"Invalid {self.name(key)}: must be one of {options}",
                param=self.name(key),
            )
        return value

    def require_str(self, key: Text, *, choices: Iterable[Text] | None = None) -> Text:
        value = self.str(key, required=True, choices=choices)
        assert value is not None
        if value == "":
            raise errors.invalid_param(
                "You passed an empty string for '"
                + self.name(key)
                + "'. We assume empty values are an attempt to unset a parameter; however '"
                + self.name(key)
                + "' cannot be unset. You should remove '"
                + self.name(key)
                + "' from your request or supply a non-empty value.",
                param=self.name(key),
                code="parameter_invalid_empty",
            )
        return value

    def int(
        self, key: Text, *, required: Boolean = False, minimum: Integer | None = None
    ) -> Integer | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise errors.missing_param(self.name(key))
            return None
        try:
            number = int(value, 10) if isinstance(value, str) else None
        except ValueError:
            number = None
        if number is None:
            raise errors.invalid_param(
                f"Invalid integer: {value}", param=self.name(key), code="parameter_invalid_integer"
            )
        if minimum is not None and number < minimum:
            raise errors.invalid_param(
                f"This value must be greater than or equal to {minimum}.",
                param=self.name(key),
                code="parameter_invalid_integer",
            )
        return number

    def require_int(self, key: Text, *, minimum: Integer | None = None) -> Integer:
        value = self.int(key, required=True, minimum=minimum)
        assert value is not None
        return value

    def bool(self, key: Text) -> Boolean | None:
        value = self.data.get(key)
        if value is None:
            return None
        if value in ("true", "false"):
            return value == "true"
        raise errors.invalid_param(
            f"Invalid boolean: {value}", param=self.name(key), code="parameter_invalid_boolean"
        )

    def decimal_str(self, key: Text) -> Text | None:
        """A decimal number kept as its string form (``percent_off=12.5``)."""
        value = self.str(key)
        if value is None:
            return None
        try:
            float(value)
        except ValueError:
            raise errors.invalid_param(f"Invalid decimal: {value}", param=self.name(key)) from None
        return value

    def timestamp_or_now(self, key: Text) -> Integer | Text | None:
        """A Unix timestamp or the literal ``now`` (``trial_end``)."""
        value = self.data.get(key)
        if value == "now":
            return "now"
        return self.int(key)

    def sub(self, key: Text) -> Params | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, dict):
            raise errors.invalid_param(
                f"Invalid object: {self.name(key)}",
                param=self.name(key),
                code="parameter_invalid_object",
            )
        return Params(value, self.name(key))

    def list(self, key: Text) -> List[Params] | None:
        """An array of objects; ``None`` when absent, ``[]`` when sent as an empty string."""
        value = self.data.get(key)
        if value is None:
            return None
        if value == "":
            return []
        if isinstance(value, dict) and not value:
            return []
        if not isinstance(value, list):
            raise errors.invalid_param(
                f"Invalid array: {self.name(key)}",
                param=self.name(key),
                code="parameter_invalid_array",
            )
        result = []
        for index, entry in enumerate(value):
            if not isinstance(entry, dict):
                raise errors.invalid_param(
                    f"Invalid object: {self.name(key)}[{index}]",
                    param=f"{self.name(key)}[{index}]",
                    code="parameter_invalid_object",
                )
            result.append(Params(entry, f"{self.name(key)}[{index}]"))
        return result

    def str_list(self, key: Text) -> List[Text]:
        value = self.data.get(key)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        raise errors.invalid_param(
            f"Invalid array: {self.name(key)}", param=self.name(key), code="parameter_invalid_array"
        )

    def expand(self) -> List[Text]:
        return self.str_list("expand")


def apply_metadata(target: dict[str, Any], params: Params) -> None:
    """Stripe's metadata update: keys merge, ``metadata[k]=`` deletes one, ``metadata=`` all."""
    if "metadata" not in params:
        return
    value = params.raw("metadata")
    if value == "":
        target["metadata"] = {}
        return
    if not isinstance(value, dict):
        raise errors.invalid_param(
            "Invalid hash", param="metadata", code="parameter_invalid_object"
        )
    metadata = dict(target.get("metadata") or {})
    for key, item in value.items():
        if not isinstance(item, str):
            raise errors.invalid_param("Metadata values must be strings.", param=f"metadata[{key}]")
        if item == "":
            metadata.pop(key, None)
        else:
            metadata[key] = item
    # The request's own keys were checked against Stripe's limits; merged with what the object
    # already holds, the total may still be over.
    schema.check_metadata_size(len(metadata))
    target["metadata"] = metadata

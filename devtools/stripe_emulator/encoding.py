"""Wire formats: Stripe's form encoding in, JSON out.

Stripe's v1 API takes ``application/x-www-form-urlencoded`` bodies (and query strings for GET and
DELETE) with bracket notation for nesting: ``metadata[plan]=team``, ``items[0][price]=price_x``,
``expand[]=latest_invoice``. stripe-python always writes arrays with explicit indexes
(``expand[0]=...``); curl users write ``expand[]=...``. Both decode to the same structure here.

An empty value is kept as ``""``: Stripe gives it meaning (``discounts=`` removes every discount,
``pause_collection=`` resumes collection, ``metadata[key]=`` deletes one key).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

_KEY_PART = re.compile(r"\[([^\]]*)\]")


class FormDecodeError(ValueError):
    """A key whose bracket notation cannot be decoded, such as ``items[0`` or ``a[b]c``."""


def _split_key(key: str) -> list[str]:
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    parts = [head]
    rest = "[" + rest
    position = 0
    for match in _KEY_PART.finditer(rest):
        if match.start() != position:
            raise FormDecodeError(f"Invalid array: {key}")
        parts.append(match.group(1))
        position = match.end()
    if position != len(rest) or not head:
        raise FormDecodeError(f"Invalid array: {key}")
    return parts


def _insert(root: dict[str, Any], parts: list[str], value: str) -> None:
    node: dict[str, Any] = root
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "":
            # "expand[]=a&expand[]=b": append with a fresh numeric key.
            part = str(len(node))
        if last:
            node[part] = value
            return
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child


def _listify(node: Any) -> Any:
    """Turn dicts whose keys are all array indexes into lists, recursively."""
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def decode_form(text: str) -> dict[str, Any]:
    """Decode a form-encoded body or query string into nested dicts and lists of strings."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        _insert(root, _split_key(key), value)
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def encode_json(payload: Any, *, pretty: bool = True) -> bytes:
    """Serialise a response body the way Stripe does: UTF-8 JSON, pretty-printed by default."""
    if pretty:
        return json.dumps(payload, indent=2, ensure_ascii=False).encode("utf-8")
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

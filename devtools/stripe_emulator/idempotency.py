"""Stripe's ``Idempotency-Key`` semantics for POST requests.

- Keys are scoped to the API key that sent them.
- The first request with a key executes; its status and body are saved once the endpoint has
  started executing (parameter validation failures and unknown-object 404s are not saved, so the
  caller may fix the request and retry with the same key).
- The same key with the same method, path and parameters replays the saved response, with the
  header ``Idempotent-Replayed: true``, and changes nothing.
- The same key with a different method, path or parameters is a 400 ``idempotency_error``.
- While the first request is still executing, another with the same key gets 409
  ``idempotency_key_in_use`` (Stripe-Should-Retry: true).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from . import errors


@dataclass
class SavedResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Entry:
    fingerprint: str
    response: SavedResponse | None = None


def _fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    return json.dumps([method, path, params], sort_keys=True)


class IdempotencyCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}

    def reset(self) -> None:
        with self._lock:
            self._entries = {}

    def snapshot(self) -> list[tuple[str, str, str, SavedResponse]]:
        """Keys with a saved response (a key still executing is not worth keeping)."""
        with self._lock:
            return [
                (api_key, key, entry.fingerprint, entry.response)
                for (api_key, key), entry in self._entries.items()
                if entry.response is not None
            ]

    def restore(self, snapshot: list[tuple[str, str, str, SavedResponse]]) -> None:
        with self._lock:
            self._entries = {
                (api_key, key): _Entry(fingerprint, response)
                for api_key, key, fingerprint, response in snapshot
            }

    def begin(
        self, api_key: str, key: str, method: str, path: str, params: dict[str, Any]
    ) -> SavedResponse | None:
        """The saved response to replay, or None after claiming the key for this request.

        Raises the 400 ``idempotency_error`` or the 409 for a key in use.
        """
        fingerprint = _fingerprint(method, path, params)
        with self._lock:
            entry = self._entries.get((api_key, key))
            if entry is None:
                self._entries[(api_key, key)] = _Entry(fingerprint)
                return None
            if entry.fingerprint != fingerprint:
                raise errors.idempotency_mismatch(key)
            if entry.response is None:
                raise errors.idempotency_in_use(key)
            return entry.response

    def finish(self, api_key: str, key: str, response: SavedResponse | None) -> None:
        """Save the response for replay, or (``None``) release the key unsaved."""
        with self._lock:
            if response is None:
                self._entries.pop((api_key, key), None)
            else:
                entry = self._entries.get((api_key, key))
                if entry is not None:
                    entry.response = response

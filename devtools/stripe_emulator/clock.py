"""The emulator's notion of "now", like a Stripe test clock for the whole account.

Objects' ``created`` and every billing date use this clock. It runs with real time shifted by an
offset, or stays frozen at a set instant. Setting it into the past lets a seeding script create
months of history, then advance through it; advancing is what makes subscriptions renew (see
``lifecycle``). Webhook signatures never use it: their ``t=`` is the wall clock, because
receivers check it against their own real time.
"""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0
        self._frozen_at: int | None = None

    def now(self) -> int:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return int(time.time()) + self._offset

    @property
    def frozen(self) -> bool:
        with self._lock:
            return self._frozen_at is not None

    def set(self, timestamp: int, *, frozen: bool | None = None) -> None:
        """Jump to ``timestamp``; keep frozen/running as it was unless ``frozen`` says."""
        with self._lock:
            keep_frozen = self._frozen_at is not None if frozen is None else frozen
            if keep_frozen:
                self._frozen_at = timestamp
            else:
                self._frozen_at = None
                self._offset = timestamp - int(time.time())

    def freeze(self, frozen: bool) -> None:
        current = self.now()
        self.set(current, frozen=frozen)

    def reset(self) -> None:
        with self._lock:
            self._offset = 0
            self._frozen_at = None

    def snapshot(self) -> dict[str, int | None]:
        """What ``restore`` needs: the frozen instant, or the offset from real time."""
        with self._lock:
            return {"frozen_at": self._frozen_at, "offset": self._offset}

    def restore(self, snapshot: dict[str, int | None]) -> None:
        with self._lock:
            self._frozen_at = snapshot["frozen_at"]
            self._offset = snapshot["offset"] or 0

    def describe(self) -> dict[str, int | bool]:
        now = self.now()
        return {"now": now, "frozen": self.frozen, "offset": now - int(time.time())}

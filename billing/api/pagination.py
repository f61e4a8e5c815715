"""Keyset pagination: each list is ordered by a column and the id, and a page ends with an
opaque cursor naming its last row, so pages stay right while rows are added, and a page costs
the same however deep it is."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Q, QuerySet

from billing.api.problems import Problem

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_ID = 2**63 - 1  # a bigint


@dataclass(frozen=True)
class Keyset:
    """Order by `field` then id; `descending`: newest (or largest) first."""

    field: str
    descending: bool = True

    def order(self, rows: QuerySet) -> QuerySet:
        sign = "-" if self.descending else ""
        return rows.order_by(f"{sign}{self.field}", f"{sign}id")

    def after(self, rows: QuerySet, cursor: str) -> QuerySet:
        value, pk = self._decode(rows.model, cursor)
        beyond = "lt" if self.descending else "gt"
        return rows.filter(
            Q(**{f"{self.field}__{beyond}": value}) | Q(**{self.field: value, f"id__{beyond}": pk})
        )

    def page[M: models.Model](
        self, rows: QuerySet[M], *, cursor: str | None, limit: int
    ) -> tuple[list[M], str | None]:
        """One page of `rows` after `cursor`, and the cursor of the next page (None: last)."""
        if cursor:
            rows = self.after(rows, cursor)
        found = list(self.order(rows)[: limit + 1])
        if len(found) <= limit:
            return found, None
        last = found[limit - 1]
        return found[:limit], self._encode(getattr(last, self.field), last.pk)

    def _encode(self, value: Any, pk: int) -> str:
        text = value.isoformat() if isinstance(value, dt.datetime) else value
        raw = json.dumps([text, pk], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode(self, model: type[models.Model], cursor: str) -> tuple[Any, int]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            text, pk = json.loads(raw)
            field = model._meta.get_field(self.field)
            if isinstance(field, models.DateTimeField):
                value: Any = dt.datetime.fromisoformat(text)
                if value.tzinfo is None:
                    raise ValueError("naive")
            elif isinstance(text, str) and "\x00" not in text:
                value = text
            else:
                raise ValueError("not a text")
            if type(pk) is not int or not 0 < pk <= MAX_ID:
                raise ValueError("not an id")
        except (binascii.Error, ValueError, TypeError, UnicodeError, RecursionError):
            raise Problem(
                "validation-error",
                "The cursor is not one this list gave.",
                errors={"cursor": "Pass the `next` value of the previous page, unchanged."},
            ) from None
        return value, pk

"""Paging of the staff screens' lists: page numbers (`?invoices_page=2`) for a customer's
sections, and keyset cursors (`?after=…`) for lists whose rows change while one pages them."""

import datetime as dt

LAST_PAGE = 10_000


def page_number(raw: str) -> int:
    """The page a query parameter asks for: a whole number from 1 to LAST_PAGE, else the first
    (a malformed or absurd page is not an error: the list opens at its start)."""
    # ASCII digits only: "²".isdigit() holds, and int("²") raises.
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) <= LAST_PAGE else 1


def keyset_cursor(moment: dt.datetime, pk: int) -> str:
    """Where a page ended: its last row's moment and key (`?after=` of the next page)."""
    return f"{moment.isoformat()}|{pk}"


def parse_keyset(raw: str) -> tuple[dt.datetime, int] | None:
    """A keyset_cursor, or None for anything else (the list then opens at its start)."""
    when, bar, pk = raw[:100].rpartition("|")
    if not bar or not (pk.isascii() and pk.isdigit()):
        return None
    try:
        moment = dt.datetime.fromisoformat(when)
    except ValueError:
        return None
    return (moment, int(pk)) if moment.tzinfo is not None else None
